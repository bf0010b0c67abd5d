// Viewer benchmark (issue 4): bytes on the wire and time to first frame for 4 layers x 20 epochs x
// 10,000 points; frame time animating 4 plots x 250,000 points and hover pick latency at 250,000 points
// per plot, in headless Chromium with software WebGL (SwiftShader).
//
// The server is crates/nm_server/examples/bench_server.rs (synthetic embeddings, so the engine's speed
// is not part of these numbers). Usage, from the repository root:
//   cargo build -p nm_server --example bench_server
//   (cd tests/browser && npm ci) && node bench/viewer_bench.mjs
// Env: BENCH_SERVER (path of the example binary), CARGO_TARGET_DIR, CHROMIUM_BIN.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(repo, 'tests', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

function serverBin() {
  if (process.env.BENCH_SERVER) return process.env.BENCH_SERVER;
  const target = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
  for (const p of ['release', 'debug']) {
    const b = join(target, p, 'examples', 'bench_server');
    if (existsSync(b)) return b;
  }
  throw new Error('bench_server not found: cargo build -p nm_server --example bench_server');
}

function startServer(n, epochs, layers) {
  const dir = mkdtempSync(join(tmpdir(), 'nm-bench-run-'));
  return new Promise((ok, fail) => {
    const proc = spawn(serverBin(), [join(dir, 'run'), String(n), String(epochs), String(layers)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/http:\/\/\S+\//); if (m) ok({ url: m[0], stop: () => { proc.kill(); rmSync(dir, { recursive: true, force: true }); } }); });
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (c) => fail(new Error(`bench_server exited ${c}: ${err}`)));
  });
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
      '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

const PLAY_MS = 15000;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const mb = (b) => (b / 1e6).toFixed(2);

async function firstFrame(browser, url, runs = 5) {
  const times = [];
  let bytes = 0;
  for (let r = 0; r < runs; r++) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForFunction(() => window.__nm && window.__nm.ready && window.__nm.timing().firstFrameAt, null, { timeout: 60000 });
    const nav = await page.evaluate(() => window.__nm.timing().firstFrameAt); // ms since navigation start
    times.push(nav);
    bytes = await page.evaluate(() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
      .reduce((a, e) => a + (e.encodedBodySize || 0), 0));
    void t0;
    await page.close();
  }
  return { ms: median(times), all: times, bytes };
}

async function animate(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // A crashed page (software GL running out of time or memory) ends the run with a message
  // instead of a hang.
  const crashed = new Promise((_, fail) => page.on('crash', () => fail(new Error('the page crashed while animating'))));
  crashed.catch(() => {});
  const guard = (p) => Promise.race([p, crashed]);
  await guard(page.goto(url));
  await guard(page.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: 120000 }));
  const drawn0 = await guard(page.evaluate(() => window.__nm.state().frames));
  const t0 = Date.now();
  await guard(page.evaluate(() => window.__nm.play()));
  await guard(page.waitForTimeout(PLAY_MS));
  const frames = await guard(page.evaluate(() => window.__nm.frameTimes()));
  const drawn = (await guard(page.evaluate(() => window.__nm.state().frames))) - drawn0;
  const fps = drawn / ((Date.now() - t0) / 1000);
  await guard(page.evaluate(() => window.__nm.stop()));
  // Draw cost alone (CPU side + GPU finish), forced: 10 frames at varying blend.
  const draw = await guard(page.evaluate(() => {
    const ts = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      window.__nm.setT(i / 9 * (window.__nm.epochs().length - 1));
      const gl = document.querySelector('#gl').getContext('webgl2');
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4)); // waits for the GPU
      ts.push(performance.now() - t0);
    }
    return ts;
  }));
  const pick = await guard(page.evaluate(() => { window.__nm.setT(1.5); return window.__nm.benchPick(0, 500); }));
  const pickSettled = await guard(page.evaluate(() => { window.__nm.setT(2); window.__nm.benchPick(0, 1); return window.__nm.benchPick(0, 1000); }));
  await page.close();
  return { frameMs: median(frames.length > 3 ? frames.slice(2) : frames) ?? NaN, frames: frames.length, fps, drawn, drawMs: median(draw), pick, pickSettled };
}

const browser = await launch();
try {
  const small = await startServer(10000, 20, 4);
  try {
    const r = await firstFrame(browser, small.url);
    console.log(`first frame, 4 layers x 20 epochs x 10,000 points: median ${r.ms.toFixed(0)} ms over ${r.all.length} loads ` +
      `(${r.all.map((x) => x.toFixed(0)).join(', ')}); ${mb(r.bytes)} MB on the wire ` +
      `(NeuroMapper: ~120 MB of CSV for 40 epochs; ratio ${(120e6 / 2 / r.bytes).toFixed(0)}x less per epoch)`);
  } finally { small.stop(); }
  const big = await startServer(250000, 5, 4);
  try {
    const a = await animate(browser, big.url);
    console.log(`animating 4 plots x 250,000 points (SwiftShader, software GL): ${a.drawn} frames drawn in ${PLAY_MS / 1000} s of play ` +
      `= ${a.fps.toFixed(2)} fps; median requestAnimationFrame interval ${a.frameMs.toFixed(0)} ms; forced draw + readPixels median ${a.drawMs.toFixed(0)} ms`);
    console.log(`hover pick at 250,000 points: index build ${a.pick.buildMs.toFixed(1)} ms (once per epoch/blend change), ` +
      `query ${(a.pickSettled.queryMs * 1000).toFixed(0)} µs median-of-1000 mean (${a.pickSettled.hits}/${a.pickSettled.queries} hits)`);
  } finally { big.stop(); }
} finally {
  await browser.close();
}
