// The viewer's entry point and wiring: picks the data source, creates the renderer, the widgets and
// the one App, connects the store's changes to what they redraw, and starts loading.
// @ts-check

import { $ } from './dom.js';
import { createApp, createAppStore } from './app.js';
import { httpSource } from './source.js';
import { siteMarker, staticSource } from './static.js';
import { Renderer } from './renderer.js';
import { computeAttrs, paletteFor } from './attrs.js';
import { setupPlots, syncPlots, requestView } from './plots.js';
import { refreshSummary, eventHandlers, pollForViews } from './live.js';
import { loadRuns } from './runs.js';
import { requestRender, layout } from './render.js';
import { updateLegend, selectionCounts, selectionDetails, updateChanges, updateTwins } from './panels.js';
import { togglePlay, seek } from './playback.js';
import { installInteraction } from './interaction.js';
import { createTimeline } from './widgets/timeline.js';
import { createLegend } from './widgets/legend.js';
import { createTooltip } from './widgets/tooltip.js';
import { SelectionTool, createSelectionPanel } from './widgets/selection.js';
import { createParamsMenu } from './widgets/params.js';
import { createGridMenu } from './widgets/grid.js';
import { createPointControls } from './widgets/points.js';
import { createScale } from './widgets/scale.js';
import { createChanges, TOP_CHANGERS } from './widgets/changes.js';
import { createTwinsPanel } from './widgets/twins.js';
import { createExtrasPanel } from './widgets/extras.js';
import { addExtras, clearExtras, ensureExtras } from './extras.js';
import { ensureValues, selectChangers, loadSampleText } from './values.js';
import { fitAllEpochs, fitThisEpoch } from './framing.js';
import { exportPng } from './export.js';
import { installTestHook } from './testhook.js';

/** @typedef {import('./app.js').App} App */

/**
 * The page's options: `?snapshot` opens no event stream (the page goes idle once drawn, so a
 * headless browser's `--virtual-time-budget` screenshot finishes); `?epoch=E` shows epoch E (the
 * last one at or before it) instead of the newest.
 */
const QUERY = new URLSearchParams(location.search);
/** A static site (`neuromapper site`) names its index in a `<meta>`; null: served by neuromapper. */
const SITE = siteMarker();

/** The App, or null when this browser has no WebGL2 (the page says so). */
function create() {
  let renderer;
  try {
    renderer = new Renderer(/** @type {HTMLCanvasElement} */ ($('#gl')));
  } catch (e) {
    $('#nogl').hidden = false;
    $('#app').classList.add('disabled');
    Object.assign(window, { __nm: { ready: false, error: 'no-webgl2' } });
    return null;
  }
  const source = SITE ? staticSource(SITE) : httpSource({ events: !QUERY.has('snapshot') });
  const store = createAppStore();
  /** @param {Uint8Array} hidden */
  const setHidden = (hidden) => store.set({ hidden });
  const ui = {
    timeline: createTimeline($('#timeline'), {
      onTarget: (i) => seek(app, i),
      onTogglePlay: () => togglePlay(app),
      onFollow: (on) => store.set({ follow: on }),
    }),
    legend: createLegend($('#legend'), {
      onToggle: (c) => { const h = store.get().hidden.slice(); h[c] = h[c] ? 0 : 1; setHidden(h); },
      onSolo: (c) => { const h = new Uint8Array(app.classes.length).fill(1); h[c] = 0; setHidden(h); },
      onAll: () => setHidden(new Uint8Array(app.classes.length)),
      onNone: () => setHidden(new Uint8Array(app.classes.length).fill(1)),
      onColorBy: (mode) => store.set({ colorBy: mode, valueRange: null }),
      onFocus: (c) => store.set({ focusClass: c }),
    }),
    tooltip: createTooltip($('#tooltip')),
    selectionTool: new SelectionTool(/** @type {HTMLCanvasElement} */ ($('#overlay'))),
    selectionPanel: createSelectionPanel($('#selection'), { onClear: () => store.set({ selection: null }) }),
    params: source.grid
      ? createGridMenu($('#params'), source.grid(), { onApply: (p, layer) => requestView(app, p, layer) })
      : createParamsMenu($('#params'), { onApply: (p, layer) => requestView(app, p, layer) }),
    points: createPointControls($('#points'), {
      onScale: (pointScale) => store.set({ pointScale }),
      onOpacity: (opacity) => store.set({ opacity }),
      onFitAll: () => fitAllEpochs(app),
      onFitEpoch: () => fitThisEpoch(app),
    }),
    scale: createScale($('#scale'), { onRange: (valueRange) => store.set({ valueRange }) }),
    changes: createChanges($('#changes'), {
      onTop: (layer) => {
        const pl = app.plots.find((p) => p.layer === layer);
        if (pl) selectChangers(app, pl, TOP_CHANGERS).then((note) => app.ui.changes.note(note));
      },
      onShow: (show) => store.set({ show }),
    }),
    twins: createTwinsPanel($('#twins'), { onLines: (twinLines) => store.set({ twinLines }) }),
    extras: createExtrasPanel($('#extras'), {
      onAdd: (layer, name, npy) => addExtras(app, layer, name, npy),
      onClear: () => clearExtras(app),
    }),
  };
  const app = createApp(source, store, renderer, ui);
  return app;
}

/** @param {App} app */
function wire(app) {
  const { store, ui } = app;
  store.subscribe((st, changed) => {
    const has = (/** @type {string} */ k) => changed.includes(/** @type {keyof import('./app.js').State} */ (k));
    if (has('colorBy')) { app.renderer.setPalette(paletteFor(app)); ensureValues(app); }
    const filters = has('valueRange') || has('show') || has('valuesVersion');
    if (has('hidden') || has('colorBy') || has('selection') || has('focusClass') || filters) {
      for (const pl of app.plots) computeAttrs(app, pl);
      requestRender(app);
      if (has('hidden') || has('colorBy') || has('selection') || filters) updateLegend(app);
    }
    if (has('show') || has('target') || has('valuesVersion')) updateChanges(app);
    if (has('pointScale') || has('opacity')) { ui.points.render(st.pointScale, st.opacity); requestRender(app); }
    if (has('selection') || has('colorBy') || has('target') || has('valuesVersion')) {
      ui.selectionPanel.render(selectionCounts(app), app.classes, app.colours, selectionDetails(app));
    }
    if (has('mode')) document.querySelectorAll('#modes button').forEach((b) => b.classList.toggle('on', b instanceof HTMLElement && b.dataset.mode === st.mode));
    if (has('hover') || has('pinned') || has('target') || has('playing')) requestRender(app);
    if (has('twinLines')) { updateTwins(app); requestRender(app); }
    if (has('target') && app.extras) ensureExtras(app);
  });
  ui.points.render(store.get().pointScale, store.get().opacity);
  installInteraction(app);
  const paramsSection = $('#params').closest('section');
  if (paramsSection instanceof HTMLElement) paramsSection.hidden = !app.source.canCompute && !app.source.grid;
  $('#modes').addEventListener('click', (e) => {
    const b = /** @type {HTMLElement | null} */ (e.target instanceof Element ? e.target.closest('button') : null);
    if (b) store.set({ mode: /** @type {import('./app.js').State['mode']} */ (b.dataset.mode) });
  });
  $('#export').addEventListener('click', () => exportPng(app));
}

/** @param {App} app */
async function start(app) {
  installTestHook(app);
  app.source.events(eventHandlers(app));
  try {
    await loadRuns(app);
    await refreshSummary(app);
  } catch (e) {
    $('#status').textContent = `cannot load the run: ${/** @type {Error} */ (e).message}`;
    return;
  }
  loadSampleText(app);
  const epochs = app.epochs;
  const wanted = QUERY.has('epoch') ? Number(QUERY.get('epoch')) : Infinity;
  const shown = Math.max(0, epochs.filter((e) => e <= wanted).length - 1);
  app.store.set({ target: shown, t: shown });
  await setupPlots(app);
  app.started = true;
  const parametric = !!(app.summary && app.summary.parametric && app.source.place);
  app.ui.extras.setup(parametric, app.plots.filter((p) => p.run === 0).map((p) => p.layer));
  app.ui.extras.render(null);
  syncPlots(app);
  pollForViews(app);
  new ResizeObserver(() => layout(app)).observe($('#plots'));
}

const app = create();
if (app) { wire(app); start(app); }
