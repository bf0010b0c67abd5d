// The viewer's state: the shapes of the run it shows (JSDoc typedefs written down once), the one
// `App` object created in `createApp` (every field named there, none added elsewhere), the store of
// what the user changes, and small read-only queries over them.
// @ts-check

import { createStore } from './store.js';

/**
 * @typedef {import('./source.js').DataSource} DataSource
 * @typedef {import('./source.js').Summary} Summary
 * @typedef {import('./source.js').Samples} Samples
 * @typedef {import('./source.js').Embedding} Embedding
 * @typedef {import('./source.js').EmbedParams} EmbedParams
 * @typedef {import('./layout.js').Rect} Rect
 * @typedef {import('./layout.js').Camera} Camera
 * @typedef {import('./renderer.js').Renderer} Renderer
 * @typedef {import('./picking.js').GridIndex} GridIndex
 */

/**
 * A view being computed for a plot: its key and how far it got.
 * @typedef {{view: string, stage: string, fraction: number, overall: number}} Pending
 */

/**
 * One plot: one layer drawn with one view (a parameter set) of its embedding.
 * @typedef {object} Plot
 * @property {number} index             position in `App.plots` and in the renderer
 * @property {number} run               the run it shows (its row; 0 with a single run)
 * @property {number} col               its column (the layer's place among every run's layers)
 * @property {string} layer
 * @property {string | null} view       the key of the view drawn (`emb`), null before the first
 * @property {Embedding | null} emb     the view's positions over its epochs
 * @property {Pending | null} pending   a view being computed for this plot
 * @property {Camera | null} cam
 * @property {boolean} userCam          the user panned or zoomed (a resize keeps the camera)
 * @property {Int32Array | null} local  sample index -> point index in `emb` (-1: not drawn)
 * @property {number[]} fitBounds       [x0, y0, x1, y1] over every epoch: the shared frame
 * @property {number} version           bumped by each new `emb` (keys the caches)
 * @property {number} visible           points drawn (not hidden by the label menu)
 * @property {number} onTop             points drawn on top (the selection, or the class in focus)
 * @property {string} paramsText        the parameters as the title shows them
 * @property {string} paramsDetail      the rest of them, in the title's tooltip
 * @property {EmbedParams | null} params
 * @property {string | null} error
 * @property {Uint8Array | null} attrs  per point [palette slot, flags] as uploaded
 * @property {number | null} attrEpoch  the epoch `attrs` were computed for
 * @property {{key: string, xy: Float32Array} | null} posCache   positions at the last blend
 * @property {{xy: Float32Array, hiddenRef: Uint8Array, index: GridIndex} | null} pick
 */

/**
 * What the user changes; widgets and the render loop react to its changes.
 * @typedef {object} State
 * @property {number} t              shown epoch index, fractional while morphing
 * @property {number} target         the epoch index `t` eases to
 * @property {boolean} playing
 * @property {boolean} follow        a live run: move to each new epoch
 * @property {ColorBy} colorBy
 * @property {Uint8Array} hidden     per class: 1 = hidden
 * @property {{plot: number, sample: number} | null} hover
 * @property {number | null} pinned  sample whose trajectory is drawn
 * @property {Uint8Array | null} selection   per sample: 1 = selected
 * @property {'pan' | 'lasso' | 'box'} mode
 * @property {number | null} focusClass   drawn on top: the hovered point's class, or the legend row's
 * @property {number} pointScale     times the automatic point radius
 * @property {number | null} opacity  of the points (null: automatic, from their number)
 * @property {[number, number] | null} valueRange  the value filter: points of the colour mode's value
 *   outside [lo, hi] are hidden (null: no filter)
 * @property {ShowFilter} show       which samples are drawn by their predictions
 * @property {number} valuesVersion  bumped when per-sample values arrive (values.js)
 * @property {boolean} twinLines     a thin line from each adversarial twin to its clean sample
 */

/**
 * The colour mode: true class, predicted class, correct / incorrect, or a per-sample value
 * (`value:` and its id, source.js `ValueInfo`).
 * @typedef {'true' | 'pred' | 'correct' | `value:${string}`} ColorBy
 */
/**
 * Samples drawn by their predictions: all; misclassified at the shown epoch; or predicted
 * differently at epochs a and b.
 * @typedef {{kind: 'all'} | {kind: 'wrong'} | {kind: 'flipped', a: number, b: number}} ShowFilter
 */
/** @typedef {import('./store.js').Store<State>} AppStore */

/**
 * One of the runs shown side by side: its entry in the server's list, its data source, and its
 * summary and samples as last read (run 0's are also `App.summary` and `App.samples`).
 * @typedef {object} RunView
 * @property {import('./source.js').RunEntry} entry
 * @property {DataSource} source
 * @property {Summary | null} summary
 * @property {Samples | null} samples
 */

/**
 * The widgets, created by main.js.
 * @typedef {object} Widgets
 * @property {ReturnType<typeof import('./widgets/timeline.js').createTimeline>} timeline
 * @property {ReturnType<typeof import('./widgets/legend.js').createLegend>} legend
 * @property {ReturnType<typeof import('./widgets/tooltip.js').createTooltip>} tooltip
 * @property {import('./widgets/selection.js').SelectionTool} selectionTool
 * @property {ReturnType<typeof import('./widgets/selection.js').createSelectionPanel>} selectionPanel
 * @property {ReturnType<typeof import('./widgets/params.js').createParamsMenu>} params
 * @property {ReturnType<typeof import('./widgets/points.js').createPointControls>} points
 * @property {ReturnType<typeof import('./widgets/scale.js').createScale>} scale
 * @property {ReturnType<typeof import('./widgets/changes.js').createChanges>} changes
 * @property {ReturnType<typeof import('./widgets/twins.js').createTwinsPanel>} twins
 * @property {ReturnType<typeof import('./widgets/extras.js').createExtrasPanel>} extras
 */

/**
 * Everything the viewer knows. Created once by `createApp`.
 * @typedef {object} App
 * @property {DataSource} source
 * @property {AppStore} store
 * @property {Renderer} renderer
 * @property {Widgets} ui
 * @property {RunView[]} runs               the runs shown side by side, run 0 first (one: a single run)
 * @property {Summary | null} summary         the last summary read (run 0's)
 * @property {Samples | null} samples         labels and predictions (run 0's)
 * @property {number[]} epochs                the run's epochs (the slider's stops)
 * @property {string[]} classes
 * @property {string[]} colours               per class, CSS hex
 * @property {Plot[]} plots
 * @property {Rect[]} rects                   per plot, CSS px on the canvas
 * @property {{[view: string]: EmbedParams | null}} viewParams   each known view's parameters
 * @property {Set<string>} doneViews          `${layer}|${view}` announced done since the summary
 * @property {number | null} titlesEpoch      the epoch the plot titles last showed
 * @property {Map<string, import('./source.js').QualityReport | 'pending'>} quality   per view: how far
 *   to trust its plots ('pending' while asked for; absent: not asked yet, or not ready when asked)
 * @property {Map<string, import('./source.js').Values | 'pending' | Error>} values   per-sample values by
 *   id, and neighbour change by `change|${layer}|${view}` (values.js)
 * @property {import('./source.js').SampleText | null} sampleText   samples.csv's text columns, once read
 * @property {Set<string>} refined            layers refined after a live run finished
 * @property {boolean} started                the first load is over (later summaries re-sync plots)
 * @property {boolean} ready                  every plot has data
 * @property {boolean} waitingShown           the status says "waiting for the first epoch"
 * @property {string} legendKey               `${colorBy}|${epoch}` the legend was drawn for
 * @property {({sample: number, local: number} | null)[]} lastHighlights   per plot, the last frame's hover ring
 * @property {{samples: number, embeddings: {[layer: string]: number}}} bytes   bytes downloaded
 * @property {number} frames                  frames drawn
 * @property {number[]} frameTimes            the last 240 frame intervals (ms)
 * @property {number} drawMs                  the last draw's duration
 * @property {number} startedAt               performance.now() stamps for the benchmarks
 * @property {number | null} readyAt
 * @property {number | null} firstFrameAt
 * @property {import('./extras.js').Extras | null} extras   points added from a .npy (parametric mode), drawn hollow
 */

/** @returns {AppStore} the store with its initial state. */
export function createAppStore() {
  return createStore(/** @type {State} */ ({
    t: 0, target: 0, playing: false, follow: true,
    colorBy: 'true',
    hidden: new Uint8Array(0),
    hover: null,
    pinned: null,
    selection: null,
    mode: 'pan',
    focusClass: null,
    pointScale: 1,
    opacity: null,
    valueRange: null,
    show: { kind: 'all' },
    valuesVersion: 0,
    twinLines: true,
  }));
}

/**
 * The one App.
 * @param {DataSource} source
 * @param {AppStore} store
 * @param {Renderer} renderer
 * @param {Widgets} ui
 * @returns {App}
 */
export function createApp(source, store, renderer, ui) {
  return {
    source, store, renderer, ui, runs: [],
    summary: null, samples: null, epochs: [], classes: [], colours: [],
    plots: [], rects: [], viewParams: {}, doneViews: new Set(), quality: new Map(), titlesEpoch: null, refined: new Set(),
    values: new Map(), sampleText: null,
    started: false, ready: false, waitingShown: false, legendKey: '', lastHighlights: [],
    bytes: { samples: 0, embeddings: {} },
    frames: 0, frameTimes: [], drawMs: 0,
    startedAt: performance.now(), readyAt: null, firstFrameAt: null, extras: null,
  };
}

/**
 * The run's epoch at the rounded slider position, or null before the first epoch.
 * @param {App} app
 * @returns {number | null}
 */
export function roundedEpoch(app) {
  const E = app.epochs.length;
  return E ? app.epochs[Math.min(E - 1, Math.max(0, Math.round(app.store.get().t)))] : null;
}

/**
 * The newest predictions at or before `epoch` (per sample), or null; of run `run` (default 0).
 * @param {App} app
 * @param {number | null} epoch
 * @param {number} [run]
 * @returns {Uint8Array | Uint16Array | null}
 */
export function predictionsAt(app, epoch, run = 0) {
  const samples = run ? app.runs[run]?.samples : app.samples;
  if (!samples || epoch == null) return null;
  let best = null;
  for (const e of samples.predEpochs) if (e <= epoch) best = e;
  return best == null ? null : samples.predictions.get(best) ?? null;
}

/**
 * The plot showing `layer` of run `run` (default 0), if any.
 * @param {App} app
 * @param {string} layer
 * @param {number} [run]
 */
export function plotOf(app, layer, run = 0) {
  return app.plots.find((p) => p.layer === layer && p.run === run);
}

/**
 * Run `run`'s summary (run 0's is `App.summary`), or null before it is read.
 * @param {App} app
 * @param {number} run
 * @returns {Summary | null}
 */
export function runSummary(app, run) {
  return run ? app.runs[run]?.summary ?? null : app.summary;
}

/**
 * The data source of run `run` (run 0's is `App.source`).
 * @param {App} app
 * @param {number} run
 * @returns {DataSource}
 */
export function runSource(app, run) {
  return run ? app.runs[run].source : app.source;
}

/**
 * The summary, which every caller after the first load may rely on.
 * @param {App} app
 * @returns {Summary}
 */
export function summaryOf(app) {
  if (!app.summary) throw new Error('the run summary is not loaded yet');
  return app.summary;
}

/**
 * The samples (labels, predictions), loaded with the summary.
 * @param {App} app
 * @returns {Samples}
 */
export function samplesOf(app) {
  if (!app.samples) throw new Error('the samples are not loaded yet');
  return app.samples;
}
