// Hyperparameter menu: n_neighbors, min_dist, sample size (all / total / per class), metric, whether
// the layers are aligned to each other, and whether to apply to all plots or one. Progress shows in each plot's title bar.
// @ts-check

/** @typedef {import('../source.js').ComputeParams} ComputeParams */
/** @typedef {import('../source.js').EmbedParams} EmbedParams */

/**
 * @param {HTMLElement} root
 * @param {{onApply: (params: ComputeParams, layer: string | null) => void}} handlers   layer null: all plots
 */
export function createParamsMenu(root, { onApply }) {
  root.innerHTML = `
    <form class="params">
      <label>n_neighbors <input name="n_neighbors" type="number" min="2" max="200" step="1" value="15"></label>
      <label>min_dist <input name="min_dist" type="number" min="0" max="1" step="0.01" value="0.1"></label>
      <label>metric <select name="metric"><option>euclidean</option><option>cosine</option></select></label>
      <label>samples <select name="sampling"><option value="all">all</option><option value="total">total</option>
        <option value="per_class">per class</option></select></label>
      <label class="sample-n" hidden>how many <input name="sample_n" type="number" min="1" step="1" value="1000"></label>
      <label class="check" title="Fit every layer jointly so a sample sits in comparable places in adjacent layers; each plot stays faithful to its own layer">
        <input name="align_layers" type="checkbox"> align layers</label>
      <label>apply to <select name="scope"><option value="">all plots</option></select></label>
      <button type="submit">Apply</button>
      <div class="status" role="status"></div>
    </form>`;
  const form = /** @type {HTMLFormElement} */ (root.querySelector('form'));
  const status = /** @type {HTMLElement} */ (root.querySelector('.status'));
  const sampleN = /** @type {HTMLElement} */ (root.querySelector('.sample-n'));
  const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
  const nNeighbors = field('n_neighbors'), minDist = field('min_dist'), sampleCount = field('sample_n');
  const alignLayers = field('align_layers');
  const metric = /** @type {HTMLSelectElement} */ (form.elements.namedItem('metric'));
  const sampling = /** @type {HTMLSelectElement} */ (form.elements.namedItem('sampling'));
  const scope = /** @type {HTMLSelectElement} */ (form.elements.namedItem('scope'));
  sampling.addEventListener('change', () => { sampleN.hidden = sampling.value === 'all'; });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const kind = sampling.value;
    /** @type {ComputeParams} */
    const params = {
      n_neighbors: Number(nNeighbors.value),
      min_dist: Number(minDist.value),
      metric: metric.value,
      sampling: kind === 'total' || kind === 'per_class' ? { kind, n: Number(sampleCount.value) } : { kind: 'all' },
      align_layers: alignLayers.checked,
    };
    onApply(params, scope.value || null);
  });
  return {
    form,
    /** @param {string[]} layers */
    setLayers(layers) {
      const keep = scope.value;
      scope.innerHTML = '<option value="">all plots</option>' + layers.map(() => `<option></option>`).join('');
      layers.forEach((l, i) => { scope.options[i + 1].value = l; scope.options[i + 1].textContent = l; });
      scope.value = layers.includes(keep) ? keep : '';
    },
    /** @param {EmbedParams | null} p */
    setParams(p) {
      if (!p) return;
      nNeighbors.value = String(p.n_neighbors);
      minDist.value = String(Math.round(p.min_dist * 1000) / 1000);
      metric.value = p.metric;
      const s = p.sampling;
      if (s === 'All') sampling.value = 'all';
      else if ('Total' in s) { sampling.value = 'total'; sampleCount.value = String(s.Total); }
      else if ('PerClass' in s) { sampling.value = 'per_class'; sampleCount.value = String(s.PerClass); }
      sampleN.hidden = sampling.value === 'all';
      alignLayers.checked = !!p.align_layers;
    },
    /** @param {string} text @param {boolean} [isError] */
    setStatus(text, isError = false) { status.textContent = text; status.classList.toggle('error', isError); },
  };
}

/**
 * A parameter set as a plot's title shows it: "n_neighbors 15 · min_dist 0.1".
 * @param {EmbedParams | null} p
 */
export function describeParams(p) {
  if (!p) return '';
  return `n_neighbors ${p.n_neighbors} · min_dist ${+Number(p.min_dist).toPrecision(3)}${p.align_layers ? ' · layers aligned' : ''}`;
}

/**
 * The rest of a parameter set, for the title's tooltip: "metric euclidean · samples all · PCA 50 dims".
 * @param {EmbedParams | null} p
 */
export function describeParamsDetail(p) {
  if (!p) return '';
  const sm = p.sampling;
  const samples = sm === 'All' ? 'all' : 'Total' in sm ? `${sm.Total} in total` : `${sm.PerClass} per class`;
  const parts = [`metric ${p.metric}`, `samples ${samples}`];
  if (p.pca_dims != null) parts.push(p.pca_dims ? `PCA ${p.pca_dims} dims` : 'no PCA');
  if (p.seed != null) parts.push(`seed ${p.seed}`);
  return parts.join(' · ');
}
