// Where the viewer's data comes from: the `DataSource` interface (every read of the run goes through
// it: summary, samples, embeddings, thumbnails, compute requests and the event stream), the shapes
// of what it returns, and `httpSource`, its implementation over the server's HTTP API (api.js,
// events.js); static.js has the other, over a static site's files. main.js picks the implementation;
// nothing else talks to the server.
// @ts-check

import * as api from './api.js';
import { subscribe } from './events.js';

/**
 * How samples are drawn for a view, as the server writes it (serde's externally tagged enum).
 * @typedef {'All' | {Total: number} | {PerClass: number}} Sampling
 */

/**
 * A view's parameters (`nm_pipeline::EmbedParams`, as serialised).
 * @typedef {object} EmbedParams
 * @property {number} n_neighbors
 * @property {number} min_dist
 * @property {string} metric        'euclidean' | 'cosine'
 * @property {number} [pca_dims]
 * @property {Sampling} sampling
 * @property {number} [seed]
 * @property {boolean} [align_layers]  the layers aligned to each other too (absent: false)
 */

/**
 * The parameters the menu asks for (`POST /api/compute`'s `params`).
 * @typedef {object} ComputeParams
 * @property {number} n_neighbors
 * @property {number} min_dist
 * @property {string} metric
 * @property {{kind: 'all'} | {kind: 'total' | 'per_class', n: number}} sampling
 * @property {boolean} align_layers   fit every layer jointly, aligned to its neighbours
 */

/**
 * The answer to a compute request: the view's key, its validated parameters, and each layer's task.
 * `state` is 'done' when the view exists already (fetch it now); otherwise its `done` event follows.
 * @typedef {{view: string, params: EmbedParams, tasks: {layer: string, state: string}[]}} ComputeAnswer
 */

/**
 * One epoch's training metrics (metrics.json; every field but `epoch` may be missing).
 * `adv_success`: the attack success rate on the run's adversarial twins.
 * @typedef {{epoch: number, train_accuracy?: number | null, test_accuracy?: number | null, loss?: number | null, adv_success?: number | null}} EpochMetrics
 */

/**
 * The thumbnail atlas: pages of `cols` columns, `per_page` thumbnails each, every one width x height.
 * @typedef {{width: number, height: number, cols: number, per_page: number, pages: number}} Thumbs
 */

/**
 * The run's summary (`GET /api/run`).
 * @typedef {object} Summary
 * @property {string} name
 * @property {number} n_samples
 * @property {string[]} classes
 * @property {{name: string, dim: number}[]} layers
 * @property {number[]} epochs                     ascending
 * @property {Thumbs | null} thumbs                null: the run has no inputs to show
 * @property {{epoch: number, accuracy: number}[]} accuracy   of the stored predictions on these samples
 * @property {EpochMetrics[]} metrics              ascending by epoch
 * @property {boolean} live                        the run may still grow (followed or trained here)
 * @property {boolean} training
 * @property {string} default_view                 the key of the view shown first
 * @property {EmbedParams} default_params
 * @property {{key: string, layers: string[], params: EmbedParams | null}[]} views   views stored now
 * @property {{layer: string, view: string, stage: string, fraction: number, clients: number}[]} tasks   computing now
 * @property {{n_neighbors_max: number, pca_dims_max: number}} limits
 * @property {string | null} warning               why labels or predictions could not be read
 * @property {ValueInfo[]} [values]                per-sample values to colour by (absent: none)
 * @property {AttackInfo | null} [adversarial]      how the run's adversarial twins were made (manifest)
 * @property {boolean} [parametric]                the views are the parametric ones (`serve --parametric`): points can be added
 * @property {{bytes: number, points: number}} [place_limits]   the largest upload `place` takes
 */

/**
 * The manifest's `adversarial` object (informational; every field may be missing).
 * @typedef {{attack?: string, eps?: number, steps?: number}} AttackInfo
 */

/**
 * One epoch of a view's adversarial divergence (`nm_pipeline::divergence`): twins (with their clean
 * sample in the view), how many are predicted as another class, their mean distance from their clean
 * sample in RMS radii of the plot, and the share of those flipped that sit nearer the centroid of the
 * predicted class than to their own class's (null: nothing to measure).
 * @typedef {{epoch: number, twins: number, flipped: number | null, distance: number | null, toward_predicted: number | null}} Divergence
 */

/**
 * A per-sample value the run offers (`nm_server::values`): `id` is `pred:confidence|margin|loss`,
 * `run:<name>`, `csv:<column>` or `change` (per layer: neighbour change since the previous epoch).
 * @typedef {{id: string, name: string, source: string, per_epoch: boolean, per_layer: boolean, description: string}} ValueInfo
 */

/**
 * One per-sample value's numbers: `data` is [rows, n] (NaN: unknown); row r belongs to `epochs[r]`,
 * or there is one static row when `epochs` is null. For `change`, n is a view's point count and
 * column k is the view's k-th sample; otherwise column s is sample s.
 * @typedef {{id: string, epochs: number[] | null, n: number, data: Float32Array, bytes: number}} Values
 */

/** `samples.csv`'s text columns: names, and per column one cell per sample.
 * @typedef {{columns: string[], rows: string[][]}} SampleText */

/**
 * Labels and predictions per sample. `absent` marks a sample with no prediction at an epoch.
 * @typedef {object} Samples
 * @property {number} n
 * @property {Uint8Array | Uint16Array} labels
 * @property {number[]} predEpochs                 epochs with predictions, ascending
 * @property {Map<number, Uint8Array | Uint16Array>} predictions   epoch -> per sample
 * @property {number} absent
 * @property {Int32Array | null} [twins]           adversarial twins: per sample its clean sample, or -1
 * @property {number} bytes                        size of the download
 */

/**
 * One view of one layer: the positions of its `n` samples at each of its epochs, quantised to u16
 * within each epoch's bounds (a position is lo + q / 65535 * (hi - lo)).
 * @typedef {object} Embedding
 * @property {string} layer
 * @property {string} view
 * @property {number[]} epochs                     the view's epochs (may lag behind the run's)
 * @property {number} n
 * @property {number[][]} bounds                   per epoch [x0, y0, x1, y1]
 * @property {Uint32Array} samples                 point k is sample samples[k]
 * @property {Uint16Array} pos                     [epochs, n, 2]
 * @property {Divergence[]} [divergence]           per epoch, in a run with adversarial twins
 * @property {number} bytes
 */

/**
 * One of the runs shown side by side (`GET /api/runs`): its row in the grid.
 * @typedef {object} RunEntry
 * @property {number} index
 * @property {string} name        the run's own name (its label until it exists)
 * @property {string} label       a short name without folders, unique among the runs
 * @property {string[]} layers    none before its first epoch
 * @property {number[]} epochs
 */

/**
 * Points placed in a parametric view (`POST /api/layers/{layer}/place`): positions [n * 2] in the
 * view's data coordinates (null where the encoder gave no finite value).
 * @typedef {{layer: string, view: string, epoch: number, n: number, positions: (number | null)[]}} Placed
 */

/** @typedef {import('./events.js').ServerEvent} ServerEvent */
/**
 * The numbers of one (layer, epoch) of a view (nm_pipeline::quality defines them); null where there
 * is nothing to compare with (the first epoch, the last layer).
 * @typedef {{epoch: number, trust15: number, knn10: number, change15: number | null,
 *   cka_prev_epoch: number | null, cka_next_layer: number | null}} SliceQuality
 */

/** @typedef {{points: number, layers: {[layer: string]: SliceQuality[]}}} QualityReport */

/**
 * One handler per event type; types without one are ignored.
 * @typedef {{[K in ServerEvent['type']]?: (ev: Extract<ServerEvent, {type: K}>) => void}} EventHandlers
 */

/**
 * A static site's precomputed views (`neuromapper site --grid`): the parameters the grid varies,
 * each with its values, and every view with its key and parameters.
 * @typedef {{axes: {name: 'n_neighbors' | 'min_dist' | 'metric', values: (number | string)[]}[],
 *   views: {key: string, params: EmbedParams}[]}} Grid
 */

/**
 * Everything the viewer reads. `httpSource` (below) reads the server; static.js's `staticSource`
 * reads a site exported once: `canCompute` and `live` false, `compute` answering only with the
 * grid's views, `events` a no-op.
 * Errors: every method rejects with an Error whose message says what failed; `embedding` rejects
 * with an Error whose `status` is 404 when that view does not exist (yet): the viewer then waits
 * for its `done` event instead of showing an error.
 * @typedef {object} DataSource
 * @property {boolean} canCompute    `compute` can make views with new parameters (else the menu is hidden)
 * @property {boolean} live          `events` may deliver events: the run or its views can change
 * @property {() => Promise<Summary>} summary          the run's summary, fresh on each call
 * @property {() => Promise<Samples>} samples          labels and predictions, fresh on each call
 * @property {(layer: string, view: string) => Promise<Embedding>} embedding   one view of one layer
 * @property {(page: number) => string} thumbUrl       URL of thumbnail atlas page `page` (a PNG)
 * @property {(view: string) => Promise<QualityReport>} quality   how far to trust each plot of `view`
 *   (rejects with status 404 while not every layer's view is ready)
 * @property {(layers: string[], params: ComputeParams) => Promise<ComputeAnswer>} compute
 *   asks for `params` on `layers`
 * @property {(handlers: EventHandlers) => void} events   starts delivering events to `handlers`
 * @property {(id: string) => Promise<Values>} [values]   one per-sample value (absent: the source has none)
 * @property {(layer: string, view: string) => Promise<Values>} [change]   per-sample neighbour change
 *   of one layer over a view's points
 * @property {() => Promise<SampleText>} [sampleText]   samples.csv's text columns
 * @property {() => Promise<Grid>} [grid]   a static site's precomputed views: the menu offers them
 * @property {() => Promise<RunEntry[]>} [runs]   the runs shown side by side (absent: just this one)
 * @property {(layer: string, epoch: number, view: string, npy: ArrayBuffer) => Promise<Placed>} [place]
 *   positions of a .npy of activations [m, D] in `layer`'s view at `epoch` (parametric mode)
 * @property {(i: number) => DataSource} [forRun]   the source of run i of `runs` (its summary,
 *   samples, views, compute requests). Its `events` is a no-op: this source's events carry every
 *   run's, each with its `run` index.
 */

/**
 * The data source over this page's server. Compute requests carry a random client id, so the
 * server can cancel this page's superseded requests without touching other pages'.
 * `events: false` (the page's `?snapshot` mode) opens no event stream, so a headless browser's page
 * goes idle once it has drawn.
 * @param {{events?: boolean}} [opts]
 * @returns {DataSource}
 */
export function httpSource({ events = true } = {}) {
  const client = 'c' + Math.random().toString(36).slice(2, 12);
  return {
    ...runSource(client, events, undefined),
    events(handlers) { if (events) subscribe(handlers); },
    runs: api.fetchRuns,
    forRun: (i) => runSource(client, events, i),
  };
}

/**
 * The reads of one run over HTTP (run undefined: run 0 at the unprefixed routes); no events.
 * @param {string} client
 * @param {boolean} live
 * @param {number | undefined} run
 * @returns {DataSource}
 */
function runSource(client, live, run) {
  const base = api.runBase(run);
  return {
    canCompute: true,
    live,
    summary: () => api.fetchSummary(base),
    samples: () => api.fetchSamples(base),
    embedding: (layer, view) => api.fetchEmbedding(layer, view, base),
    thumbUrl: (page) => api.thumbUrl(page, base),
    quality: (view) => api.fetchQuality(view, base),
    values: (id) => api.fetchValues(id, base),
    change: (layer, view) => api.fetchChange(layer, view, base),
    sampleText: () => api.fetchSampleText(base),
    compute: (layers, params) => api.requestCompute(client, layers, params, base),
    place: (layer, epoch, view, npy) => api.placePoints(layer, epoch, view, npy, base),
    events() {},
  };
}
