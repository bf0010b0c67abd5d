// What the pointer and keyboard do on the plots: hover (pick + tooltip; extra points too), click to pin a trajectory,
// drag to pan (or lasso / box select), wheel to zoom, double-click to refit, and the keys.
// @ts-check

import { $ } from './dom.js';
import { valueIdOf, valueInfo, pointValues, formatValue } from './values.js';
import { roundedEpoch, predictionsAt, samplesOf, summaryOf } from './app.js';
import { epochPair, currentPositions, pickIndex } from './positions.js';
import { pointStyle } from './pointstyle.js';
import { insidePolygon } from './picking.js';
import { fitCamera, pxToData, zoomAt, panBy, rectAt } from './layout.js';
import { requestRender } from './render.js';
import { togglePlay, stepEpoch } from './playback.js';
import { pickExtra } from './extras.js';

/** @typedef {import('./app.js').App} App */

/** Hover pick radius in CSS pixels (beyond the point's own radius). */
const PICK_SLACK_PX = 4;
/** A press that moves farther than this (CSS px) is a drag, not a click. */
const DRAG_SLOP_PX = 3;
/** Zoom factor per wheel delta unit. */
const WHEEL_ZOOM = 0.0015;

/**
 * What is under canvas point (x, y): the plot, and the sample drawn there (null: none).
 * @typedef {{plot: number, sample: number | null, local?: number}} Hit
 */

/**
 * @param {App} app
 * @param {number} x
 * @param {number} y
 * @returns {Hit | null}
 */
export function pickAt(app, x, y) {
  const i = rectAt(app.rects, x, y);
  const pl = app.plots[i];
  if (!pl || !pl.emb || !pl.cam || !epochPair(app, pl)) return null;
  const rect = app.rects[i];
  const [dx, dy] = pxToData(rect, pl.cam, x, y);
  const rad = (pointStyle(app, pl, rect).radius + PICK_SLACK_PX) / pl.cam.scale;
  const k = pickIndex(app, pl).nearest(dx, dy, rad);
  return k < 0 ? { plot: i, sample: null } : { plot: i, sample: pl.emb.samples[k], local: k };
}

/**
 * @param {App} app
 * @param {number} x
 * @param {number} y
 * @param {number} plot
 * @param {number} s       the sample
 */
function showTooltip(app, x, y, plot, s) {
  const pl = app.plots[plot];
  const samples = samplesOf(app), summary = summaryOf(app);
  const lab = samples.labels[s];
  const epoch = roundedEpoch(app);
  const preds = predictionsAt(app, epoch, pl.run);
  const pred = preds && preds[s] !== samples.absent ? preds[s] : null;
  let thumb = null;
  const th = summary.thumbs;
  if (th) {
    const page = Math.floor(s / th.per_page), k = s % th.per_page;
    const rowsOnPage = Math.ceil(Math.min(th.per_page, summary.n_samples - page * th.per_page) / th.cols);
    thumb = { url: app.source.thumbUrl(page), x: (k % th.cols) * th.width, y: Math.floor(k / th.cols) * th.height, w: th.width, h: th.height, sheetW: th.cols * th.width, sheetH: rowsOnPage * th.height };
  }
  app.ui.tooltip.show(x, y, {
    sample: s, layer: pl.layer, label: app.classes[lab] ?? String(lab), epoch,
    prediction: pred == null ? null : (app.classes[pred] ?? String(pred)), correct: pred === lab, thumb,
    value: hoveredValue(app, pl, s, epoch), text: sampleTextOf(app, s),
    twinOf: samples.twins && samples.twins[s] >= 0 ? samples.twins[s] : null,
  });
}

/**
 * "name at epoch E: value" of the value coloured by, for sample s in plot pl, or null.
 * @param {App} app @param {import('./app.js').Plot} pl @param {number} s @param {number | null} epoch
 */
function hoveredValue(app, pl, s, epoch) {
  const id = valueIdOf(app.store.get().colorBy);
  const f = id ? pointValues(app, pl, id, epoch) : null;
  if (!id || !f || !pl.local || pl.local[s] < 0) return null;
  const v = valueInfo(app, id);
  return `${v ? v.name : id}${v && !v.per_epoch ? '' : ` at epoch ${epoch}`}: ${formatValue(f(pl.local[s]))}`;
}

/**
 * samples.csv's text cells of sample s, as "column: cell" lines.
 * @param {App} app @param {number} s
 */
function sampleTextOf(app, s) {
  const t = app.sampleText;
  return t ? t.columns.map((c, i) => `${c}: ${t.rows[i][s] ?? ''}`) : [];
}

/**
 * Hovers canvas point (x, y): the sample there is highlighted in every plot and described.
 * @param {App} app
 * @param {number} x
 * @param {number} y
 */
export function hoverAt(app, x, y) {
  const { store } = app;
  const hit = pickAt(app, x, y);
  const cur = store.get().hover;
  const extra = hit && app.extras ? pickExtra(app, hit.plot, x, y, pointStyle(app, app.plots[hit.plot], app.rects[hit.plot]).radius * 1.6 + PICK_SLACK_PX) : -1;
  if (hit && extra >= 0 && app.extras) {
    if (cur) store.set({ hover: null, focusClass: null });
    app.ui.tooltip.note(x, y, [`extra point #${extra}`, `${app.extras.name} · ${app.plots[hit.plot].layer} · epoch ${roundedEpoch(app)}`]);
  } else if (hit && hit.sample != null) {
    if (!cur || cur.sample !== hit.sample || cur.plot !== hit.plot) {
      store.set({ hover: { plot: hit.plot, sample: hit.sample }, focusClass: samplesOf(app).labels[hit.sample] });
    }
    showTooltip(app, x, y, hit.plot, hit.sample);
  } else {
    if (cur) store.set({ hover: null, focusClass: null });
    app.ui.tooltip.hide();
  }
}

/**
 * Selects the visible samples of plot i inside polygon `poly` (CSS px).
 * @param {App} app
 * @param {number} i
 * @param {[number, number][]} poly
 */
function selectPolygon(app, i, poly) {
  const pl = app.plots[i];
  const cam = pl && pl.cam;
  if (!pl || !pl.emb || !cam) return;
  const rect = app.rects[i];
  const dpoly = poly.map(([px, py]) => pxToData(rect, cam, px, py));
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of dpoly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const xy = currentPositions(app, pl), hidden = app.store.get().hidden, labels = samplesOf(app).labels;
  const mask = new Uint8Array(summaryOf(app).n_samples);
  let count = 0;
  for (let k = 0; k < pl.emb.n; k++) {
    const x = xy[2 * k], y = xy[2 * k + 1];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    const s = pl.emb.samples[k];
    if (hidden[labels[s]] === 1 || (pl.attrs && (pl.attrs[2 * k + 1] & 1) === 1)) continue;
    if (insidePolygon(dpoly, x, y)) { mask[s] = 1; count++; }
  }
  app.store.set({ selection: count ? mask : null });
}

/**
 * Listens to the plots' canvas and the window's keys.
 * @param {App} app
 */
export function installInteraction(app) {
  const { store } = app;
  const gl = $('#gl');
  /** @type {{plot: number, x: number, y: number, lastX: number, lastY: number, moved: boolean, mode: string} | null} */
  let drag = null;
  /** @param {MouseEvent} e @returns {[number, number]} */
  const canvasXY = (e) => {
    const r = gl.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };

  gl.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    const [x, y] = canvasXY(e);
    const i = rectAt(app.rects, x, y);
    if (i < 0) return;
    const mode = store.get().mode === 'pan' && e.shiftKey ? 'lasso' : store.get().mode;
    drag = { plot: i, x, y, lastX: x, lastY: y, moved: false, mode };
    if (mode !== 'pan') app.ui.selectionTool.begin(mode, x, y);
    gl.setPointerCapture(e.pointerId);
  });

  gl.addEventListener('pointermove', (e) => {
    const [x, y] = canvasXY(e);
    if (!drag) { hoverAt(app, x, y); return; }
    if (Math.hypot(x - drag.x, y - drag.y) > DRAG_SLOP_PX) drag.moved = true;
    if (drag.mode === 'pan' && drag.moved) {
      const pl = app.plots[drag.plot];
      if (pl.cam) { pl.cam = panBy(pl.cam, x - drag.lastX, y - drag.lastY); pl.userCam = true; }
      requestRender(app);
    } else if (drag.mode !== 'pan') app.ui.selectionTool.move(x, y);
    drag.lastX = x; drag.lastY = y;
  });

  gl.addEventListener('pointerup', (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    const [x, y] = canvasXY(e);
    if (d.mode !== 'pan') {
      const poly = app.ui.selectionTool.end();
      if (poly && d.moved) selectPolygon(app, d.plot, poly);
      return;
    }
    if (!d.moved) {
      const hit = pickAt(app, x, y);
      store.set({ pinned: hit && hit.sample != null ? hit.sample : null });
    }
  });

  gl.addEventListener('pointerleave', () => {
    if (!drag && store.get().hover) { store.set({ hover: null, focusClass: null }); app.ui.tooltip.hide(); }
  });

  gl.addEventListener('wheel', (e) => {
    const [x, y] = canvasXY(e);
    const i = rectAt(app.rects, x, y);
    const pl = app.plots[i];
    if (!pl || !pl.cam) return;
    e.preventDefault();
    pl.cam = zoomAt(app.rects[i], pl.cam, x, y, Math.exp(-e.deltaY * WHEEL_ZOOM));
    pl.userCam = true;
    requestRender(app);
  }, { passive: false });

  gl.addEventListener('dblclick', (e) => {
    const [x, y] = canvasXY(e);
    const i = rectAt(app.rects, x, y);
    const pl = app.plots[i];
    if (!pl || !pl.emb) return;
    pl.cam = fitCamera(pl.fitBounds, app.rects[i]);
    pl.userCam = false;
    requestRender(app);
  });

  window.addEventListener('keydown', (e) => {
    const target = /** @type {Element | null} */ (e.target);
    if (target && target.closest && target.closest('input, select, textarea')) return;
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      e.preventDefault();
      stepEpoch(app, e.key === 'ArrowRight' ? 1 : -1);
    } else if (e.key === ' ') {
      e.preventDefault();
      togglePlay(app);
    } else if (e.key === 'Escape') {
      store.set({ selection: null, pinned: null });
    }
  });
}
