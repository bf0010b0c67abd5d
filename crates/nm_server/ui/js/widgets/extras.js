// The "Extra points" panel (parametric mode only): pick a layer and a local .npy of its activations
// ("Add points…"), a note on what is drawn ("N extra points, epoch E", drawn hollow) and Clear.
// @ts-check

/**
 * @param {HTMLElement} root   the panel's section (hidden unless the views are parametric)
 * @param {{onAdd: (layer: string, name: string, npy: ArrayBuffer) => void, onClear: () => void}} handlers
 */
export function createExtrasPanel(root, { onAdd, onClear }) {
  root.innerHTML = `<h2>Extra points</h2>
    <div class="row"><select class="extras-layer" aria-label="layer the points join"></select>
      <button class="extras-add" title="Place a .npy of this layer's activations [m, D] (float32 or float64) in the shown epoch's view">Add points…</button>
      <input class="extras-file" type="file" accept=".npy" hidden></div>
    <div class="extras-note muted"></div>
    <div class="row"><span class="extras-key" hidden><svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" r="4.5"></circle></svg></span>
      <button class="extras-clear" hidden>Clear</button></div>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const layer = /** @type {HTMLSelectElement} */ (q('.extras-layer'));
  const file = /** @type {HTMLInputElement} */ (q('.extras-file'));
  const note = q('.extras-note'), clear = q('.extras-clear'), key = q('.extras-key');
  q('.extras-add').addEventListener('click', () => file.click());
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    file.value = '';
    if (!f) return;
    note.textContent = `reading ${f.name}…`;
    try {
      onAdd(layer.value, f.name, await f.arrayBuffer());
    } catch (e) {
      note.textContent = `cannot read ${f.name}: ${/** @type {Error} */ (e).message}`;
    }
  });
  clear.addEventListener('click', onClear);
  let layersKey = '';
  return {
    /**
     * Shows or hides the panel and offers `layers`.
     * @param {boolean} on @param {string[]} layers
     */
    setup(on, layers) {
      root.hidden = !on;
      const k = layers.join('\n');
      if (k === layersKey) return;
      layersKey = k;
      const was = layer.value;
      layer.innerHTML = '';
      for (const l of layers) {
        const o = document.createElement('option');
        o.value = l; o.textContent = l;
        layer.append(o);
      }
      if (layers.includes(was)) layer.value = was;
      else if (layers.length) layer.value = layers[layers.length - 1];
    },
    /**
     * What is drawn now (null: nothing).
     * @param {import('../extras.js').ExtrasStatus | null} s
     */
    render(s) {
      clear.hidden = !s;
      key.hidden = !s || !s.shown;
      note.classList.toggle('error', !!(s && s.error));
      note.textContent = s ? `${s.name} → ${s.layer}: ${s.text}` : 'Add a .npy of a layer\'s activations [m, D]: its points are placed in the shown epoch\'s view and drawn hollow.';
    },
  };
}
