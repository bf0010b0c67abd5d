// Plot title bars (HTML over the canvas): layer name, parameters, and a progress bar while a view
// is being computed.
// @ts-check

import { escapeHtml } from './tooltip.js';

/**
 * @param {HTMLElement} root
 * @param {import('../app.js').Plot[]} plots
 * @param {import('../layout.js').Rect[]} rects
 */
export function renderTitles(root, plots, rects) {
  while (root.children.length > plots.length) root.lastElementChild?.remove();
  plots.forEach((pl, i) => {
    let el = /** @type {HTMLElement | undefined} */ (root.children[i]);
    if (!el) {
      el = document.createElement('div');
      el.className = 'plot-title';
      el.innerHTML = '<span class="layer"></span> <span class="params"></span><span class="progress" hidden><span class="fill"></span></span><span class="msg"></span>';
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
    const prog = part('.progress');
    const msg = part('.msg');
    if (pl.pending) {
      prog.hidden = false;
      part('.fill').style.width = `${Math.round(100 * (pl.pending.overall || 0))}%`;
      msg.innerHTML = escapeHtml(`${pl.pending.stage || 'queued'} ${Math.round(100 * (pl.pending.fraction || 0))}%`);
    } else {
      prog.hidden = true;
      msg.textContent = pl.error ? `⚠ ${pl.error}` : (!pl.emb ? 'waiting for data…' : '');
    }
    msg.classList.toggle('error', !!pl.error && !pl.pending);
  });
}
