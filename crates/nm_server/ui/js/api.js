// Data loading: the server's JSON and binary endpoints, and its event stream.
// Binary layouts are documented in crates/nm_server/src/encode.rs.

/** Parses the 12-byte preamble + JSON header; returns {header, offset} where offset is the first array byte. */
function parseHeader(buf, magic) {
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

const pad4 = (n) => (n + 3) & ~3;

/** The access token the page was opened with (`?token=`), passed on with every request: the
 * server's cookie is not sent when the viewer is framed by another site (a notebook's iframe). */
const TOKEN = new URLSearchParams(location.search).get('token');

/** `url` with the page's token, if any. */
function authed(url) {
  if (!TOKEN) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(TOKEN)}`;
}

async function fetchOk(url, init) {
  const res = await fetch(authed(url), init);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res;
}

/** Run summary: name, classes, layers, epochs, accuracy, metrics, thumbs, views, tasks, ... */
export async function fetchSummary() {
  return (await fetchOk('/api/run')).json();
}

/**
 * Labels and predictions. Returns {n, labels: Uint8Array|Uint16Array, predEpochs: number[],
 * predictions: Map(epoch -> typed array), absent, bytes}.
 */
export async function fetchSamples() {
  const buf = await (await fetchOk('/api/samples')).arrayBuffer();
  const { header, offset } = parseHeader(buf, 'NMSA');
  const n = header.n;
  const T = header.label_bytes === 1 ? Uint8Array : Uint16Array;
  let off = offset;
  const labels = new T(buf, off, n);
  off += pad4(n * header.label_bytes);
  const predictions = new Map();
  for (const e of header.pred_epochs) {
    predictions.set(e, new T(buf, off, n));
    off += pad4(n * header.pred_bytes);
  }
  return { n, labels, predEpochs: header.pred_epochs, predictions, absent: header.absent, bytes: buf.byteLength };
}

/**
 * One view of one layer: {layer, view, epochs, n, bounds: [[x0,y0,x1,y1]], samples: Uint32Array(n),
 * pos: Uint16Array(E*n*2), bytes}. Positions stay quantised; the renderer uploads them as is.
 */
export async function fetchEmbedding(layer, view) {
  const url = `/api/layers/${encodeURIComponent(layer)}/embedding?view=${encodeURIComponent(view)}`;
  const buf = await (await fetchOk(url)).arrayBuffer();
  const { header, offset } = parseHeader(buf, 'NMEM');
  const n = header.n;
  const E = header.epochs.length;
  const samples = new Uint32Array(buf, offset, n);
  const pos = new Uint16Array(buf, offset + n * 4, E * n * 2);
  return { ...header, samples, pos, bytes: buf.byteLength };
}

/** Asks for a view with new parameters. Returns {view, params, tasks: [{layer, state}]}. */
export async function requestCompute(client, layers, params) {
  const res = await fetchOk('/api/compute', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client, layers, params }),
  });
  return res.json();
}

/** Subscribes to server events; calls onEvent(obj) for each. Returns the EventSource. */
export function subscribe(onEvent) {
  const es = new EventSource(authed('/api/events'));
  es.onmessage = (m) => {
    try { onEvent(JSON.parse(m.data)); } catch (e) { console.error('bad event', e); }
  };
  return es;
}

export function thumbUrl(page) {
  return authed(`/api/thumbs/${page}.png`);
}
