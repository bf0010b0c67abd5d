// Label menu: one entry per class (swatch, name, count); click toggles, "solo" shows only that
// class, All / None buttons. Also the colour-by selector.

export function createLegend(root, { onToggle, onSolo, onAll, onNone, onColorBy }) {
  root.innerHTML = `
    <div class="row"><label>Colour by <select class="colorby">
      <option value="true">true class</option><option value="pred">predicted class</option>
      <option value="correct">correct / incorrect</option></select></label></div>
    <div class="row"><button class="all">All</button><button class="none">None</button></div>
    <ul class="classes"></ul>`;
  const list = root.querySelector('.classes');
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
  return {
    render(classes, colours, hidden, counts, mode) {
      colorBy.value = mode;
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
