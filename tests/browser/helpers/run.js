// Generates a small neuromapper run (docs/run-format.md) with node alone: clustered
// activations that separate as the "epochs" go on, predictions that improve, and thumbnails.
import { mkdirSync, writeFileSync, mkdtempSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { writeNpy } from './npy.js';

/** Deterministic PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes a run and returns {dir, n, classes, layers, epochs, labels}.
 * opts: {n = 300, classes = ['cat','dog','ship','frog'], layers = ['block1','block2','block3'],
 *        epochs = [1,2,3,4], dim = 12, dir, metrics, logits, values, samplesCsv, seed = 7}; `metrics` (a
 *        list of {epoch, train_accuracy, test_accuracy, loss} records) is written as metrics.json;
 *        `logits` stores predictions as [n, C] logits (`logitsAt`) instead of class ids; `values` writes
 *        a per-sample value `difficulty` per epoch (`difficultyAt`); `samplesCsv` (text) is written as
 *        samples.csv; `seed` draws the activations' noise (runs with the same n and classes share their
 *        labels whatever the seed).
 */
export function makeRun(opts = {}) {
  const n = opts.n ?? 300;
  const classes = opts.classes ?? ['cat', 'dog', 'ship', 'frog'];
  const layers = opts.layers ?? ['block1', 'block2', 'block3'];
  const epochs = opts.epochs ?? [1, 2, 3, 4];
  const dim = opts.dim ?? 12;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'nm-browser-run-'));
  const C = classes.length;
  const rand = rng(opts.seed ?? 7);
  mkdirSync(join(dir, 'epochs'), { recursive: true });
  writeFileSync(join(dir, 'neuromapper.json'), JSON.stringify({ format: 'neuromapper-run/1', name: 'browser-test', classes, layers }, null, 2));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % C;
  writeNpy(join(dir, 'labels.npy'), labels, [n]);
  // 8x8 RGB thumbnails: a colour per class with the sample index as a pattern.
  const th = 8, inputs = new Uint8Array(n * th * th * 3);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < th * th; p++) {
      const o = (i * th * th + p) * 3;
      inputs[o] = (labels[i] * 70) & 255; inputs[o + 1] = ((p + i) * 9) & 255; inputs[o + 2] = 255 - ((labels[i] * 50) & 255);
    }
  }
  writeNpy(join(dir, 'inputs.npy'), inputs, [n, th, th, 3]);
  if (opts.metrics) writeFileSync(join(dir, 'metrics.json'), JSON.stringify(opts.metrics));
  if (opts.samplesCsv) writeFileSync(join(dir, 'samples.csv'), opts.samplesCsv);
  const noise = new Float32Array(n * dim).map(() => rand() - 0.5);
  const run = { dir, n, classes, layers, epochs, labels, dim, noise, logits: !!opts.logits, values: !!opts.values };
  epochs.forEach((epoch, ei) => writeEpoch(run, epoch, ei));
  return run;
}

/**
 * Writes epoch `epoch` (the `ei`-th: later ones are better separated) the way a trainer should: into
 * a hidden folder, renamed into place when complete, so a server following the run never sees half.
 */
export function writeEpoch(run, epoch, ei) {
  const { dir, n, classes, layers, labels, dim, noise } = run;
  const C = classes.length;
  const tmp = join(dir, 'epochs', `.tmp-${epoch}`);
  mkdirSync(tmp, { recursive: true });
  layers.forEach((layer, li) => {
    const sep = (1 + ei) * (1 + li * 0.5);
    const x = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) {
        const centre = j % C === labels[i] ? sep : 0;
        x[i * dim + j] = centre + noise[i * dim + j] * (1 + 0.3 * Math.sin(ei + li + j));
      }
    }
    writeNpy(join(tmp, `${layer}.npy`), x, [n, dim]);
  });
  // Sample i is predicted wrongly when i % (ei + 2) == 1 (see `accuracyAt`).
  const preds = new Int32Array(n);
  for (let i = 0; i < n; i++) preds[i] = i % (ei + 2) === 1 ? (labels[i] + 1) % C : labels[i];
  if (run.logits) writeNpy(join(tmp, 'predictions.npy'), logitsAt(preds, C, ei), [n, C]);
  else writeNpy(join(tmp, 'predictions.npy'), preds, [n]);
  if (run.values) writeNpy(join(tmp, 'difficulty.values.npy'), Float32Array.from({ length: n }, (_, i) => difficultyAt(i, ei)), [n]);
  renameSync(tmp, join(dir, 'epochs', String(epoch)));
}

/**
 * The logits stored for predicted classes `preds` at epoch index ei: 0, and at the predicted class
 * 1 + (i % 5) / 2 + ei / 4 (so confidence varies between samples and rises with the epochs).
 */
export function logitsAt(preds, C, ei) {
  const out = new Float32Array(preds.length * C);
  for (let i = 0; i < preds.length; i++) out[i * C + preds[i]] = 1 + (i % 5) / 2 + ei / 4;
  return out;
}

/** The per-sample value `difficulty` of sample i at epoch index ei. */
export function difficultyAt(i, ei) {
  return (i % 7) + ei * 0.5;
}

/** The accuracy of the predictions `writeEpoch` stores at epoch index ei, over n samples. */
export function accuracyAt(n, ei) {
  let wrong = 0;
  for (let i = 0; i < n; i++) if (i % (ei + 2) === 1) wrong++;
  return (n - wrong) / n;
}
