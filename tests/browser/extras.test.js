// Browser tests of extra points (`serve --parametric`): the panel places a local .npy of a layer's
// activations in the shown epoch's view and draws them as hollow rings in that layer's plot; the
// run's own activations land on the samples' own positions; the points are placed again when the
// slider moves; hover names an extra point; a file of the wrong width says why; Clear removes them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRun } from './helpers/run.js';
import { writeNpy } from './helpers/npy.js';
import { findBinary, startServer, launchBrowser, openViewer } from './helpers/env.js';

const READY_MS = 120000;
const N = 200, EPOCHS = [0, 1, 2], LAYERS = ['block1', 'block2'];
let run, server, browser, page, files;
const consoleErrors = [];

before(async () => {
  run = makeRun({ n: N, layers: LAYERS, epochs: EPOCHS, dim: 12 });
  files = mkdtempSync(join(tmpdir(), 'nm-extras-'));
  const embed = spawnSync(findBinary(), ['embed', run.dir, '--parametric'], { encoding: 'utf8' });
  assert.equal(embed.status, 0, `embed --parametric failed:\n${embed.stderr}`);
  server = await startServer(['serve', run.dir, '--parametric', '--port', '0', '--no-open']);
  browser = await launchBrowser();
  page = await openViewer(browser, server.url, { width: 1280, height: 900 }, consoleErrors, READY_MS);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (run) rmSync(run.dir, { recursive: true, force: true });
  if (files) rmSync(files, { recursive: true, force: true });
});

const frame = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/** Shows epoch index ei and waits until the extras of that epoch are placed (or failed). */
async function showEpoch(ei) {
  await page.evaluate((t) => window.__nm.setT(t), ei);
  await page.waitForFunction((e) => {
    const x = window.__nm.extras();
    return x.status && (x.status.error || x.status.text.endsWith(`epoch ${e}`));
  }, EPOCHS[ei], { timeout: 30000 });
  await frame();
}

/** Uploads `path` as the extra points of `layer` through the panel's file input. */
async function upload(layer, path) {
  await page.selectOption('#extras .extras-layer', layer);
  await page.setInputFiles('#extras .extras-file', path);
}

test('the panel is shown in parametric mode and offers every layer', async () => {
  assert.equal(await page.locator('#extras').isHidden(), false);
  const offered = await page.$$eval('#extras .extras-layer option', (os) => os.map((o) => o.value));
  assert.deepEqual(offered, LAYERS);
});

test("a layer's own activations land on its samples' positions, drawn in that plot only, and follow the slider", async () => {
  const li = 1, layer = LAYERS[li];
  await page.evaluate((t) => window.__nm.setT(t), 1);
  await upload(layer, join(run.dir, 'epochs', String(EPOCHS[1]), `${layer}.npy`));
  for (const ei of [1, 2]) {
    await showEpoch(ei);
    const x = await page.evaluate(() => window.__nm.extras());
    assert.equal(x.status.error, false, x.status.text);
    assert.equal(x.drawn[0].length, 0, 'nothing in the other layer\'s plot');
    assert.equal(x.drawn[li].length, N);
    if (ei !== 1) continue;
    // At the file's own epoch, extra point k sits on sample k (within 0.05 of the plot's RMS radius).
    const own = await page.evaluate(([i, n]) => Array.from({ length: n }, (_, s) => window.__nm.drawnPosition(i, s)), [li, N]);
    const cx = own.reduce((a, p) => a + p.x, 0) / N, cy = own.reduce((a, p) => a + p.y, 0) / N;
    const radius = Math.sqrt(own.reduce((a, p) => a + (p.x - cx) ** 2 + (p.y - cy) ** 2, 0) / N);
    const err = Math.sqrt(x.drawn[li].reduce((a, p, k) => a + (p.x - own[k].x) ** 2 + (p.y - own[k].y) ** 2, 0) / N);
    assert.ok(err < 0.05 * radius, `extra points are ${err.toFixed(2)} px (RMS) from their samples; radius ${radius.toFixed(1)} px`);
  }
  const placed = await page.evaluate(() => window.__nm.extras().epochs);
  assert.deepEqual([...placed].sort(), [1, 2], 'placed once per epoch shown');
  assert.match(await page.textContent('#extras .extras-note'), new RegExp(`${layer}\\.npy → ${layer}: 200 extra points, epoch 2`));
});

test('hovering an extra point names it', async () => {
  const x = await page.evaluate(() => window.__nm.extras());
  // Extra points are picked before the samples under them.
  const p = x.drawn[1][0];
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction(() => !document.querySelector('#tooltip').hidden);
  const tip = await page.textContent('#tooltip');
  assert.match(tip, /extra point #\d+/);
  assert.match(tip, /block2\.npy · block2 · epoch 2/);
  await page.mouse.move(5, 5);
});

test('the rings change the picture, and Clear removes them', async () => {
  const r = await page.evaluate(() => window.__nm.plotRect(1));
  const shot = () => page.screenshot({ clip: { x: r.x, y: r.y, width: r.w, height: r.h } });
  const withRings = await shot();
  await page.click('#extras .extras-clear');
  await frame();
  const x = await page.evaluate(() => window.__nm.extras());
  assert.equal(x.status, null);
  assert.deepEqual(x.drawn.map((d) => d.length), [0, 0]);
  assert.notDeepEqual(await shot(), withRings, 'the rings were drawn');
});

test('a file of the wrong width says which width the layer needs', async () => {
  const bad = join(files, 'narrow.npy');
  writeNpy(bad, new Float32Array(4 * 5), [4, 5]);
  await upload('block1', bad);
  await page.waitForFunction(() => { const s = window.__nm.extras().status; return s && s.error; }, null, { timeout: 30000 });
  const note = await page.textContent('#extras .extras-note');
  assert.match(note, /rows of 5 values/);
  assert.match(note, /D = 12/);
  assert.deepEqual((await page.evaluate(() => window.__nm.extras())).drawn.map((d) => d.length), [0, 0]);
  await page.click('#extras .extras-clear');
});

test('no console errors', () => {
  // The refused upload is answered 400, which the browser logs as a failed resource load.
  assert.deepEqual(consoleErrors.filter((e) => !/status of 400/.test(e)), []);
});
