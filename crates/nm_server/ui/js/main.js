// The viewer: wires data loading, the state store, the renderer, picking and the widgets.

import { fetchSummary, fetchSamples, fetchEmbedding, requestCompute, thumbUrl } from './api.js';
import { subscribe } from './events.js';
import { createStore } from './store.js';
import { Renderer } from './renderer.js';
import { GridIndex, insidePolygon } from './picking.js';
import { gridRects, fitCamera, pxToData, zoomAt, panBy, rectAt } from './layout.js';
import { classColours, SLOT_ABSENT, SLOT_CORRECT, SLOT_WRONG } from './palette.js';
import { createTimeline } from './widgets/timeline.js';
import { createLegend } from './widgets/legend.js';
import { createTooltip } from './widgets/tooltip.js';
import { SelectionTool, createSelectionPanel } from './widgets/selection.js';
import { createParamsMenu, describeParams } from './widgets/params.js';
import { renderTitles } from './widgets/titles.js';
import { exportPng } from './export.js';
import { installTestHook } from './testhook.js';

/** Epochs per second while playing. */
const PLAY_EPOCHS_PER_SEC = 1.5;
/** Slider/keyboard moves ease to their target at this many epochs per second (at least). */
const SEEK_EPOCHS_PER_SEC = 4;
/** Hover pick radius in CSS pixels (beyond the point's own radius). */
const PICK_SLACK_PX = 4;
/** Stage weights for the overall progress bar. */
const STAGE_WEIGHTS = { queued: [0, 0], pca: [0, 0.1], neighbors: [0.1, 0.25], fuzzy_graph: [0.35, 0.1], init: [0.45, 0.1], layout: [0.55, 0.45] };

const $ = (s) => document.querySelector(s);
const client = 'c' + Math.random().toString(36).slice(2, 12);

const store = createStore({
  t: 0, target: 0, playing: false, follow: true,
  colorBy: 'true',
  hidden: new Uint8Array(0),  // per class: 1 = hidden
  hover: null,                // {plot, sample}
  pinned: null,               // sample index: its trajectory is drawn
  selection: null,            // Uint8Array(N) mask, or null
  mode: 'pan',                // pan | lasso | box
});

const app = {
  summary: null, samples: null, epochs: [], classes: [], colours: [],
  plots: [], rects: [], renderer: null, pickCache: new Map(),
  frames: 0, frameTimes: [], lastFrameMs: 0, drawMs: 0, ready: false, errors: [],
  lastHighlights: [],
};

// ---------------------------------------------------------------------------------------------
// Epoch mapping and positions

function epochPair(pl) {
  const E = app.epochs.length;
  if (!pl.emb || !E) return null;
  const t = Math.min(Math.max(store.get().t, 0), E - 1);
  const a = Math.floor(t), b = Math.min(a + 1, E - 1);
  const ia = viewEpochIndex(pl.emb, app.epochs[a]), ib = viewEpochIndex(pl.emb, app.epochs[b]);
  const f = t - a;
  return { ia, ib, blend: ia === ib ? 0 : f * f * (3 - 2 * f) };
}

/** Index in the view's epochs of the last epoch <= `epoch` (the view may lag behind a live run). */
function viewEpochIndex(emb, epoch) {
  const es = emb.epochs;
  let lo = 0, hi = es.length - 1, best = 0;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (es[m] <= epoch) { best = m; lo = m + 1; } else hi = m - 1;
  }
  return best;
}

function decode(emb, ei, k) {
  const b = emb.bounds[ei], q = emb.pos, o = (ei * emb.n + k) * 2;
  return [b[0] + (q[o] / 65535) * (b[2] - b[0]), b[1] + (q[o + 1] / 65535) * (b[3] - b[1])];
}

/** Data position of local point k of plot pl at the current blend. */
function positionOf(pl, k) {
  const p = epochPair(pl);
  if (!p) return null;
  const [ax, ay] = decode(pl.emb, p.ia, k), [bx, by] = decode(pl.emb, p.ib, k);
  return [ax + (bx - ax) * p.blend, ay + (by - ay) * p.blend];
}

/** All points of a plot at the current blend, as Float32Array [n*2] (cached for picking/selection). */
function currentPositions(pl) {
  const p = epochPair(pl);
  const key = `${pl.view}|${pl.version}|${p.ia}|${p.ib}|${p.blend}`;
  if (pl.posCache && pl.posCache.key === key) return pl.posCache.xy;
  const { emb } = pl, n = emb.n, xy = new Float32Array(n * 2);
  const bA = emb.bounds[p.ia], bB = emb.bounds[p.ib], q = emb.pos;
  const oA = p.ia * n * 2, oB = p.ib * n * 2, s = 1 / 65535, w = p.blend;
  const ax = (bA[2] - bA[0]) * s, ay = (bA[3] - bA[1]) * s, bx = (bB[2] - bB[0]) * s, by = (bB[3] - bB[1]) * s;
  for (let k = 0; k < n; k++) {
    const xa = bA[0] + q[oA + 2 * k] * ax, ya = bA[1] + q[oA + 2 * k + 1] * ay;
    const xb = bB[0] + q[oB + 2 * k] * bx, yb = bB[1] + q[oB + 2 * k + 1] * by;
    xy[2 * k] = xa + (xb - xa) * w;
    xy[2 * k + 1] = ya + (yb - ya) * w;
  }
  pl.posCache = { key, xy };
  return xy;
}

function pickIndex(pl) {
  const xy = currentPositions(pl);
  if (pl.pick && pl.pick.xy === xy && pl.pick.hiddenRef === store.get().hidden) return pl.pick.index;
  const hidden = store.get().hidden, labels = app.samples.labels, samples = pl.emb.samples;
  const index = new GridIndex(xy, (k) => hidden[labels[samples[k]]] === 1);
  pl.pick = { xy, hiddenRef: hidden, index };
  return index;
}

function radiusFor(pl, rect) {
  const n = pl.emb ? pl.emb.n : 1;
  return Math.min(5, Math.max(1.2, 0.45 * Math.sqrt((rect.w * rect.h) / Math.max(1, n))));
}

// ---------------------------------------------------------------------------------------------
// Colours and flags per point

function roundedEpoch() {
  const E = app.epochs.length;
  return E ? app.epochs[Math.min(E - 1, Math.max(0, Math.round(store.get().t)))] : null;
}

function predictionsAt(epoch) {
  if (!app.samples || epoch == null) return null;
  // The newest prediction at or before this epoch.
  let best = null;
  for (const e of app.samples.predEpochs) if (e <= epoch) best = e;
  return best == null ? null : app.samples.predictions.get(best);
}

function computeAttrs(pl) {
  if (!pl.emb || !app.samples) return;
  const { colorBy, hidden, selection } = store.get();
  const n = pl.emb.n, samples = pl.emb.samples, labels = app.samples.labels, absent = app.samples.absent;
  const preds = colorBy === 'true' ? null : predictionsAt(roundedEpoch());
  const attrs = pl.attrs && pl.attrs.length === 2 * n ? pl.attrs : new Uint8Array(2 * n);
  let visible = 0;
  for (let k = 0; k < n; k++) {
    const s = samples[k], lab = labels[s];
    let slot = lab, flags = 0;
    if (colorBy !== 'true') {
      const p = preds ? preds[s] : absent;
      if (p === absent) slot = SLOT_ABSENT;
      else if (colorBy === 'pred') slot = p;
      else if (p === lab) slot = SLOT_CORRECT;
      else { slot = SLOT_WRONG; flags |= 4; }
    }
    if (hidden[lab] === 1) flags |= 1; else visible++;
    if (selection) flags |= selection[s] ? 4 : 2;
    attrs[2 * k] = Math.min(slot, 255);
    attrs[2 * k + 1] = flags;
  }
  pl.attrs = attrs;
  pl.visible = visible;
  pl.attrEpoch = roundedEpoch();
  app.renderer.setPlotAttrs(pl.index, attrs);
}

function refreshAllAttrs() {
  for (const pl of app.plots) computeAttrs(pl);
  requestRender();
}

// ---------------------------------------------------------------------------------------------
// Rendering

let renderQueued = false;
let lastTs = null;

function requestRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(frame);
}

function frame(ts) {
  renderQueued = false;
  const st = store.get();
  const dt = lastTs == null ? 0 : Math.min(0.1, (ts - lastTs) / 1000);
  if (lastTs != null) { app.lastFrameMs = ts - lastTs; app.frameTimes.push(app.lastFrameMs); if (app.frameTimes.length > 240) app.frameTimes.shift(); }
  lastTs = ts;
  const E = app.epochs.length;
  let t = st.t, animating = false;
  if (st.playing && E > 1) {
    t += dt * PLAY_EPOCHS_PER_SEC;
    if (t >= E - 1) { t = E - 1; store.set({ playing: false, target: E - 1 }); } else animating = true;
  } else if (t !== st.target) {
    const step = dt * Math.max(SEEK_EPOCHS_PER_SEC, 6 * Math.abs(st.target - t));
    t = Math.abs(st.target - t) <= step ? st.target : t + Math.sign(st.target - t) * step;
    animating = t !== st.target;
  }
  if (t !== st.t) store.set({ t });
  draw();
  if (animating || store.get().playing) requestRender(); else lastTs = null;
}

function draw() {
  const t0 = performance.now();
  const st = store.get();
  const r = app.renderer;
  const epochNow = roundedEpoch();
  const frames = app.plots.map((pl, i) => {
    const rect = app.rects[i];
    const p = epochPair(pl);
    if (!p || !rect) return { rect: rect || { x: 0, y: 0, w: 1, h: 1 }, cam: { cx: 0, cy: 0, scale: 1 }, ia: -1 };
    if (st.colorBy !== 'true' && pl.attrEpoch !== epochNow) computeAttrs(pl);
    const f = { rect, cam: pl.cam, ia: p.ia, ib: p.ib, blend: p.blend, boundsA: pl.emb.bounds[p.ia], boundsB: pl.emb.bounds[p.ib], radius: radiusFor(pl, rect) };
    overlaysFor(pl, f);
    return f;
  });
  r.draw(frames, { dimAlpha: 0.07 });
  if (st.colorBy !== 'true' && app.legendKey !== `${st.colorBy}|${epochNow}`) updateLegend();
  app.frames++;
  if (app.ready && !app.firstFrameAt) app.firstFrameAt = performance.now();
  app.drawMs = performance.now() - t0;
  updateTimeline();
}

function overlaysFor(pl, f) {
  const st = store.get();
  f.rings = null; f.trail = null; f.trailDots = null;
  const hl = st.hover ? pl.local[st.hover.sample] : -1;
  app.lastHighlights[pl.index] = hl >= 0 ? { sample: st.hover.sample, local: hl } : null;
  if (hl >= 0) f.rings = new Float32Array(positionOf(pl, hl));
  const pin = st.pinned != null ? pl.local[st.pinned] : -1;
  if (pin >= 0) {
    const E = pl.emb.epochs.length, trail = new Float32Array(E * 2);
    for (let e = 0; e < E; e++) trail.set(decode(pl.emb, e, pin), 2 * e);
    f.trail = trail;
    f.trailDots = trail;
    if (hl < 0) f.rings = new Float32Array(positionOf(pl, pin));
  }
}

function updateTimeline() {
  const st = store.get();
  const epoch = roundedEpoch();
  const readout = {};
  const s = app.summary;
  if (s && epoch != null) {
    const a = s.accuracy.find((x) => x.epoch === epoch);
    if (a) readout.accuracy = a.accuracy;
    const m = (s.metrics || []).find((x) => x.epoch === epoch);
    if (m) { readout.train = m.train_accuracy; readout.test = m.test_accuracy; }
  }
  timeline.update(st.t, st.playing, app.epochs, readout);
}

// ---------------------------------------------------------------------------------------------
// Layout

function layout() {
  const wrap = $('#plots');
  const w = wrap.clientWidth, h = wrap.clientHeight, dpr = window.devicePixelRatio || 1;
  app.renderer.resize(w, h, dpr);
  const overlay = $('#overlay');
  overlay.width = Math.round(w * dpr); overlay.height = Math.round(h * dpr);
  const old = app.rects;
  app.rects = gridRects(app.plots.length, w, h);
  app.plots.forEach((pl, i) => {
    const r = app.rects[i], o = old[i];
    if (pl.cam && o && !pl.userCam) pl.cam = fitCamera(pl.fitBounds, r);
    else if (pl.cam && o) pl.cam = { ...pl.cam, scale: pl.cam.scale * Math.min(r.w / o.w, r.h / o.h) };
    else if (pl.emb) pl.cam = fitCamera(pl.fitBounds, r);
  });
  titles();
  requestRender();
}

function titles() {
  renderTitles($('#titles'), app.plots, app.rects);
}

// ---------------------------------------------------------------------------------------------
// Data

function makePlot(layer, i) {
  return { index: i, layer, view: null, emb: null, pending: null, cam: null, userCam: false, local: null, version: 0, visible: 0, paramsText: '' };
}

async function loadView(pl, view) {
  try {
    const emb = await fetchEmbedding(pl.layer, view);
    const sameView = pl.view === view;
    pl.emb = emb; pl.view = view; pl.version++; pl.error = null;
    pl.posCache = null; pl.pick = null;
    const N = app.summary.n_samples;
    const local = new Int32Array(N).fill(-1);
    for (let k = 0; k < emb.n; k++) local[emb.samples[k]] = k;
    pl.local = local;
    let b = [Infinity, Infinity, -Infinity, -Infinity];
    for (const e of emb.bounds) b = [Math.min(b[0], e[0]), Math.min(b[1], e[1]), Math.max(b[2], e[2]), Math.max(b[3], e[3])];
    pl.fitBounds = b;
    if (!sameView || !pl.userCam || !pl.cam) { pl.cam = fitCamera(b, app.rects[pl.index]); pl.userCam = false; }
    const params = view === 'live' ? app.summary.default_params : (app.viewParams[view] || null);
    pl.paramsText = (view === 'live' && app.summary.live ? 'live · ' : '') + describeParams(params);
    pl.params = params;
    app.renderer.setPlotData(pl.index, emb);
    app.bytes.embeddings[pl.layer] = emb.bytes;
    computeAttrs(pl);
    if (pl.pending && pl.pending.view === view) pl.pending = null;
    titles();
    updateLegend();
    checkReady();
    requestRender();
  } catch (e) {
    if (e.status === 404) return; // not computed yet: its `done` event will come
    pl.error = e.message;
    titles();
  }
}

function checkReady() {
  if (!app.ready && app.plots.length && app.plots.every((p) => p.emb)) {
    app.ready = true;
    app.readyAt = performance.now();
  }
}

/** The page title and the header line: the run's name and size (a followed run grows). */
function runHeader(s) {
  document.title = `${s.name} · neuromapper`;
  $('#run-name').textContent = s.name;
  $('#run-info').textContent = `${s.n_samples.toLocaleString()} samples · ${s.layers.length} layers · ${s.epochs.length} epochs${s.live ? ' · live' : ''}`;
}

async function refreshSummary() {
  const [summary, samples] = await Promise.all([fetchSummary(), fetchSamples()]);
  app.summary = summary;
  runHeader(summary);
  app.samples = samples;
  app.bytes.samples = samples.bytes;
  for (const v of summary.views) app.viewParams[v.key] = v.params;
  app.viewParams[summary.default_view] = summary.default_params;
  const wasAtEnd = app.epochs.length === 0 || Math.round(store.get().t) >= app.epochs.length - 1;
  app.epochs = summary.epochs;
  if (app.started) syncPlots();
  timeline.setEpochs(app.epochs, summary.live);
  if (summary.live && store.get().follow && wasAtEnd && app.epochs.length) store.set({ target: app.epochs.length - 1 });
  if (!app.epochs.length) params.setStatus('waiting for the first epoch…');
  else if (app.waitingShown) params.setStatus(summary.live ? 'following the run' : 'ready');
  app.waitingShown = !app.epochs.length;
  requestRender();
}

/** Makes the plots match the run's layers (a live run learns its layers with its first epoch). */
function syncPlots() {
  const s = app.summary;
  const names = s.layers.map((l) => l.name);
  if (names.join('\n') === app.plots.map((p) => p.layer).join('\n') && app.classes.length === s.classes.length) return;
  app.classes = s.classes;
  app.colours = classColours(s.classes.length);
  app.renderer.setPalette(app.colours);
  if (store.get().hidden.length !== s.classes.length) store.set({ hidden: new Uint8Array(s.classes.length) });
  app.renderer.dropPlotsFrom(0);
  app.plots = names.map((l, i) => makePlot(l, i));
  app.ready = false;
  params.setLayers(names);
  params.setParams(s.default_params);
  layout();
  updateLegend();
  for (const pl of app.plots) if (viewReady(pl.layer, s.default_view)) loadView(pl, s.default_view);
}

/** Whether the server has view `key` of `layer` (per the last summary, or a `done` event since). */
function viewReady(layer, key) {
  return app.doneViews.has(`${layer}|${key}`) || app.summary.views.some((v) => v.key === key && v.layers.includes(layer));
}

function updateLegend() {
  if (!app.summary) return;
  const { colorBy, hidden } = store.get();
  const counts = new Array(app.classes.length).fill(0);
  const pl = app.plots.find((p) => p.emb);
  const epoch = roundedEpoch();
  // What the key shows in the prediction modes: right / wrong / missing at the shown epoch, over
  // the samples drawn (those of the first plot with data; every plot of a view draws the same).
  let info = null;
  if (pl && app.samples) {
    const labels = app.samples.labels, absent = app.samples.absent;
    const preds = colorBy === 'true' ? null : predictionsAt(epoch);
    info = { epoch, correct: 0, wrong: 0, absent: 0 };
    for (let k = 0; k < pl.emb.n; k++) {
      const s = pl.emb.samples[k], lab = labels[s];
      counts[lab]++;
      if (colorBy === 'true') continue;
      const p = preds ? preds[s] : absent;
      if (p === absent) info.absent++; else if (p === lab) info.correct++; else info.wrong++;
    }
  }
  app.legendKey = `${colorBy}|${epoch}`;
  legend.render(app.classes, app.colours, hidden, counts, colorBy, info);
}

const byLayer = (l) => app.plots.find((p) => p.layer === l);

/** A failed or cancelled computation: clears the plot's progress and says why. */
function onTaskEnded(ev) {
  const pl = byLayer(ev.layer);
  if (pl && pl.pending && pl.pending.view === ev.view) {
    pl.pending = null;
    if (ev.type === 'failed') pl.error = ev.error;
    titles();
    params.setStatus(ev.type === 'failed' ? `${ev.layer}: ${ev.error}` : `${ev.layer}: cancelled`, ev.type === 'failed');
  } else if (pl && ev.type === 'failed' && !pl.emb) {
    pl.error = ev.error; titles();
  }
}

/** What the page does with each server event (events.js lists their shapes). */
const onEvent = {
  progress(ev) {
    for (const pl of app.plots) {
      if (pl.layer === ev.layer && pl.pending && pl.pending.view === ev.view) {
        const [base, w] = STAGE_WEIGHTS[ev.stage] || [0, 0];
        pl.pending = { ...pl.pending, stage: ev.stage, fraction: ev.fraction, overall: base + w * ev.fraction };
      }
    }
    titles();
  },
  done(ev) {
    app.doneViews.add(`${ev.layer}|${ev.view}`);
    const pl = byLayer(ev.layer);
    if (!pl) return;
    if ((pl.pending && pl.pending.view === ev.view) || (pl.view === ev.view && ev.view === 'live') || (!pl.emb && ev.view === app.summary?.default_view)) {
      loadView(pl, ev.view);
    }
    if (ev.refined) {
      app.refined.add(ev.layer);
      params.setStatus(app.refined.size >= app.plots.length ? 'training finished · all epochs refined together'
        : `training finished · refined ${app.refined.size}/${app.plots.length} layers`);
    }
  },
  failed: onTaskEnded,
  cancelled: onTaskEnded,
  epochs() {
    refreshSummary().catch((e) => console.error(e));
  },
  training_finished(ev) {
    params.setStatus(ev.refining ? 'training finished · refining all epochs together…' : 'training finished');
    refreshSummary().catch((e) => console.error(e));
  },
  error(ev) {
    params.setStatus(ev.error, true);
  },
};

async function applyParams(p, layer) {
  const layers = layer ? [layer] : app.plots.map((pl) => pl.layer);
  params.setStatus('requesting…');
  try {
    const res = await requestCompute(client, layers, p);
    app.viewParams[res.view] = res.params;
    for (const task of res.tasks) {
      const pl = app.plots.find((x) => x.layer === task.layer);
      if (!pl) continue;
      // Done already, or finished between the request and this answer (its event came first).
      if (task.state === 'done' || app.doneViews.has(`${task.layer}|${res.view}`)) { pl.pending = null; loadView(pl, res.view); }
      else if (!pl.pending || pl.pending.view !== res.view) pl.pending = { view: res.view, stage: 'queued', fraction: 0, overall: 0 };
    }
    params.setStatus(res.tasks.every((t) => t.state === 'done') ? 'ready' : 'computing…');
    titles();
  } catch (e) {
    params.setStatus(e.message, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Interaction

function canvasXY(e) {
  const r = $('#gl').getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

function pickAt(x, y) {
  const i = rectAt(app.rects, x, y);
  const pl = app.plots[i];
  if (!pl || !pl.emb || !epochPair(pl)) return null;
  const rect = app.rects[i];
  const [dx, dy] = pxToData(rect, pl.cam, x, y);
  const rad = (radiusFor(pl, rect) + PICK_SLACK_PX) / pl.cam.scale;
  const k = pickIndex(pl).nearest(dx, dy, rad);
  return k < 0 ? { plot: i, sample: null } : { plot: i, sample: pl.emb.samples[k], local: k };
}

function showTooltip(x, y, hit) {
  const pl = app.plots[hit.plot];
  const s = hit.sample, lab = app.samples.labels[s];
  const epoch = roundedEpoch();
  const preds = predictionsAt(epoch);
  const pred = preds && preds[s] !== app.samples.absent ? preds[s] : null;
  let thumb = null;
  const th = app.summary.thumbs;
  if (th) {
    const page = Math.floor(s / th.per_page), k = s % th.per_page;
    const rowsOnPage = Math.ceil(Math.min(th.per_page, app.summary.n_samples - page * th.per_page) / th.cols);
    thumb = { url: thumbUrl(page), x: (k % th.cols) * th.width, y: Math.floor(k / th.cols) * th.height, w: th.width, h: th.height, sheetW: th.cols * th.width, sheetH: rowsOnPage * th.height };
  }
  tooltip.show(x, y, {
    sample: s, layer: pl.layer, label: app.classes[lab] ?? String(lab), epoch,
    prediction: pred == null ? null : (app.classes[pred] ?? String(pred)), correct: pred === lab, thumb,
  });
}

let drag = null;

function onPointerDown(e) {
  if (e.button !== 0) return;
  const [x, y] = canvasXY(e);
  const i = rectAt(app.rects, x, y);
  if (i < 0) return;
  const mode = store.get().mode === 'pan' && e.shiftKey ? 'lasso' : store.get().mode;
  drag = { plot: i, x, y, lastX: x, lastY: y, moved: false, mode };
  if (mode !== 'pan') selectionTool.begin(mode, x, y);
  $('#gl').setPointerCapture(e.pointerId);
}

function onPointerMove(e) {
  const [x, y] = canvasXY(e);
  if (drag) {
    if (Math.hypot(x - drag.x, y - drag.y) > 3) drag.moved = true;
    if (drag.mode === 'pan' && drag.moved) {
      const pl = app.plots[drag.plot];
      if (pl.cam) { pl.cam = panBy(pl.cam, x - drag.lastX, y - drag.lastY); pl.userCam = true; }
      requestRender();
    } else if (drag.mode !== 'pan') selectionTool.move(x, y);
    drag.lastX = x; drag.lastY = y;
    return;
  }
  hoverAt(x, y);
}

function hoverAt(x, y) {
  const t0 = performance.now();
  const hit = pickAt(x, y);
  app.lastPickMs = performance.now() - t0;
  const cur = store.get().hover;
  if (hit && hit.sample != null) {
    if (!cur || cur.sample !== hit.sample || cur.plot !== hit.plot) store.set({ hover: { plot: hit.plot, sample: hit.sample } });
    showTooltip(x, y, hit);
  } else {
    if (cur) store.set({ hover: null });
    tooltip.hide();
  }
}

function onPointerUp(e) {
  if (!drag) return;
  const d = drag;
  drag = null;
  const [x, y] = canvasXY(e);
  if (d.mode !== 'pan') {
    const poly = selectionTool.end();
    if (poly && d.moved) selectPolygon(d.plot, poly);
    return;
  }
  if (!d.moved) {
    const hit = pickAt(x, y);
    store.set({ pinned: hit && hit.sample != null ? hit.sample : null });
  }
}

function selectPolygon(i, poly) {
  const pl = app.plots[i];
  if (!pl || !pl.emb) return;
  const rect = app.rects[i];
  const dpoly = poly.map(([px, py]) => pxToData(rect, pl.cam, px, py));
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of dpoly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const xy = currentPositions(pl), hidden = store.get().hidden, labels = app.samples.labels;
  const mask = new Uint8Array(app.summary.n_samples);
  let count = 0;
  for (let k = 0; k < pl.emb.n; k++) {
    const x = xy[2 * k], y = xy[2 * k + 1];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    const s = pl.emb.samples[k];
    if (hidden[labels[s]] === 1) continue;
    if (insidePolygon(dpoly, x, y)) { mask[s] = 1; count++; }
  }
  store.set({ selection: count ? mask : null });
}

function selectionCounts() {
  const sel = store.get().selection;
  if (!sel) return null;
  const counts = new Array(app.classes.length).fill(0);
  const labels = app.samples.labels;
  for (let s = 0; s < sel.length; s++) if (sel[s]) counts[labels[s]]++;
  return counts;
}

function onWheel(e) {
  const [x, y] = canvasXY(e);
  const i = rectAt(app.rects, x, y);
  const pl = app.plots[i];
  if (!pl || !pl.cam) return;
  e.preventDefault();
  pl.cam = zoomAt(app.rects[i], pl.cam, x, y, Math.exp(-e.deltaY * 0.0015));
  pl.userCam = true;
  requestRender();
}

function onDblClick(e) {
  const [x, y] = canvasXY(e);
  const i = rectAt(app.rects, x, y);
  const pl = app.plots[i];
  if (!pl || !pl.emb) return;
  pl.cam = fitCamera(pl.fitBounds, app.rects[i]);
  pl.userCam = false;
  requestRender();
}

function onKey(e) {
  if (e.target.closest && e.target.closest('input, select, textarea')) return;
  const E = app.epochs.length;
  const st = store.get();
  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
    e.preventDefault();
    const d = e.key === 'ArrowRight' ? 1 : -1;
    const base = st.playing ? Math.round(st.t) : Math.round(st.target);
    store.set({ playing: false, target: Math.min(E - 1, Math.max(0, base + d)) });
  } else if (e.key === ' ') {
    e.preventDefault();
    togglePlay();
  } else if (e.key === 'Escape') {
    store.set({ selection: null, pinned: null });
  }
}

function togglePlay() {
  const st = store.get(), E = app.epochs.length;
  if (E < 2) return;
  if (st.playing) store.set({ playing: false, target: Math.round(st.t) });
  else store.set({ playing: true, t: st.t >= E - 1 ? 0 : st.t });
}

function setHidden(hidden) {
  store.set({ hidden });
}

// ---------------------------------------------------------------------------------------------
// Setup

const timeline = createTimeline($('#timeline'), {
  onTarget: (i) => store.set({ playing: false, target: i }),
  onTogglePlay: togglePlay,
  onFollow: (on) => store.set({ follow: on }),
});
const legend = createLegend($('#legend'), {
  onToggle: (c) => { const h = store.get().hidden.slice(); h[c] = h[c] ? 0 : 1; setHidden(h); },
  onSolo: (c) => { const h = new Uint8Array(app.classes.length).fill(1); h[c] = 0; setHidden(h); },
  onAll: () => setHidden(new Uint8Array(app.classes.length)),
  onNone: () => setHidden(new Uint8Array(app.classes.length).fill(1)),
  onColorBy: (mode) => store.set({ colorBy: mode }),
});
const tooltip = createTooltip($('#tooltip'));
const selectionTool = new SelectionTool($('#overlay'));
const selectionPanel = createSelectionPanel($('#selection'), { onClear: () => store.set({ selection: null }) });
const params = createParamsMenu($('#params'), { onApply: applyParams });

store.subscribe((st, changed) => {
  if (changed.includes('hidden') || changed.includes('colorBy') || changed.includes('selection')) {
    refreshAllAttrs();
    updateLegend();
  }
  if (changed.includes('selection')) selectionPanel.render(selectionCounts(), app.classes, app.colours);
  if (changed.includes('mode')) {
    document.querySelectorAll('#modes button').forEach((b) => b.classList.toggle('on', b.dataset.mode === st.mode));
  }
  if (changed.includes('hover') || changed.includes('pinned') || changed.includes('target') || changed.includes('playing')) requestRender();
});

async function main() {
  try {
    app.renderer = new Renderer($('#gl'));
  } catch (e) {
    $('#nogl').hidden = false;
    $('#app').classList.add('disabled');
    window.__nm = { ready: false, error: 'no-webgl2' };
    return;
  }
  app.viewParams = {};
  app.doneViews = new Set();
  app.refined = new Set();
  app.bytes = { samples: 0, embeddings: {} };
  app.startedAt = performance.now();
  installTestHook(app, store, { positionOf, epochPair, currentPositions, pickAt, hoverAt, pickIndex, draw });
  subscribe(onEvent);
  try {
    await refreshSummary();
  } catch (e) {
    $('#status').textContent = `cannot load the run: ${e.message}`;
    return;
  }
  const s = app.summary;
  app.classes = s.classes;
  app.colours = classColours(s.classes.length);
  app.renderer.setPalette(app.colours);
  store.set({ hidden: new Uint8Array(s.classes.length), target: Math.max(0, s.epochs.length - 1), t: Math.max(0, s.epochs.length - 1) });
  app.plots = s.layers.map((l, i) => makePlot(l.name, i));
  params.setLayers(s.layers.map((l) => l.name));
  params.setParams(s.default_params);
  for (const task of s.tasks) {
    const pl = app.plots.find((p) => p.layer === task.layer);
    if (pl && task.view === s.default_view) {
      const [base, w] = STAGE_WEIGHTS[task.stage] || [0, 0];
      pl.pending = { view: task.view, stage: task.stage, fraction: task.fraction, overall: base + w * task.fraction };
    }
  }
  layout();
  updateLegend();
  await Promise.all(app.plots.filter((pl) => viewReady(pl.layer, s.default_view)).map((pl) => loadView(pl, s.default_view)));
  app.started = true;
  syncPlots();
  new ResizeObserver(() => layout()).observe($('#plots'));
}

const gl = $('#gl');
gl.addEventListener('pointerdown', onPointerDown);
gl.addEventListener('pointermove', onPointerMove);
gl.addEventListener('pointerup', onPointerUp);
gl.addEventListener('pointerleave', () => { if (!drag && store.get().hover) { store.set({ hover: null }); tooltip.hide(); } });
gl.addEventListener('wheel', onWheel, { passive: false });
gl.addEventListener('dblclick', onDblClick);
window.addEventListener('keydown', onKey);
$('#modes').addEventListener('click', (e) => { const b = e.target.closest('button'); if (b) store.set({ mode: b.dataset.mode }); });
$('#export').addEventListener('click', () => exportPng(app, draw, store.get()));

main();
