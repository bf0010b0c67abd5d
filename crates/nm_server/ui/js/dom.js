// Finding the page's fixed elements (index.html): a missing one is a bug, reported by name.
// @ts-check

/**
 * The element for `selector`.
 * @param {string} selector
 * @returns {HTMLElement}
 */
export function $(selector) {
  const el = document.querySelector(selector);
  if (!(el instanceof HTMLElement)) throw new Error(`index.html lacks ${selector}`);
  return el;
}
