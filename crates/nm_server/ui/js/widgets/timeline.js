// Epoch timeline: play/pause, a slider over the run's epochs with the training curves above it,
// the epoch label and the readout of the run's numbers at the shown epoch. Everything beside the
// slider has a fixed width for the whole run (a value missing at some epoch shows as "–"), so the
// slider never moves while scrubbing.
// @ts-check

import { createCurves } from './curves.js';

/**
 * One number of the readout: its key, its label and what it means (the cell's tooltip).
 * @typedef {{key: string, label: string, title: string}} Stat
 */
/**
 * The values at the shown epoch, by stat key (fractions in [0, 1]; missing or null: not known).
 * @typedef {{[key: string]: number | null | undefined}} Readout
 */

/** A percentage as the readout shows it. @param {number | null | undefined} v */
const percent = (v) => (v == null ? '–' : `${(100 * v).toFixed(1)}%`);

/**
 * @param {HTMLElement} root
 * @param {{onTarget: (i: number) => void, onTogglePlay: () => void, onFollow: (on: boolean) => void}} handlers
 */
export function createTimeline(root, { onTarget, onTogglePlay, onFollow }) {
  root.innerHTML = `
    <div class="curves" hidden></div>
    <div class="curve-info"></div>
    <button class="play" title="Play / pause (space)" aria-label="play">▶</button>
    <input class="slider" type="range" min="0" max="0" step="1" value="0" aria-label="epoch">
    <span class="epoch-label"></span>
    <span class="readout"></span>
    <label class="follow" hidden><input type="checkbox" checked> follow newest</label>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const play = q('.play');
  const slider = /** @type {HTMLInputElement} */ (q('.slider'));
  const label = q('.epoch-label');
  const readout = q('.readout');
  const follow = q('.follow');
  const followBox = /** @type {HTMLInputElement} */ (q('.follow input'));
  play.addEventListener('click', () => onTogglePlay());
  slider.addEventListener('input', () => onTarget(Number(slider.value)));
  followBox.addEventListener('change', () => onFollow(followBox.checked));
  const curves = createCurves(q('.curves'), q('.curve-info'), { onTarget });
  /** @type {{stat: Stat, value: HTMLElement}[]} */
  let cells = [];
  let statsKey = '';
  /** @param {number[]} epochs @param {number} i */
  const epochText = (epochs, i) => (epochs.length ? `epoch ${epochs[i]} (${i + 1}/${epochs.length})` : 'no epochs yet');
  return {
    slider,
    setCurves: curves.setData,
    /** @param {number[]} epochs @param {boolean} live */
    setEpochs(epochs, live) {
      slider.max = String(Math.max(0, epochs.length - 1));
      slider.disabled = epochs.length < 2;
      follow.hidden = !live;
      // As wide as the longest label this run can show (digits are tabular).
      const longest = Math.max(epochText(epochs, Math.max(0, epochs.length - 1)).length, 'no epochs yet'.length);
      label.style.width = `${longest + 1}ch`;
    },
    /**
     * The numbers this run has, in order (the cells are rebuilt only when they change).
     * @param {Stat[]} stats
     */
    setStats(stats) {
      const key = stats.map((s) => s.key).join('|');
      if (key === statsKey) return;
      statsKey = key;
      readout.innerHTML = '';
      cells = stats.map((stat) => {
        const cell = document.createElement('span');
        cell.className = `stat stat-${stat.key}`;
        cell.title = stat.title;
        cell.style.width = `${stat.label.length + 8}ch`;
        const name = document.createElement('span');
        name.className = 'stat-name';
        name.textContent = `${stat.label} `;
        const value = document.createElement('span');
        value.className = 'stat-value';
        cell.append(name, value);
        readout.appendChild(cell);
        return { stat, value };
      });
    },
    /** @param {number} t fractional epoch index @param {boolean} playing @param {number[]} epochs @param {Readout} values */
    update(t, playing, epochs, values) {
      play.textContent = playing ? '❚❚' : '▶';
      play.setAttribute('aria-label', playing ? 'pause' : 'play');
      const i = Math.round(t);
      if (document.activeElement !== slider) slider.value = String(i);
      label.textContent = epochText(epochs, i);
      curves.mark(Math.min(Math.max(t, 0), Math.max(0, epochs.length - 1)));
      for (const { stat, value } of cells) value.textContent = percent(values[stat.key]);
    },
  };
}
