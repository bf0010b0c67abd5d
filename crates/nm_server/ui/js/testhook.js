// window.__nm: a read-mostly window into the renderer's state for the browser tests and benchmarks.
// @ts-check

import { $ } from './dom.js';
import { changeKey } from './values.js';
import { dataToPx } from './layout.js';
import { epochPair, positionOf, pickIndex } from './positions.js';
import { pickAt } from './interaction.js';
import { pointStyle } from './pointstyle.js';
import { draw, twinSegments } from './render.js';
import { extrasFor, extrasStatus } from './extras.js';

/**
 * Installs `window.__nm` over the app.
 * @param {import('./app.js').App} app
 */
export function installTestHook(app) {
  const store = app.store;
  /** @returns {[number, number]} */
  const canvasOrigin = () => {
    const r = $('#gl').getBoundingClientRect();
    return [r.left, r.top];
  };
  const hook = {
    get ready() { return app.ready; },
    plotCount: () => app.plots.length,
    layers: () => app.plots.map((p) => p.layer),
    /** Per plot: the run it shows (its row) and its column. */
    plotCells: () => app.plots.map((p) => ({ run: p.run, col: p.col, layer: p.layer })),
    /** The runs shown side by side: label and epochs as last read. */
    runs: () => app.runs.map((r) => ({ label: r.entry.label, epochs: r.summary ? r.summary.epochs.slice() : [] })),
    /** Per plot: the text of its title's message (progress, errors, the missing-epoch note). */
    titleNotes: () => Array.from(document.querySelectorAll('#titles .plot-title .msg')).map((m) => m.textContent),
    epochs: () => app.epochs.slice(),
    views: () => app.plots.map((p) => p.view),
    /** Per plot: the epochs of the view it draws. */
    viewEpochs: () => app.plots.map((p) => (p.emb ? Array.from(p.emb.epochs) : [])),
    status: () => document.querySelector('#params .status')?.textContent ?? '',
    pending: () => app.plots.map((p) => (p.pending ? { ...p.pending } : null)),
    errors: () => app.plots.map((p) => p.error || null),
    state() {
      const st = store.get();
      const p = app.plots[0] && epochPair(app, app.plots[0]);
      return {
        t: st.t, target: st.target, playing: st.playing, colorBy: st.colorBy, mode: st.mode,
        blend: p ? p.blend : null, epochIndex: Math.round(st.t), hover: st.hover, pinned: st.pinned,
        hidden: Array.from(st.hidden), selected: st.selection ? st.selection.reduce((a, b) => a + b, 0) : 0,
        frames: app.frames,
      };
    },
    /** Sample indices drawn in plot i (the first `limit`). */
    /** @param {number} i @param {number} [limit] */
    samplesOf(i, limit = 1e9) { const p = app.plots[i]; return p && p.emb ? Array.from(p.emb.samples.subarray(0, limit)) : []; },
    /** @param {number} s */
    labelOf: (s) => (app.samples ? app.samples.labels[s] : null),
    /** @param {number} c */
    className: (c) => app.classes[c],
    /** Where sample s is drawn in plot i right now: client (page) pixels and data coordinates. */
    /** @param {number} i @param {number} s */
    drawnPosition(i, s) {
      const pl = app.plots[i];
      if (!pl || !pl.emb || !pl.local || !pl.cam || pl.local[s] < 0) return null;
      const d = positionOf(app, pl, pl.local[s]);
      if (!d) return null;
      const [px, py] = dataToPx(app.rects[i], pl.cam, d[0], d[1]);
      const [ox, oy] = canvasOrigin();
      return { x: ox + px, y: oy + py, dataX: d[0], dataY: d[1] };
    },
    /** Per plot: the radius (CSS px) and opacity its points are drawn with now. */
    pointStyles: () => app.plots.map((p, i) => (app.rects[i] ? pointStyle(app, p, app.rects[i]) : null)),
    /** Points of plot i drawn on top (the hovered class or the selection). */
    /** @param {number} i */
    onTop: (i) => app.plots[i]?.onTop ?? 0,
    /** The render flags of sample s's point in plot i (attrs.js FLAG_*), or null when not drawn. */
    /** @param {number} i @param {number} s */
    flagsOf(i, s) { const pl = app.plots[i]; return pl && pl.attrs && pl.local && pl.local[s] >= 0 ? pl.attrs[2 * pl.local[s] + 1] : null; },
    /** Segments from adversarial twins to their clean samples plot i draws now (0 when toggled off). */
    /** @param {number} i */
    twinSegments(i) { const pl = app.plots[i]; const seg = pl && store.get().twinLines ? twinSegments(app, pl) : null; return seg ? seg.length / 4 : 0; },
    /** Plot i's drawing area in client (page) pixels. */
    /** @param {number} i */
    plotRect(i) { const r = app.rects[i], [ox, oy] = canvasOrigin(); return r ? { x: ox + r.x, y: oy + r.y, w: r.w, h: r.h } : null; },
    /** Points of plot i that are drawn (not hidden by the label menu). */
    /** @param {number} i */
    visibleCount: (i) => app.plots[i]?.visible ?? 0,
    /** Per plot: the sample highlighted by the hover ring in the last frame, or null. */
    highlights: () => app.plots.map((p, i) => (app.lastHighlights[i] ? { sample: app.lastHighlights[i].sample } : null)),
    /** The selected samples, ascending. */
    selectedSamples() { const sel = store.get().selection; const out = []; if (sel) for (let s = 0; s < sel.length; s++) if (sel[s]) out.push(s); return out; },
    /** Selects `samples` (as a lasso would). @param {number[]} samples */
    select(samples) { if (!app.samples) return; const m = new Uint8Array(app.samples.n); for (const s of samples) m[s] = 1; store.set({ selection: m }); },
    /** Whether the per-sample values under `key` (an id, or `change|layer|view`) are loaded. @param {string} key */
    valuesLoaded(key) { const v = app.values.get(key); return !!v && v !== 'pending' && !(v instanceof Error); },
    /** Every plot's `change|layer|view` key. */
    changeKeys: () => app.plots.map(changeKey),
    /**
     * The extra points (parametric mode): the panel's status, and per plot those drawn now, in
     * client (page) pixels and data coordinates (empty arrays where a plot draws none).
     */
    extras() {
      const [ox, oy] = canvasOrigin();
      const drawn = app.plots.map((pl, i) => {
        const xy = pl.cam && app.rects[i] ? extrasFor(app, pl) : null;
        const out = [];
        if (xy && pl.cam) {
          for (let k = 0; k < xy.length / 2; k++) {
            const [px, py] = dataToPx(app.rects[i], pl.cam, xy[2 * k], xy[2 * k + 1]);
            out.push({ x: ox + px, y: oy + py, dataX: xy[2 * k], dataY: xy[2 * k + 1] });
          }
        }
        return out;
      });
      return { status: extrasStatus(app), epochs: app.extras ? Array.from(app.extras.byEpoch.keys()) : [], drawn };
    },
    tooltipText: () => { const t = $('#tooltip'); return t.hidden ? '' : t.textContent; },
    /** @param {number} t */
    setT(t) { store.set({ t, target: t, playing: false }); draw(app); },
    play() { store.set({ playing: true, t: 0 }); },
    stop() { store.set({ playing: false, target: Math.round(store.get().t) }); },
    frameTimes: () => app.frameTimes.slice(),
    drawMs: () => app.drawMs,
    bytes: () => ({ samples: app.bytes.samples, embeddings: Object.values(app.bytes.embeddings).reduce((a, b) => a + b, 0) }),
    timing: () => ({ startedAt: app.startedAt, readyAt: app.readyAt, firstFrameAt: app.firstFrameAt }),
    /** Benchmark: build the pick index of plot i at the current blend, then `queries` random picks. */
    /** @param {number} i @param {number} [queries] */
    benchPick(i, queries = 200) {
      const pl = app.plots[i];
      pl.pick = null; pl.posCache = null;
      let t0 = performance.now();
      pickIndex(app, pl);
      const buildMs = performance.now() - t0;
      const r = app.rects[i];
      t0 = performance.now();
      let hits = 0;
      for (let q = 0; q < queries; q++) {
        const hit = pickAt(app, r.x + Math.random() * r.w, r.y + Math.random() * r.h);
        if (hit && hit.sample != null) hits++;
      }
      const queryMs = (performance.now() - t0) / queries;
      return { buildMs, queryMs, hits, queries };
    },
  };
  Object.assign(window, { __nm: hook });
}
