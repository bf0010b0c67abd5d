// Browser tests of the viewer's controls and read-outs around the plots: the footer's fixed layout
// and its numbers, plot titles, the idle signal and snapshot mode, point size / opacity and framing,
// the training curves under the slider, the legend's search. One run with metrics.json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeRun, accuracyAt } from './helpers/run.js';
import { startServer, launchBrowser, openViewer } from './helpers/env.js';

const READY_MS = 120000;
const N = 300;
const EPOCHS = [0, 1, 2, 3, 4];
// Epoch 0 has no training accuracy (as a trainer that evaluates before training writes); the test
// accuracy is the samples' own accuracy (the samples are the test set).
const METRICS = EPOCHS.map((epoch, ei) => ({
  epoch, ...(ei ? { train_accuracy: 0.6 + 0.08 * ei } : {}), test_accuracy: accuracyAt(N, ei), loss: 2 / (1 + ei),
}));
let run, server, browser, page;
const consoleErrors = [];

before(async () => {
  run = makeRun({ n: N, layers: ['block1', 'block2'], epochs: EPOCHS, metrics: METRICS });
  server = await startServer(['serve', run.dir, '--port', '0', '--no-open']);
  browser = await launchBrowser();
  page = await openViewer(browser, server.url, { width: 1280, height: 800 }, consoleErrors, READY_MS);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (run) rmSync(run.dir, { recursive: true, force: true });
});

/** Shows epoch index i and waits for the frame. */
async function showEpoch(i) {
  await page.evaluate((i) => window.__nm.setT(i), i);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

test('the footer shows each number once and the slider keeps its place at every epoch', async () => {
  const boxes = [];
  for (let i = 0; i < EPOCHS.length; i++) {
    await showEpoch(i);
    boxes.push(await page.locator('#timeline .slider').boundingBox());
    const text = await page.locator('#timeline .readout').innerText();
    const percents = text.match(/\d+\.\d%/g) ?? [];
    assert.equal(new Set(percents).size, percents.length, `epoch index ${i}: a number twice in "${text}"`);
    assert.ok(text.includes(`test ${(100 * accuracyAt(N, i)).toFixed(1)}%`), text);
    assert.ok(!/accuracy|shown samples/.test(text), `the samples' accuracy equals the test accuracy: "${text}"`);
    if (i === 0) assert.ok(/train\s+–/.test(text), `epoch 0 has no train accuracy: "${text}"`);
  }
  for (const b of boxes) {
    assert.equal(b.x, boxes[0].x, 'the slider moved');
    assert.equal(b.width, boxes[0].width, 'the slider changed width');
  }
  assert.deepEqual(consoleErrors, []);
});

test('plot titles name the parameters in full, the rest on hover', async () => {
  const titles = page.locator('#titles .plot-title .params');
  assert.equal(await titles.count(), run.layers.length);
  for (let i = 0; i < run.layers.length; i++) {
    const text = (await titles.nth(i).textContent()).trim();
    assert.match(text, /(^|· )n_neighbors 15 · min_dist 0\.1$/, text);
    const hover = await titles.nth(i).getAttribute('title');
    assert.match(hover, /metric euclidean/, hover);
    assert.match(hover, /samples all/, hover);
  }
});

test('the page says when it is idle: drawn with nothing moving or pending', async () => {
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true');
  await page.evaluate(() => window.__nm.play());
  assert.equal(await page.evaluate(() => document.documentElement.dataset.ready ?? null), null, 'ready while playing');
  await page.evaluate(() => window.__nm.stop());
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true');
});

test('snapshot mode opens no event stream, shows the epoch asked for and goes idle', async () => {
  const snap = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const urls = [];
  snap.on('request', (r) => urls.push(new URL(r.url()).pathname));
  await snap.goto(`${server.url}?snapshot&epoch=${EPOCHS[2]}`);
  await snap.waitForFunction(() => document.documentElement.dataset.ready === 'true', null, { timeout: READY_MS });
  assert.equal(await snap.evaluate(() => window.__nm.state().epochIndex), 2);
  assert.ok(urls.includes('/api/run'), urls.join(' '));
  assert.ok(!urls.includes('/api/events'), `snapshot mode opened the event stream: ${urls.join(' ')}`);
  await snap.close();
});

test("README's one-line headless screenshot finishes and draws the points", async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { CHROMIUM } = await import('./helpers/env.js');
  const dir = mkdtempSync(join(tmpdir(), 'nm-shot-'));
  const png = join(dir, 'view.png');
  // The command README.md shows (with --no-sandbox, which root needs here).
  const args = ['--headless', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--hide-scrollbars',
    '--window-size=1200,800', '--virtual-time-budget=20000', `--screenshot=${png}`, `${server.url}?snapshot`];
  const code = await new Promise((resolve) => {
    const p = spawn(CHROMIUM, args, { stdio: 'ignore' });
    const timer = setTimeout(() => { p.kill(); resolve('timed out'); }, 90000);
    p.on('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  assert.equal(code, 0, `chromium --screenshot: ${code}`);
  // Count the strongly coloured pixels in the plots' area (the class colours; left of the side
  // panel, between the header and the footer, whose buttons and slider are coloured too).
  const b64 = readFileSync(png).toString('base64');
  const coloured = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const x = (i / 4) % c.width, y = Math.floor(i / 4 / c.width);
      if (x > c.width - 300 || y < 60 || y > c.height - 60) continue;
      const mx = Math.max(d[i], d[i + 1], d[i + 2]), mn = Math.min(d[i], d[i + 1], d[i + 2]);
      if (mx - mn > 80) n++;
    }
    return n;
  }, b64);
  rmSync(dir, { recursive: true, force: true });
  assert.ok(coloured > 3000, `only ${coloured} coloured pixels in the screenshot`);
});

/** The drawn extent of plot i's points as a fraction of its rect: max(width / rect.w, height / rect.h). */
async function extentOf(i) {
  return page.evaluate((i) => {
    const nm = window.__nm, r = nm.plotRect(i);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const s of nm.samplesOf(i)) {
      const p = nm.drawnPosition(i, s);
      x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y);
    }
    return Math.max((x1 - x0) / r.w, (y1 - y0) / r.h);
  }, i);
}

test('point size and opacity: automatic from the count and the zoom, set by hand, reset', async () => {
  await showEpoch(EPOCHS.length - 1);
  const auto = (await page.evaluate(() => window.__nm.pointStyles()))[0];
  assert.ok(auto.opacity > 0.5 && auto.opacity < 1, `automatic opacity for ${N} points: ${auto.opacity}`);
  await page.locator('#points .size').fill('1');
  await page.locator('#points .opacity').fill('0.3');
  let st = (await page.evaluate(() => window.__nm.pointStyles()))[0];
  assert.ok(Math.abs(st.radius - 2 * auto.radius) < 1e-6, `size ×2: ${st.radius} vs ${auto.radius}`);
  assert.ok(Math.abs(st.opacity - 0.3) < 1e-6, `opacity ${st.opacity}`);
  assert.equal((await page.locator('#points .size-value').textContent()).trim(), '×2');
  await page.locator('#points .auto').click();
  st = (await page.evaluate(() => window.__nm.pointStyles()))[0];
  assert.deepEqual(st, auto);
  // Zooming in spreads the points: the automatic radius grows.
  const r = await page.evaluate(() => window.__nm.plotRect(0));
  await page.mouse.move(r.x + r.w / 2, r.y + r.h / 2);
  await page.mouse.wheel(0, -600);
  await page.waitForFunction((r0) => window.__nm.pointStyles()[0].radius > r0 * 1.2, auto.radius);
  await page.locator('#points .fit-all').click();
  assert.deepEqual((await page.evaluate(() => window.__nm.pointStyles()))[0], auto);
});

test('fit this epoch fills the plot with the shown epoch; all epochs brings the shared frame back', async () => {
  await showEpoch(0);
  const shared = await extentOf(0);
  await page.locator('#points .fit-epoch').click();
  const fitted = await extentOf(0);
  assert.ok(Math.abs(fitted - 0.92) < 0.03, `fitted extent ${fitted} (shared frame: ${shared})`);
  await showEpoch(EPOCHS.length - 1); // the frame stays while the epochs change
  await page.locator('#points .fit-all').click();
  await showEpoch(0);
  assert.ok(Math.abs((await extentOf(0)) - shared) < 1e-3, 'the shared frame is back');
});

test('the hovered class and the selection are drawn on top', async () => {
  await showEpoch(EPOCHS.length - 1);
  const s = await page.evaluate(() => window.__nm.samplesOf(0)[5]);
  const p = await page.evaluate((s) => window.__nm.drawnPosition(0, s), s);
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction(() => window.__nm.state().hover !== null);
  const hovered = await page.evaluate(() => window.__nm.state().hover.sample);
  const cls = run.labels[hovered];
  const inClass = Array.from(run.labels).filter((l) => l === cls).length;
  for (let i = 0; i < run.layers.length; i++) assert.equal(await page.evaluate((i) => window.__nm.onTop(i), i), inClass);
  await page.mouse.move(1, 1);
  await page.waitForFunction(() => window.__nm.onTop(0) === 0);
  // A legend row in focus raises its class too.
  await page.locator('#legend li[data-cls="2"]').hover();
  await page.waitForFunction((n) => window.__nm.onTop(0) === n, Array.from(run.labels).filter((l) => l === 2).length);
  await page.mouse.move(1, 1);
  await page.waitForFunction(() => window.__nm.onTop(0) === 0);
});

test('training curves under the slider: one line per number, each epoch at its slider stop, hover shows values', async () => {
  const charts = page.locator('#timeline .curves svg');
  assert.equal(await charts.count(), 2, 'an accuracy chart and a loss chart');
  const points = async (sel) => ((await page.locator(sel).getAttribute('points')) ?? '').trim().split(/\s+/).filter(Boolean).length;
  assert.equal(await points('#timeline .curve-accuracy .line-train'), EPOCHS.length - 1, 'train: every epoch but the first');
  assert.equal(await points('#timeline .curve-accuracy .line-test'), EPOCHS.length);
  assert.equal(await page.locator('#timeline .curve-accuracy .line-accuracy').count(), 0, "the samples' accuracy is the test line");
  assert.equal(await points('#timeline .curve-loss .line-loss'), EPOCHS.length);
  const slider = await page.locator('#timeline .slider').boundingBox();
  const thumb = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('#timeline')).getPropertyValue('--thumb-w')));
  for (let i = 0; i < EPOCHS.length; i++) {
    await showEpoch(i);
    // The marker and the slider's thumb centre are at the same x.
    const marker = await page.locator('#timeline .curve-accuracy .marker').boundingBox();
    const thumbX = slider.x + thumb / 2 + (i / (EPOCHS.length - 1)) * (slider.width - thumb);
    assert.ok(Math.abs(marker.x + marker.width / 2 - thumbX) < 1.5, `epoch index ${i}: marker at ${marker.x}, thumb at ${thumbX}`);
    const box = await page.locator('#timeline .curve-loss').boundingBox();
    await page.mouse.move(thumbX, box.y + box.height / 2);
    const info = await page.locator('#timeline .curve-info').textContent();
    assert.ok(info.startsWith(`epoch ${EPOCHS[i]} ·`), info);
    assert.ok(info.includes(`test ${(100 * accuracyAt(N, i)).toFixed(1)}%`), info);
    assert.ok(info.includes(`loss ${(2 / (1 + i)).toPrecision(3)}`), info);
  }
  // A click on the curves seeks there.
  const box = await page.locator('#timeline .curve-accuracy').boundingBox();
  await page.mouse.click(box.x + 2, box.y + box.height / 2);
  await page.waitForFunction(() => window.__nm.state().target === 0);
  await page.mouse.move(1, 1);
});

test('the legend has a search box from 21 classes on, and it filters the list', async () => {
  assert.ok(await page.locator('#legend .search-row').evaluate((e) => e.hidden), `${run.classes.length} classes: no search box`);
  const classes = Array.from({ length: 30 }, (_, i) => `class ${i}`);
  const many = makeRun({ n: 300, classes, layers: ['block1'], epochs: [1, 2] });
  const srv = await startServer(['serve', many.dir, '--port', '0', '--no-open']);
  const p = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  try {
    await p.goto(srv.url);
    await p.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: READY_MS });
    const visibleRows = () => p.locator('#legend .classes li:not([hidden])').count();
    assert.equal(await visibleRows(), 30);
    await p.locator('#legend .search').fill('class 1');
    const expected = classes.filter((c) => c.includes('class 1')).length; // class 1, class 10 … class 19
    assert.equal(await visibleRows(), expected);
    assert.equal((await p.locator('#legend .matches').textContent()).trim(), `${expected} of 30`);
    // The filter stays while the list is redrawn (hiding a class redraws it).
    await p.locator('#legend li[data-cls="12"] .name').click();
    assert.equal(await visibleRows(), expected);
    assert.ok(await p.locator('#legend li[data-cls="12"]').evaluate((e) => e.classList.contains('off')));
    await p.locator('#legend .search').fill('');
    assert.equal(await visibleRows(), 30);
  } finally {
    await p.close();
    await srv.stop();
    rmSync(many.dir, { recursive: true, force: true });
  }
});
