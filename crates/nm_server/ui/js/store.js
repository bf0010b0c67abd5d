// A tiny observable store: state is a plain object; set() merges a patch and tells subscribers
// which keys changed.
// @ts-check

/**
 * @template S
 * @typedef {object} Store
 * @property {() => S} get
 * @property {(patch: Partial<S>) => void} set    merges `patch`; subscribers hear of the keys that changed
 * @property {(fn: (state: S, changed: (keyof S)[]) => void) => () => void} subscribe   returns an unsubscribe function
 */

/**
 * @template {object} S
 * @param {S} initial
 * @returns {Store<S>}
 */
export function createStore(initial) {
  let state = { ...initial };
  /** @type {Set<(state: S, changed: (keyof S)[]) => void>} */
  const subs = new Set();
  return {
    get: () => state,
    set(patch) {
      /** @type {(keyof S)[]} */
      const changed = [];
      for (const k of /** @type {(keyof S)[]} */ (Object.keys(patch))) if (state[k] !== patch[k]) changed.push(k);
      if (!changed.length) return;
      state = { ...state, ...patch };
      for (const fn of subs) fn(state, changed);
    },
    subscribe(fn) { subs.add(fn); return () => { subs.delete(fn); }; },
  };
}
