// Browser test of live training (issue 5): `neuromapper train --serve` on a tiny config; the page
// opens on the first captured epoch and its slider grows as later epochs are trained and pushed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser } from './helpers/env.js';

const EPOCHS = 3;
const LIVE_MS = 240000;
let dir, server, browser, page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nm-live-'));
  server = await startServer([
    'train', '--dataset', 'shapes', '--epochs', String(EPOCHS), '--train-size', '400',
    '--capture-per-class', '12', '--width', '4', '--batch-size', '32', '--out', join(dir, 'run'),
    '--serve', '--port', '0', '--no-open',
  ], { timeoutMs: 120000 });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(server.url);
  await page.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: LIVE_MS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the slider grows as epochs arrive, and follows the newest one', async () => {
  const first = await page.evaluate(() => window.__nm.epochs().length);
  assert.ok(first >= 1 && first <= EPOCHS + 1, `epochs at first frame: ${first}`);
  // Epoch 0 (untrained) and epochs 1..EPOCHS all arrive in the open page without a reload.
  await page.waitForFunction((n) => window.__nm.epochs().length === n, EPOCHS + 1, { timeout: LIVE_MS });
  const epochs = await page.evaluate(() => window.__nm.epochs());
  assert.deepEqual(epochs, Array.from({ length: EPOCHS + 1 }, (_, i) => i));
  const max = Number(await page.locator('#timeline .slider').getAttribute('max'));
  assert.equal(max, EPOCHS, 'the slider spans every epoch');
  assert.equal(await page.evaluate(() => window.__nm.plotCount()), 4, 'one plot per ResNet stage');
  // Every plot draws the newest epoch's points.
  for (let i = 0; i < 4; i++) {
    assert.equal(await page.evaluate((i) => window.__nm.visibleCount(i), i), 120);
  }
});
