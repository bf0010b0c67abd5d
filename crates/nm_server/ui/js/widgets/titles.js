// Plot title bars (HTML over the canvas): layer name, parameters, a progress bar while a view is
// being computed, and how far to trust the plot (a trustworthiness sparkline across epochs).
// @ts-check

import { escapeHtml } from './tooltip.js';

/** @typedef {import('../source.js').SliceQuality} SliceQuality */

/** Sparkline size in CSS pixels. */
const SPARK_W = 56, SPARK_H = 14;

/** @param {number | null | undefined} v */
const num = (v) => (v == null || !Number.isFinite(v) ? '–' : v.toFixed(3));

/**
 * What the numbers at one epoch mean, in sentences (the sparkline's tooltip).
 * @param {SliceQuality} q
 * @param {number} points
 */
export function qualitySentence(q, points) {
  return [
    `Epoch ${q.epoch}. Trustworthiness@15 ${num(q.trust15)}: how far this plot's neighbours are true neighbours in the layer (1 = every point's 15 nearest in the plot are near in the layer; below about 0.9, distances in the plot mislead).`,
    `kNN preservation@10 ${num(q.knn10)}: the share of a point's 10 nearest neighbours in the layer that are also among its 10 nearest here.`,
    `Neighbour change@15 since the previous epoch ${num(q.change15)}: how much the layer's own neighbourhoods changed (0 = not at all, 1 = completely).`,
    `CKA with the previous epoch ${num(q.cka_prev_epoch)}, with the next layer ${num(q.cka_next_layer)}: similarity of the layer's geometry (1 = the same up to rotation and scale).`,
    `Measured on ${points.toLocaleString()} points in the space the plot was fitted in.`,
  ].join('\n');
}

/**
 * An SVG sparkline of trust15 over the epochs with the shown epoch marked.
 * @param {SliceQuality[]} series
 * @param {number} at   index of the shown epoch in `series` (-1: none)
 */
function sparkline(series, at) {
  const vals = series.map((q) => q.trust15);
  const lo = Math.min(0.8, ...vals), hi = 1;
  const x = (/** @type {number} */ i) => (series.length > 1 ? (i / (series.length - 1)) * (SPARK_W - 4) + 2 : SPARK_W / 2);
  const y = (/** @type {number} */ v) => SPARK_H - 2 - ((v - lo) / (hi - lo || 1)) * (SPARK_H - 4);
  const path = vals.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const dot = at >= 0 ? `<circle cx="${x(at).toFixed(1)}" cy="${y(vals[at]).toFixed(1)}" r="2"></circle>` : '';
  return `<svg width="${SPARK_W}" height="${SPARK_H}" viewBox="0 0 ${SPARK_W} ${SPARK_H}" aria-hidden="true"><path d="${path}"></path>${dot}</svg>`;
}

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').Plot[]} plots
 * @param {import('../layout.js').Rect[]} rects
 * @param {(pl: import('../app.js').Plot) => SliceQuality[] | null} [qualityOf]   per plot, its view's numbers
 * @param {number | null} [epoch]   the shown epoch
 * @param {number} [points]   points the numbers were measured on
 * @param {(pl: import('../app.js').Plot) => string} [noteOf]   per plot, a note on what it shows
 *   (runs side by side: "no epoch 4: shows 3")
 */
export function renderTitles(root, plots, rects, qualityOf = () => null, epoch = null, points = 0, noteOf = () => '') {
  while (root.children.length > plots.length) root.lastElementChild?.remove();
  plots.forEach((pl, i) => {
    let el = /** @type {HTMLElement | undefined} */ (root.children[i]);
    if (!el) {
      el = document.createElement('div');
      el.className = 'plot-title';
      el.innerHTML = '<span class="layer"></span> <span class="params"></span><span class="quality" hidden></span><span class="progress" hidden><span class="fill"></span></span><span class="msg"></span>';
      root.appendChild(el);
    }
    const r = rects[i];
    if (!r) return;
    el.style.left = `${r.x}px`; el.style.top = `${r.cellY + 2}px`; el.style.width = `${r.w}px`;
    const part = (/** @type {string} */ s) => /** @type {HTMLElement} */ (/** @type {HTMLElement} */ (el).querySelector(s));
    part('.layer').textContent = pl.layer;
    const params = part('.params');
    params.textContent = pl.paramsText || '';
    params.title = pl.paramsDetail || '';
    const quality = part('.quality');
    const series = qualityOf(pl);
    if (series && series.length) {
      const at = series.findIndex((q) => q.epoch === epoch);
      const shown = series[at >= 0 ? at : series.length - 1];
      const key = `${pl.view}|${at}`;
      if (quality.dataset.key !== key) {
        quality.dataset.key = key;
        quality.innerHTML = `${sparkline(series, at)} trust ${num(shown.trust15)}`;
        quality.title = qualitySentence(shown, points);
        quality.dataset.trust = String(shown.trust15);
      }
      quality.hidden = false;
    } else {
      quality.hidden = true;
      delete quality.dataset.key;
    }
    const prog = part('.progress');
    const msg = part('.msg');
    if (pl.pending) {
      prog.hidden = false;
      part('.fill').style.width = `${Math.round(100 * (pl.pending.overall || 0))}%`;
      msg.innerHTML = escapeHtml(`${pl.pending.stage || 'queued'} ${Math.round(100 * (pl.pending.fraction || 0))}%`);
    } else {
      prog.hidden = true;
      const note = pl.error ? '' : noteOf(pl);
      msg.textContent = pl.error ? `⚠ ${pl.error}` : (note || (!pl.emb ? 'waiting for data…' : ''));
      msg.classList.toggle('note', !!note);
    }
    msg.classList.toggle('error', !!pl.error && !pl.pending);
  });
}
