// Browser test of `neuromapper serve` following a run that another process writes (issue 10): the
// page waits for the first epoch, shows epochs as their folders are renamed into place, never moves
// the epochs it already showed, and shows the refinement when the run is marked finished.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRun, writeEpoch } from './helpers/run.js';
import { startServer, launchBrowser } from './helpers/env.js';

const WAIT_MS = 120000;
let run, server, browser, page;

before(async () => {
  run = makeRun({ n: 200, layers: ['block1', 'block2', 'block3', 'block4'], epochs: [] });
  server = await startServer(['serve', run.dir, '--port', '0', '--no-open']);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(server.url);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (run) rmSync(run.dir, { recursive: true, force: true });
});

/** Data coordinates of the first samples of every plot at epoch index `t`. */
async function positionsAt(t) {
  return page.evaluate((t) => {
    const nm = window.__nm;
    nm.setT(t);
    const out = [];
    for (let i = 0; i < nm.plotCount(); i++) {
      for (const s of nm.samplesOf(i, 20)) {
        const p = nm.drawnPosition(i, s);
        out.push([i, s, p.dataX, p.dataY]);
      }
    }
    return out;
  }, t);
}

test('a growing run: waiting, then epochs as they are written, earlier ones unmoved, refined at the end', async () => {
  await page.waitForFunction(() => window.__nm && window.__nm.status().includes('waiting for the first epoch'), null, { timeout: WAIT_MS });

  writeEpoch(run, 0, 0);
  writeEpoch(run, 1, 1);
  await page.waitForFunction(() => window.__nm.ready && window.__nm.viewEpochs().every((e) => e.length === 2), null, { timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => window.__nm.plotCount()), 4);
  const before0 = await positionsAt(0);
  const before1 = await positionsAt(1);

  // Two more epochs, written atomically by this process while the page is open.
  writeEpoch(run, 2, 2);
  writeEpoch(run, 3, 3);
  await page.waitForFunction(() => window.__nm.epochs().length === 4 && window.__nm.viewEpochs().every((e) => e.length === 4), null, { timeout: WAIT_MS });
  assert.deepEqual(await page.evaluate(() => window.__nm.epochs()), [0, 1, 2, 3]);
  const max = Number(await page.locator('#timeline .slider').getAttribute('max'));
  assert.equal(max, 3, 'the slider spans the four epochs');
  // No reshuffle: the epochs shown before are where they were, to the quantisation step.
  for (const [before, t] of [[before0, 0], [before1, 1]]) {
    const after = await positionsAt(t);
    for (let k = 0; k < before.length; k++) {
      const [i, s, x, y] = before[k];
      assert.deepEqual(after[k].slice(0, 2), [i, s]);
      assert.ok(Math.abs(after[k][2] - x) < 1e-4 && Math.abs(after[k][3] - y) < 1e-4,
        `plot ${i} sample ${s} at epoch ${t} moved: ${[x, y]} -> ${after[k].slice(2)}`);
    }
  }

  // The trainer marks the run finished: every plot shows its refinement, and the page says so.
  writeFileSync(join(run.dir, 'finished.json'), JSON.stringify({ format: 'neuromapper-run/1', epochs: [0, 1, 2, 3] }));
  await page.waitForFunction(() => window.__nm.status().includes('all epochs refined together'), null, { timeout: WAIT_MS });
  assert.deepEqual(await page.evaluate(() => window.__nm.errors()), [null, null, null, null]);
});
