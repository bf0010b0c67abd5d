// Per-point colour slot and flags (the bytes the renderer reads beside the positions): the colour
// mode (true class, predicted class, correct / incorrect, or a per-sample value on the continuous
// scale), hidden classes, the value range filter and the show filter, the selection, and which
// points are drawn on top (the selection, or else the class in focus), which are adversarial twins;
// and the palette each mode draws with.
// @ts-check

import { roundedEpoch, predictionsAt } from './app.js';
import { SLOT_ABSENT, SLOT_CORRECT, SLOT_WRONG, rampColours, rampSlot } from './palette.js';
import { valueIdOf, pointValues, valueScale } from './values.js';
import { showMask } from './flips.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */

/** Flag bits, as renderer.js's vertex shader reads them (16: an adversarial twin, drawn as a diamond). */
export const FLAG_HIDDEN = 1, FLAG_DIMMED = 2, FLAG_EMPHASISED = 4, FLAG_TOP = 8, FLAG_TWIN = 16;

/**
 * The colours the renderer's palette holds in the current mode: the value scale in a value mode,
 * else the class colours.
 * @param {App} app
 * @returns {string[]}
 */
export function paletteFor(app) {
  return valueIdOf(app.store.get().colorBy) ? rampColours() : app.colours;
}

/**
 * Whether the attributes depend on the shown epoch (they are recomputed when it changes).
 * @param {App} app
 */
export function attrsFollowEpoch(app) {
  const st = app.store.get();
  return st.colorBy !== 'true' || st.show.kind === 'wrong';
}

/**
 * Computes plot pl's [slot, flags] per point for the shown epoch and uploads them.
 * @param {App} app
 * @param {Plot} pl
 */
export function computeAttrs(app, pl) {
  if (!pl.emb || !app.samples) return;
  const { colorBy, hidden, selection, focusClass, valueRange } = app.store.get();
  const n = pl.emb.n, samples = pl.emb.samples, labels = app.samples.labels, absent = app.samples.absent;
  const epoch = roundedEpoch(app);
  const vid = valueIdOf(colorBy);
  const preds = colorBy === 'true' || vid ? null : predictionsAt(app, epoch, pl.run);
  const values = vid ? pointValues(app, pl, vid, epoch) : null;
  const scale = vid ? valueScale(app, vid) : null;
  const span = scale && scale.hi > scale.lo ? scale.hi - scale.lo : 1;
  const range = vid ? valueRange : null;
  const shown = showMask(app, pl.run);
  const twins = app.samples.twins;
  const attrs = pl.attrs && pl.attrs.length === 2 * n ? pl.attrs : new Uint8Array(2 * n);
  let visible = 0, onTop = 0;
  for (let k = 0; k < n; k++) {
    const s = samples[k], lab = labels[s];
    let slot = lab, flags = 0, out = false;
    if (vid) {
      const v = values ? values(k) : NaN;
      if (scale && Number.isFinite(v)) slot = rampSlot((v - scale.lo) / span); else slot = SLOT_ABSENT;
      // With a range filter, only points whose value lies in it are drawn (unknown ones are not).
      if (range && !(v >= range[0] && v <= range[1])) out = true;
    } else if (colorBy !== 'true') {
      const p = preds ? preds[s] : absent;
      if (p === absent) slot = SLOT_ABSENT;
      else if (colorBy === 'pred') slot = p;
      else if (p === lab) slot = SLOT_CORRECT;
      else { slot = SLOT_WRONG; flags |= FLAG_EMPHASISED; }
    }
    if (shown && !shown[s]) out = true;
    if (hidden[lab] === 1 || out) flags |= FLAG_HIDDEN; else visible++;
    if (selection) flags |= selection[s] ? FLAG_EMPHASISED | FLAG_TOP : FLAG_DIMMED;
    else if (lab === focusClass) flags |= FLAG_TOP;
    if (twins && twins[s] >= 0) flags |= FLAG_TWIN;
    if (flags & FLAG_TOP) onTop++;
    attrs[2 * k] = Math.min(slot, 255);
    attrs[2 * k + 1] = flags;
  }
  pl.attrs = attrs;
  pl.visible = visible;
  pl.onTop = onTop;
  pl.attrEpoch = epoch;
  pl.pick = null;  // the pick index skips hidden points: rebuilt from these flags
  app.renderer.setPlotAttrs(pl.index, attrs, onTop);
}
