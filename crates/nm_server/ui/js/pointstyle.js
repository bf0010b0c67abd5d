// How points are drawn: their radius and opacity, an automatic default from the number of points
// and the zoom, times the user's size and opacity settings (State.pointScale, State.opacity).
// @ts-check

import { fitCamera } from './layout.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */
/** @typedef {import('./layout.js').Rect} Rect */

/** The automatic radius is this fraction of the spacing the points would have spread evenly over the plot. */
const RADIUS_PER_SPACING = 0.4;
/** Bounds of the automatic radius (CSS px) at the shared frame's zoom. */
const RADIUS_MIN_PX = 1.2, RADIUS_MAX_PX = 5;
/** Zooming in by z makes points sqrt(z) times larger (their spacing grows z times), up to this radius. */
const RADIUS_ZOOMED_MAX_PX = 12;
/** Automatic opacity: OPACITY_K * n^-1/4, within [OPACITY_MIN, OPACITY_MAX] (300 points: 0.76; 10,000: 0.3). */
const OPACITY_K = 3, OPACITY_MIN = 0.25, OPACITY_MAX = 0.85;
/** The user's size factor lies within these. */
export const SCALE_MIN = 0.25, SCALE_MAX = 4;

/**
 * The automatic radius of plot pl's points in rect (CSS px): from the number of points, and larger
 * when zoomed in beyond the shared frame.
 * @param {Plot} pl
 * @param {Rect} rect
 */
export function autoRadius(pl, rect) {
  const n = pl.emb ? pl.emb.n : 1;
  const base = Math.min(RADIUS_MAX_PX, Math.max(RADIUS_MIN_PX, RADIUS_PER_SPACING * Math.sqrt((rect.w * rect.h) / Math.max(1, n))));
  if (!pl.cam) return base;
  const zoom = pl.cam.scale / fitCamera(pl.fitBounds, rect).scale;
  return zoom > 1 ? Math.min(Math.max(base, RADIUS_ZOOMED_MAX_PX), base * Math.sqrt(zoom)) : base;
}

/**
 * The automatic opacity for n points: dense plots are more transparent, so clusters show their density.
 * @param {number} n
 */
export function autoOpacity(n) {
  return Math.min(OPACITY_MAX, Math.max(OPACITY_MIN, OPACITY_K * Math.pow(Math.max(1, n), -0.25)));
}

/**
 * Radius (CSS px) and opacity of plot pl's points now.
 * @param {App} app
 * @param {Plot} pl
 * @param {Rect} rect
 * @returns {{radius: number, opacity: number}}
 */
export function pointStyle(app, pl, rect) {
  const { pointScale, opacity } = app.store.get();
  return {
    radius: autoRadius(pl, rect) * pointScale,
    opacity: opacity ?? autoOpacity(pl.emb ? pl.emb.n : 1),
  };
}
