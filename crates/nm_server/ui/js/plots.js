// The plots: one per layer of the run, set up in one place (`setupPlots`, for the first load and
// whenever the run's layers or classes change), each loading the view it shows and asking the data
// source for views with new parameters.
// @ts-check

import { summaryOf, runSummary, runSource } from './app.js';
import { classColours } from './palette.js';
import { fitCamera } from './layout.js';
import { computeAttrs, paletteFor } from './attrs.js';
import { changeKey, ensureValues } from './values.js';
import { pendingAt } from './progress.js';
import { layout, requestRender } from './render.js';
import { titles, updateLegend, updateChanges } from './panels.js';
import { describeParams, describeParamsDetail } from './widgets/params.js';
import { doneKey, isGrid, plotCells, qualityKey, renderRowLabels } from './runs.js';
import { ensureExtras } from './extras.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */

/**
 * An empty plot of `layer` at position i, in row `run` and column `col`.
 * @param {string} layer
 * @param {number} i
 * @param {number} run
 * @param {number} col
 * @returns {Plot}
 */
function makePlot(layer, i, run, col) {
  return {
    index: i, run, col, layer, view: null, emb: null, pending: null, cam: null, userCam: false, local: null, fitBounds: [0, 0, 1, 1],
    version: 0, visible: 0, onTop: 0, paramsText: '', paramsDetail: '', params: null, error: null, attrs: null, attrEpoch: null, posCache: null, pick: null,
  };
}

/**
 * Makes one plot per layer of the summary (dropping the old ones), with the run's classes and
 * colours, each computation in progress shown, and loads the default view where it exists; with
 * several runs, one per (run, layer) of the grid (runs.js). Resolves when those loads have finished.
 * @param {App} app
 */
export function setupPlots(app) {
  const s = summaryOf(app);
  const cells = plotCells(app);
  const names = [...new Set(cells.map((c) => c.layer))];
  app.classes = s.classes;
  app.colours = classColours(s.classes.length);
  app.renderer.setPalette(paletteFor(app));
  if (app.store.get().hidden.length !== s.classes.length) app.store.set({ hidden: new Uint8Array(s.classes.length) });
  app.renderer.dropPlotsFrom(0);
  app.plots = cells.map((c, i) => makePlot(c.layer, i, c.run, c.col));
  app.ready = false;
  app.ui.params.setLayers(names);
  app.ui.params.setParams(s.default_params);
  for (const pl of app.plots) {
    const rs = runSummary(app, pl.run);
    const task = rs ? rs.tasks.find((t) => t.layer === pl.layer && t.view === rs.default_view) : null;
    if (task) pl.pending = pendingAt(task.view, task.stage, task.fraction);
  }
  layout(app);
  renderRowLabels(app);
  updateLegend(app);
  return Promise.all(app.plots.filter((pl) => viewReady(app, pl.layer, defaultView(app, pl), pl.run)).map((pl) => loadView(app, pl, defaultView(app, pl))));
}

/**
 * The key of the view a plot shows first: its run's default view ('' before the run is read).
 * @param {App} app
 * @param {Plot} pl
 */
function defaultView(app, pl) {
  return runSummary(app, pl.run)?.default_view ?? '';
}

/**
 * Makes the plots match the run's layers and classes when they changed (a live run learns its
 * layers with its first epoch).
 * @param {App} app
 */
export function syncPlots(app) {
  const s = summaryOf(app);
  const cells = plotCells(app).map((c) => `${c.run}:${c.layer}`);
  if (cells.join('\n') === app.plots.map((p) => `${p.run}:${p.layer}`).join('\n') && app.classes.length === s.classes.length) return;
  setupPlots(app);
}

/**
 * Whether the source has view `key` of `layer` of run `run` (per the last summary, or a `done`
 * event since).
 * @param {App} app
 * @param {string} layer
 * @param {string} key
 * @param {number} [run]
 */
export function viewReady(app, layer, key, run = 0) {
  const s = runSummary(app, run);
  return app.doneViews.has(doneKey(run, layer, key)) || !!s && s.views.some((v) => v.key === key && v.layers.includes(layer));
}

/**
 * Fetches `view` of the plot's layer and shows it (the camera stays where the user put it when the
 * view is a newer version of the one shown).
 * @param {App} app
 * @param {Plot} pl
 * @param {string} view
 */
export async function loadView(app, pl, view) {
  try {
    const emb = await runSource(app, pl.run).embedding(pl.layer, view);
    const summary = runSummary(app, pl.run) || summaryOf(app);
    const sameView = pl.view === view;
    pl.emb = emb; pl.view = view; pl.version++; pl.error = null;
    pl.posCache = null; pl.pick = null;
    const local = new Int32Array(summary.n_samples).fill(-1);
    for (let k = 0; k < emb.n; k++) local[emb.samples[k]] = k;
    pl.local = local;
    let b = [Infinity, Infinity, -Infinity, -Infinity];
    for (const e of emb.bounds) b = [Math.min(b[0], e[0]), Math.min(b[1], e[1]), Math.max(b[2], e[2]), Math.max(b[3], e[3])];
    pl.fitBounds = b;
    if (!sameView || !pl.userCam || !pl.cam) { pl.cam = fitCamera(b, app.rects[pl.index]); pl.userCam = false; }
    const params = view === 'live' ? summary.default_params : (app.viewParams[view] || null);
    pl.paramsText = (view === 'live' && summary.live ? 'live · ' : '') + describeParams(params);
    pl.paramsDetail = describeParamsDetail(params);
    pl.params = params;
    app.renderer.setPlotData(pl.index, emb);
    if (app.extras && app.extras.layer === pl.layer && pl.run === 0) ensureExtras(app);
    app.bytes.embeddings[pl.run ? `${pl.run}:${pl.layer}` : pl.layer] = emb.bytes;
    // The neighbour change belongs to the view's points and epochs: asked again for the new ones.
    if (app.values.get(changeKey(pl)) !== 'pending') app.values.delete(changeKey(pl));
    ensureValues(app);
    computeAttrs(app, pl);
    if (pl.pending && pl.pending.view === view) pl.pending = null;
    titles(app);
    updateLegend(app);
    updateChanges(app);
    checkReady(app);
    loadQuality(app, pl.run, view);
    requestRender(app);
  } catch (e) {
    const err = /** @type {Error & {status?: number}} */ (e);
    if (err.status === 404) return; // not computed yet: its `done` event will come
    pl.error = err.message;
    titles(app);
  }
}

/**
 * Asks once for the quality numbers of `view` of run `run` when every plot of the run shows it;
 * a 404 (not every layer cached yet) is asked again at the view's next load.
 * @param {App} app
 * @param {number} run
 * @param {string} view
 */
async function loadQuality(app, run, view) {
  const key = qualityKey(run, view);
  if (app.quality.has(key) || !app.plots.filter((p) => p.run === run).every((p) => p.emb && p.view === view)) return;
  app.quality.set(key, 'pending');
  try {
    app.quality.set(key, await runSource(app, run).quality(view));
    titles(app);
  } catch (_) {
    app.quality.delete(key);
  }
}

/** @param {App} app */
function checkReady(app) {
  if (!app.ready && app.plots.length && app.plots.every((p) => p.emb)) {
    app.ready = true;
    app.readyAt = performance.now();
  }
}

/**
 * Asks the source for a view with parameters `p` on `layer` (null: every plot); each plot shows
 * its progress until the view arrives.
 * @param {App} app
 * @param {import('./source.js').ComputeParams} p
 * @param {string | null} layer
 */
export async function requestView(app, p, layer) {
  const status = app.ui.params.setStatus;
  status('requesting…');
  try {
    // Each run is asked for its own plots (one run: the one request of a single-run viewer).
    // In a grid, runs without epochs yet and layers a run lacks are left out.
    const has = (/** @type {number} */ run, /** @type {string} */ l) => !isGrid(app) || !!runSummary(app, run)?.layers.some((x) => x.name === l);
    const runs = [...new Set(app.plots.map((pl) => pl.run))];
    let allDone = true;
    for (const run of runs) {
      const layers = app.plots.filter((pl) => pl.run === run && (!layer || pl.layer === layer) && has(run, pl.layer)).map((pl) => pl.layer);
      if (!layers.length) continue;
      const res = await runSource(app, run).compute(layers, p);
      app.viewParams[res.view] = res.params;
      for (const task of res.tasks) {
        const pl = app.plots.find((x) => x.layer === task.layer && x.run === run);
        if (!pl) continue;
        // Done already, or finished between the request and this answer (its event came first).
        if (task.state === 'done' || app.doneViews.has(doneKey(run, task.layer, res.view))) { pl.pending = null; loadView(app, pl, res.view); }
        else if (!pl.pending || pl.pending.view !== res.view) pl.pending = pendingAt(res.view, 'queued', 0);
      }
      allDone = allDone && res.tasks.every((t) => t.state === 'done');
    }
    status(allDone ? 'ready' : 'computing…');
    titles(app);
    requestRender(app); // the page is busy until the views arrive
  } catch (e) {
    status(/** @type {Error} */ (e).message, true);
  }
}

