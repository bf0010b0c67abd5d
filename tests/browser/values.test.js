// Browser tests of colouring by per-sample values and of "what changed": the value colour modes
// and their legend (min / max over every epoch), the range filter, the top-100 changers selection,
// prediction flips listed for a selection, and the show filters. The run stores logits, a per-epoch
// value and samples.csv, so every kind of value is there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeRun, logitsAt, difficultyAt } from './helpers/run.js';
import { startServer, launchBrowser, openViewer } from './helpers/env.js';
import { rampColours, BACKGROUND } from '../../crates/nm_server/ui/js/palette.js';
import { contrast, lab, labSeen, distance, CVD_KINDS } from './helpers/colour.js';

const READY_MS = 120000;
const N = 300, EPOCHS = [1, 2, 3, 4], CLASSES = ['cat', 'dog', 'ship', 'frog'];
let run, server, browser, page;
const consoleErrors = [];

/** samples.csv: a numeric column `weight` (i / 10) and a text column `file`. */
const CSV = 'weight,file\n' + Array.from({ length: N }, (_, i) => `${i / 10},img_${i}.png`).join('\n') + '\n';

/** The predicted class of sample i at epoch index ei (helpers/run.js's rule). */
const predAt = (i, ei) => (i % (ei + 2) === 1 ? (run.labels[i] + 1) % CLASSES.length : run.labels[i]);

/** Softmax confidence of sample i at epoch index ei, from the logits the run stores. */
function confidenceAt(i, ei) {
  const preds = Int32Array.from({ length: N }, (_, s) => predAt(s, ei));
  const z = logitsAt(preds, CLASSES.length, ei).subarray(i * CLASSES.length, (i + 1) * CLASSES.length);
  const m = Math.max(...z), ex = Array.from(z, (v) => Math.exp(v - m)), sum = ex.reduce((a, b) => a + b, 0);
  return Math.max(...ex) / sum;
}

before(async () => {
  run = makeRun({ n: N, classes: CLASSES, layers: ['block1', 'block2'], epochs: EPOCHS, logits: true, values: true, samplesCsv: CSV });
  server = await startServer(['serve', run.dir, '--port', '0', '--no-open', '--no-follow']);
  browser = await launchBrowser();
  page = await openViewer(browser, server.url, { width: 1280, height: 900 }, consoleErrors, READY_MS);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (run) rmSync(run.dir, { recursive: true, force: true });
});

/** Colours by `mode` and waits until its values are loaded (and drawn). */
async function colourBy(mode, key) {
  await page.selectOption('#legend .colorby', mode);
  if (key) await page.waitForFunction((k) => window.__nm.valuesLoaded(k), key, { timeout: READY_MS });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

// Measured (node, helpers/colour.js): L* 16.6 -> 76.9, rising at every 5th slot in normal vision and
// in the three colour-blindness simulations; CIEDE2000 between slots 10 apart 3.0 to 5.4; least
// contrast against the background 1.80 (the yellow end).
test('the value scale rises in lightness for every vision, in even steps, visible on the background', () => {
  const c = rampColours();
  assert.equal(c.length, 250);
  for (const kind of [null, ...CVD_KINDS]) {
    for (let i = 5; i < c.length; i += 5) {
      const [a, b] = [labSeen(c[i - 5], kind)[0], labSeen(c[i], kind)[0]];
      assert.ok(b > a, `${kind ?? 'normal'}: L* falls from slot ${i - 5} (${a}) to ${i} (${b})`);
    }
  }
  assert.ok(lab(c[c.length - 1])[0] - lab(c[0])[0] > 55, 'a wide lightness range');
  const steps = [];
  for (let i = 10; i < c.length; i += 10) steps.push(distance(c[i - 10], c[i]));
  assert.ok(Math.min(...steps) > 2.5 && Math.max(...steps) / Math.min(...steps) < 2, `steps ${Math.min(...steps)}..${Math.max(...steps)}`);
  assert.ok(Math.min(...c.map((h) => contrast(h, BACKGROUND))) >= 1.75);
});

test('every kind of value is offered as a colour mode', async () => {
  const options = await page.$$eval('#legend .colorby .value-options option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options, [
    ['value:pred:confidence', 'confidence'], ['value:pred:margin', 'margin'], ['value:pred:loss', 'loss'],
    ['value:change', 'neighbour change'], ['value:run:difficulty', 'difficulty'], ['value:csv:weight', 'weight'],
  ]);
  assert.equal(await page.locator('#scale').isHidden(), true, 'no scale in a class colour mode');
});

test('a value mode shows the legend bar with the value\'s min and max over every epoch', async () => {
  await colourBy('value:pred:confidence', 'pred:confidence');
  assert.equal(await page.locator('#scale').isVisible(), true);
  let lo = Infinity, hi = -Infinity;
  for (let ei = 0; ei < EPOCHS.length; ei++) for (let i = 0; i < N; i++) { const c = confidenceAt(i, ei); lo = Math.min(lo, c); hi = Math.max(hi, c); }
  const shown = { min: Number(await page.textContent('#scale .scale-min')), max: Number(await page.textContent('#scale .scale-max')) };
  assert.ok(Math.abs(shown.min - lo) < 0.005 && Math.abs(shown.max - hi) < 0.005, `legend ${JSON.stringify(shown)} vs ${lo}..${hi}`);
  assert.match(await page.textContent('#legend .key-caption'), /confidence at epoch 4/);
  // The bar is a gradient from dark to light.
  assert.match(await page.$eval('#scale .scale-bar', (el) => el.style.background), /linear-gradient/);
  // Points are drawn in the scale's palette slots (0..249), none as "no value".
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), N);
  assert.deepEqual(consoleErrors, []);
});

test('the range filter hides the points outside it', async () => {
  // The lower handle to the middle: only points whose confidence at epoch 4 is in the upper half stay.
  await page.$eval('#scale .range-lo', (el) => { el.value = '500'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  const lo = Number(await page.textContent('#scale .scale-min')), hi = Number(await page.textContent('#scale .scale-max'));
  const samples = await page.evaluate(() => window.__nm.samplesOf(0));
  const state = await page.evaluate(() => window.__nm.state());
  assert.equal(state.epochIndex, EPOCHS.length - 1);
  // Thresholds from the legend's rounded ends; no confidence lies within rounding of the middle.
  const cut = lo + (hi - lo) / 2;
  const expected = samples.filter((s) => confidenceAt(s, EPOCHS.length - 1) >= cut).length;
  const visible = await page.evaluate(() => window.__nm.visibleCount(0));
  assert.ok(visible > 0 && visible < N, `some hidden, some shown: ${visible}`);
  assert.ok(Math.abs(visible - expected) <= 3, `visible ${visible}, expected about ${expected}`);
  assert.match(await page.textContent('#scale .scale-readout'), new RegExp(`${visible} of ${N} points`));
  // Back to the full range: every point again.
  await page.$eval('#scale .range-lo', (el) => { el.value = '0'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), N);
});

test('the selection\'s statistics include the value coloured by', async () => {
  await colourBy('value:run:difficulty', 'run:difficulty');
  const picked = [0, 1, 2, 3, 4, 5, 6, 7];
  await page.evaluate((s) => window.__nm.select(s), picked);
  const d = picked.map((i) => difficultyAt(i, EPOCHS.length - 1)).sort((a, b) => a - b);
  const r3 = (/** @type {number} */ x) => Number(x.toPrecision(3));
  const mean = r3(d.reduce((a, b) => a + b, 0) / d.length), median = r3((d[3] + d[4]) / 2);
  const text = await page.textContent('#selection .sel-stat');
  assert.match(text, new RegExp(`difficulty at epoch 4: mean ${mean}, median ${median} \\(8 with a value\\)`));
  await page.click('#selection .clear');
});

test('top 100 changers selects the 100 samples whose neighbours changed most', async () => {
  const note = page.locator('#changes .changers-note');
  await page.click('#changes .top');
  await page.waitForFunction(() => window.__nm.state().selected > 0, null, { timeout: READY_MS });
  const selected = await page.evaluate(() => window.__nm.selectedSamples());
  assert.equal(selected.length, 100);
  assert.match(await note.textContent(), /Selected the 100 samples whose 15 nearest neighbours in block1 changed most from epoch 3 to 4/);
  // They are the top 100 of the server's per-sample change at epoch 4 in block1.
  const top = await page.evaluate(async () => {
    const res = await fetch('/api/change?layer=block1&view=' + encodeURIComponent(window.__nm.views()[0]));
    const buf = await res.arrayBuffer();
    const len = new DataView(buf).getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 12, len)));
    const row = new Float32Array(buf, 12 + len + (header.epochs.length - 1) * header.n * 4, header.n);
    return { row: Array.from(row), epochs: header.epochs };
  });
  assert.deepEqual(top.epochs, EPOCHS);
  const samples = await page.evaluate(() => window.__nm.samplesOf(0));
  const order = samples.map((s, k) => [top.row[k], s]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const cut = order[99][0];
  for (const s of selected) assert.ok(top.row[samples.indexOf(s)] >= cut, `sample ${s} is not among the top changers`);
  assert.ok(top.row.every((v) => v >= 0 && v <= 1), 'Jaccard distances lie in [0, 1]');
  await page.click('#selection .clear');
});

test('colouring by neighbour change shows its legend too', async () => {
  const keys = await page.evaluate(() => window.__nm.changeKeys());
  await page.selectOption('#legend .colorby', 'value:change');
  for (const k of keys) await page.waitForFunction((key) => window.__nm.valuesLoaded(key), k, { timeout: READY_MS });
  await page.waitForFunction(() => document.querySelector('#scale .scale-note')?.textContent === '');
  const min = Number(await page.textContent('#scale .scale-min')), max = Number(await page.textContent('#scale .scale-max'));
  assert.ok(min >= 0 && max <= 1 && max > min, `${min}..${max}`);
  await colourBy('true');
  assert.equal(await page.locator('#scale').isHidden(), true);
});

test('prediction flips are listed for a selection', async () => {
  // Sample 3 (frog) is predicted cat at epoch 1 (3 % 2 == 1) and frog from epoch 2 on (3 % 3 == 0).
  await page.evaluate(() => window.__nm.select([3, 4]));
  const lines = await page.$$eval('#selection .flips li', (ls) => ls.map((l) => l.textContent));
  assert.ok(lines.includes('#3 frog: cat → frog at epoch 2'), JSON.stringify(lines));
  // Sample 4 (cat) is predicted dog at epoch 2 only (4 % 3 == 1).
  const expected4 = [];
  let prev = null;
  EPOCHS.forEach((e, ei) => { const p = predAt(4, ei); if (prev != null && p !== prev) expected4.push(`#4 cat: ${CLASSES[prev]} → ${CLASSES[p]} at epoch ${e}`); prev = p; });
  for (const l of expected4) assert.ok(lines.includes(l), `${l} missing from ${JSON.stringify(lines)}`);
  assert.equal(lines.length, 1 + expected4.length);
  assert.match(await page.textContent('#selection .flips-head'), new RegExp(`${lines.length} prediction flips in 2 samples`));
  await page.click('#selection .clear');
});

test('the show filters keep the misclassified or the flipped samples only', async () => {
  await page.selectOption('#changes .show', 'wrong');
  const samples = await page.evaluate(() => window.__nm.samplesOf(0));
  const last = EPOCHS.length - 1;
  const wrong = samples.filter((s) => predAt(s, last) !== run.labels[s]).length;
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), wrong);
  assert.match(await page.textContent('#changes .show-count'), new RegExp(`${wrong} of ${N} samples misclassified at epoch 4`));
  await page.selectOption('#changes .show', 'flipped');
  await page.selectOption('#changes .a', '1');
  await page.selectOption('#changes .b', '3');
  const flipped = samples.filter((s) => predAt(s, 0) !== predAt(s, 2)).length;
  assert.ok(flipped > 0);
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), flipped);
  await page.selectOption('#changes .show', 'all');
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), N);
});

test('the tooltip shows the value and samples.csv\'s text columns', async () => {
  await colourBy('value:csv:weight', 'csv:weight');
  const s = (await page.evaluate(() => window.__nm.samplesOf(0)))[10];
  await page.waitForFunction(() => { const st = window.__nm.state(); return st.t === st.target; });
  const p = await page.evaluate((s) => window.__nm.drawnPosition(0, s), s);
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction(() => window.__nm.tooltipText() !== '');
  const text = await page.evaluate(() => window.__nm.tooltipText());
  const hovered = Number(/#(\d+)/.exec(text)[1]);
  assert.ok(text.includes(`weight: ${Number((hovered / 10).toPrecision(3))}`), text);
  assert.ok(text.includes(`file: img_${hovered}.png`), text);
  assert.deepEqual(consoleErrors, []);
});
