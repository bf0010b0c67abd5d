// The class colours (one source of truth for the viewer; nm_figure's palette.rs computes the same
// colours for `neuromapper plot`, checked against crates/nm_figure/tests/palette_reference.txt) and
// the palette texture layout the renderer reads.
//
// Two regimes, both measured by tests/browser/palette.test.js:
// - up to FIXED_CLASSES classes: a fixed list chosen by a search over sRGB (max-min CIEDE2000 over
//   normal vision and the Machado et al. 2009 protanopia and deuteranopia simulations, every colour
//   at least MIN_CONTRAST against the background). Any prefix of it is as good as the whole.
// - more classes: a generated sequence in OKLCH. Colour i has hue H0 + i·(golden angle) and lightness
//   LEVELS[i mod 3]: consecutive classes differ in hue by 137.5° and in lightness by a step, and
//   colour i never depends on the number of classes (adding classes moves no colour). Chroma is the
//   largest up to MAX_CHROMA that fits in sRGB (a fixed-step bisection, so JavaScript and Rust agree).
// The run format has no superclasses, so there is no grouping by them.
//
// Per-sample values (confidence, loss, neighbour change, ...) use a continuous scale, `rampColour`:
// a path through OKLab whose lightness rises linearly from RAMP_L[0] (dark violet) to RAMP_L[1]
// (yellow), its hue turning from RAMP_H[0] to RAMP_H[1] degrees through blue and teal (as viridis
// does), chroma the largest up to RAMP_CHROMA that fits in sRGB. Lightness alone orders the scale,
// so it reads the same under every colour-vision deficiency and in greyscale; the lightest end stays
// dark enough to be seen on the plots' background.
// @ts-check

/** The background points are drawn on: renderer.js clears each plot to (0.985, 0.985, 0.98), a shade
 *  darker than the white page (style.css `--bg`) and nm_figure's white figures, so the harder case. */
export const BACKGROUND = '#FBFBFA';

/** Least WCAG 2.x contrast ratio of a class colour against BACKGROUND. WCAG asks 3:1 of interface
 *  glyphs; a class is read as a cloud of many points, not one glyph, and 3:1 would leave only
 *  L* < 62, too narrow a lightness range for ten colours that stay apart under colour-blindness.
 *  2:1 keeps every colour at L* < 75 (the old 23-colour rainbow's near-white #E8ECFB is 1.14:1). */
export const MIN_CONTRAST = 2;

export const FIXED_CLASSES = 10;
// In greedy order: each colour is the one farthest (max-min, all three visions) from those before it.
export const FIXED = ['#001EC3', '#96C30F', '#960000', '#E696E6', '#1E3C3C', '#00785A', '#967896', '#E100FF', '#B4A587', '#967800'];

/** Hue of class 0 and the step between classes, in degrees (the golden angle, 180·(3 − √5)). */
export const H0_DEG = 30;
export const HUE_STEP_DEG = 137.50776405003785;
/** OKLab lightness of class i is LEVELS[i mod 3]; 0.72 is the lightest that keeps MIN_CONTRAST. */
export const LEVELS = [0.45, 0.72, 0.58];
export const MAX_CHROMA = 0.16;
const BISECTION_STEPS = 24;

/**
 * OKLab -> linear sRGB (Björn Ottosson's published matrices).
 * @param {number} L @param {number} a @param {number} b
 * @returns {[number, number, number]}
 */
function oklabToLinear(L, a, b) {
  const l_ = L + 0.3963377774 * a + 0.2158037573 * b;
  const m_ = L - 0.1055613458 * a - 0.0638541728 * b;
  const s_ = L - 0.0894841775 * a - 1.291485548 * b;
  const l = l_ * l_ * l_, m = m_ * m_ * m_, s = s_ * s_ * s_;
  return [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
}

const inGamut = (/** @type {number[]} */ v) => v[0] >= 0 && v[0] <= 1 && v[1] >= 0 && v[1] <= 1 && v[2] >= 0 && v[2] <= 1;

/** Linear light 0..1 -> two hex digits of sRGB (IEC 61966-2-1). @param {number} x */
function encode(x) {
  const c = Math.min(1, Math.max(0, x));
  const s = c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
  return Math.round(s * 255).toString(16).padStart(2, '0').toUpperCase();
}

/**
 * The sRGB colour of OKLCH (L, the largest chroma up to `maxChroma` in gamut, hue h radians).
 * @param {number} L @param {number} h @param {number} maxChroma
 */
function fittedColour(L, h, maxChroma) {
  const [ca, sa] = [Math.cos(h), Math.sin(h)];
  let lo = 0, hi = maxChroma;
  if (inGamut(oklabToLinear(L, maxChroma * ca, maxChroma * sa))) lo = maxChroma;
  else {
    for (let k = 0; k < BISECTION_STEPS; k++) {
      const c = (lo + hi) / 2;
      if (inGamut(oklabToLinear(L, c * ca, c * sa))) lo = c;
      else hi = c;
    }
  }
  return '#' + oklabToLinear(L, lo * ca, lo * sa).map(encode).join('');
}

/** Colour i of the generated sequence (for more than FIXED_CLASSES classes). @param {number} i */
export function generatedColour(i) {
  const h = (((H0_DEG + i * HUE_STEP_DEG) % 360) * Math.PI) / 180;
  return fittedColour(LEVELS[i % LEVELS.length], h, MAX_CHROMA);
}

/** OKLab lightness at the low and high end of the value scale. */
export const RAMP_L = [0.3, 0.8];
/** Hue (degrees) at the low and high end: violet, through blue and teal, to yellow. */
export const RAMP_H = [295, 95];
export const RAMP_CHROMA = 0.15;
/** Palette slots the value scale uses (0 .. RAMP_SLOTS - 1; the special slots stay). */
export const RAMP_SLOTS = 250;

/** The value scale's colour at t in [0, 1] (clamped). @param {number} t */
export function rampColour(t) {
  const u = Math.min(1, Math.max(0, t));
  const L = RAMP_L[0] + u * (RAMP_L[1] - RAMP_L[0]);
  const h = ((RAMP_H[0] + u * (RAMP_H[1] - RAMP_H[0])) * Math.PI) / 180;
  return fittedColour(L, h, RAMP_CHROMA);
}

/** The value scale as RAMP_SLOTS colours, slot i at t = i / (RAMP_SLOTS - 1). @returns {string[]} */
export function rampColours() {
  return Array.from({ length: RAMP_SLOTS }, (_, i) => rampColour(i / (RAMP_SLOTS - 1)));
}

/** The palette slot of t in [0, 1] on the value scale. @param {number} t */
export function rampSlot(t) {
  return Math.round(Math.min(1, Math.max(0, t)) * (RAMP_SLOTS - 1));
}

/** One '#RRGGBB' per class. @param {number} nClasses @returns {string[]} */
export function classColours(nClasses) {
  if (nClasses <= FIXED_CLASSES) return FIXED.slice(0, nClasses);
  return Array.from({ length: nClasses }, (_, i) => generatedColour(i));
}

// Special palette slots (indices into the 256-entry palette texture).
export const SLOT_ABSENT = 250;   // no prediction at this epoch
export const SLOT_CORRECT = 252;
export const SLOT_WRONG = 253;
export const MAX_CLASS_SLOTS = 250;
// Colours of the special slots, shared by the renderer's palette and the legend's key.
export const SLOT_COLOURS = { absent: '#BBBBBB', correct: '#88A8C8', wrong: '#D55E00' };

/** '#RRGGBB' -> [r, g, b] bytes. @param {string} hex @returns {[number, number, number]} */
export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** RGBA bytes for the 256x1 palette texture. @param {string[]} classHex */
export function paletteBytes(classHex) {
  const px = new Uint8Array(256 * 4);
  const put = (/** @type {number} */ i, /** @type {string} */ hex, a = 255) => { const [r, g, b] = hexToRgb(hex); px.set([r, g, b, a], i * 4); };
  for (let i = 0; i < 256; i++) put(i, '#888888');
  classHex.slice(0, MAX_CLASS_SLOTS).forEach((h, i) => put(i, h));
  put(SLOT_ABSENT, SLOT_COLOURS.absent);
  put(SLOT_CORRECT, SLOT_COLOURS.correct, 150);  // muted blue, translucent: the correct majority recedes
  put(SLOT_WRONG, SLOT_COLOURS.wrong);            // Okabe-Ito vermillion: errors stand out
  return px;
}
