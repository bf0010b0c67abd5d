// The packed embedding form (`NMEP`) of a static site's views, turned back into the arrays the
// embedding form (`NMEM`) gives: grid indices from epoch 0 plus each epoch's changes, inflated with
// the browser's own gzip. The layout is documented in crates/nm_server/src/pack.rs.
// @ts-check

import { parseHeader } from './api.js';

/** @typedef {import('./source.js').Embedding} Embedding */

const ESCAPE = 255;
const Q_MAX = 65535;

/**
 * Inflates one gzip member.
 * @param {ArrayBuffer} bytes
 * @returns {Promise<Uint8Array>}
 */
async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Decodes a packed view: samples [n], and positions [E, n, 2] quantised per epoch to the header's
 * bounds as `NMEM` does, so the renderer takes either form.
 * @param {ArrayBuffer} buf
 * @returns {Promise<Embedding>}
 */
export async function decodePacked(buf) {
  const { header, offset } = parseHeader(buf, 'NMEP');
  const n = header.n;
  const E = header.epochs.length;
  const raw = await gunzip(buf.slice(offset));
  const need = 4 * n + (E > 0 ? 4 * n : 0) + Math.max(E - 1, 0) * 2 * n;
  if (raw.length < need) throw new Error(`packed view of ${header.layer}: ${raw.length} bytes where at least ${need} were expected`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);

  const samples = new Uint32Array(n);
  let previous = 0;
  for (let i = 0; i < n; i++) samples[i] = previous = (previous + dv.getUint32(4 * i, true)) >>> 0;

  // Grid indices [E, n, 2], epoch by epoch.
  const k = new Int32Array(E * n * 2);
  let at = 4 * n;
  if (E > 0) {
    for (let a = 0; a < 2; a++) {
      for (let i = 0; i < n; i++) k[i * 2 + a] = raw[at + i] | (raw[at + n + i] << 8);
      at += 2 * n;
    }
  }
  let esc = at + Math.max(E - 1, 0) * 2 * n;
  for (let e = 1; e < E; e++) {
    for (let a = 0; a < 2; a++) {
      for (let i = 0; i < n; i++) {
        let z = raw[at++];
        if (z === ESCAPE) {
          if (esc + 4 > raw.length) throw new Error(`packed view of ${header.layer}: its changes end early`);
          z = dv.getUint32(esc, true);
          esc += 4;
        }
        const delta = (z >>> 1) ^ -(z & 1);
        k[(e * n + i) * 2 + a] = k[((e - 1) * n + i) * 2 + a] + delta;
      }
    }
  }

  const { x0, y0, step } = header.grid;
  const pos = new Uint16Array(E * n * 2);
  for (let e = 0; e < E; e++) {
    const [bx0, by0, bx1, by1] = header.bounds[e];
    const lo = [bx0, by0];
    const range = [bx1 - bx0, by1 - by0];
    const origin = [x0, y0];
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < 2; a++) {
        const j = (e * n + i) * 2 + a;
        const v = origin[a] + k[j] * step;
        const q = range[a] > 0 ? Math.round(((v - lo[a]) / range[a]) * Q_MAX) : 0;
        pos[j] = Math.min(Q_MAX, Math.max(0, q));
      }
    }
  }
  return { ...header, samples, pos, bytes: buf.byteLength };
}
