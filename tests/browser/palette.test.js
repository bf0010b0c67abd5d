// The class palette (ui/js/palette.js) measured for k = 2..1000 classes: contrast against the background,
// distance between neighbouring classes (and every pair, also under colour-blindness, for <= 10), and the
// same colours in `neuromapper plot` (nm_figure's palette.rs), through a reference list and a real SVG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classColours, generatedColour, BACKGROUND, MIN_CONTRAST, FIXED_CLASSES } from '../../crates/nm_server/ui/js/palette.js';
import { contrast, distance } from './helpers/colour.js';
import { makeRun } from './helpers/run.js';
import { findBinary } from './helpers/env.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAX_K = 1000;

// Thresholds, in CIEDE2000 units (about 1 is a just-noticeable difference between large patches; small
// dots need several times that). Measured, the palette before this test (Okabe-Ito / Tol muted / Tol
// rainbow) -> now: least contrast 1.14 -> 2.01; <= 10 classes, closest pair normal / protanopia /
// deuteranopia 15.0 / 11.8 / 1.2 -> 19.3 / 16.9 / 17.1; consecutive classes 7.9 -> 41.9; within 3
// classes 7.9 -> 18.0; closest pair for 11..20 classes 7.9 -> 14.1.
/** <= 10 classes: every pair, under normal vision and the protanopia and deuteranopia simulations. */
const MIN_PAIR_DE_FIXED = 15;
/** > 10 classes: consecutive classes (i, i + 1), normal vision. */
const MIN_NEIGHBOUR_DE = 30;
/** > 10 classes: classes at most NEAR apart in index, normal vision. */
const NEAR = 3;
const MIN_NEAR_DE = 15;
/** 11..20 classes: every pair, normal vision. */
const MIN_PAIR_DE_20 = 10;

function minPair(cols, kind = null) {
  let m = Infinity;
  for (let i = 0; i < cols.length; i++) for (let j = i + 1; j < cols.length; j++) m = Math.min(m, distance(cols[i], cols[j], kind));
  return m;
}

function minWithin(cols, window, kind = null) {
  let m = Infinity;
  for (let i = 0; i < cols.length; i++) {
    for (let j = i + 1; j <= i + window && j < cols.length; j++) m = Math.min(m, distance(cols[i], cols[j], kind));
  }
  return m;
}

test('every class colour stands out from the background, for 2..1000 classes', () => {
  for (let k = 2; k <= MAX_K; k++) {
    const cols = classColours(k);
    assert.equal(cols.length, k);
    for (const [i, c] of cols.entries()) {
      assert.match(c, /^#[0-9A-F]{6}$/);
      const r = contrast(c, BACKGROUND);
      assert.ok(r >= MIN_CONTRAST, `k=${k}: class ${i} ${c} has contrast ${r.toFixed(2)} < ${MIN_CONTRAST} against ${BACKGROUND}`);
    }
  }
});

test('up to 10 classes every pair is distinguishable, also under protanopia and deuteranopia', () => {
  for (let k = 2; k <= FIXED_CLASSES; k++) {
    const cols = classColours(k);
    for (const kind of [null, 'protanopia', 'deuteranopia']) {
      const m = minPair(cols, kind);
      assert.ok(m >= MIN_PAIR_DE_FIXED, `k=${k} ${kind ?? 'normal vision'}: closest pair ΔE00 ${m.toFixed(1)} < ${MIN_PAIR_DE_FIXED}`);
    }
  }
});

test('from 11 to 1000 classes neighbours are far apart and colours do not depend on k', () => {
  const all = classColours(MAX_K);
  for (let k = FIXED_CLASSES + 1; k <= MAX_K; k++) {
    const cols = classColours(k);
    assert.deepEqual(cols, all.slice(0, k), `k=${k}: a prefix of the ${MAX_K}-class sequence`);
  }
  const n1 = minWithin(all, 1), near = minWithin(all, NEAR);
  assert.ok(n1 >= MIN_NEIGHBOUR_DE, `closest consecutive classes ΔE00 ${n1.toFixed(1)} < ${MIN_NEIGHBOUR_DE}`);
  assert.ok(near >= MIN_NEAR_DE, `closest classes within ${NEAR} ΔE00 ${near.toFixed(1)} < ${MIN_NEAR_DE}`);
  for (let k = FIXED_CLASSES + 1; k <= 20; k++) {
    const m = minPair(classColours(k));
    assert.ok(m >= MIN_PAIR_DE_20, `k=${k}: closest pair ΔE00 ${m.toFixed(1)} < ${MIN_PAIR_DE_20}`);
  }
});

test('palette.js and nm_figure agree: the reference list holds the same colours', () => {
  // crates/nm_figure/tests/palette_reference.txt: the 10 fixed colours, then 1000 generated ones;
  // nm_figure's own test checks its palette.rs against the same file.
  const ref = readFileSync(join(repo, 'crates', 'nm_figure', 'tests', 'palette_reference.txt'), 'utf8')
    .split('\n').filter((l) => /^#[0-9A-F]{6}$/.test(l));
  assert.equal(ref.length, FIXED_CLASSES + MAX_K);
  assert.deepEqual(ref.slice(0, FIXED_CLASSES), classColours(FIXED_CLASSES));
  assert.deepEqual(ref.slice(FIXED_CLASSES), Array.from({ length: MAX_K }, (_, i) => generatedColour(i)));
});

test('`neuromapper plot` fills each class with palette.js\'s colour (4 and 12 classes)', () => {
  const bin = findBinary();
  for (const nClasses of [4, 12]) {
    const classes = Array.from({ length: nClasses }, (_, i) => `c${i}`);
    const run = makeRun({ n: nClasses * 8, classes, layers: ['a'], epochs: [1, 2], dim: 6 });
    const out = mkdtempSync(join(tmpdir(), 'nm-palette-'));
    try {
      const svg = join(out, 'fig.svg');
      execFileSync(bin, ['plot', run.dir, '--out', svg, '--n-neighbors', '5', '--pca', '0'], { stdio: 'pipe' });
      const text = readFileSync(svg, 'utf8');
      // The legend: one filled square per class, in class order, each followed by its name (the
      // first filled rect is the white background; panel frames are not filled).
      const legend = [...text.matchAll(/<rect[^>]*fill="(#[0-9A-F]{6})"[^>]*\/>\s*<text[^>]*>\s*([^<]*?)\s*<\/text>/g)]
        .map((m) => [m[2], m[1]]);
      assert.deepEqual(legend.map(([name]) => name), classes);
      assert.deepEqual(legend.map(([, c]) => c), classColours(nClasses));
      // Every point's fill is the colour of its class.
      const fills = new Set([...text.matchAll(/<circle[^>]*fill="(#[0-9A-Fa-f]{6})"/g)].map((m) => m[1].toUpperCase()));
      assert.deepEqual([...fills].sort(), [...classColours(nClasses)].sort());
    } finally {
      rmSync(out, { recursive: true, force: true });
      rmSync(run.dir, { recursive: true, force: true });
    }
  }
});
