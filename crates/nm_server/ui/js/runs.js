// Runs side by side: the list of runs (one row each), their summaries and samples beside run 0's,
// the grid's columns (every run's layers, run 0's first), the cells' rects with a gutter of row
// labels, and the note on a plot whose run lacks the shown epoch. With one run none of it shows:
// the plots keep the single-run layout of layout.js.
// @ts-check

import { $ } from './dom.js';
import { roundedEpoch, runSummary } from './app.js';
import { gridRects, CELL_PAD, TITLE_H } from './layout.js';
import { viewEpochIndex } from './positions.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */
/** @typedef {import('./layout.js').Rect} Rect */

/** Width of the row labels' gutter (CSS px) when several runs are shown. */
export const ROW_LABEL_W = 26;

/**
 * Reads the list of runs (a source without `runs` shows just its own) and gives each its source.
 * @param {App} app
 */
export async function loadRuns(app) {
  const list = app.source.runs ? await app.source.runs() : [];
  const forRun = app.source.forRun;
  app.runs = list.map((entry, i) => ({
    entry,
    source: i === 0 || !forRun ? app.source : forRun(i),
    summary: null,
    samples: null,
  }));
}

/** @param {App} app */
export function isGrid(app) {
  return app.runs.length > 1;
}

/**
 * Reads the summaries and samples of runs 1… again (run 0's are read by live.js); a run that
 * cannot be read keeps what it had.
 * @param {App} app
 */
export async function refreshOtherRuns(app) {
  await Promise.all(app.runs.slice(1).map(async (rv) => {
    try {
      const [summary, samples] = await Promise.all([rv.source.summary(), rv.source.samples()]);
      rv.summary = summary; rv.samples = samples;
    } catch (e) {
      console.error(e);
    }
  }));
  if (app.runs[0]) { app.runs[0].summary = app.summary; app.runs[0].samples = app.samples; }
}

/**
 * The slider's epochs: every epoch any run has, ascending.
 * @param {App} app
 * @returns {number[]}
 */
export function allEpochs(app) {
  const set = new Set(app.summary ? app.summary.epochs : []);
  for (const rv of app.runs.slice(1)) for (const e of rv.summary ? rv.summary.epochs : []) set.add(e);
  return [...set].sort((a, b) => a - b);
}

/**
 * The grid's columns: run 0's layers, then any other run's layers it lacks, in their order.
 * @param {App} app
 * @returns {string[]}
 */
export function columns(app) {
  /** @type {string[]} */
  const cols = [];
  const summaries = [app.summary, ...app.runs.slice(1).map((rv) => rv.summary)];
  for (const s of summaries) for (const l of s ? s.layers : []) if (!cols.includes(l.name)) cols.push(l.name);
  return cols;
}

/**
 * What the plots are: (run, column, layer) for every cell of the grid, or every layer of the one run.
 * @param {App} app
 * @returns {{run: number, col: number, layer: string}[]}
 */
export function plotCells(app) {
  const cols = columns(app);
  const runs = Math.max(1, app.runs.length);
  /** @type {{run: number, col: number, layer: string}[]} */
  const cells = [];
  for (let run = 0; run < runs; run++) cols.forEach((layer, col) => cells.push({ run, col, layer }));
  return cells;
}

/**
 * Each plot's rect: with one run the layout that makes the plots largest (layout.js), with several
 * a row per run and a column per layer, right of the row labels' gutter.
 * @param {App} app
 * @param {number} width
 * @param {number} height
 * @returns {Rect[]}
 */
export function plotRects(app, width, height) {
  if (!isGrid(app)) return gridRects(app.plots.length, width, height);
  const rows = app.runs.length, cols = Math.max(1, columns(app).length);
  const cw = (width - ROW_LABEL_W) / cols, ch = height / rows;
  return app.plots.map((pl) => {
    const cellX = ROW_LABEL_W + pl.col * cw, cellY = pl.run * ch;
    return {
      x: cellX + CELL_PAD, y: cellY + TITLE_H, w: Math.max(10, cw - 2 * CELL_PAD), h: Math.max(10, ch - TITLE_H - CELL_PAD),
      cellX, cellY, cellW: cw, cellH: ch,
    };
  });
}

/**
 * The row labels beside the grid: each run's label (and its own name when that differs), or none
 * with one run.
 * @param {App} app
 */
export function renderRowLabels(app) {
  const root = $('#rowlabels');
  root.hidden = !isGrid(app);
  if (!isGrid(app)) { root.replaceChildren(); return; }
  const h = $('#plots').clientHeight / app.runs.length;
  while (root.children.length > app.runs.length) root.lastElementChild?.remove();
  app.runs.forEach((rv, r) => {
    let el = /** @type {HTMLElement | undefined} */ (root.children[r]);
    if (!el) { el = document.createElement('div'); el.className = 'row-label'; root.appendChild(el); }
    const s = rv.summary;
    const name = s && s.name && s.name !== rv.entry.label ? ` · ${s.name}` : '';
    const state = !s || !s.epochs.length ? ' · waiting for the first epoch' : '';
    el.textContent = `${rv.entry.label}${name}${state}`;
    el.title = el.textContent;
    el.style.top = `${r * h}px`; el.style.height = `${h}px`; el.style.width = `${ROW_LABEL_W}px`;
  });
}

/**
 * The note on a plot whose run lacks the shown epoch ("no epoch 4: shows 3") or the plot's layer
 * (another run has it), or '' (always with one run: there the slider's epochs are the run's).
 * @param {App} app
 * @param {Plot} pl
 */
export function epochNote(app, pl) {
  const epoch = roundedEpoch(app);
  const s = runSummary(app, pl.run);
  if (isGrid(app) && s && !s.layers.some((l) => l.name === pl.layer)) return 'this run has no such layer';
  if (!isGrid(app) || epoch == null || !pl.emb || !s || s.epochs.includes(epoch)) return '';
  return `no epoch ${epoch}: shows ${pl.emb.epochs[viewEpochIndex(pl.emb, epoch)]}`;
}

/**
 * The key of `app.doneViews` for a view of a run's layer (run 0's keys are those of a single run).
 * @param {number} run
 * @param {string} layer
 * @param {string} view
 */
export function doneKey(run, layer, view) {
  return run ? `${run}:${layer}|${view}` : `${layer}|${view}`;
}

/**
 * The key of `app.quality` for `view` of run `run` (run 0's is the view's key).
 * @param {number} run
 * @param {string} view
 */
export function qualityKey(run, view) {
  return run ? `${run}:${view}` : view;
}

/**
 * The header line of a grid: how many runs, their samples and the most epochs any has.
 * @param {App} app
 */
export function gridHeader(app) {
  const s = app.summary;
  document.title = `${app.runs.map((r) => r.entry.label).join(' · ')} · neuromapper`;
  $('#run-name').textContent = `${app.runs.length} runs side by side`;
  $('#run-info').textContent = `${(s ? s.n_samples : 0).toLocaleString()} samples · ${columns(app).length} layers · ${allEpochs(app).length} epochs${anyLive(app) ? ' · live' : ''}`;
}

/**
 * Whether any run shown may still grow.
 * @param {App} app
 */
export function anyLive(app) {
  return !!app.summary?.live || app.runs.some((rv) => rv.summary?.live);
}
