// A computation's progress as one number: the engine's stages weighted by their usual share of the
// time, for the progress bar in a plot's title.
// @ts-check

/** @typedef {import('./app.js').Pending} Pending */

/** Per stage: [where it starts, its share] of the whole computation. */
const STAGE_WEIGHTS = /** @type {{[stage: string]: [number, number]}} */ ({
  queued: [0, 0], pca: [0, 0.1], neighbors: [0.1, 0.25], fuzzy_graph: [0.35, 0.1], init: [0.45, 0.1], layout: [0.55, 0.45],
});

/**
 * The pending state of `view` at `fraction` through `stage` (an unknown stage counts as 0).
 * @param {string} view
 * @param {string} stage
 * @param {number} fraction
 * @returns {Pending}
 */
export function pendingAt(view, stage, fraction) {
  const [base, w] = STAGE_WEIGHTS[stage] || [0, 0];
  return { view, stage, fraction, overall: base + w * fraction };
}
