// Browser tests of the viewer: real headless Chromium (software WebGL2) against `neuromapper serve`
// on a run generated here. Run with `node --test` in tests/browser (after `cargo build -p neuromapper`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { makeRun } from './helpers/run.js';
import { startServer, launchBrowser, openViewer } from './helpers/env.js';

const READY_MS = 120000;
let run, server, browser, page;
const consoleErrors = [];

before(async () => {
  run = makeRun({ n: 300, layers: ['block1', 'block2', 'block3'], epochs: [1, 2, 3, 4] });
  server = await startServer(['serve', run.dir, '--port', '0', '--no-open']);
  browser = await launchBrowser();
  page = await openViewer(browser, server.url, { width: 1280, height: 800 }, consoleErrors, READY_MS);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (run) rmSync(run.dir, { recursive: true, force: true });
});

/** Waits until the epoch animation has settled. */
async function settle() {
  await page.waitForFunction(() => { const s = window.__nm.state(); return s.t === s.target && !s.playing; });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** A sample of plot 0 whose nearest drawn neighbour (in every plot) is farthest away: hovering it picks it. */
async function isolatedSample() {
  return page.evaluate(() => {
    const nm = window.__nm;
    const samples = nm.samplesOf(0);
    let best = null, bestD = -1;
    for (const s of samples) {
      let d = Infinity;
      const p = nm.drawnPosition(0, s);
      for (const o of samples) {
        if (o === s) continue;
        const q = nm.drawnPosition(0, o);
        d = Math.min(d, Math.hypot(p.x - q.x, p.y - q.y));
      }
      if (d > bestD) { bestD = d; best = s; }
    }
    return { sample: best, gap: bestD };
  });
}

test('the page loads with no errors', async () => {
  assert.equal(await page.title(), 'browser-test · neuromapper');
  assert.equal(await page.locator('#nogl').isHidden(), true);
  assert.deepEqual(consoleErrors, []);
});

test('one plot per layer, all on one canvas', async () => {
  assert.equal(await page.evaluate(() => window.__nm.plotCount()), run.layers.length);
  assert.deepEqual(await page.evaluate(() => window.__nm.layers()), run.layers);
  assert.equal(await page.locator('canvas#gl').count(), 1);
  assert.equal(await page.locator('.plot-title').count(), run.layers.length);
  for (let i = 0; i < run.layers.length; i++) {
    assert.equal(await page.evaluate((i) => window.__nm.visibleCount(i), i), run.n);
  }
});

test('moving the slider changes the drawn positions (morphing through the blend)', async () => {
  await settle();
  const s = 5;
  const last = await page.evaluate((s) => window.__nm.drawnPosition(0, s), s);
  const slider = page.locator('#timeline .slider');
  await slider.fill('0');
  await settle();
  const state = await page.evaluate(() => window.__nm.state());
  assert.equal(state.t, 0);
  const first = await page.evaluate((s) => window.__nm.drawnPosition(0, s), s);
  assert.ok(Math.hypot(first.dataX - last.dataX, first.dataY - last.dataY) > 1e-3, `sample ${s} did not move: ${JSON.stringify([first, last])}`);
  // Half-way between epochs the position is blended (between the two epochs' positions).
  await page.evaluate(() => window.__nm.setT(0.5));
  const mid = await page.evaluate((s) => window.__nm.drawnPosition(0, s), s);
  const blend = (await page.evaluate(() => window.__nm.state())).blend;
  assert.ok(blend > 0 && blend < 1, `blend ${blend}`);
  await page.evaluate(() => window.__nm.setT(1));
  const second = await page.evaluate((s) => window.__nm.drawnPosition(0, s), s);
  const expectX = first.dataX + (second.dataX - first.dataX) * blend;
  assert.ok(Math.abs(mid.dataX - expectX) < 1e-3 * (1 + Math.abs(expectX)), `mid ${mid.dataX} vs ${expectX}`);
  // Keyboard: → steps one epoch.
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('ArrowRight');
  await settle();
  assert.equal((await page.evaluate(() => window.__nm.state())).t, 2);
  await slider.fill(String(run.epochs.length - 1));
  await settle();
});

test('hovering a point shows its label and highlights it in every plot', async () => {
  await settle();
  const { sample, gap } = await isolatedSample();
  assert.ok(gap > 3, `no isolated point (gap ${gap}px)`);
  const p = await page.evaluate((s) => window.__nm.drawnPosition(0, s), sample);
  await page.mouse.move(p.x, p.y);
  await page.waitForFunction((s) => window.__nm.state().hover?.sample === s, sample);
  const label = run.classes[run.labels[sample]];
  const tip = await page.evaluate(() => window.__nm.tooltipText());
  assert.ok(tip.includes(`#${sample}`), tip);
  assert.ok(tip.includes(`label: ${label}`), tip);
  assert.ok(/predicted at epoch \d+/.test(tip), tip);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const hl = await page.evaluate(() => window.__nm.highlights());
  assert.equal(hl.length, run.layers.length);
  for (const h of hl) assert.equal(h?.sample, sample);
  // The thumbnail comes from the atlas.
  const bg = await page.locator('#tooltip .thumb').evaluate((e) => e.style.backgroundImage);
  assert.ok(bg.includes('/api/thumbs/0.png'), bg);
  await page.mouse.move(2, 2);
});

test('toggling a class hides its points; solo and all work', async () => {
  const perClass = run.n / run.classes.length;
  await page.locator('#legend li[data-cls="1"] .name').click();
  for (let i = 0; i < run.layers.length; i++) {
    assert.equal(await page.evaluate((i) => window.__nm.visibleCount(i), i), run.n - perClass);
  }
  assert.ok(await page.locator('#legend li[data-cls="1"]').evaluate((e) => e.classList.contains('off')));
  await page.locator('#legend li[data-cls="2"]').hover();
  await page.locator('#legend li[data-cls="2"] .solo').click();
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), perClass);
  await page.locator('#legend button.all').click();
  assert.equal(await page.evaluate(() => window.__nm.visibleCount(0)), run.n);
});

test('colour by correct / incorrect: the legend\'s key counts right and wrong at the shown epoch', async () => {
  // makeRun predicts sample i wrongly at epoch index ei when i % (ei + 2) == 1.
  const wrongAt = (ei) => Array.from({ length: run.n }, (_, i) => i).filter((i) => i % (ei + 2) === 1).length;
  await page.locator('#legend select.colorby').selectOption('correct');
  for (const ei of [0, run.epochs.length - 1]) {
    await page.locator('#timeline .slider').fill(String(ei));
    await settle();
    const caption = await page.locator('#legend .key-caption').textContent();
    assert.ok(caption.includes(`epoch ${run.epochs[ei]}`), caption);
    const wrong = await page.locator('#legend .key-row.wrong .count').textContent();
    const right = await page.locator('#legend .key-row.correct .count').textContent();
    assert.ok(wrong.startsWith(`${wrongAt(ei)} `), `epoch index ${ei}: incorrect shows "${wrong}", expected ${wrongAt(ei)}`);
    assert.ok(right.startsWith(`${run.n - wrongAt(ei)} `), `epoch index ${ei}: correct shows "${right}"`);
  }
  assert.equal(await page.locator('#legend .key-row.absent').count(), 0);
  await page.locator('#legend select.colorby').selectOption('true');
  assert.equal(await page.locator('#legend .key-row').count(), 0);
});

test('box selection counts classes and highlights in every plot', async () => {
  await page.locator('#modes button[data-mode="box"]').click();
  const box = await page.evaluate(() => {
    const b = document.querySelector('#gl').getBoundingClientRect();
    return { x: b.left, y: b.top };
  });
  // Drag over the whole first plot (its rect starts just inside the canvas corner).
  const r = await page.evaluate(() => { const p = window.__nm.drawnPosition(0, 0); return p; });
  void r;
  await page.mouse.move(box.x + 8, box.y + 24);
  await page.mouse.down();
  await page.mouse.move(box.x + 300, box.y + 200, { steps: 5 });
  await page.mouse.move(box.x + 600, box.y + 380, { steps: 5 });
  await page.mouse.up();
  const selected = (await page.evaluate(() => window.__nm.state())).selected;
  assert.ok(selected > 0, 'nothing selected');
  assert.equal(await page.locator('#selection').isVisible(), true);
  assert.ok((await page.locator('#selection .sel-total').textContent()).includes(`${selected} selected`));
  await page.locator('#selection .clear').click();
  assert.equal((await page.evaluate(() => window.__nm.state())).selected, 0);
  await page.locator('#modes button[data-mode="pan"]').click();
});

test('clicking a point pins its trajectory', async () => {
  const { sample } = await isolatedSample();
  const p = await page.evaluate((s) => window.__nm.drawnPosition(0, s), sample);
  await page.mouse.click(p.x, p.y);
  await page.waitForFunction((s) => window.__nm.state().pinned === s, sample);
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.__nm.state().pinned === null);
});

test('changing n_neighbors recomputes and the new positions arrive', async () => {
  const before = await page.evaluate(() => ({ views: window.__nm.views(), p: window.__nm.drawnPosition(1, 7) }));
  await page.locator('#params input[name="n_neighbors"]').fill('5');
  await page.locator('#params button[type="submit"]').click();
  await page.waitForFunction((old) => window.__nm.views().every((v, i) => v !== old[i]) && window.__nm.pending().every((p) => p === null),
    before.views, { timeout: READY_MS });
  const after = await page.evaluate(() => ({ views: window.__nm.views(), p: window.__nm.drawnPosition(1, 7) }));
  assert.equal(new Set(after.views).size, 1, 'all plots show the same new view');
  assert.notDeepEqual([after.p.dataX, after.p.dataY], [before.p.dataX, before.p.dataY]);
  assert.ok((await page.locator('.plot-title .params').first().textContent()).includes('n_neighbors 5 · '));
});

/** Mean over adjacent plots of the RMS distance between a sample's positions, each plot scaled to unit RMS radius. */
async function crossLayerDisplacement() {
  return page.evaluate(() => {
    const nm = window.__nm;
    const samples = nm.samplesOf(0);
    const unit = (i) => {
      const pts = samples.map((s) => nm.drawnPosition(i, s)).map((p) => [p.dataX, p.dataY]);
      const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length, my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
      const r = Math.sqrt(pts.reduce((a, p) => a + (p[0] - mx) ** 2 + (p[1] - my) ** 2, 0) / pts.length);
      return pts.map((p) => [(p[0] - mx) / r, (p[1] - my) / r]);
    };
    let total = 0;
    for (let i = 0; i + 1 < nm.plotCount(); i++) {
      const a = unit(i), b = unit(i + 1);
      total += Math.sqrt(a.reduce((acc, p, k) => acc + (p[0] - b[k][0]) ** 2 + (p[1] - b[k][1]) ** 2, 0) / a.length);
    }
    return total / (nm.plotCount() - 1);
  });
}

test('"align layers" recomputes every plot jointly: adjacent layers agree, and the titles say so', async () => {
  await settle();
  const before = await page.evaluate(() => window.__nm.views());
  const unaligned = await crossLayerDisplacement();
  await page.locator('#params input[name="align_layers"]').check();
  await page.locator('#params button[type="submit"]').click();
  await page.waitForFunction((old) => window.__nm.views().every((v, i) => v !== old[i]) && window.__nm.pending().every((p) => p === null),
    before, { timeout: READY_MS });
  await settle();
  const aligned = await crossLayerDisplacement();
  assert.ok(aligned * 2 <= unaligned, `cross-layer displacement ${aligned.toFixed(3)} aligned vs ${unaligned.toFixed(3)}`);
  assert.ok((await page.locator('.plot-title .params').first().textContent()).includes('layers aligned'));
  // Back to independent layers for the tests that follow.
  const views = await page.evaluate(() => window.__nm.views());
  await page.locator('#params input[name="align_layers"]').uncheck();
  await page.locator('#params button[type="submit"]').click();
  await page.waitForFunction((old) => window.__nm.views().every((v, i) => v !== old[i]) && window.__nm.pending().every((p) => p === null),
    views, { timeout: READY_MS });
});

test('each plot says how far to trust it: a trustworthiness sparkline that follows the epoch, with the numbers explained on hover', async () => {
  await settle();
  await page.waitForFunction(() => document.querySelectorAll('.plot-title .quality:not([hidden])').length === window.__nm.plotCount(),
    null, { timeout: READY_MS });
  const read = () => page.evaluate(() => Array.from(document.querySelectorAll('.plot-title .quality')).map((q) => ({
    text: q.textContent, trust: Number(/** @type {HTMLElement} */ (q).dataset.trust), title: q.getAttribute('title'),
    dots: q.querySelectorAll('circle').length })));
  const first = await read();
  for (const q of first) {
    assert.ok(q.trust > 0.5 && q.trust <= 1, `trust ${q.trust}`);
    assert.ok(/^ ?trust 0\.\d{3}$|trust 1\.000/.test(q.text.trim()), q.text);
    assert.match(q.title, /Trustworthiness@15 [01]\.\d{3}/);
    assert.match(q.title, /Neighbour change@15/);
    assert.equal(q.dots, 1, 'the shown epoch is marked');
  }
  // Another epoch: the marked value and its explanation follow.
  const epochs = await page.evaluate(() => window.__nm.epochs());
  await page.evaluate(() => window.__nm.setT(0));
  await settle();
  const atFirst = await read();
  assert.match(atFirst[0].title, new RegExp(`^Epoch ${epochs[0]}\\.`));
  assert.match(atFirst[0].title, /change@15 since the previous epoch –/, 'no previous epoch at the first');
  await page.evaluate((e) => window.__nm.setT(e), epochs.length - 1);
  await settle();
  assert.match((await read())[0].title, new RegExp(`^Epoch ${epochs[epochs.length - 1]}\\.`));
});

test('a browser without WebGL2 gets a clear message', async () => {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  await p.addInitScript(() => {
    const orig = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (kind, ...rest) { return kind === 'webgl2' ? null : orig.call(this, kind, ...rest); };
  });
  await p.goto(server.url);
  await p.waitForSelector('#nogl:not([hidden])');
  assert.ok((await p.locator('#nogl').textContent()).includes('WebGL2'));
  await ctx.close();
});

test('export PNG downloads an image', async () => {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()]);
  assert.ok(download.suggestedFilename().endsWith('.png'));
  assert.deepEqual(consoleErrors, []);
});
