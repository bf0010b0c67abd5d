//! Shared server state: the run, computed views (encoded), running tasks, the event channel, and the
//! live worker that embeds new epochs while a model trains.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use nm_pipeline::{EmbedParams, LayerEmbedding, LiveLayer, Sampling};
use nm_run::{Inputs, Run};
use nm_umap::{Control, Stage};
use rayon::prelude::*;
use serde_json::json;

use crate::encode;
use crate::jobs::Task;

/// View key of the live (incrementally grown) embedding.
pub const LIVE_VIEW: &str = "live";
/// Client id of the server's own requests (the default views); never superseded.
pub const SERVER_CLIENT: &str = "server";
/// Events buffered per subscriber before a slow browser starts missing progress messages.
pub const EVENT_BUFFER: usize = 1024;
/// Computed views (layer x parameters) kept in memory; the oldest non-default ones are dropped first.
const MAX_STORED_VIEWS: usize = 64;
/// Above this many samples the default view embeds a stratified sample of this size (the user can
/// ask for all of them in the viewer's parameter menu).
pub const DEFAULT_MAX_SAMPLES: usize = 20_000;
/// Progress events per task are sent at most this often unless the stage changes.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// The parameters of the default view for a run of `n_samples` samples: the pipeline's defaults
/// (umap-learn's), sampled down to [`DEFAULT_MAX_SAMPLES`] for big runs.
pub fn default_params(n_samples: usize) -> EmbedParams {
    let sampling = if n_samples > DEFAULT_MAX_SAMPLES { Sampling::Total(DEFAULT_MAX_SAMPLES) } else { Sampling::All };
    EmbedParams { sampling, ..EmbedParams::default() }
}

/// Stable short key of a parameter set (FNV-1a 64 of its JSON form, as 16 hex digits).
pub fn params_key(params: &EmbedParams) -> String {
    let text = serde_json::to_string(params).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub enum LiveMsg {
    /// Epochs were written: re-read the run and embed what is new.
    NewEpochs,
    Finished,
    /// Answered once every message before it has been handled.
    Sync(mpsc::Sender<()>),
}

pub struct StoredView {
    pub bytes: Bytes,
    pub epochs: Vec<u32>,
    pub n_points: usize,
    seq: u64,
}

/// Data derived from the whole run, recomputed when the run changes.
pub struct Derived {
    /// `encode::samples_bytes`: labels and predictions.
    pub samples: Bytes,
    /// (epoch, fraction of samples whose prediction equals the label).
    pub accuracy: Vec<(u32, f32)>,
}

pub struct AppState {
    path: std::path::PathBuf,
    /// None only in live mode before the trainer has written the first epoch.
    run: RwLock<Option<Arc<Run>>>,
    pub live: bool,
    pub training: AtomicBool,
    default_params: OnceLock<EmbedParams>,
    default_view: String,
    events: tokio::sync::broadcast::Sender<Arc<str>>,
    views: Mutex<HashMap<(String, String), StoredView>>,
    view_seq: AtomicU64,
    pub params_by_key: Mutex<HashMap<String, EmbedParams>>,
    pub tasks: Mutex<HashMap<(String, String), Arc<Task>>>,
    derived: Mutex<Option<Arc<Derived>>>,
    inputs: OnceLock<Option<Arc<Inputs>>>,
    /// The compute workers and their queue (`jobs`).
    pub pool: crate::jobs::Pool,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (state stays usable).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f`, turning a panic (a bug deeper down) into an error message instead of a dead thread.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("internal error: {msg}")
    })
}

pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Pca => "pca",
        Stage::Neighbors => "neighbors",
        Stage::FuzzyGraph => "fuzzy_graph",
        Stage::Init => "init",
        Stage::Layout => "layout",
    }
}

impl AppState {
    /// `run` is None only for a live run that has no epoch yet.
    pub fn new(
        path: std::path::PathBuf,
        run: Option<Run>,
        live: bool,
        events: tokio::sync::broadcast::Sender<Arc<str>>,
    ) -> AppState {
        let dp = OnceLock::new();
        let mut params_by_key = HashMap::new();
        let default_view = match &run {
            Some(r) => {
                let p = default_params(r.n_samples());
                let key = if live { LIVE_VIEW.to_string() } else { params_key(&p) };
                params_by_key.insert(key.clone(), p.clone());
                let _ = dp.set(p);
                key
            }
            None => LIVE_VIEW.to_string(),
        };
        AppState {
            path,
            run: RwLock::new(run.map(Arc::new)),
            live,
            training: AtomicBool::new(live),
            default_params: dp,
            default_view,
            events,
            views: Mutex::new(HashMap::new()),
            view_seq: AtomicU64::new(0),
            params_by_key: Mutex::new(params_by_key),
            tasks: Mutex::new(HashMap::new()),
            derived: Mutex::new(None),
            inputs: OnceLock::new(),
            pool: crate::jobs::Pool::default(),
        }
    }

    /// The current run (cheap: an Arc clone; a live refresh swaps in a newly opened run). None only
    /// while a live run has no epoch yet.
    pub fn run(&self) -> Option<Arc<Run>> {
        self.run.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn run_path(&self) -> &std::path::Path {
        &self.path
    }

    /// Names of the run's layers, in display order (none before a live run's first epoch).
    pub fn layer_names(&self) -> Vec<String> {
        self.run().map(|r| r.layers().iter().map(|l| l.name.clone()).collect()).unwrap_or_default()
    }

    fn set_run(&self, run: Run) {
        if self.default_params.get().is_none() {
            let p = default_params(run.n_samples());
            lock(&self.params_by_key).insert(self.default_view.clone(), p.clone());
            let _ = self.default_params.set(p);
        }
        *self.run.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(run));
        *lock(&self.derived) = None;
    }

    /// The default view's parameters (the pipeline's defaults until the run is known).
    pub fn default_params(&self) -> EmbedParams {
        self.default_params.get().cloned().unwrap_or_default()
    }

    pub fn default_view_key(&self) -> String {
        self.default_view.clone()
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.events.subscribe()
    }

    /// Sends an event to every connected browser (dropped when none is connected).
    pub fn emit(&self, value: serde_json::Value) {
        let _ = self.events.send(Arc::from(value.to_string()));
    }

    /// Encodes and keeps `emb` as view `key` of its layer.
    pub fn store_view(&self, key: &str, emb: &LayerEmbedding) -> anyhow::Result<()> {
        let bytes = encode::embedding_bytes(key, emb).map_err(|m| anyhow::anyhow!("layer `{}`: {m}", emb.layer))?;
        let seq = self.view_seq.fetch_add(1, Ordering::Relaxed);
        let mut views = lock(&self.views);
        views.insert(
            (emb.layer.clone(), key.to_string()),
            StoredView { bytes, epochs: emb.epochs.clone(), n_points: emb.samples.len(), seq },
        );
        while views.len() > MAX_STORED_VIEWS {
            let oldest = views
                .iter()
                .filter(|((_, k), _)| *k != self.default_view && k != LIVE_VIEW)
                .min_by_key(|(_, v)| v.seq)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => views.remove(&id),
                None => break,
            };
        }
        Ok(())
    }

    pub fn view(&self, layer: &str, key: &str) -> Option<(Bytes, Vec<u32>, usize)> {
        lock(&self.views)
            .get(&(layer.to_string(), key.to_string()))
            .map(|v| (v.bytes.clone(), v.epochs.clone(), v.n_points))
    }

    pub fn has_view(&self, layer: &str, key: &str) -> bool {
        lock(&self.views).contains_key(&(layer.to_string(), key.to_string()))
    }

    /// (layer, key) of every stored view.
    pub fn view_ids(&self) -> Vec<(String, String)> {
        let mut ids: Vec<_> = lock(&self.views).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Labels, predictions and accuracy, computed once per run state.
    pub fn derived(&self) -> Result<Arc<Derived>, nm_run::RunError> {
        if let Some(d) = lock(&self.derived).as_ref() {
            return Ok(d.clone());
        }
        let Some(run) = self.run() else {
            return Ok(Arc::new(Derived { samples: encode::empty_samples(), accuracy: Vec::new() }));
        };
        let d = Arc::new(encode::derived(&run)?);
        *lock(&self.derived) = Some(d.clone());
        Ok(d)
    }

    /// The run's thumbnails, read once.
    pub fn inputs(&self) -> Option<Arc<Inputs>> {
        let run = self.run()?;
        self.inputs
            .get_or_init(|| match guarded(|| run.inputs()) {
                Ok(Ok(i)) => i.map(Arc::new),
                Ok(Err(e)) => {
                    eprintln!("neuromapper: no thumbnails: {e}");
                    None
                }
                Err(e) => {
                    eprintln!("neuromapper: no thumbnails: {e}");
                    None
                }
            })
            .clone()
    }

    /// Cancels every compute task and stops the compute workers (the server is stopping).
    pub fn cancel_all(&self) {
        for t in lock(&self.tasks).values() {
            t.cancel.store(true, Ordering::Relaxed);
        }
        self.pool.stop();
    }
}

/// Progress reporting for one (layer, view): updates the task's state (if any) and emits throttled
/// `progress` events.
pub struct ProgressReporter<'a> {
    pub state: &'a AppState,
    pub layer: &'a str,
    pub view: &'a str,
    pub task: Option<&'a Task>,
    last: Mutex<(Option<Stage>, Instant)>,
}

impl<'a> ProgressReporter<'a> {
    pub fn new(state: &'a AppState, layer: &'a str, view: &'a str, task: Option<&'a Task>) -> Self {
        ProgressReporter { state, layer, view, task, last: Mutex::new((None, Instant::now())) }
    }

    pub fn report(&self, stage: Stage, fraction: f32) {
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        if let Some(t) = self.task {
            t.set_progress(stage_name(stage), fraction);
        }
        let mut last = lock(&self.last);
        let now = Instant::now();
        if last.0 == Some(stage) && now.duration_since(last.1) < PROGRESS_INTERVAL && fraction < 1.0 {
            return;
        }
        *last = (Some(stage), now);
        drop(last);
        self.state.emit(json!({
            "type": "progress", "layer": self.layer, "view": self.view,
            "stage": stage_name(stage), "fraction": fraction,
        }));
    }
}

/// The thread that follows a growing run: on each message it re-opens the run, extends each layer's
/// live embedding (live mode) and tells browsers about the new epochs.
pub fn spawn_live_worker(state: Arc<AppState>, rx: mpsc::Receiver<LiveMsg>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("nm-live".into())
        .spawn(move || {
            let mut lives: HashMap<String, LiveLayer> = HashMap::new();
            while let Ok(first) = rx.recv() {
                let mut msgs = vec![first];
                while let Ok(m) = rx.try_recv() {
                    msgs.push(m);
                }
                let mut syncs = Vec::new();
                let mut update = false;
                let mut finished = false;
                for m in msgs {
                    match m {
                        LiveMsg::NewEpochs => update = true,
                        LiveMsg::Finished => finished = true,
                        LiveMsg::Sync(tx) => syncs.push(tx),
                    }
                }
                if update {
                    live_update(&state, &mut lives);
                }
                if finished {
                    state.training.store(false, Ordering::Relaxed);
                    let refine = state.live && state.run().is_some_and(|r| !r.epochs().is_empty());
                    state.emit(json!({"type": "training_finished", "refining": refine}));
                    if refine {
                        live_refine(&state, &mut lives);
                        // Epochs arriving after this (a resumed trainer) start a fresh live fit.
                        lives.clear();
                    }
                }
                for s in syncs {
                    let _ = s.send(());
                }
            }
        })
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("cannot start the live worker thread: {e}"))
}

fn live_update(state: &AppState, lives: &mut HashMap<String, LiveLayer>) {
    let path = state.run_path().to_path_buf();
    match guarded(|| Run::open(&path)) {
        Ok(Ok(run)) => state.set_run(run),
        Ok(Err(e)) => {
            state.emit(json!({"type": "error", "error": format!("cannot re-read the run: {e}")}));
            return;
        }
        Err(e) => {
            state.emit(json!({"type": "error", "error": e}));
            return;
        }
    }
    let Some(run) = state.run() else { return };
    if state.live && !run.epochs().is_empty() {
        // Layers are updated in parallel and each is pushed as soon as it is ready: on two cores
        // shared with the trainer, parallel layers finish sooner than one after another (fewer
        // thread hand-offs per SGD epoch, each of which waits behind the trainer's threads).
        for layer in run.layers() {
            lives.entry(layer.name.clone()).or_insert_with(|| LiveLayer::new(&layer.name, state.default_params()));
        }
        let mut work: Vec<(&String, &mut LiveLayer)> =
            lives.iter_mut().filter(|(name, _)| run.layers().iter().any(|l| &l.name == *name)).collect();
        let broken: Vec<String> = work
            .par_iter_mut()
            .filter_map(|(layer, live)| {
                live_step(state, layer, false, |ctl| live.update(&run, ctl)).then(|| layer.to_string())
            })
            .collect();
        // A live layer's state is unknown after a panic: start it afresh next time.
        for layer in broken {
            lives.remove(&layer);
        }
    }
    state.emit(json!({"type": "epochs", "epochs": run.epochs()}));
}

/// Runs one live computation of `layer` (`step`, given the progress reporting), stores its result
/// as the live view and tells browsers (`done` with the epochs, or `failed`). `refined` marks the
/// refinement over all epochs that replaces the incremental view when training ends. Returns true
/// when `step` panicked (the layer's live state is then unknown).
fn live_step(
    state: &AppState,
    layer: &str,
    refined: bool,
    step: impl FnOnce(&Control) -> Result<LayerEmbedding, nm_pipeline::PipelineError>,
) -> bool {
    let reporter = ProgressReporter::new(state, layer, LIVE_VIEW, None);
    let progress = |s: Stage, f: f32| reporter.report(s, f);
    let ctl = Control { progress: Some(&progress), cancel: None };
    let result = guarded(|| step(&ctl));
    let panicked = result.is_err();
    match result.map(|r| r.map_err(|e| e.to_string())) {
        Ok(Ok(emb)) => match state.store_view(LIVE_VIEW, &emb) {
            Ok(()) => state.emit(
                json!({"type": "done", "layer": layer, "view": LIVE_VIEW, "epochs": emb.epochs, "refined": refined}),
            ),
            Err(e) => {
                state.emit(json!({"type": "failed", "layer": layer, "view": LIVE_VIEW, "error": format!("{e:#}")}))
            }
        },
        Ok(Err(e)) | Err(e) => state.emit(json!({"type": "failed", "layer": layer, "view": LIVE_VIEW, "error": e})),
    }
    panicked
}

/// When training ends, every layer's live embedding is re-optimised over all epochs jointly
/// (`LiveLayer::refine`): the incremental update never revisits an epoch once shown, while the
/// refinement lets each epoch settle against its neighbours on both sides, so trajectories are
/// smoother at equal trustworthiness. It starts from the layout the user has been watching (and is
/// then turned and shifted as a whole onto it, a rigid motion), so the plots settle rather than being
/// rearranged, as a fit from scratch would. The result goes to the run's cache as the embedding of
/// the default parameters, so `serve`, `embed` and `export` on the finished run show this very view.
fn live_refine(state: &AppState, lives: &mut HashMap<String, LiveLayer>) {
    let Some(run) = state.run() else { return };
    let params = state.default_params();
    let mut work: Vec<(&String, &mut LiveLayer)> = lives.iter_mut().filter(|(_, l)| !l.epochs().is_empty()).collect();
    work.par_iter_mut().for_each(|(layer, live)| {
        live_step(state, layer, true, |ctl| {
            let shown = live.embedding().expect("filtered above");
            let mut emb = live.refine(&run, ctl)?;
            nm_pipeline::align_rigidly(&mut emb, &shown);
            if emb.epochs == run.epochs() {
                nm_pipeline::store_embedding(&run, &params, &emb)?;
            }
            Ok(emb)
        });
    });
}
