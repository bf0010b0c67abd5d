//! Following a growing run: the folder watcher (polls the run's folder, says when it changed) and
//! the live worker (re-reads the run, brings `nm_pipeline::LiveRun` up to date, pushes each layer's
//! view to browsers, refines when the run is marked finished). The embedding logic itself is the
//! pipeline's; this file only routes its results to the views and the event stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime};

use nm_pipeline::{LayerOutcome, LiveRun};
use nm_run::Run;
use nm_umap::Stage;

use crate::events::ServerEvent;
use crate::progress::ProgressReporter;
use crate::state::{AppState, LiveMsg, LIVE_VIEW};
use crate::sync::guarded;

/// How often the watcher looks at the run's folder. Polling one directory listing four times a
/// second costs nothing measurable, works on every file system (network mounts included, where
/// change notification is unreliable) and needs no extra crate; an epoch then reaches the worker
/// within this delay of its rename.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What the watcher compares between two looks: every visible entry of `epochs/` with its
/// modification time, and the run's top-level files (manifest, labels, inputs, metrics, the
/// finished marker) with length and modification time.
#[derive(PartialEq, Eq, Debug, Default)]
struct Signature(Vec<(String, u64, Option<SystemTime>)>);

fn signature(run: &Path) -> Signature {
    let mut entries = Vec::new();
    for name in
        [nm_run::MANIFEST_FILE, nm_run::LABELS_FILE, nm_run::INPUTS_FILE, nm_run::METRICS_FILE, nm_run::FINISHED_FILE]
    {
        if let Ok(m) = std::fs::metadata(run.join(name)) {
            entries.push((name.to_string(), m.len(), m.modified().ok()));
        }
    }
    if let Ok(rd) = std::fs::read_dir(run.join(nm_run::EPOCHS_DIR)) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Hidden names are epochs being written (RunWriter's temp folders): not there yet.
            if name.starts_with('.') {
                continue;
            }
            let m = e.metadata().ok();
            entries.push((
                format!("epochs/{name}"),
                m.as_ref().map_or(0, std::fs::Metadata::len),
                m.and_then(|m| m.modified().ok()),
            ));
        }
    }
    entries.sort();
    Signature(entries)
}

/// Whether `epochs/` holds anything that is not hidden (an epoch, complete or not, is there).
fn has_visible_epoch(run: &Path) -> bool {
    std::fs::read_dir(run.join(nm_run::EPOCHS_DIR))
        .is_ok_and(|rd| rd.flatten().any(|e| !e.file_name().to_string_lossy().starts_with('.')))
}

/// Starts the watcher thread: it sends [`LiveMsg::Changed`] whenever the run's folder looks
/// different from the last look, until `stop` is set or the worker is gone.
pub fn spawn_watcher(run: PathBuf, tx: mpsc::Sender<LiveMsg>, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("nm-watch".into())
        .spawn(move || {
            let mut last = signature(&run);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(POLL_INTERVAL);
                let now = signature(&run);
                if now != last {
                    last = now;
                    if tx.send(LiveMsg::Changed).is_err() {
                        return;
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("cannot start the folder watcher thread: {e}"))
}

/// Starts the live worker: on each batch of messages it re-opens the run, embeds what is new
/// (every layer in parallel, each pushed as soon as it is ready), announces the epochs, and refines
/// once the run is finished (the marker file, or [`LiveMsg::Finished`] from an in-process trainer).
pub fn spawn_worker(state: Arc<AppState>, rx: mpsc::Receiver<LiveMsg>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("nm-live".into())
        .spawn(move || {
            let mut worker = Worker { state, live: None, told_finished: false, last_error: None, announced: None };
            while let Ok(first) = rx.recv() {
                let mut msgs = vec![first];
                while let Ok(m) = rx.try_recv() {
                    msgs.push(m);
                }
                let mut syncs = Vec::new();
                let mut finished = false;
                for m in msgs {
                    match m {
                        LiveMsg::Changed => {}
                        LiveMsg::Finished => finished = true,
                        LiveMsg::Sync(tx) => syncs.push(tx),
                    }
                }
                worker.step(finished);
                for s in syncs {
                    let _ = s.send(());
                }
            }
        })
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("cannot start the live worker thread: {e}"))
}

struct Worker {
    state: Arc<AppState>,
    /// Created with the first epoch (the default parameters depend on the run).
    live: Option<LiveRun>,
    /// An in-process trainer said it is done (sticky: the marker file may not exist).
    told_finished: bool,
    /// The last error announced, so a run that stays broken is not announced on every change.
    last_error: Option<String>,
    /// The epochs and the metrics file's stamp last announced (`epochs` events only say news).
    announced: Option<Announced>,
}

/// What an `epochs` event announced: the run's epochs and its metrics file's (length, mtime).
type Announced = (Vec<u32>, Option<(u64, Option<SystemTime>)>);

impl Worker {
    fn error(&mut self, message: String) {
        if self.last_error.as_deref() != Some(message.as_str()) {
            eprintln!("neuromapper: {message}");
            self.state.emit(ServerEvent::Error { error: message.clone() });
            self.last_error = Some(message);
        }
    }

    fn step(&mut self, finished_now: bool) {
        self.told_finished |= finished_now;
        let state = self.state.clone();
        let path = state.run_path().to_path_buf();
        let run = match guarded(|| Run::open(&path)) {
            Ok(Ok(run)) => run,
            // Nothing shown yet and no epoch written: the normal wait for a new run's first epoch.
            Ok(Err(_)) if state.run().is_none() && !has_visible_epoch(&path) => return,
            Ok(Err(e)) => {
                return self.error(match state.run() {
                    None => format!("cannot read the run's first epoch: {e}"),
                    Some(r) => format!(
                        "the run changed in a way the viewer cannot follow: {e}; still showing its first {} epochs",
                        r.epochs().len()
                    ),
                });
            }
            Err(e) => return self.error(e),
        };
        // A different probe set is refused before it replaces the run the views were made of, and
        // so is one that differs from the runs served beside it.
        if let Err(e) = state.check_probe(&run) {
            return self.error(e);
        }
        if let Some(Err(e)) = self.live.as_mut().map(|l| l.check_samples(&run)) {
            return self.error(e.to_string());
        }
        if let Err(e) = state.set_run(run) {
            return self.error(format!("the default view's parameters do not fit the run: {e}"));
        }
        let Some(run) = state.run() else { return };
        if run.epochs().is_empty() {
            return;
        }
        let live = self.live.get_or_insert_with(|| LiveRun::new(state.default_params()));
        let names: Vec<String> = run.layers().iter().map(|l| l.name.clone()).collect();
        let reporters: HashMap<&str, ProgressReporter> =
            names.iter().map(|l| (l.as_str(), ProgressReporter::new(&state, l, LIVE_VIEW, None))).collect();
        let progress = |layer: &str, s: Stage, f: f32| {
            if let Some(r) = reporters.get(layer) {
                r.report(s, f);
            }
        };
        let publish = |refined: bool| {
            let state = &state;
            move |layer: &str, outcome: LayerOutcome| publish(state, layer, outcome, refined)
        };
        let updated = live.update(&run, &progress, &publish(false), None);
        if let Err(e) = updated {
            return self.error(e.to_string());
        }
        self.last_error = None;
        let metrics =
            std::fs::metadata(run.path().join(nm_run::METRICS_FILE)).ok().map(|m| (m.len(), m.modified().ok()));
        let news = Some((run.epochs().to_vec(), metrics));
        if self.announced != news {
            state.emit(ServerEvent::Epochs { epochs: run.epochs() });
            self.announced = news;
        }
        let finished = run.is_finished() || self.told_finished;
        state.training.store(!finished, Ordering::Relaxed);
        if finished && live.needs_refine() {
            state.emit(ServerEvent::TrainingFinished { refining: true });
            if let Err(e) = live.finish(&run, &progress, &publish(true), None) {
                self.error(e.to_string());
            }
        }
    }
}

/// Stores a layer's live view and tells browsers (`done`, with `refined` for the final view of a
/// finished run), or why it failed.
fn publish(state: &AppState, layer: &str, outcome: LayerOutcome, refined: bool) {
    let view = LIVE_VIEW;
    match outcome.map(|emb| state.store_view(view, emb).map(|()| emb)) {
        Ok(Ok(emb)) => state.emit(ServerEvent::Done { layer, view, epochs: &emb.epochs, refined }),
        Ok(Err(e)) => state.emit(ServerEvent::Failed { layer, view, error: format!("{e:#}") }),
        Err(e) => state.emit(ServerEvent::Failed { layer, view, error: e }),
    }
}
