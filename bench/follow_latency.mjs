// Browser side of bench/follow_latency.py: opens the viewer in headless Chromium (Debian's, through
// tests/browser's playwright-core) and prints one JSON line per change of the epochs the plots draw:
// {"t": wall-clock ms, "epochs": [per plot, how many epochs its view has]}. Stops on stdin's end.
//   node bench/follow_latency.mjs URL
import { launchBrowser } from '../tests/browser/helpers/env.js';

const url = process.argv[2];
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.exposeFunction('__report', (line) => console.log(line));
await page.goto(url);
// Polled inside the page every 20 ms: the moment a view with more epochs is drawn is within a poll.
await page.evaluate(() => {
  let last = '';
  setInterval(() => {
    if (!window.__nm) return;
    const counts = window.__nm.viewEpochs().map((e) => e.length);
    const key = counts.join(',');
    if (key !== last) { last = key; window.__report(JSON.stringify({ t: Date.now(), epochs: counts })); }
  }, 20);
});
process.stdin.resume();
process.stdin.on('end', async () => { await browser.close(); process.exit(0); });
