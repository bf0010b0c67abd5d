// Hyperparameter menu: n_neighbors, min_dist, sample size (all / total / per class), metric, and
// whether to apply to all plots or one. Progress shows in each plot's title bar.

export function createParamsMenu(root, { onApply }) {
  root.innerHTML = `
    <form class="params">
      <label>n_neighbors <input name="n_neighbors" type="number" min="2" max="200" step="1" value="15"></label>
      <label>min_dist <input name="min_dist" type="number" min="0" max="1" step="0.01" value="0.1"></label>
      <label>metric <select name="metric"><option>euclidean</option><option>cosine</option></select></label>
      <label>samples <select name="sampling"><option value="all">all</option><option value="total">total</option>
        <option value="per_class">per class</option></select></label>
      <label class="sample-n" hidden>how many <input name="sample_n" type="number" min="1" step="1" value="1000"></label>
      <label>apply to <select name="scope"><option value="">all plots</option></select></label>
      <button type="submit">Apply</button>
      <div class="status" role="status"></div>
    </form>`;
  const form = root.querySelector('form');
  const status = root.querySelector('.status');
  const sampleN = root.querySelector('.sample-n');
  form.sampling.addEventListener('change', () => { sampleN.hidden = form.sampling.value === 'all'; });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const kind = form.sampling.value;
    const params = {
      n_neighbors: Number(form.n_neighbors.value),
      min_dist: Number(form.min_dist.value),
      metric: form.metric.value,
      sampling: kind === 'all' ? { kind } : { kind, n: Number(form.sample_n.value) },
    };
    onApply(params, form.scope.value || null);
  });
  return {
    form,
    setLayers(layers) {
      const keep = form.scope.value;
      form.scope.innerHTML = '<option value="">all plots</option>' + layers.map((l) => `<option></option>`).join('');
      layers.forEach((l, i) => { form.scope.options[i + 1].value = l; form.scope.options[i + 1].textContent = l; });
      form.scope.value = layers.includes(keep) ? keep : '';
    },
    setParams(p) {
      if (!p) return;
      form.n_neighbors.value = p.n_neighbors;
      form.min_dist.value = Math.round(p.min_dist * 1000) / 1000;
      form.metric.value = p.metric;
      const s = p.sampling;
      if (s === 'All') form.sampling.value = 'all';
      else if (s && s.Total != null) { form.sampling.value = 'total'; form.sample_n.value = s.Total; }
      else if (s && s.PerClass != null) { form.sampling.value = 'per_class'; form.sample_n.value = s.PerClass; }
      sampleN.hidden = form.sampling.value === 'all';
    },
    setStatus(text, isError = false) { status.textContent = text; status.classList.toggle('error', isError); },
  };
}

/** Short description of a parameter set for plot titles. */
export function describeParams(p) {
  if (!p) return '';
  const s = p.sampling === 'All' ? '' : p.sampling.Total != null ? `, n=${p.sampling.Total}` : `, ${p.sampling.PerClass}/class`;
  return `k=${p.n_neighbors}, d=${+Number(p.min_dist).toPrecision(3)}${p.metric === 'euclidean' ? '' : ', ' + p.metric}${s}`;
}
