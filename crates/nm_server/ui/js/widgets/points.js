// Point controls: size (a factor on the automatic radius) and opacity (automatic until moved), a
// reset to the automatic values, and the frame: all epochs (shared) or this epoch.
// @ts-check

/**
 * @param {HTMLElement} root
 * @param {{onScale: (scale: number) => void, onOpacity: (opacity: number | null) => void,
 *   onFitAll: () => void, onFitEpoch: () => void}} handlers
 */
export function createPointControls(root, { onScale, onOpacity, onFitAll, onFitEpoch }) {
  root.innerHTML = `
    <label class="ctl">size <input class="size" type="range" min="-2" max="2" step="0.25" value="0" aria-label="point size"><span class="size-value"></span></label>
    <label class="ctl">opacity <input class="opacity" type="range" min="0.05" max="1" step="0.05" value="1" aria-label="point opacity"><span class="opacity-value"></span></label>
    <div class="row"><button class="auto" title="Size and opacity from the number of points and the zoom">Automatic</button></div>
    <div class="row">frame <span class="toolbar">
      <button class="fit-all" title="Every epoch fits: the picture stands still while the epochs change (double-click a plot: the same)">All epochs</button><button class="fit-epoch" title="The shown epoch fills each plot">This epoch</button></span></div>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const size = /** @type {HTMLInputElement} */ (q('.size'));
  const opacity = /** @type {HTMLInputElement} */ (q('.opacity'));
  const sizeValue = q('.size-value'), opacityValue = q('.opacity-value');
  size.addEventListener('input', () => onScale(Math.pow(2, Number(size.value))));
  opacity.addEventListener('input', () => onOpacity(Number(opacity.value)));
  q('.auto').addEventListener('click', () => { onScale(1); onOpacity(null); });
  q('.fit-all').addEventListener('click', onFitAll);
  q('.fit-epoch').addEventListener('click', onFitEpoch);
  return {
    /**
     * Shows the settings.
     * @param {number} scale @param {number | null} value the opacity (null: automatic)
     */
    render(scale, value) {
      size.value = String(Math.log2(scale));
      sizeValue.textContent = scale === 1 ? 'auto' : `×${scale.toFixed(2).replace(/\.?0+$/, '')}`;
      if (value != null) opacity.value = String(value);
      opacityValue.textContent = value == null ? 'auto' : `${Math.round(100 * value)}%`;
    },
  };
}
