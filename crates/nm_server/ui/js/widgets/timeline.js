// Epoch timeline: play/pause, a slider over the run's epochs, the epoch label and the accuracy readout.
// @ts-check

/**
 * The readout at the shown epoch (fractions in [0, 1]; missing: not known).
 * @typedef {{accuracy?: number | null, train?: number | null, test?: number | null}} Readout
 */

/**
 * @param {HTMLElement} root
 * @param {{onTarget: (i: number) => void, onTogglePlay: () => void, onFollow: (on: boolean) => void}} handlers
 */
export function createTimeline(root, { onTarget, onTogglePlay, onFollow }) {
  root.innerHTML = `
    <button class="play" title="Play / pause (space)" aria-label="play">▶</button>
    <input class="slider" type="range" min="0" max="0" step="1" value="0" aria-label="epoch">
    <span class="epoch-label"></span>
    <span class="accuracy" title="Accuracy of the model's predictions on these samples at this epoch"></span>
    <label class="follow" hidden><input type="checkbox" checked> follow newest</label>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const play = q('.play');
  const slider = /** @type {HTMLInputElement} */ (q('.slider'));
  const label = q('.epoch-label');
  const acc = q('.accuracy');
  const follow = q('.follow');
  const followBox = /** @type {HTMLInputElement} */ (q('.follow input'));
  play.addEventListener('click', () => onTogglePlay());
  slider.addEventListener('input', () => onTarget(Number(slider.value)));
  followBox.addEventListener('change', () => onFollow(followBox.checked));
  return {
    slider,
    /** @param {number[]} epochs @param {boolean} live */
    setEpochs(epochs, live) {
      slider.max = String(Math.max(0, epochs.length - 1));
      slider.disabled = epochs.length < 2;
      follow.hidden = !live;
    },
    /** @param {number} t fractional epoch index @param {boolean} playing @param {number[]} epochs @param {Readout} readout */
    update(t, playing, epochs, readout) {
      play.textContent = playing ? '❚❚' : '▶';
      play.setAttribute('aria-label', playing ? 'pause' : 'play');
      const i = Math.round(t);
      if (document.activeElement !== slider) slider.value = String(i);
      label.textContent = epochs.length ? `epoch ${epochs[i]}  (${i + 1}/${epochs.length})` : 'no epochs yet';
      const parts = [];
      if (readout.accuracy != null) parts.push(`accuracy ${(100 * readout.accuracy).toFixed(1)}%`);
      if (readout.train != null) parts.push(`train ${(100 * readout.train).toFixed(1)}%`);
      if (readout.test != null) parts.push(`test ${(100 * readout.test).toFixed(1)}%`);
      acc.textContent = parts.join(' · ');
    },
  };
}
