// PNG export of the current view: the plots (re-drawn so the WebGL buffer is fresh), their titles,
// the epoch and a legend, composed on a 2-D canvas and downloaded.
// @ts-check

import { summaryOf } from './app.js';
import { draw } from './render.js';

/**
 * Composes the picture and starts its download; returns the canvas.
 * @param {import('./app.js').App} app
 */
export function exportPng(app) {
  const st = app.store.get();
  const name = summaryOf(app).name;
  draw(app);
  const gl = app.renderer.canvas, dpr = app.renderer.dpr;
  const legendH = 28 * dpr;
  const out = document.createElement('canvas');
  out.width = gl.width;
  out.height = gl.height + legendH;
  const ctx = /** @type {CanvasRenderingContext2D} */ (out.getContext('2d'));
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(gl, 0, 0);
  ctx.scale(dpr, dpr);
  ctx.fillStyle = '#222';
  ctx.font = '13px system-ui, sans-serif';
  app.plots.forEach((pl, i) => {
    const r = app.rects[i];
    if (r) ctx.fillText(`${pl.layer}  ${pl.paramsText || ''}`, r.x + 2, r.cellY + 15);
  });
  let x = 8;
  const y = gl.height / dpr + 18;
  const epoch = app.epochs[Math.round(st.t)];
  ctx.fillText(`${name} · epoch ${epoch}`, x, y);
  x += ctx.measureText(`${name} · epoch ${epoch}`).width + 16;
  app.classes.forEach((name, c) => {
    if (st.hidden[c]) return;
    ctx.fillStyle = app.colours[c];
    ctx.beginPath(); ctx.arc(x + 5, y - 4, 5, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = '#222';
    ctx.fillText(name, x + 13, y);
    x += 20 + ctx.measureText(name).width;
  });
  out.toBlob((blob) => {
    if (!blob) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${name}-epoch${epoch}.png`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, 'image/png');
  return out;
}
