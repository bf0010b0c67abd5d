// Label menu: one entry per class (swatch, name, count); click toggles, "solo" shows only that
// class, All / None buttons. Also the colour-by selector and a key saying what the colours mean in
// the current mode: true class, predicted class (at the shown epoch), correct / incorrect, or a
// per-sample value (the run's values are offered as options; the scale widget draws their key).
// With more than SEARCH_FROM classes, a search box filters the list by name.
// @ts-check

import { SLOT_COLOURS } from '../palette.js';

/** @typedef {import('../app.js').ColorBy} ColorBy */

/** The search box shows from this many classes on. */
export const SEARCH_FROM = 21;
/**
 * Right / wrong / missing predictions at the shown epoch, over the samples drawn; in a value mode,
 * `absent` counts the points without a value and `caption` says what the value is.
 * @typedef {{epoch: number | null, correct: number, wrong: number, absent: number, caption?: string}} KeyInfo
 */

/**
 * @param {HTMLElement} root
 * @param {{onToggle: (c: number) => void, onSolo: (c: number) => void, onAll: () => void, onNone: () => void,
 *   onColorBy: (mode: ColorBy) => void, onFocus: (c: number | null) => void}} handlers   onFocus: the row under the pointer
 */
export function createLegend(root, { onToggle, onSolo, onAll, onNone, onColorBy, onFocus }) {
  root.innerHTML = `
    <div class="row"><label>Colour by <select class="colorby">
      <option value="true">true class</option><option value="pred">predicted class</option>
      <option value="correct">correct / incorrect</option><optgroup class="value-options" label="per-sample value" hidden></optgroup></select></label></div>
    <div class="key"></div>
    <div class="row"><button class="all">All</button><button class="none">None</button></div>
    <div class="row search-row" hidden><input class="search" type="search" placeholder="Find a class" aria-label="find a class">
      <span class="matches"></span></div>
    <ul class="classes"></ul>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const list = q('.classes');
  const key = q('.key');
  const colorBy = /** @type {HTMLSelectElement} */ (q('.colorby'));
  const valueOptions = q('.value-options');
  const searchRow = q('.search-row'), matches = q('.matches');
  const search = /** @type {HTMLInputElement} */ (q('.search'));
  /** Shows the rows whose class name contains the search text (any case). */
  const filter = () => {
    const text = search.value.trim().toLowerCase();
    let shown = 0;
    const rows = /** @type {HTMLElement[]} */ (Array.from(list.children));
    for (const li of rows) {
      const name = (li.querySelector('.name')?.textContent ?? '').toLowerCase();
      li.hidden = text !== '' && !name.includes(text);
      if (!li.hidden) shown++;
    }
    matches.textContent = text ? `${shown} of ${rows.length}` : '';
  };
  search.addEventListener('input', filter);
  q('.all').addEventListener('click', onAll);
  q('.none').addEventListener('click', onNone);
  colorBy.addEventListener('change', () => onColorBy(/** @type {ColorBy} */ (colorBy.value)));
  list.addEventListener('click', (e) => {
    const target = /** @type {HTMLElement} */ (e.target);
    const li = target.closest('li');
    if (!li) return;
    const c = Number(li.dataset.cls);
    if (target.classList.contains('solo') || e.altKey || e.shiftKey) onSolo(c); else onToggle(c);
  });
  list.addEventListener('mouseover', (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest('li');
    if (li) onFocus(Number(li.dataset.cls));
  });
  list.addEventListener('mouseleave', () => onFocus(null));

  /**
   * @param {string} cls @param {string} colour @param {string} label @param {number} count @param {number} total
   */
  const keyRow = (cls, colour, label, count, total) => {
    const row = document.createElement('div');
    row.className = `key-row ${cls}`;
    row.innerHTML = '<span class="swatch"></span><span class="name"></span><span class="count"></span>';
    const part = (/** @type {string} */ s) => /** @type {HTMLElement} */ (row.querySelector(s));
    part('.swatch').style.background = colour;
    part('.name').textContent = label;
    part('.count').textContent = total ? `${count.toLocaleString()} (${(100 * count / total).toFixed(1)}%)` : '';
    return row;
  };

  /**
   * What the colours mean; info at the shown epoch (modes pred/correct).
   * @param {ColorBy} mode @param {KeyInfo | null} info
   */
  function renderKey(mode, info) {
    key.innerHTML = '';
    const caption = document.createElement('div');
    caption.className = 'key-caption';
    key.appendChild(caption);
    if (mode === 'true') {
      caption.textContent = 'Colour: each point\'s true class.';
      return;
    }
    if (mode.startsWith('value:')) {
      caption.textContent = info?.caption ?? '';
      if (info && info.absent > 0) key.appendChild(keyRow('absent', SLOT_COLOURS.absent, 'no value here', info.absent, info.absent + info.correct));
      return;
    }
    const at = info && info.epoch != null ? ` at epoch ${info.epoch}` : '';
    const total = info ? info.correct + info.wrong + info.absent : 0;
    if (mode === 'pred') {
      caption.textContent = `Colour: the class the model predicted${at}. The class list still shows and hides by true class.`;
    } else {
      caption.textContent = `Colour: whether the model's prediction${at} is right. The class list still shows and hides by true class.`;
      key.appendChild(keyRow('correct', SLOT_COLOURS.correct, 'correct', info ? info.correct : 0, total));
      key.appendChild(keyRow('wrong', SLOT_COLOURS.wrong, 'incorrect', info ? info.wrong : 0, total));
    }
    if (!info || info.absent > 0) key.appendChild(keyRow('absent', SLOT_COLOURS.absent, 'no prediction', info ? info.absent : 0, total));
  }

  return {
    /**
     * The per-sample values offered as colour modes (option value `value:<id>`).
     * @param {import('../source.js').ValueInfo[]} values
     */
    setValues(values) {
      const key = values.map((v) => `${v.id}=${v.name}`).join('|');
      if (valueOptions.dataset.key === key) return;
      valueOptions.dataset.key = key;
      valueOptions.innerHTML = '';
      for (const v of values) {
        const o = document.createElement('option');
        o.value = `value:${v.id}`;
        o.textContent = v.name;
        o.title = v.description;
        valueOptions.appendChild(o);
      }
      valueOptions.hidden = values.length === 0;
    },
    /**
     * @param {string[]} classes @param {string[]} colours @param {Uint8Array} hidden
     * @param {number[] | null} counts per class, over the samples drawn @param {ColorBy} mode @param {KeyInfo | null} info
     */
    render(classes, colours, hidden, counts, mode, info) {
      colorBy.value = mode;
      renderKey(mode, info);
      list.innerHTML = '';
      classes.forEach((name, c) => {
        const li = document.createElement('li');
        li.dataset.cls = String(c);
        li.className = hidden[c] ? 'off' : '';
        li.title = 'Click: show/hide · Solo: only this class';
        li.innerHTML = `<span class="swatch"></span><span class="name"></span><span class="count"></span><button class="solo">solo</button>`;
        const part = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li.querySelector(s));
        part('.swatch').style.background = colours[c];
        part('.name').textContent = name;
        part('.count').textContent = counts ? String(counts[c] ?? 0) : '';
        list.appendChild(li);
      });
      searchRow.hidden = classes.length < SEARCH_FROM;
      if (searchRow.hidden) search.value = '';
      filter();
    },
  };
}
