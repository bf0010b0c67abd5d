// Prediction flips: where a sample's predicted class changed from one epoch with predictions to
// the next ("cat → dog at epoch 7"), listed for a selection, and the "show" filter over the
// predictions (misclassified at the shown epoch, by its newest predictions as the colours; predicted differently at two epochs).
// @ts-check

import { roundedEpoch, predictionsAt } from './app.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {{sample: number, epoch: number, from: number, to: number}} Flip */

/**
 * Every flip of sample `s`, in epoch order: at each epoch with predictions whose prediction differs
 * from the previous epoch with one (a sample without a prediction at an epoch is skipped there).
 * @param {App} app @param {number} s
 * @returns {Flip[]}
 */
export function flipsOf(app, s) {
  const sm = app.samples;
  if (!sm) return [];
  /** @type {Flip[]} */
  const out = [];
  let prev = -1;
  for (const e of sm.predEpochs) {
    const p = /** @type {Uint8Array | Uint16Array} */ (sm.predictions.get(e))[s];
    if (p === sm.absent) continue;
    if (prev >= 0 && p !== prev) out.push({ sample: s, epoch: e, from: prev, to: p });
    prev = p;
  }
  return out;
}

/**
 * The flips of the samples in `mask`, as lines for people ("#12 cat: cat → dog at epoch 7"), the
 * first `limit` of them, and how many there are in all and in how many samples.
 * @param {App} app @param {Uint8Array} mask @param {number} limit
 * @returns {{lines: string[], total: number, samples: number}}
 */
export function flipLines(app, mask, limit) {
  const name = (/** @type {number} */ c) => app.classes[c] ?? String(c);
  /** @type {string[]} */
  const lines = [];
  let total = 0, samples = 0;
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s]) continue;
    const f = flipsOf(app, s);
    if (!f.length) continue;
    samples++;
    total += f.length;
    const label = app.samples ? name(app.samples.labels[s]) : '';
    for (const x of f) if (lines.length < limit) lines.push(`#${s} ${label}: ${name(x.from)} → ${name(x.to)} at epoch ${x.epoch}`);
  }
  return { lines, total, samples };
}

/**
 * Per sample, 1 when the show filter lets it be drawn in run `run`'s plots (by that run's
 * predictions), or null when it lets every sample be drawn.
 * @param {App} app
 * @param {number} [run]
 * @returns {Uint8Array | null}
 */
export function showMask(app, run = 0) {
  const show = app.store.get().show, sm = run ? app.runs[run]?.samples : app.samples;
  if (show.kind === 'all' || !sm) return null;
  const mask = new Uint8Array(sm.n);
  if (show.kind === 'wrong') {
    const p = predictionsAt(app, roundedEpoch(app), run);
    if (p) for (let s = 0; s < sm.n; s++) mask[s] = p[s] !== sm.absent && p[s] !== sm.labels[s] ? 1 : 0;
    return mask;
  }
  const pa = sm.predictions.get(show.a), pb = sm.predictions.get(show.b);
  if (pa && pb) for (let s = 0; s < sm.n; s++) mask[s] = pa[s] !== sm.absent && pb[s] !== sm.absent && pa[s] !== pb[s] ? 1 : 0;
  return mask;
}
