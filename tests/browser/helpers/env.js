// Finds the neuromapper binary, starts `neuromapper serve` on a free port, and launches headless
// Chromium (Debian's /usr/bin/chromium) through playwright-core.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** $NEUROMAPPER_BIN, else the debug (then release) build in $CARGO_TARGET_DIR or <repo>/target. */
export function findBinary() {
  if (process.env.NEUROMAPPER_BIN) return process.env.NEUROMAPPER_BIN;
  const target = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
  for (const profile of ['debug', 'release']) {
    const p = join(target, profile, 'neuromapper');
    if (existsSync(p)) return p;
  }
  throw new Error(`neuromapper binary not found under ${target}; run \`cargo build -p neuromapper\` or set NEUROMAPPER_BIN`);
}

/** Starts a server (`neuromapper serve RUN --port 0 --no-open`, or `command` args); resolves to {url, stop}. */
export function startServer(args, { bin = findBinary(), timeoutMs = 30000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => { proc.kill(); reject(new Error(`server did not print its URL in time\n${out}\n${err}`)); }, timeoutMs);
    // `serve` prints its URL on stdout; `train --serve` and `demo` say it on stderr.
    const check = () => {
      const m = (out + err).match(/http:\/\/[^\s]+\//);
      if (m) {
        clearTimeout(timer);
        resolvePromise({
          url: m[0], proc, stderr: () => err,
          stop: () => new Promise((r) => { if (proc.exitCode != null) return r(); proc.once('exit', r); proc.kill('SIGTERM'); }),
        });
      }
    };
    proc.stdout.on('data', (d) => { out += d; check(); });
    proc.stderr.on('data', (d) => { err += d; check(); });
    proc.on('exit', (code) => { clearTimeout(timer); if (!(out + err).match(/http:\/\//)) reject(new Error(`server exited (${code})\n${err}`)); });
  });
}

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/** Headless Chromium with software WebGL2 (SwiftShader) and no network chatter. playwright-core gives
 *  every launch a fresh temporary --user-data-dir of its own (and refuses one in args). */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu-sandbox', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      '--ignore-gpu-blocklist', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
  return browser;
}

/** A page of `browser` on the viewer at `url`, ready (window.__nm.ready), whose console errors and
 *  uncaught exceptions are pushed to `errors`.
 *  @param {import('playwright-core').Browser} browser
 *  @param {string} url
 *  @param {{width: number, height: number}} viewport
 *  @param {string[]} errors */
export async function openViewer(browser, url, viewport, errors, timeoutMs = 120000) {
  const page = await browser.newPage({ viewport });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => window.__nm && window.__nm.ready, null, { timeout: timeoutMs });
  return page;
}
