// Moving through the epochs: play (a steady pace), seeking (the slider and arrow keys ease to their
// target), and following a live run's newest epoch.
// @ts-check

/** @typedef {import('./app.js').App} App */

/** Epochs per second while playing. */
export const PLAY_EPOCHS_PER_SEC = 1.5;
/** Slider/keyboard moves ease to their target at this many epochs per second (at least). */
export const SEEK_EPOCHS_PER_SEC = 4;

/**
 * Advances `t` by one frame of `dt` seconds; returns whether it is still moving.
 * @param {App} app
 * @param {number} dt
 */
export function advance(app, dt) {
  const { store } = app;
  const st = store.get();
  const E = app.epochs.length;
  let t = st.t, animating = false;
  if (st.playing && E > 1) {
    t += dt * PLAY_EPOCHS_PER_SEC;
    if (t >= E - 1) { t = E - 1; store.set({ playing: false, target: E - 1 }); } else animating = true;
  } else if (t !== st.target) {
    const step = dt * Math.max(SEEK_EPOCHS_PER_SEC, 6 * Math.abs(st.target - t));
    t = Math.abs(st.target - t) <= step ? st.target : t + Math.sign(st.target - t) * step;
    animating = t !== st.target;
  }
  if (t !== st.t) store.set({ t });
  return animating || store.get().playing;
}

/** @param {App} app */
export function togglePlay(app) {
  const { store } = app;
  const st = store.get(), E = app.epochs.length;
  if (E < 2) return;
  if (st.playing) store.set({ playing: false, target: Math.round(st.t) });
  else store.set({ playing: true, t: st.t >= E - 1 ? 0 : st.t });
}

/**
 * One epoch forward (d = 1) or back (d = -1) from where the slider is or is heading.
 * @param {App} app
 * @param {number} d
 */
export function stepEpoch(app, d) {
  const { store } = app;
  const st = store.get(), E = app.epochs.length;
  const base = st.playing ? Math.round(st.t) : Math.round(st.target);
  store.set({ playing: false, target: Math.min(E - 1, Math.max(0, base + d)) });
}

/** @param {App} app @param {number} i */
export function seek(app, i) {
  app.store.set({ playing: false, target: i });
}

/**
 * A live run's epochs changed: when following and at the newest epoch before, move to the newest.
 * @param {App} app
 * @param {boolean} wasAtEnd
 */
export function followNewest(app, wasAtEnd) {
  const live = app.summary ? app.summary.live : false;
  if (live && app.store.get().follow && wasAtEnd && app.epochs.length) app.store.set({ target: app.epochs.length - 1 });
}

/**
 * Whether the slider is at the newest epoch (or there is none yet).
 * @param {App} app
 */
export function atNewest(app) {
  return app.epochs.length === 0 || Math.round(app.store.get().t) >= app.epochs.length - 1;
}
