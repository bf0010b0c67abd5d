// Epoch timeline: play/pause, a slider over the run's epochs, the epoch label and the accuracy readout.

export function createTimeline(root, { onTarget, onTogglePlay, onFollow }) {
  root.innerHTML = `
    <button class="play" title="Play / pause (space)" aria-label="play">▶</button>
    <input class="slider" type="range" min="0" max="0" step="1" value="0" aria-label="epoch">
    <span class="epoch-label"></span>
    <span class="accuracy" title="Accuracy of the model's predictions on these samples at this epoch"></span>
    <label class="follow" hidden><input type="checkbox" checked> follow newest</label>`;
  const play = root.querySelector('.play');
  const slider = root.querySelector('.slider');
  const label = root.querySelector('.epoch-label');
  const acc = root.querySelector('.accuracy');
  const follow = root.querySelector('.follow');
  play.addEventListener('click', () => onTogglePlay());
  slider.addEventListener('input', () => onTarget(Number(slider.value)));
  follow.querySelector('input').addEventListener('change', (e) => onFollow(e.target.checked));
  return {
    slider,
    setEpochs(epochs, live) {
      slider.max = String(Math.max(0, epochs.length - 1));
      slider.disabled = epochs.length < 2;
      follow.hidden = !live;
    },
    /** t: fractional epoch index; readout: {epoch, accuracy, train, test} */
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
