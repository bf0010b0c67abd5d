//! SKELETON (API contract, to be implemented by the run-format work; bodies are todo!()).
//! Runs on disk: read, validate, write (shared/spec/run-format.md).
//! Other crates (nm_pipeline, nm_server, nm_train) compile against these names; add freely,
//! change only together with the callers.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Every variant names the file and what was expected versus found.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub name: Option<String>,
    pub classes: Option<Vec<String>>,
    pub layers: Option<Vec<String>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerInfo { pub name: String, pub dim: usize }

/// Per-epoch training metrics (optional file `metrics.json` at the run's root, written by nm_train).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics { pub epoch: u32, pub train_accuracy: Option<f32>, pub test_accuracy: Option<f32>, pub loss: Option<f32> }

/// Thumbnails: [N, H, W, C] u8 with C = 1 or 3.
pub struct Inputs { pub n: usize, pub height: usize, pub width: usize, pub channels: usize, pub data: Vec<u8> }

/// An opened, validated run. Opening checks the manifest, labels, the epoch/layer layout and shapes
/// (headers only); activations are read on demand.
pub struct Run { /* ... */ }

impl Run {
    pub fn open(path: &Path) -> Result<Run, RunError> { todo!() }
    /// Re-scan epochs (a live run gains epochs while training).
    pub fn refresh(&mut self) -> Result<(), RunError> { todo!() }
    pub fn path(&self) -> &Path { todo!() }
    pub fn name(&self) -> &str { todo!() }
    pub fn n_samples(&self) -> usize { todo!() }
    pub fn classes(&self) -> &[String] { todo!() }
    pub fn labels(&self) -> &[u32] { todo!() }
    /// In manifest order (or sorted when the manifest gives none).
    pub fn layers(&self) -> &[LayerInfo] { todo!() }
    /// Epoch numbers, ascending.
    pub fn epochs(&self) -> &[u32] { todo!() }
    /// Activations of one layer at one epoch as [N, D] row-major f32 (validated: finite).
    pub fn read_layer(&self, layer: &str, epoch: u32) -> Result<(usize, Vec<f32>), RunError> { todo!() }
    /// Predicted class per sample at an epoch (argmax of logits when given as [N, C]); None when absent.
    pub fn predictions(&self, epoch: u32) -> Result<Option<Vec<u32>>, RunError> { todo!() }
    pub fn inputs(&self) -> Result<Option<Inputs>, RunError> { todo!() }
    pub fn metrics(&self) -> Result<Vec<EpochMetrics>, RunError> { todo!() }
    /// `RUN/.neuromapper/`, created on demand.
    pub fn cache_dir(&self) -> PathBuf { todo!() }
}

/// Writes a run atomically: each file via temp + rename, each epoch folder built under a temp name
/// and renamed into `epochs/<epoch>` so a reader (a live server) never sees half an epoch.
pub struct RunWriter { /* ... */ }

impl RunWriter {
    /// Creates RUN/ with neuromapper.json, labels.npy and (optionally) inputs.npy.
    pub fn create(path: &Path, manifest: &Manifest, labels: &[u32], inputs: Option<&Inputs>) -> Result<RunWriter, RunError> { todo!() }
    /// Writes epochs/<epoch>/<layer>.npy as float32 [N, dim] for each (layer, dim, data) and
    /// predictions.npy ([N] int) when given.
    pub fn write_epoch(&self, epoch: u32, layers: &[(&str, usize, &[f32])], predictions: Option<&[u32]>) -> Result<(), RunError> { todo!() }
    /// Writes (replaces) metrics.json.
    pub fn write_metrics(&self, metrics: &[EpochMetrics]) -> Result<(), RunError> { todo!() }
}
