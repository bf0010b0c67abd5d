// Reading the run (its summary and samples, again whenever it changes) and what the page does with
// each of the server's events: progress, finished or failed views, new epochs, the end of training.
// @ts-check

import { plotOf, runSummary } from './app.js';
import { syncPlots, loadView, viewReady } from './plots.js';
import { allEpochs, anyLive, doneKey, gridHeader, isGrid, refreshOtherRuns, renderRowLabels } from './runs.js';
import { pendingAt } from './progress.js';
import { requestRender } from './render.js';
import { runHeader, titles } from './panels.js';
import { atNewest, followNewest } from './playback.js';
import { forgetEpochValues } from './values.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./events.js').FailedEvent} FailedEvent */
/** @typedef {import('./events.js').CancelledEvent} CancelledEvent */

/**
 * Reads the summary and the samples (of every run shown); after the first load the plots follow
 * the runs' layers, and a followed run moves the slider to its newest epoch.
 * @param {App} app
 */
export async function refreshSummary(app) {
  const [summary, samples] = await Promise.all([app.source.summary(), app.source.samples()]);
  app.summary = summary;
  app.samples = samples;
  await refreshOtherRuns(app);
  if (isGrid(app)) gridHeader(app); else runHeader(summary);
  renderRowLabels(app);
  app.bytes.samples = samples.bytes;
  for (const s of [summary, ...app.runs.slice(1).map((rv) => rv.summary)]) {
    if (!s) continue;
    for (const v of s.views) app.viewParams[v.key] = app.viewParams[v.key] || v.params;
    app.viewParams[s.default_view] = app.viewParams[s.default_view] || s.default_params;
  }
  for (const v of summary.views) app.viewParams[v.key] = v.params;
  app.viewParams[summary.default_view] = summary.default_params;
  const wasAtEnd = atNewest(app);
  // A grown run has more epochs of its per-epoch values: they are read again when next shown.
  const epochs = allEpochs(app);
  if (app.epochs.length && epochs.length !== app.epochs.length) forgetEpochValues(app);
  app.epochs = epochs;
  if (app.started) syncPlots(app);
  app.ui.timeline.setEpochs(app.epochs, anyLive(app) && app.source.live);
  followNewest(app, wasAtEnd);
  const params = app.ui.params;
  if (!app.epochs.length) params.setStatus('waiting for the first epoch…');
  else if (app.waitingShown) params.setStatus(anyLive(app) ? 'following the run' : 'ready');
  app.waitingShown = !app.epochs.length;
  requestRender(app);
}

/**
 * A failed or cancelled computation: clears the plot's progress and says why.
 * @param {App} app
 * @param {FailedEvent | CancelledEvent} ev
 */
function onTaskEnded(app, ev) {
  const pl = plotOf(app, ev.layer, ev.run || 0);
  const error = ev.type === 'failed' ? ev.error : null;
  if (pl && pl.pending && pl.pending.view === ev.view) {
    pl.pending = null;
    if (error != null) pl.error = error;
    titles(app);
    app.ui.params.setStatus(error != null ? `${ev.layer}: ${error}` : `${ev.layer}: cancelled`, error != null);
  } else if (pl && error != null && !pl.emb) {
    pl.error = error; titles(app);
  }
}

/**
 * What the page does with each server event (events.js lists their shapes).
 * @param {App} app
 * @returns {import('./source.js').EventHandlers}
 */
export function eventHandlers(app) {
  const status = app.ui.params.setStatus;
  const refresh = () => { refreshSummary(app).catch((e) => console.error(e)); };
  return {
    progress(ev) {
      for (const pl of app.plots) {
        if (pl.layer === ev.layer && pl.run === (ev.run || 0) && pl.pending && pl.pending.view === ev.view) pl.pending = pendingAt(ev.view, ev.stage, ev.fraction);
      }
      titles(app);
    },
    done(ev) {
      const run = ev.run || 0;
      app.doneViews.add(doneKey(run, ev.layer, ev.view));
      const pl = plotOf(app, ev.layer, run);
      if (!pl) return;
      const s = runSummary(app, run);
      if ((pl.pending && pl.pending.view === ev.view) || (pl.view === ev.view && ev.view === 'live') || (!pl.emb && s && ev.view === s.default_view)) {
        loadView(app, pl, ev.view);
      }
      // The other runs' plots of this view are turned onto run 0's: a new run 0 view turns them anew.
      if (run === 0) for (const o of app.plots) if (o.run > 0 && o.layer === ev.layer && o.view === ev.view && o.emb) loadView(app, o, ev.view);
      if (ev.refined) {
        app.refined.add(doneKey(run, ev.layer, ''));
        status(app.refined.size >= app.plots.length ? 'training finished · all epochs refined together'
          : `training finished · refined ${app.refined.size}/${app.plots.length} layers`);
      }
    },
    failed: (ev) => onTaskEnded(app, ev),
    cancelled: (ev) => onTaskEnded(app, ev),
    epochs: refresh,
    training_finished(ev) {
      status(ev.refining ? 'training finished · refining all epochs together…' : 'training finished');
      refresh();
    },
    error(ev) {
      status(isGrid(app) ? `${app.runs[ev.run || 0]?.entry.label}: ${ev.error}` : ev.error, true);
    },
  };
}

/** Without events, how often the summary is read again while a plot still waits for its view. */
const POLL_MS = 500;

/**
 * Without an event stream (snapshot mode), reads the summary again until every plot's default
 * view exists, and loads each as it appears.
 * @param {App} app
 */
export function pollForViews(app) {
  if (app.source.live || app.plots.every((p) => p.emb)) return;
  setTimeout(async () => {
    try {
      await refreshSummary(app);
      const keyOf = (/** @type {number} */ run) => runSummary(app, run)?.default_view ?? '';
      await Promise.all(app.plots.filter((p) => !p.emb && viewReady(app, p.layer, keyOf(p.run), p.run)).map((p) => loadView(app, p, keyOf(p.run))));
    } catch (e) {
      console.error(e);
    }
    pollForViews(app);
  }, POLL_MS);
}
