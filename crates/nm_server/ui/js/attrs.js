// Per-point colour slot and flags (the bytes the renderer reads beside the positions): the colour
// mode (true class, predicted class, correct / incorrect), hidden classes, the selection, and
// which points are drawn on top (the selection, or else the class in focus).
// @ts-check

import { roundedEpoch, predictionsAt } from './app.js';
import { SLOT_ABSENT, SLOT_CORRECT, SLOT_WRONG } from './palette.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */

/** Flag bits, as renderer.js's vertex shader reads them. */
export const FLAG_HIDDEN = 1, FLAG_DIMMED = 2, FLAG_EMPHASISED = 4, FLAG_TOP = 8;

/**
 * Computes plot pl's [slot, flags] per point for the shown epoch and uploads them.
 * @param {App} app
 * @param {Plot} pl
 */
export function computeAttrs(app, pl) {
  if (!pl.emb || !app.samples) return;
  const { colorBy, hidden, selection, focusClass } = app.store.get();
  const n = pl.emb.n, samples = pl.emb.samples, labels = app.samples.labels, absent = app.samples.absent;
  const preds = colorBy === 'true' ? null : predictionsAt(app, roundedEpoch(app), pl.run);
  const attrs = pl.attrs && pl.attrs.length === 2 * n ? pl.attrs : new Uint8Array(2 * n);
  let visible = 0, onTop = 0;
  for (let k = 0; k < n; k++) {
    const s = samples[k], lab = labels[s];
    let slot = lab, flags = 0;
    if (colorBy !== 'true') {
      const p = preds ? preds[s] : absent;
      if (p === absent) slot = SLOT_ABSENT;
      else if (colorBy === 'pred') slot = p;
      else if (p === lab) slot = SLOT_CORRECT;
      else { slot = SLOT_WRONG; flags |= FLAG_EMPHASISED; }
    }
    if (hidden[lab] === 1) flags |= FLAG_HIDDEN; else visible++;
    if (selection) flags |= selection[s] ? FLAG_EMPHASISED | FLAG_TOP : FLAG_DIMMED;
    else if (lab === focusClass) flags |= FLAG_TOP;
    if (flags & FLAG_TOP) onTop++;
    attrs[2 * k] = Math.min(slot, 255);
    attrs[2 * k + 1] = flags;
  }
  pl.attrs = attrs;
  pl.visible = visible;
  pl.onTop = onTop;
  pl.attrEpoch = roundedEpoch(app);
  app.renderer.setPlotAttrs(pl.index, attrs, onTop);
}
