// Per-sample values in the viewer (confidence, margin, loss, the run's own values, samples.csv's
// numeric columns, and each layer's neighbour change): loading them through the data source, a
// point's value at an epoch, the colour scale's range (over every epoch, so colours hold still
// while the slider moves), the statistics of a set of samples, and the "top changers".
// @ts-check

import { roundedEpoch, runSource } from './app.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./app.js').Plot} Plot */
/** @typedef {import('./source.js').Values} Values */
/** @typedef {import('./source.js').ValueInfo} ValueInfo */

/** The id of the value coloured by, or null in the class modes. @param {import('./app.js').ColorBy} colorBy */
export function valueIdOf(colorBy) {
  return colorBy.startsWith('value:') ? colorBy.slice('value:'.length) : null;
}

/** The summary's description of value `id`, or null. @param {App} app @param {string} id @returns {ValueInfo | null} */
export function valueInfo(app, id) {
  return (app.summary?.values ?? []).find((v) => v.id === id) ?? null;
}

/** The key of a plot's neighbour change in `app.values`. @param {Plot} pl */
export function changeKey(pl) {
  return `change|${pl.run ? `${pl.run}:` : ''}${pl.layer}|${pl.view}`;
}

/**
 * The key of run `run`'s value `id` in `app.values` (each run of a side-by-side grid has its own:
 * confidence and loss come from that run's predictions).
 * @param {number} run @param {string} id
 */
function valueKey(run, id) {
  return run ? `${run}|${id}` : id;
}

/** The runs that have plots (just 0 for a single run). @param {App} app */
function shownRuns(app) {
  return [...new Set(app.plots.map((pl) => pl.run))];
}

/** The loaded numbers under `key`, or null (not asked, loading, or failed). @param {App} app @param {string} key */
function loaded(app, key) {
  const v = app.values.get(key);
  return v && v !== 'pending' && !(v instanceof Error) ? v : null;
}

/**
 * Loads what the colour mode's value needs that is not loaded yet: the value itself, or for `change`
 * every plot's neighbour change (of the view it draws). Each arrival bumps the store's
 * `valuesVersion`, which redraws.
 * @param {App} app
 */
export function ensureValues(app) {
  const id = valueIdOf(app.store.get().colorBy);
  if (!id) return;
  const onLoaded = () => app.store.set({ valuesVersion: app.store.get().valuesVersion + 1 });
  /** @param {string} key @param {(() => Promise<Values>) | undefined} get */
  const load = (key, get) => {
    if (app.values.has(key) || !get) return;
    app.values.set(key, 'pending');
    get().then((v) => { app.values.set(key, v); onLoaded(); },
      (e) => { app.values.set(key, e instanceof Error ? e : new Error(String(e))); onLoaded(); });
  };
  if (id === 'change') {
    for (const pl of app.plots) {
      const view = pl.view, get = runSource(app, pl.run).change;
      if (view && pl.emb && get) load(changeKey(pl), () => get(pl.layer, view));
    }
  } else {
    for (const run of shownRuns(app)) {
      const get = runSource(app, run).values;
      if (get) load(valueKey(run, id), () => get(id));
    }
  }
}

/**
 * Drops the loaded per-epoch values other than the neighbour change (which goes with its view), so
 * a grown run's new epochs are read; the colour mode's value is asked for again at once.
 * @param {App} app
 */
export function forgetEpochValues(app) {
  for (const key of Array.from(app.values.keys())) {
    const v = app.values.get(key);
    if (!key.startsWith('change|') && v !== 'pending' && !(v && !(v instanceof Error) && v.epochs === null)) app.values.delete(key);
  }
  ensureValues(app);
}

/**
 * Reads samples.csv's text columns once (for the tooltip); a run without them, or a failed read,
 * leaves `app.sampleText` empty.
 * @param {App} app
 */
export function loadSampleText(app) {
  const get = app.source.sampleText;
  if (!get || app.sampleText) return;
  get().then((t) => { app.sampleText = t.columns.length ? t : null; }, () => { /* no text columns in the tooltip */ });
}

/**
 * Why value `id` cannot be shown in plot `pl` yet: 'loading', an error message, or null when it can.
 * @param {App} app @param {string} id @param {Plot | undefined} pl
 */
export function valueProblem(app, id, pl) {
  const v = app.values.get(id === 'change' ? (pl ? changeKey(pl) : '') : valueKey(pl?.run ?? 0, id));
  if (v === 'pending' || v === undefined) return 'loading';
  return v instanceof Error ? v.message : null;
}

/**
 * Value `id` at `epoch` for plot `pl`'s points, as a function of the point index (NaN: unknown, also
 * while loading). Per-epoch values count at the epochs that have them only.
 * @param {App} app @param {Plot} pl @param {string} id @param {number | null} epoch
 * @returns {((k: number) => number) | null}
 */
export function pointValues(app, pl, id, epoch) {
  const emb = pl.emb;
  if (!emb) return null;
  if (id === 'change') {
    const v = loaded(app, changeKey(pl));
    const r = v && v.epochs && epoch != null ? v.epochs.indexOf(epoch) : -1;
    if (!v || r < 0 || v.n !== emb.n) return null;
    const row = v.data.subarray(r * v.n, (r + 1) * v.n);
    return (k) => row[k];
  }
  const row = sampleRow(app, id, epoch, pl.run);
  if (!row) return null;
  const samples = emb.samples;
  return (k) => row[samples[k]];
}

/**
 * Run `run`'s value `id` (not `change`) at `epoch` per sample, or null when it has no row there.
 * @param {App} app @param {string} id @param {number | null} epoch @param {number} [run]
 * @returns {Float32Array | null}
 */
export function sampleRow(app, id, epoch, run = 0) {
  const v = loaded(app, valueKey(run, id));
  if (!v) return null;
  const r = v.epochs ? (epoch == null ? -1 : v.epochs.indexOf(epoch)) : 0;
  return r < 0 ? null : v.data.subarray(r * v.n, (r + 1) * v.n);
}

/**
 * The colour scale's range of value `id`: the smallest and largest finite number over every epoch
 * and every shown run (and, for `change`, every plot), so runs side by side share one scale; null while nothing is loaded.
 * @param {App} app @param {string} id
 * @returns {{lo: number, hi: number} | null}
 */
export function valueScale(app, id) {
  const sets = id === 'change' ? app.plots.map((pl) => loaded(app, changeKey(pl))) : shownRuns(app).map((run) => loaded(app, valueKey(run, id)));
  let lo = Infinity, hi = -Infinity;
  for (const v of sets) {
    if (!v) continue;
    for (let i = 0; i < v.data.length; i++) {
      const x = v.data[i];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  }
  return lo <= hi ? { lo, hi } : null;
}

/**
 * The mean and median of value `id` at the shown epoch over the samples with `mask[s]` set (run 0's; for
 * `change`, in the first plot that has it), and how many of them have a value.
 * @param {App} app @param {string} id @param {Uint8Array} mask
 * @returns {{mean: number, median: number, count: number, layer: string | null} | null}
 */
export function valueStats(app, id, mask) {
  const epoch = roundedEpoch(app);
  /** @type {number[]} */
  const xs = [];
  let layer = null;
  if (id === 'change') {
    const pl = app.plots.find((p) => pointValues(app, p, id, epoch));
    const f = pl && pointValues(app, pl, id, epoch);
    if (!pl || !f || !pl.emb) return null;
    layer = pl.layer;
    for (let k = 0; k < pl.emb.n; k++) if (mask[pl.emb.samples[k]]) xs.push(f(k));
  } else {
    const row = sampleRow(app, id, epoch);
    if (!row) return null;
    for (let s = 0; s < mask.length; s++) if (mask[s]) xs.push(row[s]);
  }
  const finite = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!finite.length) return null;
  const m = finite.length;
  const median = m % 2 ? finite[(m - 1) / 2] : (finite[m / 2 - 1] + finite[m / 2]) / 2;
  return { mean: finite.reduce((a, b) => a + b, 0) / m, median, count: m, layer };
}

/**
 * The `count` samples of plot `pl` whose neighbours changed most at `epoch` (ties: lower index
 * first), as a per-sample mask, or null when the change there is not known (not loaded, or the
 * view's first epoch).
 * @param {App} app @param {Plot} pl @param {number | null} epoch @param {number} count
 * @returns {Uint8Array | null}
 */
export function topChangers(app, pl, epoch, count) {
  const f = pointValues(app, pl, 'change', epoch);
  if (!f || !pl.emb || !app.samples) return null;
  const emb = pl.emb;
  /** @type {number[]} */
  const ks = [];
  for (let k = 0; k < emb.n; k++) if (Number.isFinite(f(k))) ks.push(k);
  if (!ks.length) return null;
  ks.sort((a, b) => f(b) - f(a) || emb.samples[a] - emb.samples[b]);
  const mask = new Uint8Array(app.samples.n);
  for (const k of ks.slice(0, count)) mask[emb.samples[k]] = 1;
  return mask;
}

/** A value for people: 3 significant digits, plain or exponent notation. @param {number} x */
export function formatValue(x) {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(3)));
}

/**
 * Loads plot `pl`'s neighbour change (whatever the colour mode) and resolves when it is there.
 * @param {App} app @param {Plot} pl
 * @returns {Promise<Values | null>}
 */
export async function loadChange(app, pl) {
  const key = changeKey(pl), have = loaded(app, key), get = runSource(app, pl.run).change;
  if (have) return have;
  if (!pl.view || !get) return null;
  try {
    const v = await get(pl.layer, pl.view);
    app.values.set(key, v);
    app.store.set({ valuesVersion: app.store.get().valuesVersion + 1 });
    return v;
  } catch (e) {
    app.values.set(key, e instanceof Error ? e : new Error(String(e)));
    return null;
  }
}

/**
 * Selects the `count` samples whose neighbours changed most at the shown epoch in `pl`'s layer;
 * returns a sentence saying what was selected, or why nothing was.
 * @param {App} app @param {Plot} pl @param {number} count
 * @returns {Promise<string>}
 */
export async function selectChangers(app, pl, count) {
  const v = await loadChange(app, pl);
  const epoch = roundedEpoch(app);
  if (!v) return `The neighbour change of ${pl.layer} is not available: ${valueProblem(app, 'change', pl) ?? 'no view yet'}.`;
  const i = v.epochs && epoch != null ? v.epochs.indexOf(epoch) : -1;
  const mask = topChangers(app, pl, epoch, count);
  if (!mask || i < 1 || !v.epochs) return `No neighbour change in ${pl.layer} at epoch ${epoch}: it is the first epoch of the view (or not in it).`;
  let n = 0;
  for (let s = 0; s < mask.length; s++) n += mask[s];
  app.store.set({ selection: mask });
  return `Selected the ${n} samples whose 15 nearest neighbours in ${pl.layer} changed most from epoch ${v.epochs[i - 1]} to ${epoch}.`;
}
