// A tiny observable store: state is a plain object; set() merges a patch and tells subscribers
// which keys changed.

export function createStore(initial) {
  let state = { ...initial };
  const subs = new Set();
  return {
    get: () => state,
    set(patch) {
      const changed = [];
      for (const k of Object.keys(patch)) if (state[k] !== patch[k]) changed.push(k);
      if (!changed.length) return;
      state = { ...state, ...patch };
      for (const fn of subs) fn(state, changed);
    },
    /** fn(state, changedKeys); returns an unsubscribe function. */
    subscribe(fn) { subs.add(fn); return () => subs.delete(fn); },
  };
}
