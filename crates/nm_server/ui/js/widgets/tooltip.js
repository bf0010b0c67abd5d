// Hover tooltip: sample index, label, prediction at this epoch, and the input thumbnail.

export function createTooltip(el) {
  el.innerHTML = `<div class="thumb"></div><div class="text"></div>`;
  const thumb = el.querySelector('.thumb');
  const text = el.querySelector('.text');
  return {
    /** info: {sample, label, prediction, correct, epoch, layer, thumb: {url, x, y, w, h, sheetW, sheetH} | null} */
    show(x, y, info) {
      el.hidden = false;
      const lines = [`<b>#${info.sample}</b> <span class="muted">${escapeHtml(info.layer)}</span>`, `label: <b>${escapeHtml(info.label)}</b>`];
      if (info.prediction != null) {
        lines.push(`predicted at epoch ${info.epoch}: <b class="${info.correct ? 'ok' : 'bad'}">${escapeHtml(info.prediction)}</b> ${info.correct ? '✓' : '✗'}`);
      }
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
      const pad = 14, r = el.parentElement.getBoundingClientRect();
      const w = el.offsetWidth, h = el.offsetHeight;
      el.style.left = `${Math.min(x + pad, r.width - w - 4)}px`;
      el.style.top = `${y + pad + h > r.height ? y - h - pad : y + pad}px`;
    },
    hide() { el.hidden = true; },
    text: () => (el.hidden ? '' : el.textContent),
  };
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
