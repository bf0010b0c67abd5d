// Label menu: one entry per class (swatch, name, count); click toggles, "solo" shows only that
// class, All / None buttons. Also the colour-by selector and a key saying what the colours mean in
// the current mode: true class, predicted class (at the shown epoch) or correct / incorrect.

import { SLOT_COLOURS } from '../palette.js';

export function createLegend(root, { onToggle, onSolo, onAll, onNone, onColorBy }) {
  root.innerHTML = `
    <div class="row"><label>Colour by <select class="colorby">
      <option value="true">true class</option><option value="pred">predicted class</option>
      <option value="correct">correct / incorrect</option></select></label></div>
    <div class="key"></div>
    <div class="row"><button class="all">All</button><button class="none">None</button></div>
    <ul class="classes"></ul>`;
  const list = root.querySelector('.classes');
  const key = root.querySelector('.key');
  const colorBy = root.querySelector('.colorby');
  root.querySelector('.all').addEventListener('click', onAll);
  root.querySelector('.none').addEventListener('click', onNone);
  colorBy.addEventListener('change', () => onColorBy(colorBy.value));
  list.addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    const c = Number(li.dataset.cls);
    if (e.target.classList.contains('solo') || e.altKey || e.shiftKey) onSolo(c); else onToggle(c);
  });

  const keyRow = (cls, colour, label, count, total) => {
    const row = document.createElement('div');
    row.className = `key-row ${cls}`;
    row.innerHTML = '<span class="swatch"></span><span class="name"></span><span class="count"></span>';
    row.querySelector('.swatch').style.background = colour;
    row.querySelector('.name').textContent = label;
    row.querySelector('.count').textContent = total ? `${count.toLocaleString()} (${(100 * count / total).toFixed(1)}%)` : '';
    return row;
  };

  /** What the colours mean. info: {epoch, correct, wrong, absent} at the shown epoch (modes pred/correct). */
  function renderKey(mode, info) {
    key.innerHTML = '';
    const caption = document.createElement('div');
    caption.className = 'key-caption';
    key.appendChild(caption);
    if (mode === 'true') {
      caption.textContent = 'Colour: each point\'s true class.';
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
        li.querySelector('.swatch').style.background = colours[c];
        li.querySelector('.name').textContent = name;
        li.querySelector('.count').textContent = counts ? String(counts[c] ?? 0) : '';
        list.appendChild(li);
      });
    },
  };
}
