// Where each point is drawn: the run's epoch slider mapped onto a view's epochs, the smooth blend
// between two epochs, the decoded positions (one point, or all of a plot, cached per blend), each
// plot's pick index over them.
// @ts-check

import { GridIndex } from './picking.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */
/** @typedef {import('./source.js').Embedding} Embedding */

/**
 * The two view epochs the plot shows now and the eased blend between them (null before data).
 * @typedef {{ia: number, ib: number, blend: number}} EpochPair
 */

/**
 * @param {App} app
 * @param {Plot} pl
 * @returns {EpochPair | null}
 */
export function epochPair(app, pl) {
  const E = app.epochs.length;
  if (!pl.emb || !E) return null;
  const t = Math.min(Math.max(app.store.get().t, 0), E - 1);
  const a = Math.floor(t), b = Math.min(a + 1, E - 1);
  const ia = viewEpochIndex(pl.emb, app.epochs[a]), ib = viewEpochIndex(pl.emb, app.epochs[b]);
  const f = t - a;
  return { ia, ib, blend: ia === ib ? 0 : f * f * (3 - 2 * f) };
}

/**
 * Index in the view's epochs of the last epoch <= `epoch` (the view may lag behind a live run).
 * @param {Embedding} emb
 * @param {number} epoch
 */
export function viewEpochIndex(emb, epoch) {
  const es = emb.epochs;
  let lo = 0, hi = es.length - 1, best = 0;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (es[m] <= epoch) { best = m; lo = m + 1; } else hi = m - 1;
  }
  return best;
}

/**
 * Data position of point k at view epoch ei.
 * @param {Embedding} emb
 * @param {number} ei
 * @param {number} k
 * @returns {[number, number]}
 */
export function decode(emb, ei, k) {
  const b = emb.bounds[ei], q = emb.pos, o = (ei * emb.n + k) * 2;
  return [b[0] + (q[o] / 65535) * (b[2] - b[0]), b[1] + (q[o + 1] / 65535) * (b[3] - b[1])];
}

/**
 * Data position of local point k of plot pl at the current blend.
 * @param {App} app
 * @param {Plot} pl
 * @param {number} k
 * @returns {[number, number] | null}
 */
export function positionOf(app, pl, k) {
  const p = epochPair(app, pl);
  if (!p || !pl.emb) return null;
  const [ax, ay] = decode(pl.emb, p.ia, k), [bx, by] = decode(pl.emb, p.ib, k);
  return [ax + (bx - ax) * p.blend, ay + (by - ay) * p.blend];
}

/**
 * All points of a plot at the current blend, as Float32Array [n*2] (cached for picking/selection);
 * empty before the plot has data.
 * @param {App} app
 * @param {Plot} pl
 * @returns {Float32Array}
 */
export function currentPositions(app, pl) {
  const p = epochPair(app, pl);
  const emb = pl.emb;
  if (!p || !emb) return new Float32Array(0);
  const key = `${pl.view}|${pl.version}|${p.ia}|${p.ib}|${p.blend}`;
  if (pl.posCache && pl.posCache.key === key) return pl.posCache.xy;
  const n = emb.n, xy = new Float32Array(n * 2);
  const bA = emb.bounds[p.ia], bB = emb.bounds[p.ib], q = emb.pos;
  const oA = p.ia * n * 2, oB = p.ib * n * 2, s = 1 / 65535, w = p.blend;
  const ax = (bA[2] - bA[0]) * s, ay = (bA[3] - bA[1]) * s, bx = (bB[2] - bB[0]) * s, by = (bB[3] - bB[1]) * s;
  for (let k = 0; k < n; k++) {
    const xa = bA[0] + q[oA + 2 * k] * ax, ya = bA[1] + q[oA + 2 * k + 1] * ay;
    const xb = bB[0] + q[oB + 2 * k] * bx, yb = bB[1] + q[oB + 2 * k + 1] * by;
    xy[2 * k] = xa + (xb - xa) * w;
    xy[2 * k + 1] = ya + (yb - ya) * w;
  }
  pl.posCache = { key, xy };
  return xy;
}

/**
 * The plot's pick index at the current blend, skipping hidden points (hidden classes, and points the
 * value or show filters hide: attrs.js's hidden flag); rebuilt when either changes (computeAttrs
 * drops it).
 * @param {App} app
 * @param {Plot} pl
 * @returns {GridIndex}
 */
export function pickIndex(app, pl) {
  const xy = currentPositions(app, pl);
  const hidden = app.store.get().hidden;
  if (pl.pick && pl.pick.xy === xy && pl.pick.hiddenRef === hidden) return pl.pick.index;
  const labels = app.samples ? app.samples.labels : new Uint8Array(0);
  const samples = pl.emb ? pl.emb.samples : new Uint32Array(0);
  const attrs = pl.attrs && pl.attrs.length === 2 * samples.length ? pl.attrs : null;
  const index = new GridIndex(xy, (k) => (attrs ? (attrs[2 * k + 1] & 1) === 1 : hidden[labels[samples[k]]] === 1));
  pl.pick = { xy, hiddenRef: hidden, index };
  return index;
}
