// The "What changed" panel: a button that selects the samples whose neighbours changed most at the
// shown epoch in a chosen layer, with a line saying what it selected, and the show filter over
// the predictions (all samples; misclassified at the shown epoch; flipped between epochs A and B).
// @ts-check

/** @typedef {import('../app.js').ShowFilter} ShowFilter */

/** How many samples the changers button selects. */
export const TOP_CHANGERS = 100;

/**
 * @param {HTMLElement} root
 * @param {{onTop: (layer: string) => void, onShow: (show: ShowFilter) => void}} handlers
 */
export function createChanges(root, { onTop, onShow }) {
  root.innerHTML = `
    <div class="row"><button class="top">Top ${TOP_CHANGERS} changers</button>
      <label>in <select class="layer" aria-label="layer whose changers are selected"></select></label></div>
    <div class="changers-note muted"></div>
    <div class="row"><label>Show <select class="show">
      <option value="all">all samples</option>
      <option value="wrong">misclassified at this epoch</option>
      <option value="flipped">prediction flipped between</option></select></label></div>
    <div class="row flip-epochs" hidden><label>epoch <select class="a"></select></label>
      <label>and <select class="b"></select></label></div>
    <div class="show-count muted"></div>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const layer = /** @type {HTMLSelectElement} */ (q('.layer')), show = /** @type {HTMLSelectElement} */ (q('.show'));
  const a = /** @type {HTMLSelectElement} */ (q('.a')), b = /** @type {HTMLSelectElement} */ (q('.b'));
  const flipRow = q('.flip-epochs');
  q('.top').addEventListener('click', () => { if (layer.value) onTop(layer.value); });
  const emit = () => {
    flipRow.hidden = show.value !== 'flipped';
    if (show.value === 'flipped') onShow({ kind: 'flipped', a: Number(a.value), b: Number(b.value) });
    else onShow(show.value === 'wrong' ? { kind: 'wrong' } : { kind: 'all' });
  };
  show.addEventListener('change', emit);
  a.addEventListener('change', emit);
  b.addEventListener('change', emit);
  /** @param {HTMLSelectElement} sel @param {string[]} values @param {string} keep */
  const fill = (sel, values, keep) => {
    if (Array.from(sel.options).map((o) => o.value).join('|') === values.join('|')) return;
    sel.innerHTML = '';
    for (const v of values) { const o = document.createElement('option'); o.value = v; o.textContent = v; sel.appendChild(o); }
    if (values.includes(keep)) sel.value = keep;
  };
  return {
    /**
     * The layers to choose from, and the epochs with predictions (the flip filter's choices; by
     * default the first and the last). Without predictions the show filter is hidden.
     * @param {string[]} layers @param {number[]} predEpochs
     */
    setChoices(layers, predEpochs) {
      fill(layer, layers, layer.value);
      const es = predEpochs.map(String);
      fill(a, es, a.value || es[0] || '');
      fill(b, es, b.value && b.value !== a.value ? b.value : es[es.length - 1] || '');
      const showRow = /** @type {HTMLElement} */ (show.closest('.row'));
      showRow.hidden = predEpochs.length === 0;
    },
    /** @param {string} text what the last changers selection picked, or why it picked nothing */
    note(text) { q('.changers-note').textContent = text; },
    /** @param {string} text how many samples the show filter keeps */
    count(text) { q('.show-count').textContent = text; },
  };
}
