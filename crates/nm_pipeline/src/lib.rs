//! Run → aligned embeddings: sampling, PCA pre-embed, Aligned UMAP per layer, a cache under
//! `RUN/.neuromapper/`, and export. Used by the CLI (`embed`, `export`) and the server.
//!
//! For one layer with epochs e₁ < … < e_E and the chosen samples S (|S| = n):
//! 1. **Sampling** ([`choose_samples`]): all samples, n in total, or k per class; stratified and
//!    deterministic with the seed, so every layer and epoch shows the same samples.
//! 2. **Pre-embed** each epoch's [n, D] activations to [n, p] (p = `pca_dims`) by a randomized
//!    PCA streamed over row blocks ([`nm_umap::pca_blocks`]) when D > p; a [10,000 × 65,536] layer
//!    never sits in memory. With the cosine metric rows are L2-normalised first and the
//!    pre-embedded rows compared with the Euclidean metric (‖u − v‖² = 2 − 2 cos(u, v) for unit
//!    vectors, and PCA preserves Euclidean distances). Results are cached per (layer, epoch).
//! 3. **Aligned UMAP** over the E slices ([`nm_umap::AlignedEmbedding`]) → positions [E, n, 2].
//! 4. **Cache**: `.neuromapper/embeddings/<layer>.<params key>.nmc`, whose header records the
//!    identity of the data (each file's length and modification time, the samples); a changed run
//!    or a damaged file is recomputed ([`cache`] explains the file layout).
//!
//! In a run with adversarial twins, sampling chooses among the clean samples and adds the twins of
//! those chosen; [`divergence`] measures, per epoch of a view, how far the twins sit from their
//! clean samples and how many lean towards the class they are predicted as.
//! A parametric view (`embed --parametric`) trains an encoder per epoch instead of step 3 (in
//! `nm_train`); [`parametric`] holds its inputs with the map from activations, and its cache.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let run = nm_run::Run::open(std::path::Path::new("runs/resnet18"))?;
//! let params = nm_pipeline::EmbedParams::default();
//! let emb = nm_pipeline::embed_layer(&run, "layer4", &params, &nm_umap::Control::default())?;
//! assert_eq!(emb.positions.len(), emb.epochs.len() * emb.samples.len() * 2);
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use nm_run::Run;
use nm_umap::{AlignedEmbedding, Control, Stage};
use rayon::prelude::*;

mod align;
pub mod cache;
mod change;
pub mod export;
mod joint;
mod live;
pub mod parametric;
mod params;
pub mod quality;
mod sampling;
pub mod scores;
mod slices;
mod store;
mod twins;

pub use align::align_rigidly;
pub use change::{sample_change, SampleChange};
pub use joint::{embed_aligned_layers, LAYER_REGULARISATION};
pub use live::{LayerOutcome, LiveLayer, LiveRun};
pub use parametric::{
    cached_parametric, load_parametric_slice, parametric_path, store_parametric, EncoderWeights, InputMap,
    ParametricLayer, ParametricSlice,
};
pub use params::{
    EmbedParams, ParamOverrides, Sampling, DEFAULT_MAX_SAMPLES, N_NEIGHBORS_MAX, PCA_DIMS_MAX, PCA_DIMS_MIN, SPREAD,
};
pub use quality::{quality, QualityReport};
pub use sampling::{choose_samples, sample_count};
pub use slices::load_slice;
pub use store::{cached, list_cached, store_embedding, CacheEntry};
pub use twins::{divergence, Divergence};

pub(crate) use slices::{load_slices, normalize_rows};
pub(crate) use store::fingerprint;

/// Bump when the same parameters would give different output (invalidates every cache).
pub const PIPELINE_VERSION: u64 = 2;
pub(crate) const EMBEDDINGS_DIR: &str = "embeddings";
pub(crate) const PCA_DIR: &str = "pca";
pub(crate) const CACHE_EXT: &str = "nmc";

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
    /// One (layer, epoch) cannot be embedded (all rows identical, NaN after PCA, ...).
    #[error("layer `{layer}` at epoch {epoch} ({file}): {message}")]
    InvalidSlice { layer: String, epoch: u32, file: String, message: String },
    /// The joint fit of every layer (`align_layers`) failed; the message is its error.
    #[error("the joint fit of all layers failed: {0}")]
    AlignedLayers(String),
    #[error("cancelled")]
    Cancelled,
}

pub(crate) fn invalid(name: &'static str, message: impl Into<String>) -> PipelineError {
    PipelineError::InvalidParam { name, message: message.into() }
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

impl LayerEmbedding {
    /// Positions of slice `e` (an index into `epochs`): [samples.len(), 2].
    pub fn slice(&self, e: usize) -> &[f32] {
        let n = self.samples.len() * 2;
        &self.positions[e * n..(e + 1) * n]
    }
}

pub(crate) fn find_layer(run: &Run, layer: &str) -> Result<usize, PipelineError> {
    run.layers().iter().position(|l| l.name == layer).ok_or_else(|| PipelineError::UnknownLayer {
        layer: layer.to_string(),
        known: run.layers().iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

pub(crate) fn cancelled(ctl: &Control) -> bool {
    ctl.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
}

pub(crate) fn from_umap(e: nm_umap::UmapError) -> PipelineError {
    match e {
        nm_umap::UmapError::Cancelled => PipelineError::Cancelled,
        other => PipelineError::Umap(other),
    }
}

/// [`from_umap`] for a fit of `layer` over `epochs` (slice i is `epochs[i]`): an invalid slice is
/// named by its layer, epoch and file.
pub(crate) fn from_umap_at<'a>(
    run: &'a Run,
    layer: &'a str,
    epochs: &'a [u32],
) -> impl Fn(nm_umap::UmapError) -> PipelineError + 'a {
    move |e| match e {
        nm_umap::UmapError::InvalidSlice { slice, message } if slice < epochs.len() => {
            let epoch = epochs[slice];
            let file = run.layer_stamp(layer, epoch).map(|s| s.0.display().to_string()).unwrap_or_default();
            PipelineError::InvalidSlice { layer: layer.to_string(), epoch, file, message }
        }
        other => from_umap(other),
    }
}

/// Embed one layer (from the cache when present), writing the cache atomically.
///
/// Progress: `Stage::Pca` with the fraction of epochs pre-embedded, then the engine's stages.
pub fn embed_layer(
    run: &Run,
    layer: &str,
    params: &EmbedParams,
    ctl: &Control,
) -> Result<LayerEmbedding, PipelineError> {
    params.validate(run)?;
    find_layer(run, layer)?;
    if let Some(hit) = cached(run, layer, params) {
        return Ok(hit);
    }
    if params.align_layers {
        let mut all = embed_aligned_layers(run, params, ctl)?;
        let at = all.iter().position(|e| e.layer == layer).expect("every layer of the run is fitted");
        return Ok(all.swap_remove(at));
    }
    let emb = fit_layer(run, layer, params, ctl)?;
    store_embedding(run, params, &emb)?;
    Ok(emb)
}

/// The aligned fit of every epoch of one layer, computed (PCA pre-embeds may come from the cache);
/// the embedding cache is neither read nor written. [`embed_layer`] is this plus the cache.
pub fn fit_layer(run: &Run, layer: &str, params: &EmbedParams, ctl: &Control) -> Result<LayerEmbedding, PipelineError> {
    params.validate(run)?;
    let li = find_layer(run, layer)?;
    let samples = choose_samples(run, params);
    let epochs = run.epochs().to_vec();
    let slices = load_slices(run, layer, &epochs, &samples, params, ctl)?;
    let pre = params.uses_pca(run.layers()[li].dim, samples.len());
    let aligned =
        AlignedEmbedding::fit(&slices, &params.aligned_params(pre), ctl).map_err(from_umap_at(run, layer, &epochs))?;
    let positions: Vec<f32> = aligned.embeddings().iter().flat_map(|m| m.data.iter().copied()).collect();
    Ok(LayerEmbedding { layer: layer.to_string(), epochs, samples, positions })
}

/// Embeds several layers in parallel (rayon), reporting `progress(layer, stage, fraction)`.
/// Results are in the order of `layers`; each is independent (one failing does not stop the others,
/// except through `cancel`).
pub fn embed_layers(
    run: &Run,
    layers: &[String],
    params: &EmbedParams,
    progress: &(dyn Fn(&str, Stage, f32) + Sync),
    cancel: Option<&AtomicBool>,
) -> Vec<Result<LayerEmbedding, PipelineError>> {
    if params.align_layers {
        // One joint fit serves every layer; progress is reported under each layer asked for.
        let report = |stage: Stage, f: f32| layers.iter().for_each(|l| progress(l, stage, f));
        let ctl = Control { progress: Some(&report), cancel };
        return match embed_aligned_layers(run, params, &ctl) {
            Ok(all) => layers
                .iter()
                .map(|l| {
                    all.iter().find(|e| &e.layer == l).cloned().ok_or_else(|| {
                        find_layer(run, l)
                            .err()
                            .unwrap_or_else(|| invalid("layers", format!("layer `{l}` was not fitted")))
                    })
                })
                .collect(),
            // The one error, as each layer's result (the first layer gets it typed).
            Err(e) => {
                let text = e.to_string();
                let cancelled = matches!(e, PipelineError::Cancelled);
                let mut first = Some(e);
                layers
                    .iter()
                    .map(|_| {
                        Err(first.take().unwrap_or_else(|| {
                            if cancelled {
                                PipelineError::Cancelled
                            } else {
                                PipelineError::AlignedLayers(text.clone())
                            }
                        }))
                    })
                    .collect()
            }
        };
    }
    layers
        .par_iter()
        .map(|layer| {
            let report = |stage: Stage, f: f32| progress(layer, stage, f);
            let ctl = Control { progress: Some(&report), cancel };
            embed_layer(run, layer, params, &ctl)
        })
        .collect()
}
