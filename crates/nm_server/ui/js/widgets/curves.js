// Training curves under the slider: one small chart per kind of number (accuracies in [0, 1], the
// loss on its own scale), each epoch at exactly the slider's stop for it (the charts span the range
// of the thumb's centre), the shown epoch marked, values on hover, a click seeks there.
// @ts-check

const SVG = 'http://www.w3.org/2000/svg';
/** Chart width in viewBox units (the SVG stretches to the slider's width; strokes do not scale). */
const VIEW_W = 1000, VIEW_H = 100;

/**
 * One line: its key, label and colour, and its value per run epoch index (null: not known).
 * `format` says how its values read.
 * @typedef {{key: string, label: string, colour: string, values: (number | null)[], format: 'percent' | 'number'}} Series
 */
/**
 * One chart: its name and lines; `unit` 'fraction' draws from the tenth below the lowest value to the
 * tenth above the highest, 'free' on the lines' own range.
 * @typedef {{key: string, title: string, unit: 'fraction' | 'free', series: Series[]}} Chart
 */

/** @param {Series} s @param {number | null} v */
const show = (s, v) => (v == null ? '–' : s.format === 'percent' ? `${(100 * v).toFixed(1)}%` : v.toPrecision(3));

/**
 * @param {HTMLElement} root    the charts' box (it spans the slider's track)
 * @param {HTMLElement} info    where hover values (else the lines' key) are written
 * @param {{onTarget: (i: number) => void}} handlers
 */
export function createCurves(root, info, { onTarget }) {
  /** @type {Chart[]} */
  let charts = [];
  /** @type {number[]} */
  let epochs = [];
  /** @type {SVGLineElement[]} */
  let markers = [];
  let dataKey = '';
  /** @type {number | null} */
  let hoverIndex = null;

  /** x in viewBox units of (fractional) epoch index t. @param {number} t */
  const xOf = (t) => (epochs.length > 1 ? (t / (epochs.length - 1)) * VIEW_W : VIEW_W / 2);

  /** @param {string} name @param {{[k: string]: string | number}} attrs */
  const el = (name, attrs) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };

  function writeKey() {
    info.innerHTML = '';
    for (const c of charts) {
      for (const s of c.series) {
        const k = document.createElement('span');
        k.className = 'curve-key';
        k.innerHTML = '<i></i><span></span>';
        /** @type {HTMLElement} */ (k.querySelector('i')).style.background = s.colour;
        /** @type {HTMLElement} */ (k.querySelector('span')).textContent = s.label;
        info.appendChild(k);
      }
    }
  }

  /** @param {number} i */
  function writeValues(i) {
    const parts = [`epoch ${epochs[i]}`];
    for (const c of charts) for (const s of c.series) parts.push(`${s.label} ${show(s, s.values[i])}`);
    info.textContent = parts.join(' · ');
  }

  /** The epoch index under client x. @param {number} clientX */
  function indexAt(clientX) {
    const r = root.getBoundingClientRect();
    const f = r.width > 0 ? (clientX - r.left) / r.width : 0;
    return Math.min(epochs.length - 1, Math.max(0, Math.round(f * (epochs.length - 1))));
  }

  root.addEventListener('mousemove', (e) => {
    if (!epochs.length) return;
    hoverIndex = indexAt(e.clientX);
    writeValues(hoverIndex);
  });
  root.addEventListener('mouseleave', () => { hoverIndex = null; writeKey(); });
  root.addEventListener('click', (e) => { if (epochs.length) onTarget(indexAt(e.clientX)); });

  return {
    /**
     * The charts for the run's epochs (redrawn only when they change).
     * @param {Chart[]} next @param {number[]} runEpochs
     */
    setData(next, runEpochs) {
      const key = JSON.stringify([next, runEpochs]);
      if (key === dataKey) return;
      dataKey = key;
      charts = next.filter((c) => c.series.length);
      epochs = runEpochs;
      root.innerHTML = '';
      root.hidden = !charts.length;
      markers = charts.map((c) => {
        const svg = /** @type {SVGSVGElement} */ (el('svg', { viewBox: `0 0 ${VIEW_W} ${VIEW_H}`, preserveAspectRatio: 'none', class: `curve curve-${c.key}` }));
        const title = el('title', {});
        svg.appendChild(title);
        const all = c.series.flatMap((s) => s.values.filter((v) => v != null));
        // Fractions: the tenths around the values (the title says which); anything else: its range.
        const tenths = c.unit === 'fraction';
        let lo = tenths ? Math.floor(10 * Math.min(...all)) / 10 : Math.min(...all);
        let hi = tenths ? Math.ceil(10 * Math.max(...all)) / 10 : Math.max(...all);
        if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
        title.textContent = tenths ? `${c.title} (${Math.round(100 * lo)}% to ${Math.round(100 * hi)}%)` : c.title;
        const yOf = (/** @type {number} */ v) => VIEW_H - 4 - ((v - lo) / (hi - lo)) * (VIEW_H - 8);
        svg.appendChild(el('line', { x1: 0, x2: VIEW_W, y1: VIEW_H - 0.5, y2: VIEW_H - 0.5, class: 'axis' }));
        for (const s of c.series) {
          const pts = s.values.map((v, i) => (v == null ? null : `${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`)).filter((p) => p != null);
          svg.appendChild(el('polyline', { points: pts.join(' '), stroke: s.colour, class: `line line-${s.key}` }));
        }
        const marker = /** @type {SVGLineElement} */ (el('line', { x1: 0, x2: 0, y1: 0, y2: VIEW_H, class: 'marker' }));
        svg.appendChild(marker);
        root.appendChild(svg);
        return marker;
      });
      if (hoverIndex == null || hoverIndex >= epochs.length) writeKey(); else writeValues(hoverIndex);
    },
    /** Marks the shown (fractional) epoch index t. @param {number} t */
    mark(t) {
      const x = xOf(t).toFixed(2);
      for (const m of markers) { m.setAttribute('x1', x); m.setAttribute('x2', x); }
    },
  };
}
