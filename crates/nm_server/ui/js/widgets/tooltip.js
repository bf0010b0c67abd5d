// Hover tooltip: sample index, label, prediction at this epoch, the value coloured by, samples.csv's
// text columns, and the input thumbnail; or a plain note (an extra point).
// @ts-check

/**
 * A thumbnail's place in its atlas page (px) and the page's URL and size.
 * @typedef {{url: string, x: number, y: number, w: number, h: number, sheetW: number, sheetH: number}} ThumbRef
 */
/**
 * What the tooltip says about one sample.
 * `twinOf`: the clean sample of an adversarial twin (its thumbnail is the clean image).
 * @typedef {{sample: number, label: string, prediction: string | null, correct: boolean, epoch: number | null, layer: string, thumb: ThumbRef | null, value?: string | null, text?: string[], twinOf?: number | null}} TooltipInfo
 */

/** @param {HTMLElement} el */
export function createTooltip(el) {
  el.innerHTML = `<div class="thumb"></div><div class="text"></div>`;
  const thumb = /** @type {HTMLElement} */ (el.querySelector('.thumb'));
  const text = /** @type {HTMLElement} */ (el.querySelector('.text'));
  /** Next to (x, y), inside the plots. @param {number} x @param {number} y */
  const place = (x, y) => {
    const pad = 14, r = /** @type {HTMLElement} */ (el.parentElement).getBoundingClientRect();
    const w = el.offsetWidth, h = el.offsetHeight;
    el.style.left = `${Math.min(x + pad, r.width - w - 4)}px`;
    el.style.top = `${y + pad + h > r.height ? y - h - pad : y + pad}px`;
  };
  return {
    /** @param {number} x @param {number} y @param {TooltipInfo} info */
    show(x, y, info) {
      el.hidden = false;
      const lines = [`<b>#${info.sample}</b> <span class="muted">${escapeHtml(info.layer)}</span>`, `label: <b>${escapeHtml(info.label)}</b>`];
      if (info.twinOf != null) lines.push(`adversarial twin of <b>#${info.twinOf}</b> <span class="muted">(perturbed against the model of each epoch)</span>`);
      if (info.prediction != null) {
        lines.push(`predicted at epoch ${info.epoch}: <b class="${info.correct ? 'ok' : 'bad'}">${escapeHtml(info.prediction)}</b> ${info.correct ? '✓' : '✗'}`);
      }
      if (info.value) lines.push(escapeHtml(info.value));
      for (const t of info.text ?? []) lines.push(`<span class="muted">${escapeHtml(t)}</span>`);
      text.innerHTML = lines.join('<br>');
      if (info.thumb) {
        const t = info.thumb, k = Math.max(1, Math.floor(64 / Math.max(t.w, t.h)));
        thumb.hidden = false;
        thumb.style.width = `${t.w * k}px`;
        thumb.style.height = `${t.h * k}px`;
        thumb.style.backgroundImage = `url(${t.url})`;
        thumb.style.backgroundSize = `${t.sheetW * k}px ${t.sheetH * k}px`;
        thumb.style.backgroundPosition = `-${t.x * k}px -${t.y * k}px`;
      } else {
        thumb.hidden = true;
      }
      place(x, y);
    },
    /**
     * Shows lines of plain text (an extra point, which is no sample of the run).
     * @param {number} x @param {number} y @param {string[]} lines the first in bold
     */
    note(x, y, lines) {
      el.hidden = false;
      thumb.hidden = true;
      text.innerHTML = lines.map((l, i) => (i ? `<span class="muted">${escapeHtml(l)}</span>` : `<b>${escapeHtml(l)}</b>`)).join('<br>');
      place(x, y);
    },
    hide() { el.hidden = true; },
    text: () => (el.hidden ? '' : el.textContent),
  };
}

/** @type {{[c: string]: string}} */
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** @param {unknown} s @returns {string} `s` as text safe inside HTML */
export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
