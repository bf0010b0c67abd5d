// Hover picking: a uniform grid index over one plot's currently drawn positions.
// Build: O(n) counting sort of points into cells (about POINTS_PER_CELL each); query: the cells
// overlapping the pick radius, so a pick touches a few dozen points even at 250,000 per plot.
// @ts-check

const POINTS_PER_CELL = 4;

export class GridIndex {
  /**
   * @param {Float32Array} xy          [n*2] data coordinates
   * @param {(i: number) => boolean} [skip]   true for points that cannot be picked
   */
  constructor(xy, skip) {
    const n = xy.length / 2;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i], y = xy[2 * i + 1];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    if (!(x1 >= x0)) { x0 = y0 = 0; x1 = y1 = 1; }
    const g = Math.max(1, Math.min(2048, Math.ceil(Math.sqrt(n / POINTS_PER_CELL))));
    this.g = g; this.x0 = x0; this.y0 = y0;
    this.cw = Math.max((x1 - x0) / g, 1e-12); this.ch = Math.max((y1 - y0) / g, 1e-12);
    this.xy = xy; this.skip = skip;
    const cellOf = new Uint32Array(n);
    const start = new Uint32Array(g * g + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cell(xy[2 * i], xy[2 * i + 1]);
      cellOf[i] = c; start[c + 1]++;
    }
    for (let c = 0; c < g * g; c++) start[c + 1] += start[c];
    const fill = start.slice(0, g * g);
    const items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]]++] = i;
    this.start = start; this.items = items;
  }

  /** The cell of data point (x, y), clamped to the grid. @param {number} x @param {number} y */
  cell(x, y) {
    const g = this.g;
    const cx = Math.min(g - 1, Math.max(0, Math.floor((x - this.x0) / this.cw)));
    const cy = Math.min(g - 1, Math.max(0, Math.floor((y - this.y0) / this.ch)));
    return cy * g + cx;
  }

  /**
   * Nearest pickable point within radius r (data units) of (x, y): its index, or -1.
   * @param {number} x @param {number} y @param {number} r
   */
  nearest(x, y, r) {
    const g = this.g;
    const cx0 = Math.max(0, Math.floor((x - r - this.x0) / this.cw)), cx1 = Math.min(g - 1, Math.floor((x + r - this.x0) / this.cw));
    const cy0 = Math.max(0, Math.floor((y - r - this.y0) / this.ch)), cy1 = Math.min(g - 1, Math.floor((y + r - this.y0) / this.ch));
    let best = -1, bestD = r * r;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cy * g + cx;
        for (let k = this.start[c]; k < this.start[c + 1]; k++) {
          const i = this.items[k];
          const dx = this.xy[2 * i] - x, dy = this.xy[2 * i + 1] - y;
          const d = dx * dx + dy * dy;
          if (d <= bestD && !(this.skip && this.skip(i))) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }
}

/**
 * Even-odd point-in-polygon test.
 * @param {[number, number][]} poly
 * @param {number} x @param {number} y
 */
export function insidePolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
