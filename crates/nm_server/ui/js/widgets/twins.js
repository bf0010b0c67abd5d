// The "Adversarial twins" panel: how the attack is made, the toggle for the lines from each twin to
// its clean sample, and per layer at the shown epoch the divergence (mean twin–clean distance in RMS
// radii of the plot, and the share of flipped twins nearer their predicted class's centroid than
// their own's), with a sparkline of that share across the epochs. Read down the rows: the layer where
// the share jumps is where the attack takes hold; scrub or read the sparklines: how training moves it.
// @ts-check

import { escapeHtml } from './tooltip.js';

/** @typedef {import('../source.js').Divergence} Divergence */

/**
 * One layer's row: its name and its view's divergence per epoch (null: the plot has none yet).
 * @typedef {{layer: string, series: Divergence[] | null}} TwinRow
 */

/** Sparkline size in CSS pixels. */
const SPARK_W = 64, SPARK_H = 16;

/** @param {number | null | undefined} v */
const pct = (v) => (v == null || !Number.isFinite(v) ? '–' : `${Math.round(100 * v)}%`);
/** @param {number | null | undefined} v */
const num = (v) => (v == null || !Number.isFinite(v) ? '–' : v.toFixed(2));

/**
 * The share over the epochs, with the shown epoch marked (0 at the bottom, 1 at the top).
 * @param {Divergence[]} series @param {number} at
 */
function sparkline(series, at) {
  const x = (/** @type {number} */ i) => (series.length > 1 ? (i / (series.length - 1)) * (SPARK_W - 4) + 2 : SPARK_W / 2);
  const y = (/** @type {number} */ v) => SPARK_H - 2 - v * (SPARK_H - 4);
  let path = '', pen = false;
  series.forEach((d, i) => {
    const v = d.toward_predicted;
    if (v == null) { pen = false; return; }
    path += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  const v = at >= 0 ? series[at].toward_predicted : null;
  const dot = v != null ? `<circle cx="${x(at).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2"></circle>` : '';
  return `<svg width="${SPARK_W}" height="${SPARK_H}" viewBox="0 0 ${SPARK_W} ${SPARK_H}" aria-hidden="true"><line x1="0" x2="${SPARK_W}" y1="${y(0.5)}" y2="${y(0.5)}"></line><path d="${path}"></path>${dot}</svg>`;
}

/**
 * @param {HTMLElement} root   the panel's section (hidden while the run has no twins)
 * @param {{onLines: (on: boolean) => void}} handlers
 */
export function createTwinsPanel(root, { onLines }) {
  root.innerHTML = `<h2>Adversarial twins</h2>
    <div class="twins-attack muted"></div>
    <label class="ctl"><input class="twin-lines" type="checkbox" checked> lines to the clean twin</label>
    <table class="twins-table"><thead><tr>
      <th>layer</th>
      <th title="Mean distance between a twin and its clean sample, in RMS radii of the plot (the RMS distance of the clean points from their centre)">dist</th>
      <th title="Of the twins the model misclassifies, the share that sit nearer the centroid of the class they are predicted as than to their own class's centroid">→ pred</th>
      <th title="→ pred over the epochs (line at 50%); the dot is the shown epoch">over epochs</th>
    </tr></thead><tbody></tbody></table>
    <div class="twins-note muted"></div>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  const lines = /** @type {HTMLInputElement} */ (q('.twin-lines'));
  lines.addEventListener('change', () => onLines(lines.checked));
  const body = q('tbody'), attack = q('.twins-attack'), note = q('.twins-note');
  let key = '';
  return {
    /**
     * Shows the panel (hidden when `count` is 0).
     * @param {{count: number, attack: string, rows: TwinRow[], epoch: number | null, lines: boolean, success: number | null | undefined}} d
     */
    render(d) {
      root.hidden = d.count === 0;
      lines.checked = d.lines;
      if (d.count === 0) return;
      const k = JSON.stringify([d.count, d.attack, d.epoch, d.success, d.rows.map((r) => [r.layer, r.series ? r.series.length : -1, r.series?.map((s) => s.toward_predicted)])]);
      if (k === key) return;
      key = k;
      attack.textContent = `${d.attack} · ${d.count.toLocaleString()} twins · attack success ${pct(d.success)} at epoch ${d.epoch ?? '–'}`;
      body.innerHTML = '';
      let flipped = null;
      for (const r of d.rows) {
        const tr = document.createElement('tr');
        tr.dataset.layer = r.layer;
        const at = r.series ? r.series.findIndex((s) => s.epoch === d.epoch) : -1;
        const cur = r.series && at >= 0 ? r.series[at] : null;
        if (cur && cur.flipped != null) flipped = cur;
        const share = cur ? cur.toward_predicted : null;
        // The share's cell shades from white (0) to the accent red (1).
        const shade = share == null ? '' : `background: rgba(213, 94, 0, ${(0.08 + 0.6 * share).toFixed(2)})`;
        tr.innerHTML = `<td class="layer">${escapeHtml(r.layer)}</td><td class="dist">${num(cur?.distance)}</td>`
          + `<td class="toward" style="${shade}">${pct(share)}</td><td class="spark">${r.series && r.series.length ? sparkline(r.series, at) : ''}</td>`;
        if (cur) {
          tr.title = `${r.layer}, epoch ${cur.epoch}: ${cur.twins} twins, ${cur.flipped ?? '?'} misclassified; twins sit ${num(cur.distance)} RMS radii from their clean sample; `
            + `${pct(share)} of the misclassified ones sit nearer their predicted class's centroid than their own class's.`;
          tr.dataset.distance = String(cur.distance ?? '');
          tr.dataset.toward = String(share ?? '');
        }
        body.appendChild(tr);
      }
      note.textContent = flipped
        ? `${flipped.flipped} of ${flipped.twins} twins misclassified at epoch ${flipped.epoch}. Diamonds are twins; read down "→ pred": the layer where it rises is where the attack takes hold.`
        : 'Diamonds are twins. No twin is misclassified at this epoch.';
    },
  };
}
