// The viewer's data read from a static site that `neuromapper site` wrote: `siteMarker` finds the
// page's `<meta name="neuromapper-site">`, and `staticSource` implements source.js's DataSource over the
// site's files (the very bytes the server's API sends, but views packed by packed.js's form, named in
// the site's index: relative URLs in a folder, `data:` URLs in one file), with no computing and no events. Its `grid` is the precomputed
// parameter grid the menu offers (crates/nm_server/src/site.rs writes all of it).
// @ts-check

import { HttpError, decodeSamples, decodeEmbedding } from './api.js';
import { decodePacked } from './packed.js';

/** @typedef {import('./source.js').DataSource} DataSource */
/** @typedef {import('./source.js').Grid} Grid */

/**
 * The site's index (site.json): the grid and where each file is.
 * @typedef {object} SiteIndex
 * @property {string} format                  'neuromapper-site/1'
 * @property {Grid} grid
 * @property {{run: string, samples: string, thumbs: string[],
 *   views: {[key: string]: {layers: {[layer: string]: string}, quality: string | null}}}} files
 */

const FORMAT = 'neuromapper-site/1';

/**
 * The page's site marker: the URL of the site's index (`site.json`), `inline` when the index is in
 * the page itself (one-file sites), or null when the page is served by `neuromapper serve`.
 * @returns {string | null}
 */
export function siteMarker() {
  const m = document.querySelector('meta[name="neuromapper-site"]');
  return m ? m.getAttribute('content') : null;
}

/**
 * @param {string} marker   what `siteMarker` found
 * @returns {Promise<SiteIndex>}
 */
async function loadIndex(marker) {
  /** @type {SiteIndex} */
  let index;
  if (marker === 'inline') {
    const el = document.getElementById('neuromapper-site');
    if (!el || !el.textContent) throw new Error('this page has lost its data (no #neuromapper-site element)');
    index = JSON.parse(el.textContent);
  } else {
    index = await (await get(marker)).json();
  }
  if (!index || index.format !== FORMAT) throw new Error(`${marker} is not a neuromapper site (format ${FORMAT})`);
  return index;
}

/**
 * Fetches one of the site's files.
 * @param {string} url
 */
async function get(url) {
  const res = await fetch(url);
  if (!res.ok) throw new HttpError(`cannot read ${url.startsWith('data:') ? 'inlined data' : url}: ${res.status} ${res.statusText}`, res.status);
  return res;
}

/**
 * The data source over a static site. The summary lists every view of the grid; `compute` answers
 * with the grid's view of those parameters (every layer `done`), and rejects values off the grid.
 * @param {string} marker   what `siteMarker` found
 * @returns {DataSource}
 */
export function staticSource(marker) {
  /** @type {Promise<SiteIndex> | null} */
  let loading = null;
  /** @type {SiteIndex | null} */
  let loaded = null;
  const index = () => (loading ??= loadIndex(marker).then((i) => (loaded = i)));
  return {
    canCompute: false,
    live: false,
    async summary() { return (await get((await index()).files.run)).json(); },
    async samples() { return decodeSamples(await (await get((await index()).files.samples)).arrayBuffer()); },
    async embedding(layer, view) {
      const file = (await index()).files.views[view]?.layers[layer];
      // Not a 404: the viewer would wait for a `done` event that a static site never sends.
      if (!file) throw new Error(`this site has no view ${view} of layer ${layer}`);
      const buf = await (await get(file)).arrayBuffer();
      // Packed (NMEP) unless the site was written with `--precision full` (NMEM, as the API sends).
      const magic = String.fromCharCode(...new Uint8Array(buf, 0, Math.min(4, buf.byteLength)));
      return magic === 'NMEP' ? decodePacked(buf) : decodeEmbedding(buf);
    },
    thumbUrl: (page) => loaded?.files.thumbs[page] ?? '',
    async quality(view) {
      const file = (await index()).files.views[view]?.quality;
      if (!file) throw new HttpError(`this site has no quality numbers for view ${view}`, 404);
      return (await get(file)).json();
    },
    async compute(layers, params) {
      const { grid } = await index();
      const same = (/** @type {any} */ a, /** @type {any} */ b) => (typeof a === 'number' ? Math.abs(a - b) < 1e-6 : a === b);
      const view = grid.views.find((v) => grid.axes.every((ax) => same(/** @type {any} */ (v.params)[ax.name], /** @type {any} */ (params)[ax.name])));
      if (!view) {
        const asked = grid.axes.map((ax) => `${ax.name} ${/** @type {any} */ (params)[ax.name]}`).join(' · ');
        throw new Error(`${asked} is not among this site's precomputed views`);
      }
      return { view: view.key, params: view.params, tasks: layers.map((layer) => ({ layer, state: 'done' })) };
    },
    events() { /* a static site never changes */ },
    grid: async () => (await index()).grid,
  };
}
