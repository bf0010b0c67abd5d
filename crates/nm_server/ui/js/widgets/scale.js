// The continuous colour key of a per-sample value: a gradient bar of the value scale with its
// smallest and largest value, and a two-handle range filter under it (points outside the range are
// hidden) with the range it keeps and how many points are drawn.
// @ts-check

import { rampColour } from '../palette.js';
import { formatValue } from '../values.js';

/** Steps of each range handle. */
export const RANGE_STEPS = 1000;
/** Colour stops in the bar's gradient. */
const BAR_STOPS = 16;

/**
 * What the key shows: the value's name, its range over every epoch, the filter, how many of the
 * drawn points have a value, and a note (loading, an error, or what the value means).
 * @typedef {{name: string, lo: number, hi: number, range: [number, number] | null, shown: number, total: number, note: string}} ScaleInfo
 */

/**
 * @param {HTMLElement} root
 * @param {{onRange: (range: [number, number] | null) => void}} handlers   null: no filter
 */
export function createScale(root, { onRange }) {
  const stops = Array.from({ length: BAR_STOPS }, (_, i) => rampColour(i / (BAR_STOPS - 1))).join(', ');
  root.innerHTML = `
    <div class="scale-name"></div>
    <div class="scale-bar" style="background: linear-gradient(to right, ${stops})"></div>
    <div class="scale-ends"><span class="scale-min"></span><span class="scale-max"></span></div>
    <div class="scale-range">
      <input type="range" class="range-lo" min="0" max="${RANGE_STEPS}" value="0" aria-label="lowest value shown">
      <input type="range" class="range-hi" min="0" max="${RANGE_STEPS}" value="${RANGE_STEPS}" aria-label="highest value shown">
    </div>
    <div class="scale-readout"></div>
    <div class="scale-note muted"></div>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const loIn = /** @type {HTMLInputElement} */ (q('.range-lo')), hiIn = /** @type {HTMLInputElement} */ (q('.range-hi'));
  let lo = 0, hi = 1;
  // The ends map to the exact smallest and largest value (so the extremes stay in a range that reaches them).
  const toValue = (/** @type {number} */ step) => (step <= 0 ? lo : step >= RANGE_STEPS ? hi : lo + (step / RANGE_STEPS) * (hi - lo));
  const changed = () => {
    let a = Number(loIn.value), b = Number(hiIn.value);
    if (a > b) [a, b] = [b, a];
    onRange(a === 0 && b === RANGE_STEPS ? null : [toValue(a), toValue(b)]);
  };
  loIn.addEventListener('input', changed);
  hiIn.addEventListener('input', changed);
  return {
    /** @param {ScaleInfo | null} info   null: hide the key (a class colour mode) */
    render(info) {
      root.hidden = !info;
      if (!info) return;
      lo = info.lo; hi = info.hi;
      q('.scale-name').textContent = info.name;
      q('.scale-min').textContent = formatValue(info.lo);
      q('.scale-max').textContent = formatValue(info.hi);
      const step = (/** @type {number} */ v) => String(Math.round(hi > lo ? ((v - lo) / (hi - lo)) * RANGE_STEPS : 0));
      // Handles follow the state unless the user is dragging one right now.
      if (document.activeElement !== loIn && document.activeElement !== hiIn) {
        loIn.value = info.range ? step(info.range[0]) : '0';
        hiIn.value = info.range ? step(info.range[1]) : String(RANGE_STEPS);
      }
      q('.scale-readout').textContent = info.range
        ? `showing ${formatValue(info.range[0])} to ${formatValue(info.range[1])}: ${info.shown.toLocaleString()} of ${info.total.toLocaleString()} points`
        : `${info.shown.toLocaleString()} of ${info.total.toLocaleString()} points have a value here`;
      q('.scale-note').textContent = info.note;
    },
  };
}
