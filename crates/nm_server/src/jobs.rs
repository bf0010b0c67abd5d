//! Compute tasks: one per (layer, parameter key), shared by every client that asks for it, run by a
//! fixed pool of worker threads fed by a bounded queue.
//!
//! A client's newer request supersedes its older ones *for the same layers*: the client is removed
//! from those tasks, and a task no client wants any more is cancelled (a queued one is dropped at
//! once; a running one sees the engine's cancel flag within one optimisation epoch). The server's own
//! default task is never superseded.
//!
//! Bounds: [`WORKERS`] threads compute, whatever the number of requests (no thread per request);
//! at most [`MAX_PENDING_TASKS`] tasks (queued or running) exist at once, past which a request is
//! refused whole ([`Busy`], answered 429). Per client the bound is structural: supersession leaves a
//! client waiting on at most one task per layer.

use std::sync::Arc;

use nm_pipeline::{EmbedParams, PipelineError};
use nm_umap::{Control, Stage};

use crate::events::ServerEvent;
use crate::progress::ProgressReporter;
use crate::state::{AppState, SERVER_CLIENT};
use crate::sync::{guarded, lock};
use crate::tasks::Task;

/// Embedding tasks running at once (each one uses the rayon pool inside); the rest wait in the queue.
pub const WORKERS: usize = 2;
/// Tasks queued or running at once, over all clients (raised to twice the run's layer count for runs
/// with many layers, so the default views plus one client's request for every layer always fit).
pub const MAX_PENDING_TASKS: usize = 64;

/// State of one (layer, view) after a request.
#[derive(serde::Serialize, Debug)]
pub struct TaskStatus {
    pub layer: String,
    /// "done" (ready to fetch) or "running" (wait for its `done` event).
    pub state: &'static str,
}

/// A request refused because the queue is full; the message says so (answered 429).
#[derive(Debug)]
pub struct Busy(pub String);

/// Asks for view `params` of `layers` on behalf of `client`; queues the tasks that are neither stored
/// nor already queued or running. Returns the view key and each layer's state, or [`Busy`] (and
/// changes nothing) when the new tasks would not fit in the queue. The server's own requests are
/// never refused.
pub fn request(
    state: &Arc<AppState>,
    client: &str,
    layers: &[String],
    params: EmbedParams,
) -> Result<(String, Vec<TaskStatus>), Busy> {
    let key = params.cache_key();
    let mut tasks = lock(&state.tasks);
    // What this request would start, and what it would cancel (tasks only this client still wants).
    let superseded = |k: &String, layer: &String| client != SERVER_CLIENT && *k != key && layers.contains(layer);
    let new_tasks = layers
        .iter()
        .filter(|l| !state.has_view(l, &key) && tasks.get(&((*l).clone(), key.clone())).is_none_or(|t| t.cancelled()))
        .count();
    let freed = tasks
        .iter()
        .filter(|((layer, k), t)| !t.cancelled() && superseded(k, layer) && t.wanted_only_by(client))
        .count();
    let pending = tasks.values().filter(|t| !t.cancelled()).count();
    let limit = MAX_PENDING_TASKS.max(2 * state.layer_names().len());
    if client != SERVER_CLIENT && new_tasks > 0 && pending - freed + new_tasks > limit {
        return Err(Busy(format!(
            "the server is busy: {pending} computations are queued or running (at most {limit}); try again when some are done"
        )));
    }

    lock(&state.params_by_key).insert(key.clone(), params.clone());
    for ((layer, k), task) in tasks.iter() {
        if superseded(k, layer) {
            task.remove_client(client);
        }
    }
    // Superseded tasks still in the queue are dropped now, so they take no room in it.
    for t in &state.pool.drop_cancelled() {
        let id = (t.layer.clone(), t.key.clone());
        if tasks.get(&id).is_some_and(|x| Arc::ptr_eq(x, t)) {
            tasks.remove(&id);
        }
        state.emit(ServerEvent::Cancelled { layer: &t.layer, view: &t.key });
    }

    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        if state.has_view(layer, &key) {
            out.push(TaskStatus { layer: layer.clone(), state: "done" });
            continue;
        }
        let id = (layer.clone(), key.clone());
        match tasks.get(&id) {
            Some(t) if !t.cancelled() => t.add_client(client),
            _ => {
                let task = Arc::new(Task::new(layer, &key, params.clone(), client));
                match enqueue(state, task.clone()) {
                    Ok(()) => {
                        tasks.insert(id, task);
                    }
                    Err(e) => {
                        state.emit(ServerEvent::Failed { layer, view: &key, error: e });
                    }
                }
            }
        }
        out.push(TaskStatus { layer: layer.clone(), state: "running" });
    }
    Ok((key, out))
}

/// Puts `task` in the queue, starting the workers the first time.
fn enqueue(state: &Arc<AppState>, task: Arc<Task>) -> Result<(), String> {
    state.pool.push(task, || {
        for i in 0..WORKERS {
            let st = state.clone();
            let spawned = std::thread::Builder::new().name(format!("nm-compute-{i}")).spawn(move || worker(&st));
            if let Err(e) = spawned {
                // With fewer workers the queue still drains; with none, nothing would.
                if i == 0 {
                    return Err(format!("cannot start a compute thread: {e}"));
                }
                break;
            }
        }
        Ok(())
    })
}

/// One compute worker: takes the oldest queued task, runs it, until the pool is stopped.
fn worker(state: &Arc<AppState>) {
    while let Some(task) = state.pool.next() {
        run_task(state, &task);
    }
}

fn run_task(state: &Arc<AppState>, task: &Arc<Task>) {
    if state.parametric() {
        return load_parametric(state, task);
    }
    let run = state.run();
    let result = if let Some(run) = run.filter(|_| !task.cancelled()) {
        let reporter = ProgressReporter::new(state, &task.layer, &task.key, Some(task));
        let progress = |s: Stage, f: f32| reporter.report(s, f);
        let ctl = Control { progress: Some(&progress), cancel: Some(&task.cancel) };
        Some(guarded(|| nm_pipeline::embed_layer(&run, &task.layer, &task.params, &ctl)))
    } else {
        None
    };
    forget(state, task);
    let (layer, view) = (task.layer.as_str(), task.key.as_str());
    match result {
        Some(Ok(Ok(emb))) => match state.store_view(&task.key, &emb) {
            Ok(()) => state.emit(ServerEvent::Done { layer, view, epochs: &emb.epochs, refined: false }),
            Err(e) => state.emit(ServerEvent::Failed { layer, view, error: format!("{e:#}") }),
        },
        None | Some(Ok(Err(PipelineError::Cancelled | PipelineError::Umap(nm_umap::UmapError::Cancelled)))) => {
            state.emit(ServerEvent::Cancelled { layer, view });
        }
        Some(Ok(Err(e))) => state.emit(ServerEvent::Failed { layer, view, error: e.to_string() }),
        Some(Err(e)) => state.emit(ServerEvent::Failed { layer, view, error: e }),
    }
}

/// Removes a finished `task` from the task table (unless a newer task for its view replaced it).
fn forget(state: &AppState, task: &Arc<Task>) {
    let mut tasks = lock(&state.tasks);
    let id = (task.layer.clone(), task.key.clone());
    if tasks.get(&id).is_some_and(|t| Arc::ptr_eq(t, task)) {
        tasks.remove(&id);
    }
}

/// Parametric mode: a task reads the layer's encoders and positions from the run's parametric cache
/// (`embed --parametric` made them; nothing is trained here).
fn load_parametric(state: &Arc<AppState>, task: &Arc<Task>) {
    let result = state
        .run()
        .filter(|_| !task.cancelled())
        .map(|run| guarded(|| crate::place::load_view(&run, &task.layer, &task.params)).unwrap_or_else(Err));
    forget(state, task);
    let (layer, view) = (task.layer.as_str(), task.key.as_str());
    match result {
        Some(Ok(p)) => {
            let epochs = p.embedding.epochs.clone();
            match state.store_parametric_view(&task.key, p) {
                Ok(()) => state.emit(ServerEvent::Done { layer, view, epochs: &epochs, refined: false }),
                Err(e) => state.emit(ServerEvent::Failed { layer, view, error: format!("{e:#}") }),
            }
        }
        Some(Err(error)) => state.emit(ServerEvent::Failed { layer, view, error }),
        None => state.emit(ServerEvent::Cancelled { layer, view }),
    }
}
