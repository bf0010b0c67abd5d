// The parameter menu of a static site: a choice among the precomputed views (the site's grid over
// n_neighbors, min_dist and metric), for all plots or one, and a note that other values need a
// server. The same handlers and methods as params.js's menu, so main.js can use either.
// @ts-check

/** @typedef {import('../source.js').ComputeParams} ComputeParams */
/** @typedef {import('../source.js').EmbedParams} EmbedParams */
/** @typedef {import('../source.js').Grid} Grid */

/**
 * @param {HTMLElement} root
 * @param {Promise<Grid>} grid   the site's grid (read with its index)
 * @param {{onApply: (params: ComputeParams, layer: string | null) => void}} handlers   layer null: all plots
 */
export function createGridMenu(root, grid, { onApply }) {
  root.innerHTML = `
    <form class="params grid">
      <div class="axes"></div>
      <label>apply to <select name="scope"><option value="">all plots</option></select></label>
      <button type="submit">Show</button>
      <p class="note muted"></p>
      <div class="status" role="status"></div>
    </form>`;
  const form = /** @type {HTMLFormElement} */ (root.querySelector('form'));
  const axesBox = /** @type {HTMLElement} */ (root.querySelector('.axes'));
  const note = /** @type {HTMLElement} */ (root.querySelector('.note'));
  const status = /** @type {HTMLElement} */ (root.querySelector('.status'));
  const scope = /** @type {HTMLSelectElement} */ (form.elements.namedItem('scope'));
  /** @type {Grid | null} */
  let known = null;
  /** @type {EmbedParams | null} the parameters shown (the rest of a request comes from them) */
  let current = null;
  /** @type {Map<string, HTMLSelectElement>} */
  const selects = new Map();

  /** Shows `current`'s value on each axis (numbers within f32 rounding of an option's). */
  const showCurrent = () => {
    if (!current) return;
    for (const [name, sel] of selects) {
      const v = /** @type {any} */ (current)[name];
      const opt = [...sel.options].find((o) => (typeof v === 'number' ? Math.abs(Number(o.value) - v) < 1e-6 : o.value === v));
      if (opt) sel.value = opt.value;
    }
  };

  grid.then((g) => {
    known = g;
    for (const axis of g.axes) {
      const label = document.createElement('label');
      label.textContent = `${axis.name} `;
      const sel = document.createElement('select');
      sel.name = axis.name;
      for (const v of axis.values) {
        const o = document.createElement('option');
        o.value = o.textContent = String(v);
        sel.appendChild(o);
      }
      label.appendChild(sel);
      axesBox.appendChild(label);
      selects.set(axis.name, sel);
    }
    const shape = g.axes.map((a) => a.values.length).join(' × ');
    note.innerHTML = `${g.views.length} precomputed view${g.views.length === 1 ? '' : 's'}${g.axes.length > 1 ? ` (${shape})` : ''}: `
      + 'this is a static copy of the viewer; <code>neuromapper serve</code> on the run computes any other values.';
    showCurrent();
  }).catch((e) => { status.textContent = e.message; status.classList.add('error'); });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!known || !current) return;
    const s = current.sampling;
    /** @type {ComputeParams} */
    const params = {
      n_neighbors: current.n_neighbors,
      min_dist: current.min_dist,
      metric: current.metric,
      sampling: s === 'All' ? { kind: 'all' } : 'Total' in s ? { kind: 'total', n: s.Total } : { kind: 'per_class', n: s.PerClass },
      align_layers: !!current.align_layers,
    };
    for (const axis of known.axes) {
      const sel = selects.get(axis.name);
      const v = axis.values.find((x) => String(x) === sel?.value);
      if (v !== undefined) Object.assign(params, { [axis.name]: v });
    }
    onApply(params, scope.value || null);
  });

  return {
    form,
    /** @param {string[]} layers */
    setLayers(layers) {
      const keep = scope.value;
      scope.innerHTML = '<option value="">all plots</option>' + layers.map(() => '<option></option>').join('');
      layers.forEach((l, i) => { scope.options[i + 1].value = l; scope.options[i + 1].textContent = l; });
      scope.value = layers.includes(keep) ? keep : '';
    },
    /** @param {EmbedParams | null} p */
    setParams(p) {
      if (!p) return;
      current = p;
      showCurrent();
    },
    /** @param {string} text @param {boolean} [isError] */
    setStatus(text, isError = false) { status.textContent = text; status.classList.toggle('error', isError); },
  };
}
