// Keeps the HTML around the plots in step with the state: the header, the plot titles, the label
// menu with its counts and key (and a value's colour scale), the selection's counts and details,
// the "What changed" panel, the adversarial twins' panel and the footer's epoch readout.
// @ts-check

import { $ } from './dom.js';
import { roundedEpoch, predictionsAt } from './app.js';
import { renderTitles } from './widgets/titles.js';
import { valueIdOf, valueInfo, valueScale, valueStats, valueProblem, pointValues, formatValue } from './values.js';
import { flipLines, showMask } from './flips.js';
import { epochNote, isGrid, qualityKey } from './runs.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {import('./source.js').Summary} Summary */

/**
 * The page title and the header line: the run's name and size (a followed run grows).
 * @param {Summary} s
 */
export function runHeader(s) {
  document.title = `${s.name} · neuromapper`;
  $('#run-name').textContent = s.name;
  $('#run-info').textContent = `${s.n_samples.toLocaleString()} samples · ${s.layers.length} layers · ${s.epochs.length} epochs${s.live ? ' · live' : ''}`;
}

/**
 * The adversarial twins' panel at the shown epoch: each plot's divergence, the attack, the success rate.
 * @param {App} app
 */
export function updateTwins(app) {
  const twins = app.samples ? app.samples.twins : null;
  let count = 0;
  if (twins) for (let s = 0; s < twins.length; s++) if (twins[s] >= 0) count++;
  const epoch = roundedEpoch(app);
  const a = app.summary ? app.summary.adversarial : null;
  const attack = a ? `${(a.attack || 'attack').toUpperCase()} ε = ${a.eps != null ? `${(a.eps * 255).toFixed(1).replace(/\.0$/, '')}/255` : '?'}` : 'adversarial';
  const m = app.summary ? (app.summary.metrics || []).find((x) => x.epoch === epoch) : null;
  app.ui.twins.render({
    count, attack, epoch, lines: app.store.get().twinLines, success: m ? m.adv_success : null,
    rows: app.plots.map((pl) => ({ layer: pl.layer, series: pl.emb && pl.emb.divergence ? pl.emb.divergence : null })),
  });
}

/** @param {App} app */
export function titles(app) {
  updateTwins(app);
  /** @param {import('./app.js').Plot} pl */
  const report = (pl) => { const q = app.quality.get(qualityKey(pl.run, pl.view || '')); return q && q !== 'pending' ? q : null; };
  const first = app.plots.map(report).find((q) => q);
  renderTitles($('#titles'), app.plots, app.rects, (pl) => report(pl)?.layers[pl.layer] || null,
    roundedEpoch(app), first ? first.points : 0, (pl) => epochNote(app, pl));
}

/**
 * The label menu: counts per class over the drawn samples and, in the prediction modes, what the
 * colours mean at the shown epoch.
 * @param {App} app
 */
export function updateLegend(app) {
  if (!app.summary) return;
  const { colorBy, hidden } = app.store.get();
  app.ui.legend.setValues(app.summary.values ?? []);
  /** @type {number[]} */
  const counts = new Array(app.classes.length).fill(0);
  const pl = app.plots.find((p) => p.emb);
  const emb = pl ? pl.emb : null;
  const epoch = roundedEpoch(app);
  const vid = valueIdOf(colorBy);
  // What the key shows in the prediction modes: right / wrong / missing at the shown epoch, over
  // the samples drawn (those of the first plot with data; every plot of a view draws the same).
  // In a value mode: points with a value (as `correct`) and without one, in the first plot.
  /** @type {import('./widgets/legend.js').KeyInfo | null} */
  let info = null;
  if (emb && pl && app.samples) {
    const labels = app.samples.labels, absent = app.samples.absent;
    const preds = colorBy === 'true' || vid ? null : predictionsAt(app, epoch);
    const values = vid ? pointValues(app, pl, vid, epoch) : null;
    info = { epoch, correct: 0, wrong: 0, absent: 0 };
    for (let k = 0; k < emb.n; k++) {
      const s = emb.samples[k], lab = labels[s];
      counts[lab]++;
      if (colorBy === 'true') continue;
      if (vid) { if (values && Number.isFinite(values(k))) info.correct++; else info.absent++; continue; }
      const p = preds ? preds[s] : absent;
      if (p === absent) info.absent++; else if (p === lab) info.correct++; else info.wrong++;
    }
    if (vid) info.caption = valueCaption(app, vid, epoch);
  }
  app.legendKey = `${colorBy}|${epoch}`;
  app.ui.legend.render(app.classes, app.colours, hidden, counts, colorBy, info);
  updateScale(app, info);
}

/**
 * What the key says in a value mode: the value, where it comes from, the epoch.
 * @param {App} app @param {string} id @param {number | null} epoch
 */
function valueCaption(app, id, epoch) {
  const v = valueInfo(app, id);
  const name = v ? v.name : id;
  const at = v && !v.per_epoch ? '' : ` at epoch ${epoch}`;
  const where = id === 'change' ? ' (each plot its own layer\'s; dark: little change)' : '';
  return `Colour: ${name}${at}${where}${v ? `: ${v.description}.` : '.'}`;
}

/**
 * The value scale's key (hidden in the class modes): the range over every epoch, the filter, and
 * how many points of the first plot are drawn.
 * @param {App} app @param {import('./widgets/legend.js').KeyInfo | null} info
 */
function updateScale(app, info) {
  const st = app.store.get();
  const vid = valueIdOf(st.colorBy);
  if (!vid) { app.ui.scale.render(null); return; }
  const pl = app.plots.find((p) => p.emb);
  const scale = valueScale(app, vid);
  const problem = valueProblem(app, vid, pl);
  const v = valueInfo(app, vid);
  const note = problem === 'loading' ? 'loading…' : problem ? `cannot show it: ${problem}` : !scale ? 'no values' : '';
  app.ui.scale.render({
    name: `${v ? v.name : vid}, over every epoch${vid === 'change' ? ' and layer' : ''}`,
    lo: scale ? scale.lo : 0, hi: scale ? scale.hi : 1, range: st.valueRange,
    shown: st.valueRange ? (pl ? pl.visible : 0) : (info ? info.correct : 0),
    total: pl && pl.emb ? pl.emb.n : 0, note,
  });
}

/**
 * What the selection panel says beside the counts: the value coloured by over the selection at the
 * shown epoch, and the selection's prediction flips.
 * @param {App} app
 * @returns {import('./widgets/selection.js').SelectionDetails}
 */
export function selectionDetails(app) {
  const { selection, colorBy } = app.store.get();
  if (!selection || !app.samples) return { stat: null, flips: null };
  const vid = valueIdOf(colorBy);
  let stat = null;
  if (vid) {
    const v = valueInfo(app, vid);
    const st = valueStats(app, vid, selection);
    const epoch = roundedEpoch(app);
    stat = st
      ? `${v ? v.name : vid}${v && !v.per_epoch ? '' : ` at epoch ${epoch}`}${st.layer ? ` in ${st.layer}` : ''}: mean ${formatValue(st.mean)}, median ${formatValue(st.median)} (${st.count} with a value)`
      : `${v ? v.name : vid}: no value for these samples at this epoch`;
  }
  const flips = app.samples.predEpochs.length > 1 ? flipLines(app, selection, FLIP_LINES) : null;
  return { stat, flips };
}

/** Flip lines listed for a selection at most. */
const FLIP_LINES = 50;

/**
 * The "What changed" panel: its choices (layers, epochs with predictions) and how many samples the
 * show filter keeps.
 * @param {App} app
 */
export function updateChanges(app) {
  if (!app.samples) return;
  app.ui.changes.setChoices(app.plots.map((p) => p.layer), app.samples.predEpochs);
  const mask = showMask(app);
  const show = app.store.get().show;
  if (!mask) { app.ui.changes.count(''); return; }
  let n = 0;
  for (let s = 0; s < mask.length; s++) n += mask[s];
  const what = show.kind === 'wrong' ? `misclassified at epoch ${roundedEpoch(app)}` : show.kind === 'flipped' ? `predicted differently at epochs ${show.a} and ${show.b}` : '';
  app.ui.changes.count(`${n.toLocaleString()} of ${mask.length.toLocaleString()} samples ${what}`);
}

/** Two accuracies closer than this are the same number (the readout shows one decimal of a percent). */
const SAME_ACCURACY = 0.0005;

/**
 * The numbers the footer shows for this run: train and test accuracy where metrics.json has them,
 * and the accuracy of the stored predictions on the samples shown unless it is the test accuracy
 * again (the samples are the test set: same number at every epoch both have).
 * @param {Summary} s
 * @returns {import('./widgets/timeline.js').Stat[]}
 */
export function readoutStats(s) {
  const metrics = s.metrics || [];
  const hasTrain = metrics.some((m) => m.train_accuracy != null);
  const hasTest = metrics.some((m) => m.test_accuracy != null);
  const testAt = new Map(metrics.filter((m) => m.test_accuracy != null).map((m) => [m.epoch, /** @type {number} */ (m.test_accuracy)]));
  const shared = s.accuracy.filter((a) => testAt.has(a.epoch));
  const duplicate = shared.length > 0 && shared.every((a) => Math.abs(a.accuracy - /** @type {number} */ (testAt.get(a.epoch))) < SAME_ACCURACY);
  const stats = [];
  if (hasTrain) stats.push({ key: 'train', label: 'train', title: 'Training accuracy at this epoch (metrics.json)' });
  if (hasTest) stats.push({ key: 'test', label: 'test', title: 'Test accuracy at this epoch (metrics.json)' });
  if (s.accuracy.length && !duplicate) {
    stats.push({ key: 'accuracy', label: hasTest ? 'shown samples' : 'accuracy', title: "Accuracy of the model's predictions on the samples shown, at this epoch" });
  }
  if (metrics.some((m) => m.adv_success != null)) {
    stats.push({ key: 'adv', label: 'attack', title: 'Attack success rate at this epoch (metrics.json adv_success): of the adversarial twins whose clean sample the model classifies correctly, the share it misclassifies' });
  }
  return stats;
}

/** Line colours of the curves (Okabe-Ito blue and vermillion, a green, grey for the loss). */
const CURVE_COLOURS = { train: '#0072B2', test: '#D55E00', accuracy: '#009E73', adv: '#CC79A7', loss: '#555555' };

/**
 * The curves under the slider, per run epoch index: an accuracy chart (the readout's numbers) and
 * the loss, where the run has them.
 * @param {Summary} s
 * @returns {import('./widgets/curves.js').Chart[]}
 */
export function curveCharts(s) {
  const index = new Map(s.epochs.map((e, i) => [e, i]));
  /** @param {{epoch: number}[]} records @param {(r: any) => number | null | undefined} get */
  const valuesOf = (records, get) => {
    /** @type {(number | null)[]} */
    const v = s.epochs.map(() => null);
    for (const r of records) { const i = index.get(r.epoch); const x = get(r); if (i != null && x != null) v[i] = x; }
    return v;
  };
  const metrics = s.metrics || [];
  /** @type {import('./widgets/curves.js').Series[]} */
  const acc = readoutStats(s).map((st) => ({
    key: st.key, label: st.label, colour: CURVE_COLOURS[/** @type {'train' | 'test' | 'accuracy' | 'adv'} */ (st.key)], format: 'percent',
    values: st.key === 'accuracy' ? valuesOf(s.accuracy, (r) => r.accuracy)
      : st.key === 'adv' ? valuesOf(metrics, (r) => r.adv_success) : valuesOf(metrics, (r) => r[`${st.key}_accuracy`]),
  }));
  /** @type {import('./widgets/curves.js').Chart[]} */
  const charts = [{ key: 'accuracy', title: acc.some((x) => x.key === 'adv') ? 'Accuracy and attack success over the epochs' : 'Accuracy over the epochs', unit: 'fraction', series: acc }];
  if (metrics.some((m) => m.loss != null)) {
    charts.push({ key: 'loss', title: 'Training loss over the epochs', unit: 'free',
      series: [{ key: 'loss', label: 'loss', colour: CURVE_COLOURS.loss, format: 'number', values: valuesOf(metrics, (r) => r.loss) }] });
  }
  return charts;
}

/**
 * The footer: slider position, epoch label and the readout at the shown epoch.
 * @param {App} app
 */
export function updateTimeline(app) {
  const st = app.store.get();
  const epoch = roundedEpoch(app);
  /** @type {import('./widgets/timeline.js').Readout} */
  const values = {};
  const s = app.summary;
  if (s) {
    app.ui.timeline.setStats(readoutStats(s));
    // Run 0's curves, over the slider's epochs (every run's, when several are shown).
    app.ui.timeline.setCurves(curveCharts(isGrid(app) ? { ...s, epochs: app.epochs } : s), app.epochs);
    if (epoch != null) {
      const a = s.accuracy.find((x) => x.epoch === epoch);
      if (a) values.accuracy = a.accuracy;
      const m = (s.metrics || []).find((x) => x.epoch === epoch);
      if (m) { values.train = m.train_accuracy; values.test = m.test_accuracy; values.adv = m.adv_success; }
    }
  }
  app.ui.timeline.update(st.t, st.playing, app.epochs, values);
}

/**
 * The selection's size per class, or null without a selection.
 * @param {App} app
 * @returns {number[] | null}
 */
export function selectionCounts(app) {
  const sel = app.store.get().selection;
  if (!sel || !app.samples) return null;
  /** @type {number[]} */
  const counts = new Array(app.classes.length).fill(0);
  const labels = app.samples.labels;
  for (let s = 0; s < sel.length; s++) if (sel[s]) counts[labels[s]]++;
  return counts;
}
