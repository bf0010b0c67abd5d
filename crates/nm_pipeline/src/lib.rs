//! SKELETON (API contract, to be implemented by the pipeline work; bodies are todo!()).
//! Run -> aligned embeddings: sampling, PCA pre-embed, Aligned UMAP per layer, cache under
//! `RUN/.neuromapper/`, export. Used by the CLI (`embed`, `export`) and the server.

use nm_run::Run;
use nm_umap::{Control, Metric};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Sampling { All, Total(usize), PerClass(usize) }

/// What the user may change; everything else is the engine's default.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EmbedParams {
    pub n_neighbors: usize,   // 15
    pub min_dist: f32,        // 0.1
    pub metric: String,       // "euclidean" | "cosine"
    pub pca_dims: usize,      // 50; 0 = off
    pub sampling: Sampling,   // All
    pub seed: u64,            // 0
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Run(#[from] nm_run::RunError),
    #[error(transparent)]
    Umap(#[from] nm_umap::UmapError),
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParam { name: &'static str, message: String },
    #[error("unknown layer `{layer}`; the run has: {known}")]
    UnknownLayer { layer: String, known: String },
    #[error("cancelled")]
    Cancelled,
}

/// Aligned 2-D embedding of one layer through all epochs.
#[derive(Clone, Debug)]
pub struct LayerEmbedding {
    pub layer: String,
    /// Ascending epoch numbers, one per slice.
    pub epochs: Vec<u32>,
    /// Indices into the run's samples (sorted ascending); all samples when not sampled.
    pub samples: Vec<u32>,
    /// [E, samples.len(), 2] row-major.
    pub positions: Vec<f32>,
}

impl EmbedParams {
    /// One validation step; the error names the field and the allowed range.
    pub fn validate(&self, run: &Run) -> Result<(), PipelineError> { todo!() }
    /// Stable key for the cache path (same params -> same key).
    pub fn cache_key(&self) -> String { todo!() }
}

/// Sample indices chosen by `params.sampling` (stratified, deterministic with the seed), ascending.
pub fn choose_samples(run: &Run, params: &EmbedParams) -> Vec<u32> { todo!() }

/// Cached embedding of `layer`, if one for these params (and the run's current epochs) exists and is intact.
pub fn cached(run: &Run, layer: &str, params: &EmbedParams) -> Option<LayerEmbedding> { todo!() }

/// Embed one layer (from the cache when present), writing the cache atomically.
pub fn embed_layer(run: &Run, layer: &str, params: &EmbedParams, ctl: &Control) -> Result<LayerEmbedding, PipelineError> { todo!() }

/// Live (growing) embedding of one layer: each new epoch is added with the engine's incremental
/// update (`AlignedEmbedding::extend`) instead of a full refit. Used by the server in live mode.
pub struct LiveLayer { /* ... */ }

impl LiveLayer {
    pub fn new(layer: &str, params: EmbedParams) -> LiveLayer { todo!() }
    /// Adds every epoch of `run` not yet embedded (in ascending order) and returns the embedding so far.
    pub fn update(&mut self, run: &Run, ctl: &Control) -> Result<LayerEmbedding, PipelineError> { todo!() }
}
