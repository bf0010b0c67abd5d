// Browser tests of adversarial twins (docs/run-format.md, "Adversarial twins"): twins drawn as
// diamonds (their own flag) and only they, the lines from each twin to its clean sample at the shown
// epoch and their toggle, the attack success rate on the timeline (readout and curve), and the
// divergence panel, whose numbers are checked against an independent computation here from the
// positions the server sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRun } from './helpers/run.js';
import { writeNpy } from './helpers/npy.js';
import { startServer, launchBrowser, openViewer } from './helpers/env.js';

const READY_MS = 120000;
const N = 200, TWINS = 20, FIRST_TWIN = N - TWINS, EPOCHS = [0, 1, 2], CLASSES = ['cat', 'dog', 'ship', 'frog'];
const FLAG_TWIN = 16;
/** adv_success per epoch, as a trainer would write it. */
const SUCCESS = [0.25, 0.5, 0.75];
let run, server, browser, page;
const consoleErrors = [];

before(async () => {
  run = makeRun({ n: N, classes: CLASSES, layers: ['block1', 'block2'], epochs: EPOCHS,
    metrics: EPOCHS.map((epoch, i) => ({ epoch, test_accuracy: 0.5 + 0.1 * i, adv_success: SUCCESS[i] })) });
  // Rows 180..199 are twins of rows 0..19 (the same class: labels are i % 4 and 180 % 4 == 0).
  const links = new Int32Array(N).fill(-1);
  for (let r = FIRST_TWIN; r < N; r++) links[r] = r - FIRST_TWIN;
  writeNpy(join(run.dir, 'twins.npy'), links, [N]);
  const manifest = JSON.parse(readFileSync(join(run.dir, 'neuromapper.json'), 'utf8'));
  manifest.adversarial = { attack: 'fgsm', eps: 8 / 255, steps: 1 };
  writeFileSync(join(run.dir, 'neuromapper.json'), JSON.stringify(manifest));
  server = await startServer(['serve', run.dir, '--port', '0', '--no-open', '--no-follow']);
  browser = await launchBrowser();
  page = await openViewer(browser, server.url, { width: 1280, height: 900 }, consoleErrors, READY_MS);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (run) rmSync(run.dir, { recursive: true, force: true });
});

const frame = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

test('twins carry their own marker flag, and no clean sample does', async () => {
  for (let i = 0; i < 2; i++) {
    const drawn = await page.evaluate((k) => window.__nm.samplesOf(k), i);
    assert.equal(drawn.length, N, 'every sample and twin is drawn');
    const flags = await page.evaluate(([k, ss]) => ss.map((s) => window.__nm.flagsOf(k, s)), [i, drawn]);
    drawn.forEach((s, j) => assert.equal((flags[j] & FLAG_TWIN) !== 0, s >= FIRST_TWIN, `sample ${s} in plot ${i}`));
  }
  const tip = await hoverTooltip(FIRST_TWIN + 3);
  assert.match(tip, /adversarial twin of #3/);
});

/** The tooltip's text when hovering sample s in the first plot. */
async function hoverTooltip(s) {
  const p = await page.evaluate((x) => window.__nm.drawnPosition(0, x), s);
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction(() => !document.querySelector('#tooltip').hidden);
  const text = await page.textContent('#tooltip');
  await page.mouse.move(5, 5);
  return text;
}

test('a line joins each twin to its clean sample, drawn at the shown epoch and toggled off and on', async () => {
  assert.equal(await page.evaluate(() => window.__nm.twinSegments(0)), TWINS);
  const r = await page.evaluate(() => window.__nm.plotRect(0));
  const shot = () => page.screenshot({ clip: { x: r.x, y: r.y, width: r.w, height: r.h } });
  const withLines = await shot();
  await page.uncheck('#twins .twin-lines');
  await frame();
  assert.equal(await page.evaluate(() => window.__nm.twinSegments(0)), 0);
  const without = await shot();
  assert.notDeepEqual(withLines, without, 'the lines change the picture');
  await page.check('#twins .twin-lines');
  await frame();
  assert.equal(await page.evaluate(() => window.__nm.twinSegments(0)), TWINS);
  assert.deepEqual(await shot(), withLines, 'on again: the same picture');
});

test('the attack success rate is on the timeline: readout and curve', async () => {
  for (let i = 0; i < EPOCHS.length; i++) {
    await page.evaluate((t) => window.__nm.setT(t), i);
    await frame();
    const cell = (await page.textContent('#timeline .stat-adv')).replace(/\s+/g, ' ').trim();
    assert.equal(cell, `attack ${(100 * SUCCESS[i]).toFixed(1)}%`);
  }
  // The curve: one point per epoch, higher (smaller y) as the success rate rises.
  const points = await page.getAttribute('#timeline .curves polyline.line-adv', 'points');
  const ys = points.trim().split(' ').map((p) => Number(p.split(',')[1]));
  assert.equal(ys.length, EPOCHS.length);
  assert.ok(ys[0] > ys[1] && ys[1] > ys[2], `the curve rises with adv_success: ${points}`);
  assert.match(await page.textContent('#timeline .curve-info'), /attack/);
});

/** Divergence of one layer at epoch index ei, computed here from the server's embedding. */
async function expectedDivergence(layer, view, ei) {
  const res = await fetch(`${server.url.replace(/\/$/, '')}/api/layers/${layer}/embedding?view=${encodeURIComponent(view)}`);
  const buf = await res.arrayBuffer();
  const len = new DataView(buf).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 12, len)));
  const n = header.n, samples = new Uint32Array(buf, 12 + len, n), pos = new Uint16Array(buf, 12 + len + 4 * n, header.epochs.length * n * 2);
  const b = header.bounds[ei];
  const at = (k) => [b[0] + (pos[(ei * n + k) * 2] / 65535) * (b[2] - b[0]), b[1] + (pos[(ei * n + k) * 2 + 1] / 65535) * (b[3] - b[1])];
  const point = new Map(Array.from(samples, (s, k) => [s, k]));
  const clean = Array.from(samples).filter((s) => s < FIRST_TWIN);
  const mean = (ps) => ps.reduce((a, p) => [a[0] + p[0] / ps.length, a[1] + p[1] / ps.length], [0, 0]);
  const centre = mean(clean.map((s) => at(point.get(s))));
  const rms = Math.sqrt(clean.reduce((a, s) => { const p = at(point.get(s)); return a + ((p[0] - centre[0]) ** 2 + (p[1] - centre[1]) ** 2) / clean.length; }, 0));
  const dist = (p, q) => Math.hypot(p[0] - q[0], p[1] - q[1]);
  let sum = 0;
  for (let r = FIRST_TWIN; r < N; r++) sum += dist(at(point.get(r)), at(point.get(r - FIRST_TWIN)));
  // Predictions (helpers/run.js): sample i is predicted as the next class when i % (ei + 2) == 1.
  const centroid = CLASSES.map((_, c) => mean(clean.filter((s) => run.labels[s] === c).map((s) => at(point.get(s)))));
  let flipped = 0, toward = 0;
  for (let r = FIRST_TWIN; r < N; r++) {
    if (r % (ei + 2) !== 1) continue;
    flipped++;
    const own = run.labels[r], pred = (own + 1) % CLASSES.length, p = at(point.get(r));
    if (dist(p, centroid[pred]) < dist(p, centroid[own])) toward++;
  }
  return { distance: sum / TWINS / rms, toward: flipped ? toward / flipped : null, flipped };
}

test('the divergence panel shows each layer\'s numbers at the shown epoch, as computed independently', async () => {
  assert.equal(await page.locator('#twins').isHidden(), false);
  const views = await page.evaluate(() => window.__nm.views());
  for (let ei = 0; ei < EPOCHS.length; ei++) {
    await page.evaluate((t) => window.__nm.setT(t), ei);
    await frame();
    const rows = await page.$$eval('#twins tbody tr', (trs) => trs.map((tr) => ({ layer: tr.dataset.layer, distance: Number(tr.dataset.distance), toward: tr.dataset.toward })));
    assert.deepEqual(rows.map((r) => r.layer), run.layers);
    for (const [i, r] of rows.entries()) {
      const want = await expectedDivergence(r.layer, views[i], ei);
      assert.ok(Math.abs(r.distance - want.distance) < 1e-3, `${r.layer} epoch ${EPOCHS[ei]}: distance ${r.distance} vs ${want.distance}`);
      if (want.toward == null) assert.equal(r.toward, '');
      else assert.ok(Math.abs(Number(r.toward) - want.toward) < 1e-6, `${r.layer} epoch ${EPOCHS[ei]}: toward ${r.toward} vs ${want.toward}`);
    }
  }
  assert.match(await page.textContent('#twins .twins-attack'), /FGSM ε = 8\/255 · 20 twins/);
});

test('no console errors', () => {
  assert.deepEqual(consoleErrors, []);
});
