// Browser tests of `neuromapper site`: the written folder served by a plain static file server
// (node's http, not neuromapper) and the one-file page opened from file://, in real headless Chromium.
// They check that the plots draw, the slider morphs, hover links every plot, the grid menu switches
// views, and that the page asks for nothing outside its own folder (or file).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, normalize, extname } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { makeRun } from './helpers/run.js';
import { findBinary, launchBrowser } from './helpers/env.js';

const READY_MS = 120000;
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.png': 'image/png' };
let run, root, http, base, browser;

/** Runs the binary; fails the test with its output when it does not exit 0. */
function neuromapper(args) {
  const r = spawnSync(findBinary(), args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `neuromapper ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A plain static file server over `dir` (GET only, files only, nothing outside it). */
function serveStatic(dir) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const path = normalize(join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
      let file = path;
      try { if (statSync(file).isDirectory()) file = join(file, 'index.html'); } catch (_) { /* 404 below */ }
      if (!path.startsWith(dir) || req.method !== 'GET') { res.writeHead(403).end(); return; }
      try {
        const body = readFileSync(file);
        res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' }).end(body);
      } catch (_) {
        res.writeHead(404).end();
      }
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

before(async () => {
  run = makeRun({ n: 300, layers: ['block1', 'block2', 'block3'], epochs: [1, 2, 3, 4] });
  root = mkdtempSync(join(tmpdir(), 'nm-site-test-'));
  neuromapper(['site', run.dir, '--out', join(root, 'site'), '--grid', 'n_neighbors=5,15', 'min_dist=0.1,0.5']);
  neuromapper(['site', run.dir, '--out', join(root, 'one.html'), '--single-file', '--grid', 'n_neighbors=5,15']);
  // The same default view at the server's exact precision, to check the packed views against.
  neuromapper(['site', run.dir, '--out', join(root, 'full'), '--precision', 'full']);
  http = await serveStatic(root);
  base = `http://127.0.0.1:${http.address().port}/site/`;
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (http) http.close();
  if (run) rmSync(run.dir, { recursive: true, force: true });
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Opens `url` in a fresh page, recording every request and every error; resolves once drawn. */
async function open(url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const requests = [], failed = [], errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => failed.push(r.url()));
  page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: READY_MS });
  return { page, requests, failed, errors };
}

async function settle(page) {
  await page.waitForFunction(() => { const s = window.__nm.state(); return s.t === s.target && !s.playing; });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** The plots draw every sample of every layer. */
async function checkPlotsDraw(page) {
  assert.equal(await page.evaluate(() => window.__nm.plotCount()), run.layers.length);
  assert.deepEqual(await page.evaluate(() => window.__nm.layers()), run.layers);
  for (let i = 0; i < run.layers.length; i++) assert.equal(await page.evaluate((i) => window.__nm.visibleCount(i), i), run.n);
  const epochs = await page.evaluate(() => window.__nm.viewEpochs());
  assert.deepEqual(epochs, run.layers.map(() => run.epochs));
}

/** Hovering a point highlights the same sample in every plot. */
async function checkHoverLinks(page) {
  await settle(page);
  const s = 7;
  const p = await page.evaluate((s) => window.__nm.drawnPosition(1, s), s);
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction(() => window.__nm.highlights().every((h) => h != null));
  const hl = await page.evaluate(() => window.__nm.highlights());
  const sample = hl[1].sample;
  assert.deepEqual(hl.map((h) => h.sample), run.layers.map(() => sample), 'the same sample in every plot');
  assert.match(await page.evaluate(() => window.__nm.tooltipText()), new RegExp(run.classes[run.labels[sample]]));
  await page.mouse.move(2, 2);
}

test('the site folder from a static server: plots draw, with no errors', async () => {
  const { page, failed, errors } = await open(base);
  assert.equal(await page.title(), 'browser-test · neuromapper');
  await checkPlotsDraw(page);
  assert.deepEqual(failed, []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the slider morphs every plot through the epochs', async () => {
  const { page } = await open(base);
  await settle(page);
  const at = () => page.evaluate(() => [0, 1, 2].map((i) => window.__nm.drawnPosition(i, 5)));
  const last = await at();
  await page.locator('#timeline .slider').fill('0');
  await settle(page);
  const first = await at();
  await page.evaluate(() => window.__nm.setT(0.5));
  const mid = await at();
  const { blend } = await page.evaluate(() => window.__nm.state());
  assert.ok(blend > 0 && blend < 1, `blend ${blend}`);
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.hypot(first[i].dataX - last[i].dataX, first[i].dataY - last[i].dataY) > 1e-3, `plot ${i} moved between epochs`);
    // Half-way between epochs 1 and 2 the point is at neither.
    assert.notDeepEqual([mid[i].dataX, mid[i].dataY], [first[i].dataX, first[i].dataY]);
  }
  await page.close();
});

test('hovering a point highlights it in every plot', async () => {
  const { page } = await open(base);
  await checkHoverLinks(page);
  await page.close();
});

test('the grid menu offers the precomputed views, says so, and switches every plot', async () => {
  const { page, failed } = await open(base);
  const index = JSON.parse(readFileSync(join(root, 'site', 'site.json'), 'utf8'));
  assert.equal(await page.locator('#params').isVisible(), true);
  assert.match(await page.locator('#params .note').textContent(), /4 precomputed views \(2 × 2\).*neuromapper serve/);
  assert.deepEqual(await page.locator('#params select[name="n_neighbors"] option').allTextContents(), ['5', '15']);
  assert.deepEqual(await page.locator('#params select[name="min_dist"] option').allTextContents(), ['0.1', '0.5']);
  const before = await page.evaluate(() => window.__nm.views());
  const first = index.grid.views.find((v) => v.key === before[0]);
  assert.equal(first.params.n_neighbors, 15, 'the run default is shown first');
  assert.ok(Math.abs(first.params.min_dist - 0.1) < 1e-6, `min_dist ${first.params.min_dist}`);
  const p0 = await page.evaluate(() => window.__nm.drawnPosition(0, 5));
  await page.locator('#params select[name="n_neighbors"]').selectOption('5');
  await page.locator('#params select[name="min_dist"]').selectOption('0.5');
  await page.locator('#params button[type="submit"]').click();
  const wanted = index.grid.views.find((v) => v.params.n_neighbors === 5 && v.params.min_dist === 0.5).key;
  await page.waitForFunction((k) => window.__nm.views().every((v) => v === k), wanted);
  const p1 = await page.evaluate(() => window.__nm.drawnPosition(0, 5));
  assert.notDeepEqual([p0.dataX, p0.dataY], [p1.dataX, p1.dataY], 'another view, other positions');
  assert.match(await page.locator('.plot-title').first().textContent(), /n_neighbors 5 · min_dist 0\.5/);
  // One plot only.
  await page.locator('#params select[name="scope"]').selectOption('block2');
  await page.locator('#params select[name="n_neighbors"]').selectOption('15');
  await page.locator('#params button[type="submit"]').click();
  const other = index.grid.views.find((v) => v.params.n_neighbors === 15 && v.params.min_dist === 0.5).key;
  await page.waitForFunction(([a, b]) => { const v = window.__nm.views(); return v[0] === a && v[1] === b && v[2] === a; }, [wanted, other]);
  assert.deepEqual(failed, []);
  await page.close();
});

test('packed views decode to the exact positions within half a grid step, in a fraction of the bytes', async () => {
  const { page } = await open(base);
  const full = JSON.parse(readFileSync(join(root, 'full', 'site.json'), 'utf8'));
  const packed = JSON.parse(readFileSync(join(root, 'site', 'site.json'), 'utf8'));
  const key = full.grid.views[0].key;
  const files = run.layers.map((l) => [`../full/${full.files.views[key].layers[l]}`, packed.files.views[key].layers[l]]);
  const out = await page.evaluate(async (files) => {
    const { decodeEmbedding } = await import('./js/api.js');
    const { decodePacked } = await import('./js/packed.js');
    const get = async (u) => (await fetch(u)).arrayBuffer();
    /** Data-space positions of a decoded view. */
    const data = (v) => {
      const out = new Float64Array(v.pos.length);
      for (let e = 0; e < v.epochs.length; e++) {
        const [x0, y0, x1, y1] = v.bounds[e];
        for (let j = e * v.n * 2; j < (e + 1) * v.n * 2; j += 2) {
          out[j] = x0 + (v.pos[j] / 65535) * (x1 - x0);
          out[j + 1] = y0 + (v.pos[j + 1] / 65535) * (y1 - y0);
        }
      }
      return out;
    };
    const rows = [];
    for (const [f, p] of files) {
      const a = decodeEmbedding(await get(f));
      const b = await decodePacked(await get(p));
      const [da, db] = [data(a), data(b)];
      let worst = 0;
      for (let j = 0; j < da.length; j++) worst = Math.max(worst, Math.abs(da[j] - db[j]));
      const lo = [0, 1].map((k) => Math.min(...a.bounds.map((x) => x[k])));
      const hi = [2, 3].map((k) => Math.max(...a.bounds.map((x) => x[k])));
      const span = Math.max(hi[0] - lo[0], hi[1] - lo[1]); // of every epoch together
      rows.push({ worst, step: b.grid.step, span, sameSamples: a.samples.join() === b.samples.join(),
        sameEpochs: a.epochs.join() === b.epochs.join(), fullBytes: a.bytes, packedBytes: b.bytes });
    }
    return rows;
  }, files);
  for (const r of out) {
    assert.ok(r.sameSamples && r.sameEpochs, 'the same samples and epochs');
    // Half a grid step, plus the two u16 quantisations of the viewer's form.
    assert.ok(r.worst <= r.step / 2 + (2 * r.span) / 65535, `off by ${r.worst} with a step of ${r.step}`);
    assert.ok(r.step <= (r.span / 4095) * 1.001, `step ${r.step} for a span of ${r.span}: 12 bits by default`);
    // This synthetic run moves a lot between epochs; real trainings pack far smaller (README).
    assert.ok(r.packedBytes < 0.75 * r.fullBytes, `packed ${r.packedBytes} bytes against ${r.fullBytes}`);
  }
  await page.close();
});

test('every request the site makes stays inside its folder', async () => {
  const { page, requests } = await open(base);
  await checkHoverLinks(page); // thumbnails too
  await page.locator('#params select[name="n_neighbors"]').selectOption('5');
  await page.locator('#params button[type="submit"]').click();
  await page.waitForFunction(() => window.__nm.views().every((v, _, all) => v === all[0]) && window.__nm.ready);
  await page.screenshot({ path: join(tmpdir(), 'site_folder.png') });
  assert.ok(requests.length > 10, `${requests.length} requests`);
  const outside = requests.filter((u) => !u.startsWith(base) && !u.startsWith('data:'));
  assert.deepEqual(outside, []);
  assert.ok(requests.some((u) => u.startsWith(`${base}data/thumbs/`)), 'the thumbnails come from the site');
  await page.close();
});

test('the one-file site opened from file:// works and fetches nothing else', async () => {
  const file = pathToFileURL(join(root, 'one.html')).href;
  const { page, requests, failed, errors } = await open(file);
  await checkPlotsDraw(page);
  await checkHoverLinks(page);
  assert.deepEqual(await page.locator('#params select[name="n_neighbors"] option').allTextContents(), ['5', '15']);
  await page.locator('#params select[name="n_neighbors"]').selectOption('5');
  await page.locator('#params button[type="submit"]').click();
  await page.waitForFunction(() => [...document.querySelectorAll('.plot-title')].every((t) => t.textContent?.includes('n_neighbors 5')));
  assert.equal(new Set(await page.evaluate(() => window.__nm.views())).size, 1);
  await page.screenshot({ path: join(tmpdir(), 'site_single.png') });
  const outside = requests.filter((u) => u !== file && !u.startsWith('data:'));
  assert.deepEqual(outside, []);
  assert.deepEqual(failed, []);
  assert.deepEqual(errors, []);
  await page.close();
});
