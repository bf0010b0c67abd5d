// Lasso / box selection: draws the outline on the 2-D overlay canvas while dragging, and the panel
// with the selection's counts per class, the statistics of the value coloured by, and the
// selection's prediction flips.
// @ts-check

/** @typedef {[number, number]} Point */

export class SelectionTool {
  /** @param {HTMLCanvasElement} overlay */
  constructor(overlay) {
    this.overlay = overlay;
    /** @type {Point[] | null} */
    this.path = null;
    this.mode = 'lasso';
    /** @type {Point} */
    this.start = [0, 0];
  }

  /** @param {string} mode 'lasso' | 'box' @param {number} x @param {number} y */
  begin(mode, x, y) { this.mode = mode; this.start = [x, y]; this.path = [[x, y]]; this.paint(); }

  /** @param {number} x @param {number} y */
  move(x, y) {
    if (!this.path) return;
    if (this.mode === 'box') {
      const [x0, y0] = this.start;
      this.path = [[x0, y0], [x, y0], [x, y], [x0, y]];
    } else {
      const last = this.path[this.path.length - 1];
      if (Math.hypot(x - last[0], y - last[1]) > 2) this.path.push([x, y]);
    }
    this.paint();
  }

  /** Ends the drag; returns the polygon in CSS px (null if too small). @returns {Point[] | null} */
  end() {
    const p = this.path;
    this.path = null;
    this.paint();
    return p && p.length >= 3 ? p : null;
  }

  paint() {
    const c = this.overlay, ctx = c.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    if (!this.path) return;
    ctx.beginPath();
    this.path.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = 'rgba(0, 114, 178, 0.08)';
    ctx.strokeStyle = 'rgba(0, 80, 140, 0.9)';
    ctx.setLineDash([4, 3]);
    ctx.fill();
    ctx.stroke();
  }
}

/**
 * What the panel says beside the counts: the value coloured by over the selection, and the
 * selection's prediction flips (null: the run has no predictions).
 * @typedef {{stat: string | null, flips: {lines: string[], total: number, samples: number} | null}} SelectionDetails
 */

/**
 * @param {HTMLElement} root
 * @param {{onClear: () => void}} handlers
 */
export function createSelectionPanel(root, { onClear }) {
  root.innerHTML = `<div class="sel-head"><span class="sel-total"></span> <button class="clear">clear</button></div><ul class="sel-counts"></ul>
    <div class="sel-stat"></div><div class="sel-flips"><div class="flips-head"></div><ul class="flips"></ul></div>`;
  const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (root.querySelector(s));
  q('.clear').addEventListener('click', onClear);
  const list = q('.sel-counts');
  const total = q('.sel-total');
  const stat = q('.sel-stat'), flipsHead = q('.flips-head'), flips = q('.flips');
  return {
    /**
     * @param {number[] | null} counts per class (null: no selection) @param {string[]} classes @param {string[]} colours
     * @param {SelectionDetails} [details]
     */
    render(counts, classes, colours, details) {
      root.hidden = !counts;
      if (!counts) return;
      stat.textContent = details?.stat ?? '';
      stat.hidden = !details?.stat;
      const f = details?.flips;
      flipsHead.textContent = !f ? '' : f.total
        ? `${f.total} prediction flip${f.total === 1 ? '' : 's'} in ${f.samples} sample${f.samples === 1 ? '' : 's'}${f.total > f.lines.length ? ` (the first ${f.lines.length})` : ''}:`
        : 'No prediction flips: every selected sample keeps its predicted class.';
      flips.innerHTML = '';
      for (const line of f ? f.lines : []) { const li = document.createElement('li'); li.textContent = line; flips.appendChild(li); }
      const sum = counts.reduce((a, b) => a + b, 0);
      const max = Math.max(1, ...counts);
      total.textContent = `${sum} selected`;
      list.innerHTML = '';
      classes.forEach((name, c) => {
        if (!counts[c]) return;
        const li = document.createElement('li');
        li.innerHTML = `<span class="name"></span><span class="bar"></span><span class="count"></span>`;
        const part = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li.querySelector(s));
        part('.name').textContent = name;
        const bar = part('.bar');
        bar.style.width = `${(80 * counts[c]) / max}px`;
        bar.style.background = colours[c];
        part('.count').textContent = String(counts[c]);
        list.appendChild(li);
      });
    },
  };
}
