// The server's HTTP API: its JSON and binary endpoints and the event stream's URL (read through
// source.js's `httpSource`), and the decoders of its binary forms (static.js reads the same files).
// Binary layouts are documented in crates/nm_server/src/encode.rs.
// Every per-run endpoint takes the run's `base`: '/api' (run 0, the default) or '/api/runs/{i}'.
// @ts-check

/** @typedef {import('./source.js').Summary} Summary */
/** @typedef {import('./source.js').Samples} Samples */
/** @typedef {import('./source.js').Embedding} Embedding */

/** A failed request: the server's message and the HTTP status (404: no such view yet). */
export class HttpError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/**
 * Parses the 12-byte preamble + JSON header; returns {header, offset} where offset is the first array byte.
 * @param {ArrayBuffer} buf
 * @param {string} magic
 * @returns {{header: any, offset: number}}
 */
export function parseHeader(buf, magic) {
  const bytes = new Uint8Array(buf);
  const got = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (got !== magic) throw new Error(`expected ${magic} data, got ${JSON.stringify(got)}`);
  const dv = new DataView(buf);
  const version = dv.getUint32(4, true);
  if (version !== 1) throw new Error(`unsupported ${magic} version ${version}`);
  const len = dv.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
  return { header, offset: 12 + len };
}

/** @param {number} n */
const pad4 = (n) => (n + 3) & ~3;

/** The access token the page was opened with (`?token=`), passed on with every request: the
 * server's cookie is not sent when the viewer is framed by another site (a notebook's iframe). */
const TOKEN = new URLSearchParams(location.search).get('token');

/**
 * `url` with the page's token, if any.
 * @param {string} url
 */
function authed(url) {
  if (!TOKEN) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(TOKEN)}`;
}

/**
 * @param {string} url
 * @param {RequestInit} [init]
 */
async function fetchOk(url, init) {
  const res = await fetch(authed(url), init);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new HttpError(msg, res.status);
  }
  return res;
}

/**
 * The URL prefix of run `run`'s endpoints (undefined: run 0 at the unprefixed routes).
 * @param {number} [run]
 */
export function runBase(run) {
  return run == null ? '/api' : `/api/runs/${run}`;
}

/**
 * The runs the server shows side by side (one for a single run).
 * @returns {Promise<import('./source.js').RunEntry[]>}
 */
export async function fetchRuns() {
  return (await (await fetchOk('/api/runs')).json()).runs;
}

/**
 * @param {string} [base]
 * @returns {Promise<Summary>} the run's summary.
 */
export async function fetchSummary(base = '/api') {
  return (await fetchOk(`${base}/run`)).json();
}

/**
 * @param {string} [base]
 * @returns {Promise<Samples>} labels and predictions.
 */
export async function fetchSamples(base = '/api') {
  return decodeSamples(await (await fetchOk(`${base}/samples`)).arrayBuffer());
}

/**
 * Labels and predictions from the samples form (`NMSA`).
 * @param {ArrayBuffer} buf
 * @returns {Samples}
 */
export function decodeSamples(buf) {
  const { header, offset } = parseHeader(buf, 'NMSA');
  const n = header.n;
  const T = header.label_bytes === 1 ? Uint8Array : Uint16Array;
  let off = offset;
  const labels = new T(buf, off, n);
  off += pad4(n * header.label_bytes);
  /** @type {Map<number, Uint8Array | Uint16Array>} */
  const predictions = new Map();
  for (const e of header.pred_epochs) {
    predictions.set(e, new T(buf, off, n));
    off += pad4(n * header.pred_bytes);
  }
  // Adversarial twins: [[row, clean row], ...] in the header; per sample the clean row or -1.
  /** @type {Int32Array | null} */
  let twins = null;
  if (Array.isArray(header.twins)) {
    twins = new Int32Array(n).fill(-1);
    for (const [row, clean] of header.twins) if (row >= 0 && row < n && clean >= 0 && clean < n) twins[row] = clean;
  }
  return { n, labels, predEpochs: header.pred_epochs, predictions, absent: header.absent, twins, bytes: buf.byteLength };
}

/**
 * One view of one layer. Positions stay quantised; the renderer uploads them as is.
 * @param {string} layer
 * @param {string} view
 * @param {string} [base]
 * @returns {Promise<Embedding>}
 */
export async function fetchEmbedding(layer, view, base = '/api') {
  const url = `${base}/layers/${encodeURIComponent(layer)}/embedding?view=${encodeURIComponent(view)}`;
  return decodeEmbedding(await (await fetchOk(url)).arrayBuffer());
}

/**
 * One view of one layer from the embedding form (`NMEM`).
 * @param {ArrayBuffer} buf
 * @returns {Embedding}
 */
export function decodeEmbedding(buf) {
  const { header, offset } = parseHeader(buf, 'NMEM');
  const n = header.n;
  const E = header.epochs.length;
  const samples = new Uint32Array(buf, offset, n);
  const pos = new Uint16Array(buf, offset + n * 4, E * n * 2);
  return { ...header, samples, pos, bytes: buf.byteLength };
}

/**
 * Asks for a view with new parameters.
 * @param {string} client
 * @param {string[]} layers
 * @param {import('./source.js').ComputeParams} params
 * @param {string} [base]
 * @returns {Promise<import('./source.js').ComputeAnswer>}
 */
export async function requestCompute(client, layers, params, base = '/api') {
  const res = await fetchOk(`${base}/compute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client, layers, params }),
  });
  return res.json();
}

/**
 * Places a .npy of activations [m, D] in `layer`'s parametric view `view` at `epoch` (parametric mode).
 * @param {string} layer @param {number} epoch @param {string} view @param {ArrayBuffer} npy
 * @param {string} [base]
 * @returns {Promise<import('./source.js').Placed>}
 */
export async function placePoints(layer, epoch, view, npy, base = '/api') {
  const q = `epoch=${encodeURIComponent(epoch)}&view=${encodeURIComponent(view)}`;
  const res = await fetchOk(`${base}/layers/${encodeURIComponent(layer)}/place?${q}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: npy,
  });
  return res.json();
}

/**
 * How far to trust each plot of `view`: {points, layers: {LAYER: [{epoch, trust15, knn10, change15,
 * cka_prev_epoch, cka_next_layer}]}}. Rejects with status 404 until every layer's view is cached.
 * @param {string} view
 * @param {string} [base]
 * @returns {Promise<import('./source.js').QualityReport>}
 */
export async function fetchQuality(view, base = '/api') {
  return (await fetchOk(`${base}/quality?view=${encodeURIComponent(view)}`)).json();
}

/**
 * Decodes an `NMVA` answer (encode.rs `values_bytes`).
 * @param {ArrayBuffer} buf
 * @returns {import('./source.js').Values}
 */
function decodeValues(buf) {
  const { header, offset } = parseHeader(buf, 'NMVA');
  const rows = header.epochs ? header.epochs.length : 1;
  return { id: header.id, epochs: header.epochs, n: header.n, data: new Float32Array(buf, offset, rows * header.n), bytes: buf.byteLength };
}

/**
 * One per-sample value over every sample (`id` from the summary's `values`).
 * @param {string} id
 * @param {string} [base]
 * @returns {Promise<import('./source.js').Values>}
 */
export async function fetchValues(id, base = '/api') {
  return decodeValues(await (await fetchOk(`${base}/values?id=${encodeURIComponent(id)}`)).arrayBuffer());
}

/**
 * Per-sample neighbour change of `layer` over the points of `view`.
 * @param {string} layer
 * @param {string} view
 * @param {string} [base]
 * @returns {Promise<import('./source.js').Values>}
 */
export async function fetchChange(layer, view, base = '/api') {
  const url = `${base}/change?layer=${encodeURIComponent(layer)}&view=${encodeURIComponent(view)}`;
  return decodeValues(await (await fetchOk(url)).arrayBuffer());
}

/**
 * @param {string} [base]
 * @returns {Promise<import('./source.js').SampleText>} samples.csv's text columns.
 */
export async function fetchSampleText(base = '/api') {
  return (await fetchOk(`${base}/sample-text`)).json();
}

/** The event stream's URL (read through events.js). */
export function eventsUrl() {
  return authed('/api/events');
}

/**
 * URL of thumbnail atlas page `page`.
 * @param {number} page
 * @param {string} [base]
 */
export function thumbUrl(page, base = '/api') {
  return authed(`${base}/thumbs/${page}.png`);
}
