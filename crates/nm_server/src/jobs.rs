//! Compute tasks: one per (layer, parameter key), shared by every client that asks for it.
//!
//! A client's newer request supersedes its older ones *for the same layers*: the client is removed
//! from those tasks, and a task no client wants any more is cancelled (the engine sees the cancel flag
//! within one optimisation epoch). The server's own default task is never superseded.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nm_pipeline::{EmbedParams, PipelineError};
use nm_umap::{Control, Stage};
use serde_json::json;

use crate::state::{guarded, lock, params_key, AppState, ProgressReporter, SERVER_CLIENT};

pub struct Task {
    pub layer: String,
    pub key: String,
    pub params: EmbedParams,
    pub cancel: AtomicBool,
    inner: Mutex<TaskInner>,
}

struct TaskInner {
    clients: HashSet<String>,
    stage: &'static str,
    fraction: f32,
}

impl Task {
    pub fn set_progress(&self, stage: &'static str, fraction: f32) {
        let mut i = lock(&self.inner);
        i.stage = stage;
        i.fraction = fraction;
    }

    /// (stage, fraction, number of clients waiting).
    pub fn status(&self) -> (&'static str, f32, usize) {
        let i = lock(&self.inner);
        (i.stage, i.fraction, i.clients.len())
    }
}

/// State of one (layer, view) after a request.
#[derive(serde::Serialize, Debug)]
pub struct TaskStatus {
    pub layer: String,
    /// "done" (ready to fetch) or "running" (wait for its `done` event).
    pub state: &'static str,
}

/// Asks for view `params` of `layers` on behalf of `client`; starts the tasks that are neither stored
/// nor running. Returns the view key and each layer's state.
pub fn request(
    state: &Arc<AppState>,
    client: &str,
    layers: &[String],
    params: EmbedParams,
) -> (String, Vec<TaskStatus>) {
    let key = params_key(&params);
    lock(&state.params_by_key).insert(key.clone(), params.clone());
    let mut tasks = lock(&state.tasks);
    if client != SERVER_CLIENT {
        for ((layer, k), task) in tasks.iter() {
            if *k != key && layers.contains(layer) {
                let mut inner = lock(&task.inner);
                if inner.clients.remove(client) && inner.clients.is_empty() {
                    task.cancel.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        if state.has_view(layer, &key) {
            out.push(TaskStatus { layer: layer.clone(), state: "done" });
            continue;
        }
        let id = (layer.clone(), key.clone());
        match tasks.get(&id) {
            Some(t) if !t.cancel.load(Ordering::Relaxed) => {
                lock(&t.inner).clients.insert(client.to_string());
            }
            _ => {
                let task = Arc::new(Task {
                    layer: layer.clone(),
                    key: key.clone(),
                    params: params.clone(),
                    cancel: AtomicBool::new(false),
                    inner: Mutex::new(TaskInner {
                        clients: HashSet::from([client.to_string()]),
                        stage: "queued",
                        fraction: 0.0,
                    }),
                });
                tasks.insert(id, task.clone());
                let st = state.clone();
                let spawned =
                    std::thread::Builder::new().name(format!("nm-embed-{layer}")).spawn(move || run_task(&st, &task));
                if let Err(e) = spawned {
                    tasks.remove(&(layer.clone(), key.clone()));
                    state.emit(json!({"type": "failed", "layer": layer, "view": key, "error": format!("cannot start a thread: {e}")}));
                }
            }
        }
        out.push(TaskStatus { layer: layer.clone(), state: "running" });
    }
    (key, out)
}

fn run_task(state: &Arc<AppState>, task: &Arc<Task>) {
    let run = state.run();
    let result = if let Some(run) = run.filter(|_| state.acquire_slot(&task.cancel)) {
        let reporter = ProgressReporter::new(state, &task.layer, &task.key, Some(task));
        let progress = |s: Stage, f: f32| reporter.report(s, f);
        let ctl = Control { progress: Some(&progress), cancel: Some(&task.cancel) };
        let r = guarded(|| nm_pipeline::embed_layer(&run, &task.layer, &task.params, &ctl));
        state.release_slot();
        Some(r)
    } else {
        None
    };
    let event = match result {
        Some(Ok(Ok(emb))) => match state.store_view(&task.key, &emb) {
            Ok(()) => json!({"type": "done", "layer": task.layer, "view": task.key, "epochs": emb.epochs}),
            Err(e) => json!({"type": "failed", "layer": task.layer, "view": task.key, "error": format!("{e:#}")}),
        },
        None | Some(Ok(Err(PipelineError::Cancelled))) => {
            json!({"type": "cancelled", "layer": task.layer, "view": task.key})
        }
        Some(Ok(Err(PipelineError::Umap(nm_umap::UmapError::Cancelled)))) => {
            json!({"type": "cancelled", "layer": task.layer, "view": task.key})
        }
        Some(Ok(Err(e))) => json!({"type": "failed", "layer": task.layer, "view": task.key, "error": e.to_string()}),
        Some(Err(e)) => json!({"type": "failed", "layer": task.layer, "view": task.key, "error": e}),
    };
    {
        let mut tasks = lock(&state.tasks);
        let id = (task.layer.clone(), task.key.clone());
        if tasks.get(&id).is_some_and(|t| Arc::ptr_eq(t, task)) {
            tasks.remove(&id);
        }
    }
    state.emit(event);
}
