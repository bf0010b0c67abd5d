//! SKELETON (API contract, to be implemented by the engine work; bodies are todo!()).
//!
//! Public API that other crates (nm_pipeline, nm_train's live mode) compile against.
//! Names and signatures here are the contract; add to them freely, change them only
//! together with the callers.

use std::sync::atomic::AtomicBool;

/// Dense row-major f32 matrix: `data[i * n_cols + j]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub n_rows: usize,
    pub n_cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn new(n_rows: usize, n_cols: usize, data: Vec<f32>) -> Result<Self, UmapError> { todo!() }
    pub fn zeros(n_rows: usize, n_cols: usize) -> Self { todo!() }
    pub fn row(&self, i: usize) -> &[f32] { todo!() }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Metric { #[default] Euclidean, Cosine }

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Init { #[default] Spectral, Pca, Random }

/// UMAP parameters with umap-learn's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct UmapParams {
    pub n_neighbors: usize,
    pub n_components: usize,
    pub metric: Metric,
    pub min_dist: f32,
    pub spread: f32,
    /// None: 500 for N <= 10,000, 200 above.
    pub n_epochs: Option<usize>,
    pub learning_rate: f32,
    pub negative_sample_rate: usize,
    pub local_connectivity: f32,
    pub set_op_mix_ratio: f32,
    pub repulsion_strength: f32,
    pub init: Init,
    pub seed: u64,
}

/// Aligned UMAP parameters (umap-learn's AlignedUMAP defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct AlignedParams {
    pub umap: UmapParams,
    pub alignment_regularisation: f32,
    pub alignment_window_size: usize,
}

/// Stage reported to progress callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage { Pca, Neighbors, FuzzyGraph, Init, Layout }

/// Progress callback and cancel flag; both optional. `Control::default()` is silent and never cancels.
#[derive(Default, Clone, Copy)]
pub struct Control<'a> {
    /// Called with the stage and the fraction of that stage done, in [0, 1].
    pub progress: Option<&'a (dyn Fn(Stage, f32) + Sync)>,
    /// When set to true, the running fit returns `UmapError::Cancelled` within one SGD epoch.
    pub cancel: Option<&'a AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
pub enum UmapError {
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParam { name: &'static str, message: String },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("cancelled")]
    Cancelled,
}

/// Single UMAP fit of `data` [N, D] to [N, n_components].
pub fn fit(data: &Matrix, params: &UmapParams, ctl: &Control) -> Result<Matrix, UmapError> { todo!() }

/// Aligned UMAP over slices (identity relations: row i is the same sample in every slice).
pub struct AlignedEmbedding { /* state kept for `extend` */ }

impl AlignedEmbedding {
    pub fn fit(slices: &[Matrix], params: &AlignedParams, ctl: &Control) -> Result<Self, UmapError> { todo!() }
    /// Incremental update: add one slice, optimising only it against the frozen earlier ones.
    pub fn extend(&mut self, slice: &Matrix, params: &AlignedParams, ctl: &Control) -> Result<(), UmapError> { todo!() }
    /// One [N, n_components] embedding per slice, in slice order.
    pub fn embeddings(&self) -> &[Matrix] { todo!() }
}

/// A source of rows read in blocks (an .npy file being streamed, say), for PCA on data too big for memory.
pub trait RowBlocks {
    fn n_rows(&self) -> usize;
    fn n_cols(&self) -> usize;
    /// Fill `out` (len = n * n_cols) with rows start..start+n, as f32.
    fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), String>;
}

/// PCA pre-embed by randomized SVD streamed over row blocks: [N, D] -> [N, k].
pub fn pca_blocks(source: &mut dyn RowBlocks, k: usize, seed: u64, ctl: &Control) -> Result<Matrix, UmapError> { todo!() }

/// Trustworthiness of `low` as an embedding of `high` with k neighbours (sklearn's definition).
pub fn trustworthiness(high: &Matrix, low: &Matrix, k: usize) -> f64 { todo!() }
