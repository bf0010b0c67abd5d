//! The items of the compute queue: a [`Task`] (one layer under one parameter key, with the clients
//! waiting for it and its progress) and the [`Pool`]'s bounded queue. Scheduling policy (who may
//! queue what, supersession, the workers) is in `jobs`; this module only keeps the data consistent
//! under its locks.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use nm_pipeline::EmbedParams;

use crate::sync::lock;

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
    /// A queued task for `layer` under parameters `params` (key `key`), wanted by `client`.
    pub fn new(layer: &str, key: &str, params: EmbedParams, client: &str) -> Task {
        Task {
            layer: layer.to_string(),
            key: key.to_string(),
            params,
            cancel: AtomicBool::new(false),
            inner: Mutex::new(TaskInner {
                clients: HashSet::from([client.to_string()]),
                stage: "queued",
                fraction: 0.0,
            }),
        }
    }

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

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `client` is the only one waiting for this task.
    pub fn wanted_only_by(&self, client: &str) -> bool {
        let i = lock(&self.inner);
        i.clients.len() == 1 && i.clients.contains(client)
    }

    pub fn add_client(&self, client: &str) {
        lock(&self.inner).clients.insert(client.to_string());
    }

    /// `client` no longer waits for this task; a task nobody waits for any more is cancelled.
    pub fn remove_client(&self, client: &str) {
        let mut i = lock(&self.inner);
        if i.clients.remove(client) && i.clients.is_empty() {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// The compute workers' queue (one per server, in `AppState`).
#[derive(Default)]
pub struct Pool {
    queue: Mutex<PoolQueue>,
    wake: Condvar,
}

#[derive(Default)]
struct PoolQueue {
    tasks: VecDeque<Arc<Task>>,
    /// Workers started (lazily, on the first task: they need the `Arc<AppState>`).
    started: bool,
    stopped: bool,
}

impl Pool {
    /// Appends `task`; the first time, `start_workers` runs first (under the queue's lock, so it runs
    /// once). Refused once the pool is stopped, or when no worker could be started.
    pub fn push(&self, task: Arc<Task>, start_workers: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let mut q = lock(&self.queue);
        if q.stopped {
            return Err("the server is stopping".into());
        }
        if !q.started {
            start_workers()?;
            q.started = true;
        }
        q.tasks.push_back(task);
        self.wake.notify_one();
        Ok(())
    }

    /// The oldest queued task, waiting for one; None once the pool is stopped.
    pub fn next(&self) -> Option<Arc<Task>> {
        let mut q = lock(&self.queue);
        loop {
            if q.stopped {
                return None;
            }
            if let Some(t) = q.tasks.pop_front() {
                return Some(t);
            }
            q = self.wake.wait(q).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Removes the cancelled tasks still in the queue and returns them.
    pub fn drop_cancelled(&self) -> Vec<Arc<Task>> {
        let mut q = lock(&self.queue);
        let (cancelled, kept): (Vec<_>, Vec<_>) = q.tasks.drain(..).partition(|t| t.cancelled());
        q.tasks = kept.into();
        cancelled
    }

    /// Stops the workers once their current task ends (cancel the tasks first); queued tasks are dropped.
    pub fn stop(&self) {
        let mut q = lock(&self.queue);
        q.stopped = true;
        q.tasks.clear();
        self.wake.notify_all();
    }
}
