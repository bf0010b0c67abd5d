// Grid layout of the plots on the one canvas, and each plot's camera (pan/zoom).
// Coordinates: CSS pixels with the origin at the canvas's top-left; data y grows upwards.
// @ts-check

/**
 * A plot's drawing area (x, y, w, h) inside its grid cell (cellX, cellY, cellW, cellH), CSS px.
 * @typedef {{x: number, y: number, w: number, h: number, cellX: number, cellY: number, cellW: number, cellH: number}} Rect
 */
/**
 * A plot's camera: the data point at the centre of its rect and CSS px per data unit.
 * @typedef {{cx: number, cy: number, scale: number}} Camera
 */
/** @typedef {{x: number, y: number, w: number, h: number}} Area */

/** Margin inside each cell (px); the title bar sits in the top margin. */
export const CELL_PAD = 6;
export const TITLE_H = 22;

/**
 * Splits a width x height area into rects for n plots, choosing the column count that makes the
 * plots largest. Returns the plotting areas, inside the cell margins.
 * @param {number} n
 * @param {number} width
 * @param {number} height
 * @returns {Rect[]}
 */
export function gridRects(n, width, height) {
  let best = { cols: 1, size: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const size = Math.min(width / cols, (height / rows) - TITLE_H);
    if (size > best.size) best = { cols, size };
  }
  const cols = best.cols;
  const rows = Math.ceil(n / cols);
  const cw = width / cols, ch = height / rows;
  const rects = [];
  for (let i = 0; i < n; i++) {
    const c = i % cols, r = Math.floor(i / cols);
    rects.push({
      x: c * cw + CELL_PAD, y: r * ch + TITLE_H, w: Math.max(10, cw - 2 * CELL_PAD), h: Math.max(10, ch - TITLE_H - CELL_PAD),
      cellX: c * cw, cellY: r * ch, cellW: cw, cellH: ch,
    });
  }
  return rects;
}

/**
 * Camera fitting data bounds [x0, y0, x1, y1] into rect with a small margin.
 * @param {number[]} bounds
 * @param {Area} rect
 * @returns {Camera}
 */
export function fitCamera(bounds, rect) {
  const [x0, y0, x1, y1] = bounds;
  const w = Math.max(x1 - x0, 1e-9), h = Math.max(y1 - y0, 1e-9);
  const scale = 0.92 * Math.min(rect.w / w, rect.h / h);
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale };
}

/**
 * Data (x, y) -> CSS px on the canvas.
 * @param {Area} rect @param {Camera} cam @param {number} x @param {number} y
 * @returns {[number, number]}
 */
export function dataToPx(rect, cam, x, y) {
  return [rect.x + rect.w / 2 + (x - cam.cx) * cam.scale, rect.y + rect.h / 2 - (y - cam.cy) * cam.scale];
}

/**
 * CSS px on the canvas -> data (x, y).
 * @param {Area} rect @param {Camera} cam @param {number} px @param {number} py
 * @returns {[number, number]}
 */
export function pxToData(rect, cam, px, py) {
  return [cam.cx + (px - rect.x - rect.w / 2) / cam.scale, cam.cy - (py - rect.y - rect.h / 2) / cam.scale];
}

/**
 * Zoom by `factor` keeping the data point under (px, py) fixed.
 * @param {Area} rect @param {Camera} cam @param {number} px @param {number} py @param {number} factor
 * @returns {Camera}
 */
export function zoomAt(rect, cam, px, py, factor) {
  const [dx, dy] = pxToData(rect, cam, px, py);
  const scale = cam.scale * factor;
  return { scale, cx: dx - (px - rect.x - rect.w / 2) / scale, cy: dy + (py - rect.y - rect.h / 2) / scale };
}

/**
 * The camera moved by a drag of (dxPx, dyPx).
 * @param {Camera} cam @param {number} dxPx @param {number} dyPx
 * @returns {Camera}
 */
export function panBy(cam, dxPx, dyPx) {
  return { ...cam, cx: cam.cx - dxPx / cam.scale, cy: cam.cy + dyPx / cam.scale };
}

/**
 * Index of the rect containing (px, py), or -1.
 * @param {Area[]} rects @param {number} px @param {number} py
 */
export function rectAt(rects, px, py) {
  return rects.findIndex((r) => px >= r.x && px < r.x + r.w && py >= r.y && py < r.y + r.h);
}
