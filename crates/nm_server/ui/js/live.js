// Reading the run (its summary and samples, again whenever it changes) and what the page does with
// each of the server's events: progress, finished or failed views, new epochs, the end of training.
// @ts-check

import { plotOf, summaryOf } from './app.js';
import { syncPlots, loadView, viewReady } from './plots.js';
import { pendingAt } from './progress.js';
import { requestRender } from './render.js';
import { runHeader, titles } from './panels.js';
import { atNewest, followNewest } from './playback.js';
import { forgetEpochValues } from './values.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./events.js').FailedEvent} FailedEvent */
/** @typedef {import('./events.js').CancelledEvent} CancelledEvent */

/**
 * Reads the summary and the samples; after the first load the plots follow the run's layers, and
 * a followed run moves the slider to its newest epoch.
 * @param {App} app
 */
export async function refreshSummary(app) {
  const [summary, samples] = await Promise.all([app.source.summary(), app.source.samples()]);
  app.summary = summary;
  runHeader(summary);
  app.samples = samples;
  app.bytes.samples = samples.bytes;
  for (const v of summary.views) app.viewParams[v.key] = v.params;
  app.viewParams[summary.default_view] = summary.default_params;
  const wasAtEnd = atNewest(app);
  // A grown run has more epochs of its per-epoch values: they are read again when next shown.
  if (app.epochs.length && summary.epochs.length !== app.epochs.length) forgetEpochValues(app);
  app.epochs = summary.epochs;
  if (app.started) syncPlots(app);
  app.ui.timeline.setEpochs(app.epochs, summary.live && app.source.live);
  followNewest(app, wasAtEnd);
  const params = app.ui.params;
  if (!app.epochs.length) params.setStatus('waiting for the first epoch…');
  else if (app.waitingShown) params.setStatus(summary.live ? 'following the run' : 'ready');
  app.waitingShown = !app.epochs.length;
  requestRender(app);
}

/**
 * A failed or cancelled computation: clears the plot's progress and says why.
 * @param {App} app
 * @param {FailedEvent | CancelledEvent} ev
 */
function onTaskEnded(app, ev) {
  const pl = plotOf(app, ev.layer);
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
        if (pl.layer === ev.layer && pl.pending && pl.pending.view === ev.view) pl.pending = pendingAt(ev.view, ev.stage, ev.fraction);
      }
      titles(app);
    },
    done(ev) {
      app.doneViews.add(`${ev.layer}|${ev.view}`);
      const pl = plotOf(app, ev.layer);
      if (!pl) return;
      if ((pl.pending && pl.pending.view === ev.view) || (pl.view === ev.view && ev.view === 'live') || (!pl.emb && ev.view === summaryOf(app).default_view)) {
        loadView(app, pl, ev.view);
      }
      if (ev.refined) {
        app.refined.add(ev.layer);
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
      status(ev.error, true);
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
      const key = summaryOf(app).default_view;
      await Promise.all(app.plots.filter((p) => !p.emb && viewReady(app, p.layer, key)).map((p) => loadView(app, p, key)));
    } catch (e) {
      console.error(e);
    }
    pollForViews(app);
  }, POLL_MS);
}
