//! HTTP server and the embedded browser viewer.
//!
//! # Data flow
//! A run on disk (`nm_run::Run`) is embedded per layer by `nm_pipeline` into aligned 2-D positions
//! `[E, n, 2]` (E epochs, n sampled points). The server keeps each computed *view* (one layer under one
//! set of [`EmbedParams`]) in memory, already encoded in the compact binary form the browser reads
//! (`encode::embedding_bytes`: u16 positions quantised per epoch, about 4 bytes per point per epoch),
//! and serves:
//!
//! | route                                   | what                                                        |
//! |-----------------------------------------|-------------------------------------------------------------|
//! | `GET /api/run`                          | summary JSON: classes, layers, epochs, accuracy, views, tasks |
//! | `GET /api/samples`                      | binary: labels `[N]` and predictions `[P, N]` as u8/u16      |
//! | `GET /api/layers/{layer}/embedding?view=K` | binary: one view's positions `[E, n, 2]` (u16) and samples |
//! | `GET /api/thumbs/{page}.png`            | sprite atlas of `inputs.npy` thumbnails (PNG)               |
//! | `GET /api/quality?view=K`               | JSON: trust, kNN, neighbour change, CKA per layer and epoch |
//! | `GET /api/values?id=ID`                 | binary: one per-sample value `[R, N]` f32 (confidence, a run value, ...) |
//! | `GET /api/sample-text`                  | JSON: `samples.csv`'s text columns                          |
//! | `GET /api/change?layer=L&view=K`        | binary: per-sample neighbour change `[E, n]` f32 over a view's samples |
//! | `POST /api/compute`                     | compute views with new parameters (JSON body)               |
//! | `POST /api/layers/{layer}/place?epoch=E` | parametric mode: positions `[m, 2]` (JSON) of an uploaded `.npy` `[m, D]` |
//! | `GET /api/events`                       | server-sent events: progress, done, new epochs              |
//! | `GET /api/runs`                         | JSON: the runs served side by side (name, label, layers, epochs) |
//! | `* /api/runs/{i}/…`                     | every route above but the viewer's files, for run `i`       |
//! | `GET /*`                                | the viewer (HTML/JS/CSS embedded in the binary)             |
//!
//! The unprefixed routes mean run 0, so a single-run server and its clients are unchanged; with
//! several runs ([`start_runs`], module `runs`) each run has its own state, views, tasks and live
//! worker, every event carries `"run": i`, and run i's views are served turned rigidly onto run 0's.
//!
//! [`site`] writes the answers of the GET routes for a grid of views as static files (`neuromapper
//! site`), which the same viewer reads with no server.
//!
//! Compute tasks are keyed by (layer, parameters): clients asking the same thing share one task; a
//! newer request from a client supersedes its older running requests for the same layers (a task
//! nobody wants any more is cancelled through the engine's cancel flag). They run on a fixed pool of
//! compute threads; past a bounded number of queued tasks a request is answered 429.
//!
//! # Invariants
//! - The server reads files only through `nm_run::Run` (by layer name, checked against the run) and
//!   serves UI files only from the embedded directory: no request can reach a file outside the run.
//! - Bad input gets a 4xx with a JSON `{"error": message}` body, never a panic.
//! - Every request passes `guard::check` first: a loopback server answers only to a loopback `Host`,
//!   the API only to same-origin requests, and a server bound beyond loopback (or given a token) only
//!   to clients that show its token. Slow clients are closed (`listen`), compute runs on a fixed pool
//!   with a bounded queue (`jobs`): no request makes the server spawn a thread.
//!
//! # Example
//! ```no_run
//! let opts = nm_server::ServeOptions { open_browser: false, ..Default::default() };
//! let server = nm_server::start("runs/cifar".into(), opts)?;
//! println!("{}", server.url());
//! server.wait()?;
//! # Ok::<(), anyhow::Error>(())
//! ```

mod api;
mod assets;
mod encode;
mod events;
mod guard;
mod jobs;
mod listen;
mod live;
mod pack;
mod place;
mod progress;
mod runs;
pub mod site;
mod state;
mod sync;
mod tasks;
mod values;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use anyhow::Context as _;
pub use nm_pipeline::{EmbedParams, LayerEmbedding, ParamOverrides, Sampling};

pub use place::{PlaceFn, Placer, MAX_PLACE_BYTES, MAX_PLACE_POINTS};
pub use runs::{start_runs, MAX_RUNS};
pub use state::LIVE_VIEW;

/// The port tried first when none is given.
pub const DEFAULT_PORT: u16 = 8765;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Default 127.0.0.1.
    pub host: String,
    /// None: 8765, or a free port if taken (said so on stderr). `Some(0)`: any free port.
    pub port: Option<u16>,
    pub open_browser: bool,
    /// Follow the run as it grows (`serve`'s default; off here): epochs that appear later are embedded incrementally
    /// (`nm_pipeline::LiveRun`) and pushed to open browsers; when the run is marked finished the
    /// views are refined and cached. Off: the default view is computed once (or read from the cache).
    pub follow: bool,
    /// The default view's parameters, over the run's defaults (`EmbedParams::default_for`).
    pub params: ParamOverrides,
    /// The token clients must show (`?token=`, then a cookie; or `Authorization: Bearer`). None: a
    /// random one when bound beyond loopback, none on loopback.
    pub token: Option<String>,
    /// How long a client may take to send a request's head (and, separately, its body), and how long
    /// an idle keep-alive connection stays open. Default 30 s.
    pub client_timeout: std::time::Duration,
    /// Following: serve a run folder that does not exist yet, or holds no run yet (no manifest),
    /// and show it once its first epoch is written (`demo --compare` serves runs before training
    /// them). Off: such a folder is an error.
    pub wait_for_missing: bool,
    /// Parametric mode (`serve --parametric`): the views are the run's cached parametric ones (made
    /// by `embed --parametric`; a layer without one is an error at start), and
    /// `POST /api/layers/{layer}/place` places uploaded activations with this. One run only, not
    /// followed, each layer on its own.
    pub placer: Option<Placer>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            host: "127.0.0.1".into(),
            port: None,
            open_browser: true,
            follow: false,
            params: ParamOverrides::default(),
            token: None,
            client_timeout: listen::CLIENT_TIMEOUT,
            wait_for_missing: false,
            placer: None,
        }
    }
}

/// A running server (its own thread and tokio runtime).
///
/// Dropping the handle leaves the server running until the process ends; call [`ServerHandle::wait`]
/// to block on it or [`ServerHandle::shutdown`] to stop it.
pub struct ServerHandle {
    url: String,
    /// One per run served (run 0 first).
    states: Vec<Arc<state::AppState>>,
    live_txs: Vec<mpsc::Sender<state::LiveMsg>>,
    /// Stops the folder watchers.
    stop_watching: Arc<AtomicBool>,
    stop_tx: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ServerHandle {
    /// `http://host:port/`, with `?token=…` when the server requires a token: the URL to open.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Following: epoch `epoch` has been written to the run (run 0); embed it and push it to
    /// browsers now (the folder watcher would notice within its polling interval). Returns at once
    /// (the work happens on the server's live worker thread).
    pub fn epoch_added(&self, _epoch: u32) {
        let _ = self.live_txs[0].send(state::LiveMsg::Changed);
    }

    /// Following: training is over (run 0), as the run's finished marker says (browsers are told,
    /// the views are refined and cached).
    pub fn training_finished(&self) {
        let _ = self.live_txs[0].send(state::LiveMsg::Finished);
    }

    /// Blocks until every epoch announced with [`ServerHandle::epoch_added`] so far has been embedded
    /// and announced to browsers (or failed). Useful for trainers that end right after the last epoch.
    pub fn wait_live_idle(&self) {
        for live_tx in &self.live_txs {
            let (tx, rx) = mpsc::channel();
            if live_tx.send(state::LiveMsg::Sync(tx)).is_ok() {
                let _ = rx.recv();
            }
        }
    }

    /// Blocks until the server stops (Ctrl-C).
    pub fn wait(mut self) -> anyhow::Result<()> {
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))?,
            None => Ok(()),
        }
    }

    /// Stops the server: cancels running computations, closes connections, joins the thread.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop_watching.store(true, Ordering::Relaxed);
        for state in &self.states {
            state.cancel_all();
        }
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        self.wait()
    }
}

/// Opens the run, binds, starts serving, and returns once the server is accepting connections.
///
/// Prints the URL on stderr and opens a browser when `opts.open_browser` (never failing when none can
/// be opened). Without live mode, the default view of every layer is computed (or loaded from the
/// run's cache) in the background right away.
pub fn start(run: PathBuf, opts: ServeOptions) -> anyhow::Result<ServerHandle> {
    let opened = open_run(&run, &opts)?;
    start_inner(vec![(run, opened)], opts, None)
}

/// Like [`start`], but serves `embeddings` (one per layer) as the default view instead of computing
/// them. For benchmarks and tests of the viewer that should not depend on the embedding engine.
pub fn start_with_embeddings(
    run: PathBuf,
    opts: ServeOptions,
    embeddings: Vec<LayerEmbedding>,
) -> anyhow::Result<ServerHandle> {
    let opened = open_run(&run, &opts)?;
    start_inner(vec![(run, opened)], opts, Some(embeddings))
}

/// Opens the run at `path`. Following, a run that has no epoch yet (or, with
/// `opts.wait_for_missing`, no folder or manifest yet) is None: served, and picked up when its
/// first epoch comes.
fn open_run(path: &std::path::Path, opts: &ServeOptions) -> anyhow::Result<Option<nm_run::Run>> {
    match nm_run::Run::open(path) {
        Ok(run) => Ok(Some(run)),
        Err(e) if opts.follow && path.join(nm_run::MANIFEST_FILE).is_file() => {
            eprintln!("neuromapper: waiting for the first epoch of {} ({e})", path.display());
            Ok(None)
        }
        Err(_) if opts.follow && opts.wait_for_missing && !path.join(nm_run::MANIFEST_FILE).exists() => {
            eprintln!("neuromapper: waiting for the run {} to be written", path.display());
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the run {}", path.display())),
    }
}

/// Serves `runs` (path, the run opened, or None while waiting for it), run 0 first; `runs::start_runs`
/// has checked that they share their probe set. `preloaded`: run 0's default view.
fn start_inner(
    runs: Vec<(PathBuf, Option<nm_run::Run>)>,
    opts: ServeOptions,
    preloaded: Option<Vec<LayerEmbedding>>,
) -> anyhow::Result<ServerHandle> {
    if opts.placer.is_some() {
        check_parametric(&runs, &opts)?;
    }
    let listener = bind(&opts)?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    let (access, url) = guard::setup(addr, opts.token.clone())?;

    // One event channel for every run: a browser keeps one stream open, each event tagged with its run.
    let (event_tx, _) = tokio::sync::broadcast::channel(state::EVENT_BUFFER);
    let several = runs.len() > 1;
    let probe = runs::ProbeSet::new();
    let stop_watching = Arc::new(AtomicBool::new(false));
    let mut states: Vec<Arc<state::AppState>> = Vec::new();
    let mut live_txs = Vec::new();
    let mut paths = Vec::new();
    let mut preloaded = preloaded;
    // Every run there is now is checked before anything starts (no worker left behind on error).
    for (run_path, run) in &runs {
        if let Some(run) = run {
            probe.check(run_path, run).map_err(|e| anyhow::anyhow!(e))?;
        }
    }
    for (i, (run_path, run)) in runs.into_iter().enumerate() {
        let mut state = state::AppState::new(run_path.clone(), run, opts.follow, opts.params.clone(), event_tx.clone())
            .with_context(|| format!("cannot serve the run {}", run_path.display()))?;
        if several {
            state.set_peers(i, probe.clone(), states.first().cloned());
        }
        if let Some(placer) = &opts.placer {
            state.set_placer(placer.clone());
        }
        let state = Arc::new(state);
        let (live_tx, live_rx) = mpsc::channel();
        live::spawn_worker(state.clone(), live_rx)?;
        match preloaded.take() {
            Some(embeddings) => {
                for emb in embeddings {
                    state.store_view(&state.default_view_key(), &emb)?;
                }
            }
            None if opts.follow => {
                live::spawn_watcher(run_path.clone(), live_tx.clone(), stop_watching.clone())?;
                // Embed whatever epochs the run already has.
                let _ = live_tx.send(state::LiveMsg::Changed);
            }
            None => {
                let layers = state.layer_names();
                let params = state.default_params();
                // The server's own request is never refused as busy.
                let _ = jobs::request(&state, state::SERVER_CLIENT, &layers, params);
            }
        }
        paths.push(run_path);
        states.push(state);
        live_txs.push(live_tx);
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = api::router(&states);
    let thread = listen::spawn(listener, app, access, opts.client_timeout, stop_rx)?;

    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    eprintln!("neuromapper: viewer for {} at {url}", shown.join(", "));
    if opts.open_browser {
        let u = url.clone();
        std::thread::spawn(move || {
            if webbrowser::open(&u).is_err() {
                eprintln!("neuromapper: could not open a browser; open {u} yourself");
            }
        });
    }
    Ok(ServerHandle { url, states, live_txs, stop_watching, stop_tx: Some(stop_tx), thread: Some(thread) })
}

/// Parametric mode serves one finished-or-not run as it is (not followed, layers on their own), and
/// only when every layer's parametric view of the default parameters is cached.
fn check_parametric(runs: &[(PathBuf, Option<nm_run::Run>)], opts: &ServeOptions) -> anyhow::Result<()> {
    anyhow::ensure!(runs.len() == 1, "--parametric serves one run; {} were given", runs.len());
    anyhow::ensure!(!opts.follow, "--parametric shows the cached parametric views: it does not follow a run");
    let Some(run) = &runs[0].1 else { anyhow::bail!("--parametric needs a run with epochs") };
    let params = opts.params.resolve(run)?;
    anyhow::ensure!(!params.align_layers, "--parametric embeds each layer on its own: leave out --align-layers");
    let layers: Vec<String> = run.layers().iter().map(|l| l.name.clone()).collect();
    let missing = place::missing_layers(run, &layers, &params);
    anyhow::ensure!(missing.is_empty(), "{}", place::missing_message(run, &missing, &params));
    Ok(())
}

/// Binds `opts.host:opts.port`; when that port is taken, binds a free one and says so on stderr.
fn bind(opts: &ServeOptions) -> anyhow::Result<TcpListener> {
    let host = if opts.host.is_empty() { "127.0.0.1" } else { opts.host.as_str() };
    let port = opts.port.unwrap_or(DEFAULT_PORT);
    match TcpListener::bind((host, port)) {
        Ok(l) => Ok(l),
        Err(e) if port != 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
            let l = TcpListener::bind((host, 0)).with_context(|| format!("cannot bind {host}: no free port"))?;
            let free = l.local_addr().map_or(0, |a| a.port());
            eprintln!("neuromapper: port {port} is in use; serving on port {free} instead");
            Ok(l)
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {host}:{port} (try another --host or --port)")),
    }
}
