// Colour-blind-safe palettes (Okabe & Ito 2008; Paul Tol's "muted" and discrete rainbow schemes)
// and the palette texture layout the renderer reads.

export const OKABE_ITO = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000'];
export const TOL_MUTED = ['#332288', '#88CCEE', '#44AA99', '#117733', '#999933', '#DDCC77', '#CC6677', '#882255', '#AA4499', '#555555'];
// Paul Tol's discrete rainbow (23 colours), for many classes.
export const TOL_RAINBOW = ['#E8ECFB', '#D9CCE3', '#CAACCB', '#BA8DB4', '#AA6F9E', '#994F88', '#882E72', '#1965B0',
  '#437DBF', '#6195CF', '#7BAFDE', '#4EB265', '#90C987', '#CAE0AB', '#F7F056', '#F7CB45', '#F4A736', '#EE8026',
  '#E65518', '#DC050C', '#A5170E', '#72190E', '#42150A'];

// Special palette slots (indices into the 256-entry palette texture).
export const SLOT_ABSENT = 250;   // no prediction at this epoch
export const SLOT_CORRECT = 252;
export const SLOT_WRONG = 253;
export const MAX_CLASS_SLOTS = 250;
// Colours of the special slots, shared by the renderer's palette and the legend's key.
export const SLOT_COLOURS = { absent: '#BBBBBB', correct: '#88A8C8', wrong: '#D55E00' };

export function classColours(nClasses, scheme = 'auto') {
  let base = scheme === 'okabe-ito' ? OKABE_ITO : scheme === 'tol-muted' ? TOL_MUTED : scheme === 'tol-rainbow' ? TOL_RAINBOW
    : nClasses <= 8 ? OKABE_ITO : nClasses <= 10 ? TOL_MUTED : TOL_RAINBOW;
  const out = [];
  for (let i = 0; i < nClasses; i++) out.push(base[i % base.length]);
  return out;
}

export function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** RGBA bytes for the 256x1 palette texture. */
export function paletteBytes(classHex) {
  const px = new Uint8Array(256 * 4);
  const put = (i, hex, a = 255) => { const [r, g, b] = hexToRgb(hex); px.set([r, g, b, a], i * 4); };
  for (let i = 0; i < 256; i++) put(i, '#888888');
  classHex.slice(0, MAX_CLASS_SLOTS).forEach((h, i) => put(i, h));
  put(SLOT_ABSENT, SLOT_COLOURS.absent);
  put(SLOT_CORRECT, SLOT_COLOURS.correct, 150);  // muted blue, translucent: the correct majority recedes
  put(SLOT_WRONG, SLOT_COLOURS.wrong);            // Okabe-Ito vermillion: errors stand out
  return px;
}
