// The server's events (crates/nm_server/src/events.rs, `ServerEvent`): their shapes, and one
// subscription that hands each event to the handler for its type.
// @ts-check
import { eventsUrl } from './api.js';

/**
 * With several runs served side by side every event but `hello` also carries `run`, the index of
 * the run it is about (absent: run 0).
 * @typedef {{type: 'hello'}} HelloEvent
 * @typedef {{type: 'progress', layer: string, view: string, stage: string, fraction: number, run?: number}} ProgressEvent
 * @typedef {{type: 'done', layer: string, view: string, epochs: number[], refined: boolean, run?: number}} DoneEvent
 * @typedef {{type: 'failed', layer: string, view: string, error: string, run?: number}} FailedEvent
 * @typedef {{type: 'cancelled', layer: string, view: string, run?: number}} CancelledEvent
 * @typedef {{type: 'epochs', epochs: number[], run?: number}} EpochsEvent
 * @typedef {{type: 'training_finished', refining: boolean, run?: number}} TrainingFinishedEvent
 * @typedef {{type: 'error', error: string, run?: number}} ErrorEvent
 * @typedef {HelloEvent|ProgressEvent|DoneEvent|FailedEvent|CancelledEvent|EpochsEvent|TrainingFinishedEvent|ErrorEvent} ServerEvent
 */

/** Every event type the server sends. */
export const EVENT_TYPES = /** @type {const} */ (['hello', 'progress', 'done', 'failed', 'cancelled', 'epochs', 'training_finished', 'error']);

/**
 * Subscribes to the server's events; `handlers[type](event)` is called for each (types without a
 * handler are ignored; an unknown type is logged). Returns the EventSource.
 * @param {import('./source.js').EventHandlers} handlers
 * @returns {EventSource}
 */
export function subscribe(handlers) {
  const es = new EventSource(eventsUrl());
  es.onmessage = (m) => {
    /** @type {ServerEvent} */
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { console.error('bad event', m.data); return; }
    if (!EVENT_TYPES.includes(ev.type)) { console.error('unknown event type', ev.type); return; }
    const h = /** @type {((ev: ServerEvent) => void) | undefined} */ (handlers[ev.type]);
    if (h) h(ev);
  };
  return es;
}
