// Browser tests of the viewer's controls and read-outs around the plots: the footer's fixed layout
// and its numbers, plot titles, the idle signal and snapshot mode, point size / opacity and framing,
// the training curves under the slider, the legend's search. One run with metrics.json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeRun, accuracyAt } from './helpers/run.js';
import { startServer, launchBrowser } from './helpers/env.js';

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
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(server.url);
  await page.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: READY_MS });
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
