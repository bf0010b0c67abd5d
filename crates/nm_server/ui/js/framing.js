// Framing the plots: the shared frame (every epoch of the view fits, so the picture stands still
// while the epochs change: the default) and "this epoch" (the shown epoch fills the plot).
// @ts-check

import { fitCamera } from './layout.js';
import { epochPair } from './positions.js';
import { requestRender } from './render.js';

/** @typedef {import('./app.js').App} App */

/**
 * Every plot back to its shared frame.
 * @param {App} app
 */
export function fitAllEpochs(app) {
  app.plots.forEach((pl, i) => {
    if (!pl.emb || !app.rects[i]) return;
    pl.cam = fitCamera(pl.fitBounds, app.rects[i]);
    pl.userCam = false;
  });
  requestRender(app);
}

/**
 * Every plot fitted to the epoch shown now (the nearer of the two being blended); the frame then
 * stays while the epochs change, as after a zoom.
 * @param {App} app
 */
export function fitThisEpoch(app) {
  app.plots.forEach((pl, i) => {
    const p = epochPair(app, pl);
    if (!pl.emb || !p || !app.rects[i]) return;
    pl.cam = fitCamera(pl.emb.bounds[p.blend < 0.5 ? p.ia : p.ib], app.rects[i]);
    pl.userCam = true;
  });
  requestRender(app);
}
