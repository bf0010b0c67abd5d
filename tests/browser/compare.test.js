// Browser test of runs side by side: `neuromapper serve RUN_A RUN_B` on two runs generated here
// (same samples, different activations; B lacks A's last epoch) shows a grid, a row per run and a
// column per layer; one slider drives both rows, hover lights the sample in every plot of both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeRun } from './helpers/run.js';
import { startServer, launchBrowser } from './helpers/env.js';

const READY_MS = 120000;
const LAYERS = ['block1', 'block2', 'block3'];
let runA, runB, server, browser, page;
const consoleErrors = [];

before(async () => {
  runA = makeRun({ n: 240, layers: LAYERS, epochs: [1, 2, 3, 4], seed: 7 });
  runB = makeRun({ n: 240, layers: LAYERS, epochs: [1, 2, 3], seed: 23 });
  server = await startServer(['serve', runA.dir, runB.dir, '--port', '0', '--no-open']);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(server.url);
  await page.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: READY_MS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  for (const r of [runA, runB]) if (r) rmSync(r.dir, { recursive: true, force: true });
});

/** Waits until the epoch animation has settled and two frames are drawn. */
async function settle() {
  await page.waitForFunction(() => { const s = window.__nm.state(); return s.t === s.target && !s.playing; });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** The index of the plot of run `run` and layer `layer`. */
async function plotIndex(run, layer) {
  const cells = await page.evaluate(() => window.__nm.plotCells());
  return cells.findIndex((c) => c.run === run && c.layer === layer);
}

test('a row per run and a column per layer, with row labels, and no errors', async () => {
  const cells = await page.evaluate(() => window.__nm.plotCells());
  assert.equal(cells.length, 2 * LAYERS.length);
  for (const run of [0, 1]) {
    assert.deepEqual(cells.filter((c) => c.run === run).map((c) => c.layer), LAYERS);
  }
  // Same column, same x; the second row below the first.
  for (const layer of LAYERS) {
    const a = await page.evaluate((i) => window.__nm.plotRect(i), await plotIndex(0, layer));
    const b = await page.evaluate((i) => window.__nm.plotRect(i), await plotIndex(1, layer));
    assert.ok(Math.abs(a.x - b.x) < 1 && b.y > a.y + a.h, `${layer}: ${JSON.stringify([a, b])}`);
  }
  const labels = await page.locator('#rowlabels .row-label').allTextContents();
  assert.equal(labels.length, 2);
  const runs = await page.evaluate(() => window.__nm.runs());
  assert.ok(labels[0].startsWith(runs[0].label) && labels[1].startsWith(runs[1].label), JSON.stringify(labels));
  assert.notEqual(runs[0].label, runs[1].label);
  assert.deepEqual(runs.map((r) => r.epochs), [[1, 2, 3, 4], [1, 2, 3]]);
  assert.match(await page.locator('#run-name').textContent(), /2 runs side by side/);
  for (let i = 0; i < cells.length; i++) assert.equal(await page.evaluate((i) => window.__nm.visibleCount(i), i), runA.n);
  assert.deepEqual(consoleErrors, []);
});

test('one slider drives both runs; a run without the shown epoch shows its last one and says so', async () => {
  await settle();
  const slider = page.locator('#timeline .slider');
  const s = 17;
  const pa = await plotIndex(0, 'block2'), pb = await plotIndex(1, 'block2');
  await slider.fill('0');
  await settle();
  const a0 = await page.evaluate(([i, s]) => window.__nm.drawnPosition(i, s), [pa, s]);
  const b0 = await page.evaluate(([i, s]) => window.__nm.drawnPosition(i, s), [pb, s]);
  await slider.fill('2');
  await settle();
  const a2 = await page.evaluate(([i, s]) => window.__nm.drawnPosition(i, s), [pa, s]);
  const b2 = await page.evaluate(([i, s]) => window.__nm.drawnPosition(i, s), [pb, s]);
  assert.ok(Math.hypot(a2.dataX - a0.dataX, a2.dataY - a0.dataY) > 1e-3, 'run A did not move with the slider');
  assert.ok(Math.hypot(b2.dataX - b0.dataX, b2.dataY - b0.dataY) > 1e-3, 'run B did not move with the slider');
  let notes = await page.evaluate(() => window.__nm.titleNotes());
  assert.ok(notes.every((n) => !n.includes('no epoch')), JSON.stringify(notes));
  // Epoch 4: run A has it, run B shows its epoch 3 with a note, at the same place as at epoch 3.
  await slider.fill('3');
  await settle();
  notes = await page.evaluate(() => window.__nm.titleNotes());
  for (const layer of LAYERS) {
    assert.equal(notes[await plotIndex(1, layer)], 'no epoch 4: shows 3');
    assert.equal(notes[await plotIndex(0, layer)], '');
  }
  const b3 = await page.evaluate(([i, s]) => window.__nm.drawnPosition(i, s), [pb, s]);
  assert.ok(Math.hypot(b3.dataX - b2.dataX, b3.dataY - b2.dataY) < 1e-6, 'run B moved past its last epoch');
});

test('hovering a point lights the sample in every plot of both rows', async () => {
  await settle();
  // A sample of plot 0 far from its neighbours, so hovering it picks it.
  const { sample, gap } = await page.evaluate(() => {
    const nm = window.__nm, samples = nm.samplesOf(0);
    let best = null, bestD = -1;
    for (const s of samples) {
      const p = nm.drawnPosition(0, s);
      let d = Infinity;
      for (const o of samples) if (o !== s) { const q = nm.drawnPosition(0, o); d = Math.min(d, Math.hypot(p.x - q.x, p.y - q.y)); }
      if (d > bestD) { bestD = d; best = s; }
    }
    return { sample: best, gap: bestD };
  });
  assert.ok(gap > 3, `no isolated point (gap ${gap}px)`);
  const p = await page.evaluate((s) => window.__nm.drawnPosition(0, s), sample);
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction((s) => window.__nm.state().hover?.sample === s, sample);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const hl = await page.evaluate(() => window.__nm.highlights());
  assert.equal(hl.length, 2 * LAYERS.length);
  for (const h of hl) assert.equal(h?.sample, sample);
  await page.screenshot({ path: process.env.COMPARE_SCREENSHOT || '/tmp/compare_grid.png' });
  // Clicking pins its trajectory in every plot too.
  await page.mouse.click(p.x, p.y);
  await page.waitForFunction((s) => window.__nm.state().pinned === s, sample);
  await page.mouse.move(2, 2);
  await page.waitForFunction(() => window.__nm.state().hover == null);
});

test('a box selection in one run selects the same samples in the other', async () => {
  const pb = await plotIndex(1, 'block3');
  const r = await page.evaluate((i) => window.__nm.plotRect(i), pb);
  await page.locator('#modes button[data-mode="box"]').click();
  await page.mouse.move(r.x + 2, r.y + 2);
  await page.mouse.down();
  await page.mouse.move(r.x + r.w - 2, r.y + r.h / 2, { steps: 4 });
  await page.mouse.up();
  const selected = (await page.evaluate(() => window.__nm.state())).selected;
  assert.ok(selected > 0, 'nothing selected');
  const pa = await plotIndex(0, 'block1');
  assert.equal(await page.evaluate((i) => window.__nm.onTop(i), pa), selected);
  await page.keyboard.press('Escape');
  await page.locator('#modes button[data-mode="pan"]').click();
});
