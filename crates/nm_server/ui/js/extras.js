// Extra points (parametric mode, `serve --parametric`): a local .npy of one layer's activations
// [m, D], placed by the server in the shown epoch's view of that layer (asked again, and cached, per
// epoch as the slider moves), drawn as hollow rings in that layer's plot, picked on hover, cleared.
// @ts-check

import { roundedEpoch } from './app.js';
import { viewEpochIndex } from './positions.js';
import { pxToData } from './layout.js';
import { requestRender } from './render.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */

/**
 * The extra points: the file (kept to place it at other epochs), the layer it joins, and per view
 * epoch its positions [m * 2] (data coordinates), 'pending' while asked for, or the error.
 * @typedef {object} Extras
 * @property {string} layer
 * @property {string} name           the file's name
 * @property {ArrayBuffer} npy
 * @property {number} m              points in the file (known once the first answer came)
 * @property {string} view           the view the positions belong to
 * @property {Map<number, Float32Array | 'pending' | Error>} byEpoch
 * @property {number} generation     bumped on each add/clear (late answers of an older file are dropped)
 */

let generation = 0;

/**
 * The epoch of plot pl's view shown at the rounded slider position (null before data).
 * @param {App} app @param {Plot} pl
 */
function shownViewEpoch(app, pl) {
  const e = roundedEpoch(app);
  if (!pl.emb || e == null) return null;
  return pl.emb.epochs[viewEpochIndex(pl.emb, e)];
}

/** The plot the extras are drawn in. @param {App} app */
function extrasPlot(app) {
  const x = app.extras;
  return x ? app.plots.find((p) => p.layer === x.layer && p.run === 0) : undefined;
}

/**
 * Adds the points of `npy` (a .npy file's bytes) to `layer`'s plot, replacing any shown before.
 * @param {App} app @param {string} layer @param {string} name @param {ArrayBuffer} npy
 */
export function addExtras(app, layer, name, npy) {
  generation++;
  const pl = app.plots.find((p) => p.layer === layer && p.run === 0);
  app.extras = { layer, name, npy, m: 0, view: pl && pl.view ? pl.view : '', byEpoch: new Map(), generation };
  ensureExtras(app);
}

/** Removes the extra points. @param {App} app */
export function clearExtras(app) {
  generation++;
  app.extras = null;
  app.ui.extras.render(extrasStatus(app));
  requestRender(app);
}

/**
 * Asks for the extras' positions at the shown epoch when they are not cached (the slider moved, or
 * the plot's view changed: the cache is then dropped).
 * @param {App} app
 */
export function ensureExtras(app) {
  const x = app.extras, pl = extrasPlot(app);
  if (!x || !pl || !pl.view || !app.source.place) { app.ui.extras.render(extrasStatus(app)); return; }
  if (x.view !== pl.view) { x.view = pl.view; x.byEpoch.clear(); }
  const epoch = shownViewEpoch(app, pl);
  if (epoch == null || x.byEpoch.has(epoch)) { app.ui.extras.render(extrasStatus(app)); return; }
  x.byEpoch.set(epoch, 'pending');
  const gen = x.generation, view = x.view;
  app.source.place(x.layer, epoch, view, x.npy).then(
    (r) => {
      if (!app.extras || app.extras.generation !== gen || app.extras.view !== view) return;
      app.extras.m = r.n;
      app.extras.byEpoch.set(epoch, Float32Array.from(r.positions, (v) => (v == null ? NaN : v)));
    },
    (e) => {
      if (!app.extras || app.extras.generation !== gen) return;
      app.extras.byEpoch.set(epoch, e instanceof Error ? e : new Error(String(e)));
    },
  ).finally(() => { app.ui.extras.render(extrasStatus(app)); requestRender(app); });
  app.ui.extras.render(extrasStatus(app));
}

/**
 * The extras' positions to draw in plot pl now (those of the shown epoch), or null.
 * @param {App} app @param {Plot} pl
 * @returns {Float32Array | null}
 */
export function extrasFor(app, pl) {
  const x = app.extras;
  if (!x || pl.layer !== x.layer || pl.run !== 0 || pl.view !== x.view) return null;
  const epoch = shownViewEpoch(app, pl);
  const got = epoch == null ? undefined : x.byEpoch.get(epoch);
  return got instanceof Float32Array && got.length ? got : null;
}

/**
 * What the panel says: the file, the layer, how many points at which epoch, or why none are shown.
 * @typedef {{shown: boolean, layer: string, name: string, text: string, error: boolean}} ExtrasStatus
 */

/** @param {App} app @returns {ExtrasStatus | null} null: no extra points */
export function extrasStatus(app) {
  const x = app.extras;
  if (!x) return null;
  const pl = extrasPlot(app);
  const epoch = pl ? shownViewEpoch(app, pl) : null;
  const got = epoch == null ? undefined : x.byEpoch.get(epoch);
  const base = { layer: x.layer, name: x.name };
  if (!pl) return { ...base, shown: false, text: `layer ${x.layer} is not shown`, error: true };
  if (got instanceof Error) return { ...base, shown: false, text: got.message, error: true };
  if (!(got instanceof Float32Array)) return { ...base, shown: false, text: `placing the points at epoch ${epoch ?? '–'}…`, error: false };
  return { ...base, shown: true, text: `${(got.length / 2).toLocaleString()} extra points, epoch ${epoch}`, error: false };
}

/**
 * The extra point drawn under canvas point (x, y) of plot i (its index), or -1.
 * @param {App} app @param {number} i @param {number} x @param {number} y @param {number} radiusPx
 */
export function pickExtra(app, i, x, y, radiusPx) {
  const pl = app.plots[i], rect = app.rects[i];
  const xy = pl && rect && pl.cam ? extrasFor(app, pl) : null;
  if (!xy || !pl.cam) return -1;
  const [dx, dy] = pxToData(rect, pl.cam, x, y);
  const r2 = (radiusPx / pl.cam.scale) ** 2;
  let best = -1, bestD = r2;
  for (let k = 0; k < xy.length / 2; k++) {
    const d = (xy[2 * k] - dx) ** 2 + (xy[2 * k + 1] - dy) ** 2;
    if (d <= bestD) { bestD = d; best = k; }
  }
  return best;
}
