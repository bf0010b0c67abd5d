//! SKELETON (API contract, to be implemented by the viewer work; bodies are todo!()).
//! HTTP server and the embedded browser viewer.

use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Default 127.0.0.1.
    pub host: String,
    /// None: 8765, or a free port if taken (said so on stderr).
    pub port: Option<u16>,
    pub open_browser: bool,
    /// Live mode: the run grows while training; new epochs are embedded incrementally
    /// (nm_pipeline::LiveLayer) and pushed to open browsers.
    pub live: bool,
}

/// A running server (its own thread and tokio runtime).
pub struct ServerHandle { /* ... */ }

impl ServerHandle {
    pub fn url(&self) -> &str { todo!() }
    /// Live mode: epoch `epoch` has been written to the run; embed it and push it to browsers.
    pub fn epoch_added(&self, epoch: u32) { todo!() }
    /// Live mode: training is over (browsers are told; a full aligned refit may follow).
    pub fn training_finished(&self) { todo!() }
    /// Blocks until the server stops (Ctrl-C).
    pub fn wait(self) -> anyhow::Result<()> { todo!() }
}

/// Opens the run, binds, starts serving, and returns once the server is accepting connections.
pub fn start(run: PathBuf, opts: ServeOptions) -> anyhow::Result<ServerHandle> { todo!() }
