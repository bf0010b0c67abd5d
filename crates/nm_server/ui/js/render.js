// The frame loop: schedules frames, advances playback, hands each plot's frame (epochs, blend,
// camera, point radius, hover ring, trajectory and the lines from adversarial twins to their clean
// samples, the extra points drawn hollow) to the renderer, and lays the plots out on the canvas when its size or the plot count
// changes (runs.js places them when several runs are shown). It also says when the page is idle:
// `<html data-ready="true">` once every plot is drawn with nothing moving or being computed (a
// scheduled frame clears it), for scripts that take pictures.
// @ts-check

import { $ } from './dom.js';
import { roundedEpoch } from './app.js';
import { epochPair, positionOf, decode, currentPositions } from './positions.js';
import { FLAG_HIDDEN } from './attrs.js';
import { pointStyle } from './pointstyle.js';
import { computeAttrs, attrsFollowEpoch } from './attrs.js';
import { advance } from './playback.js';
import { titles, updateLegend, updateTimeline } from './panels.js';
import { fitCamera } from './layout.js';
import { plotRects, renderRowLabels } from './runs.js';
import { extrasFor } from './extras.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */
/** @typedef {import('./renderer.js').PlotFrame} PlotFrame */

/** Alpha of points outside the selection. */
const DIM_ALPHA = 0.07;

let renderQueued = false;
/** @type {number | null} */
let lastTs = null;

/**
 * Draws on the next animation frame (once, however often it is asked).
 * @param {App} app
 */
export function requestRender(app) {
  if (renderQueued) return;
  renderQueued = true;
  delete document.documentElement.dataset.ready;
  requestAnimationFrame((ts) => frame(app, ts));
}

/** @param {App} app @param {number} ts */
function frame(app, ts) {
  renderQueued = false;
  const dt = lastTs == null ? 0 : Math.min(0.1, (ts - lastTs) / 1000);
  if (lastTs != null) {
    app.frameTimes.push(ts - lastTs);
    if (app.frameTimes.length > 240) app.frameTimes.shift();
  }
  lastTs = ts;
  const moving = advance(app, dt);
  draw(app);
  if (moving) requestRender(app); else lastTs = null;
  if (!moving && !renderQueued && app.ready && app.plots.every((p) => !p.pending)) document.documentElement.dataset.ready = 'true';
}

/**
 * Draws every plot now, and the footer.
 * @param {App} app
 */
export function draw(app) {
  const t0 = performance.now();
  const st = app.store.get();
  const epochNow = roundedEpoch(app);
  const frames = app.plots.map((pl, i) => {
    const rect = app.rects[i];
    const p = epochPair(app, pl);
    /** @type {PlotFrame} */
    const none = { rect: rect || { x: 0, y: 0, w: 1, h: 1 }, cam: { cx: 0, cy: 0, scale: 1 }, ia: -1, ib: -1, blend: 0, boundsA: [], boundsB: [], radius: 1, opacity: 1 };
    if (!p || !rect || !pl.emb || !pl.cam) return none;
    if (attrsFollowEpoch(app) && pl.attrEpoch !== epochNow) computeAttrs(app, pl);
    /** @type {PlotFrame} */
    const f = { rect, cam: pl.cam, ia: p.ia, ib: p.ib, blend: p.blend, boundsA: pl.emb.bounds[p.ia], boundsB: pl.emb.bounds[p.ib], ...pointStyle(app, pl, rect) };
    overlaysFor(app, pl, f);
    return f;
  });
  app.renderer.draw(frames, { dimAlpha: DIM_ALPHA });
  if (st.colorBy !== 'true' && app.legendKey !== `${st.colorBy}|${epochNow}`) updateLegend(app);
  // The titles' quality readout follows the shown epoch (rebuilt only when the epoch changes).
  if (app.titlesEpoch !== epochNow) { app.titlesEpoch = epochNow; titles(app); }
  app.frames++;
  if (app.ready && !app.firstFrameAt) app.firstFrameAt = performance.now();
  app.drawMs = performance.now() - t0;
  updateTimeline(app);
}

/**
 * The hover ring (the hovered sample, in every plot that draws it) and the pinned trajectory.
 * @param {App} app
 * @param {Plot} pl
 * @param {PlotFrame} f
 */
function overlaysFor(app, pl, f) {
  const st = app.store.get();
  f.rings = null; f.trail = null; f.trailDots = null; f.twinLines = null;
  const emb = pl.emb, local = pl.local;
  if (!emb || !local) return;
  f.extras = extrasFor(app, pl);
  if (st.twinLines) f.twinLines = twinSegments(app, pl);
  const hl = st.hover ? local[st.hover.sample] : -1;
  app.lastHighlights[pl.index] = st.hover && hl >= 0 ? { sample: st.hover.sample, local: hl } : null;
  const ring = (/** @type {number} */ k) => { const p = positionOf(app, pl, k); return p ? new Float32Array(p) : null; };
  if (hl >= 0) f.rings = ring(hl);
  const pin = st.pinned != null ? local[st.pinned] : -1;
  if (pin >= 0) {
    const E = emb.epochs.length, trail = new Float32Array(E * 2);
    for (let e = 0; e < E; e++) trail.set(decode(emb, e, pin), 2 * e);
    f.trail = trail;
    f.trailDots = trail;
    if (hl < 0) f.rings = ring(pin);
  }
}

/**
 * Segments from each drawn adversarial twin of plot pl to its clean sample, at the shown (blended)
 * epoch: [x0, y0, x1, y1] per twin whose clean sample the plot draws too; null when there are none.
 * @param {App} app
 * @param {Plot} pl
 * @returns {Float32Array | null}
 */
export function twinSegments(app, pl) {
  const twins = app.samples ? app.samples.twins : null;
  const emb = pl.emb, local = pl.local;
  if (!twins || !emb || !local) return null;
  const xy = currentPositions(app, pl);
  const attrs = pl.attrs && pl.attrs.length === 2 * emb.n ? pl.attrs : null;
  const out = [];
  for (let k = 0; k < emb.n; k++) {
    const clean = twins[emb.samples[k]];
    if (clean < 0) continue;
    const c = local[clean];
    if (c < 0) continue;
    if (attrs && ((attrs[2 * k + 1] & FLAG_HIDDEN) || (attrs[2 * c + 1] & FLAG_HIDDEN))) continue;
    out.push(xy[2 * k], xy[2 * k + 1], xy[2 * c], xy[2 * c + 1]);
  }
  return out.length ? new Float32Array(out) : null;
}

/**
 * Sizes the canvases to their box and splits it among the plots; cameras keep their zoom relative
 * to the plot's size (a plot the user has not moved is fitted again).
 * @param {App} app
 */
export function layout(app) {
  const wrap = $('#plots');
  const w = wrap.clientWidth, h = wrap.clientHeight, dpr = window.devicePixelRatio || 1;
  app.renderer.resize(w, h, dpr);
  const overlay = /** @type {HTMLCanvasElement} */ ($('#overlay'));
  overlay.width = Math.round(w * dpr); overlay.height = Math.round(h * dpr);
  const old = app.rects;
  app.rects = plotRects(app, w, h);
  app.plots.forEach((pl, i) => {
    const r = app.rects[i], o = old[i];
    if (pl.cam && o && !pl.userCam) pl.cam = fitCamera(pl.fitBounds, r);
    else if (pl.cam && o) pl.cam = { ...pl.cam, scale: pl.cam.scale * Math.min(r.w / o.w, r.h / o.h) };
    else if (pl.emb) pl.cam = fitCamera(pl.fitBounds, r);
  });
  titles(app);
  renderRowLabels(app);
  requestRender(app);
}
