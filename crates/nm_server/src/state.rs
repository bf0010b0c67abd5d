//! Shared server state: the run, computed views (encoded), the task table, the event channel and the
//! data derived from the whole run. Scheduling is in `jobs`, progress in `progress`, the live worker in `live`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, RwLock};

use axum::body::Bytes;
use nm_pipeline::{EmbedParams, LayerEmbedding, ParamOverrides, ParametricLayer};
use nm_run::{Inputs, Run};

use crate::encode;
use crate::events::ServerEvent;
use crate::place::Placer;
use crate::runs::ProbeSet;
use crate::sync::{guarded, lock};
use crate::tasks::{Pool, Task};

/// View key of the default view while following a run (grown incrementally as epochs appear).
pub const LIVE_VIEW: &str = "live";
/// Client id of the server's own requests (the default views); never superseded.
pub const SERVER_CLIENT: &str = "server";
/// Events buffered per subscriber before a slow browser starts missing progress messages.
pub const EVENT_BUFFER: usize = 1024;
/// Computed views (layer x parameters) kept in memory; the oldest non-default ones are dropped first.
const MAX_STORED_VIEWS: usize = 64;

pub enum LiveMsg {
    /// The run's folder changed (new epochs, metrics, the finished marker): re-read it and embed
    /// what is new.
    Changed,
    /// The trainer says it is done (as the finished marker does).
    Finished,
    /// Answered once every message before it has been handled.
    Sync(mpsc::Sender<()>),
}

/// A run's views turned onto run 0's: (layer, key) -> (own seq, run 0's seq, bytes).
pub type AlignedViews = HashMap<(String, String), (u64, u64, Bytes)>;

pub struct StoredView {
    pub bytes: Bytes,
    /// The positions as computed (what run i's views are turned onto run 0's with).
    pub emb: Arc<LayerEmbedding>,
    pub epochs: Vec<u32>,
    pub n_points: usize,
    /// In parametric mode: the view's encoders and input maps (what new points are placed with).
    pub parametric: Option<Arc<ParametricLayer>>,
    seq: u64,
}

/// Data derived from the whole run, recomputed when the run changes.
pub struct Derived {
    /// [`encode::samples_bytes`]: labels and predictions.
    pub samples: Bytes,
    /// (epoch, fraction of samples whose prediction equals the label; clean samples only).
    pub accuracy: Vec<(u32, f32)>,
    /// (epoch, predicted class per sample) of the epochs with predictions of the run's length.
    pub predictions: Vec<(u32, Vec<u32>)>,
    /// The run's `samples.csv`, parsed (None when it has none or it is malformed).
    pub table: Option<nm_run::SamplesTable>,
    /// Why `samples.csv` could not be read.
    pub table_error: Option<String>,
}

impl Derived {
    /// Labels, every epoch's predictions (those of the run's length), and accuracy per epoch.
    fn of(run: &Run) -> Result<Derived, nm_run::RunError> {
        let labels = run.labels();
        let n = labels.len();
        let mut preds = Vec::new();
        let mut accuracy = Vec::new();
        for &epoch in run.epochs() {
            if let Some(p) = run.predictions(epoch)? {
                if p.len() == n {
                    let clean = (0..n).filter(|&i| !run.is_twin(i));
                    let (correct, count) =
                        clean.fold((0usize, 0usize), |(c, k), i| (c + usize::from(p[i] == labels[i]), k + 1));
                    accuracy.push((epoch, if count == 0 { 0.0 } else { correct as f32 / count as f32 }));
                    preds.push((epoch, p));
                }
            }
        }
        let (table, table_error) = match run.samples_table() {
            Ok(t) => (t, None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(Derived {
            samples: encode::samples_bytes(labels, &preds, run.classes().len(), run.twins()),
            accuracy,
            predictions: preds,
            table,
            table_error,
        })
    }
}

pub struct AppState {
    path: std::path::PathBuf,
    /// None only while following a run that has no epoch yet.
    run: RwLock<Option<Arc<Run>>>,
    /// Follow the run as it grows (the default view is then [`LIVE_VIEW`]).
    pub follow: bool,
    /// Following and the run is not marked finished.
    pub training: AtomicBool,
    /// The user's choices for the default view (`serve`'s embedding flags).
    overrides: ParamOverrides,
    default_params: OnceLock<EmbedParams>,
    events: tokio::sync::broadcast::Sender<Arc<str>>,
    views: Mutex<HashMap<(String, String), StoredView>>,
    view_seq: AtomicU64,
    pub params_by_key: Mutex<HashMap<String, EmbedParams>>,
    pub tasks: Mutex<HashMap<(String, String), Arc<Task>>>,
    derived: Mutex<Option<Arc<Derived>>>,
    inputs: OnceLock<Option<Arc<Inputs>>>,
    /// The compute workers' queue (filled and drained by `jobs`).
    pub pool: Pool,
    /// Served beside other runs (`runs`): this run's index, tagged on its events.
    run_index: Option<usize>,
    /// The probe set every run served together must share (checked as runs appear).
    probe: Option<Arc<ProbeSet>>,
    /// Run 0, onto whose views this run's are turned (None for run 0 and a single run).
    reference: Option<Arc<AppState>>,
    /// This run's views turned onto run 0's: (layer, key) -> (own seq, run 0's seq, bytes).
    pub aligned: Mutex<AlignedViews>,
    /// Parametric mode (`serve --parametric`): the views come from the run's parametric cache, and
    /// new points are placed with this.
    placer: Option<Placer>,
}

impl AppState {
    /// `run` is None only when following a run that has no epoch yet. Errors when the default
    /// view's parameters do not fit the run.
    pub fn new(
        path: std::path::PathBuf,
        run: Option<Run>,
        follow: bool,
        overrides: ParamOverrides,
        events: tokio::sync::broadcast::Sender<Arc<str>>,
    ) -> Result<AppState, nm_pipeline::PipelineError> {
        let finished = run.as_ref().is_some_and(nm_run::Run::is_finished);
        let state = AppState {
            path,
            run: RwLock::new(None),
            follow,
            training: AtomicBool::new(follow && !finished),
            overrides,
            default_params: OnceLock::new(),
            events,
            views: Mutex::new(HashMap::new()),
            view_seq: AtomicU64::new(0),
            params_by_key: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            derived: Mutex::new(None),
            inputs: OnceLock::new(),
            pool: Pool::default(),
            run_index: None,
            probe: None,
            reference: None,
            aligned: Mutex::new(HashMap::new()),
            placer: None,
        };
        match run {
            Some(run) => state.set_run(run).map(|()| state),
            None => Ok(state),
        }
    }

    /// Marks this state as run `index` of several served together: its events carry the index,
    /// every run it reads is checked against `probe`, and its views are turned onto `reference`'s
    /// (run 0; None for run 0 itself).
    pub fn set_peers(&mut self, index: usize, probe: Arc<ProbeSet>, reference: Option<Arc<AppState>>) {
        self.run_index = Some(index);
        self.probe = Some(probe);
        self.reference = reference;
    }

    /// Puts the server in parametric mode: views are read from the parametric cache (`jobs`) and
    /// new points are placed with `placer` (`place`).
    pub fn set_placer(&mut self, placer: Placer) {
        self.placer = Some(placer);
    }

    /// The placer, in parametric mode.
    pub fn placer(&self) -> Option<Placer> {
        self.placer.clone()
    }

    /// Whether the views are the parametric ones.
    pub fn parametric(&self) -> bool {
        self.placer.is_some()
    }

    /// Run 0's state when this is a later run served beside it.
    pub fn reference(&self) -> Option<&Arc<AppState>> {
        self.reference.as_ref()
    }

    /// Whether `run` has the probe set of the runs served with it (always, for a single run).
    pub fn check_probe(&self, run: &Run) -> Result<(), String> {
        self.probe.as_ref().map_or(Ok(()), |p| p.check(&self.path, run))
    }

    /// The current run (cheap: an Arc clone; a live refresh swaps in a newly opened run). None only
    /// while a live run has no epoch yet.
    pub fn run(&self) -> Option<Arc<Run>> {
        self.run.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn run_path(&self) -> &std::path::Path {
        &self.path
    }

    /// Names of the run's layers, in display order (none before a live run's first epoch).
    pub fn layer_names(&self) -> Vec<String> {
        self.run().map(|r| r.layers().iter().map(|l| l.name.clone()).collect()).unwrap_or_default()
    }

    /// Swaps in a newly opened run. The first run fixes the default view's parameters (the user's
    /// flags over the run's defaults); they must fit it.
    pub fn set_run(&self, run: Run) -> Result<(), nm_pipeline::PipelineError> {
        if self.default_params.get().is_none() && !run.epochs().is_empty() {
            let p = self.overrides.resolve(&run)?;
            let _ = self.default_params.set(p);
        }
        if let Some(p) = self.default_params.get() {
            let key = self.default_view_key();
            lock(&self.params_by_key).entry(key).or_insert_with(|| p.clone());
        }
        *self.run.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(run));
        *lock(&self.derived) = None;
        Ok(())
    }

    /// The default view's parameters (the pipeline's defaults until the run is known).
    pub fn default_params(&self) -> EmbedParams {
        self.default_params.get().cloned().unwrap_or_default()
    }

    /// [`LIVE_VIEW`] when following the run, else the default parameters' key.
    pub fn default_view_key(&self) -> String {
        if self.follow {
            return LIVE_VIEW.to_string();
        }
        self.default_params().cache_key()
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.events.subscribe()
    }

    /// Sends an event to every connected browser (dropped when none is connected).
    pub fn emit(&self, event: ServerEvent) {
        let _ = self.events.send(Arc::from(event.to_json_of(self.run_index)));
    }

    /// Encodes `emb` as view `key`; in a run with adversarial twins the header gains each epoch's
    /// divergence ([`nm_pipeline::divergence`], with the run's predictions).
    pub fn encode_view(&self, key: &str, emb: &LayerEmbedding) -> anyhow::Result<Bytes> {
        encode::embedding_bytes(key, emb, self.view_extra(emb)?)
            .map_err(|m| anyhow::anyhow!("layer `{}`: {m}", emb.layer))
    }

    /// `emb` as view `key` in the packed form a static site holds (pack.rs), at `bits` per axis.
    pub fn encode_view_packed(&self, key: &str, emb: &LayerEmbedding, bits: u32) -> anyhow::Result<Bytes> {
        crate::pack::packed_embedding_bytes(key, emb, self.view_extra(emb)?, bits)
            .map_err(|m| anyhow::anyhow!("layer `{}`: {m}", emb.layer))
    }

    /// The header fields a view carries beyond its positions: the twins' divergence, in a run with twins.
    fn view_extra(&self, emb: &LayerEmbedding) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        let mut extra = serde_json::Map::new();
        if let Some(run) = self.run() {
            if let Some(twins) = run.twins() {
                let derived = self.derived().map_err(|e| anyhow::anyhow!("cannot read the run's predictions: {e}"))?;
                let preds = |e: u32| derived.predictions.iter().find(|(pe, _)| *pe == e).map(|(_, p)| p.clone());
                let d = nm_pipeline::divergence(emb, run.labels(), twins, preds);
                extra.insert("divergence".into(), serde_json::to_value(d)?);
            }
        }
        Ok(extra)
    }

    /// Encodes and keeps `emb` as view `key` of its layer.
    pub fn store_view(&self, key: &str, emb: &LayerEmbedding) -> anyhow::Result<()> {
        self.store(key, emb, None)
    }

    /// Encodes and keeps a parametric layer's positions as view `key`, with its encoders.
    pub fn store_parametric_view(&self, key: &str, layer: ParametricLayer) -> anyhow::Result<()> {
        let layer = Arc::new(layer);
        self.store(key, &layer.embedding, Some(layer.clone()))
    }

    fn store(&self, key: &str, emb: &LayerEmbedding, parametric: Option<Arc<ParametricLayer>>) -> anyhow::Result<()> {
        let bytes = self.encode_view(key, emb)?;
        let seq = self.view_seq.fetch_add(1, Ordering::Relaxed);
        let default_view = self.default_view_key();
        let mut views = lock(&self.views);
        views.insert(
            (emb.layer.clone(), key.to_string()),
            StoredView {
                bytes,
                emb: Arc::new(emb.clone()),
                epochs: emb.epochs.clone(),
                n_points: emb.samples.len(),
                parametric,
                seq,
            },
        );
        while views.len() > MAX_STORED_VIEWS {
            let oldest = views
                .iter()
                .filter(|((_, k), _)| *k != default_view && k != LIVE_VIEW)
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

    /// A stored view's (samples, epochs).
    pub fn view_samples(&self, layer: &str, key: &str) -> Option<(Vec<u32>, Vec<u32>)> {
        lock(&self.views).get(&(layer.to_string(), key.to_string())).map(|v| (v.emb.samples.clone(), v.epochs.clone()))
    }

    /// View `key` of `layer` as computed, and its version (a number that grows with each store).
    pub fn raw_view(&self, layer: &str, key: &str) -> Option<(Arc<LayerEmbedding>, u64)> {
        lock(&self.views).get(&(layer.to_string(), key.to_string())).map(|v| (v.emb.clone(), v.seq))
    }

    /// A stored parametric view's encoders (None outside parametric mode, or before it is loaded).
    pub fn parametric_view(&self, layer: &str, key: &str) -> Option<Arc<ParametricLayer>> {
        lock(&self.views).get(&(layer.to_string(), key.to_string())).and_then(|v| v.parametric.clone())
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
            return Ok(Arc::new(Derived {
                samples: encode::empty_samples(),
                accuracy: Vec::new(),
                predictions: Vec::new(),
                table: None,
                table_error: None,
            }));
        };
        let d = Arc::new(Derived::of(&run)?);
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
