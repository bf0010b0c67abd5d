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
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let run = nm_run::Run::open(std::path::Path::new("runs/resnet18"))?;
//! let params = nm_pipeline::EmbedParams::default();
//! let emb = nm_pipeline::embed_layer(&run, "layer4", &params, &nm_umap::Control::default())?;
//! assert_eq!(emb.positions.len(), emb.epochs.len() * emb.samples.len() * 2);
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use nm_run::{LayerReader, Run, RunError};
use nm_umap::{AlignedEmbedding, Control, Matrix, Metric, RowBlocks, Stage};
use rayon::prelude::*;

mod align;
pub mod cache;
pub mod export;
mod live;
mod params;
pub mod quality;
mod sampling;

pub use align::align_rigidly;
pub use live::{LayerOutcome, LiveLayer, LiveRun};
pub use params::{
    EmbedParams, ParamOverrides, Sampling, DEFAULT_MAX_SAMPLES, N_NEIGHBORS_MAX, PCA_DIMS_MAX, PCA_DIMS_MIN, SPREAD,
};
pub use quality::{quality, QualityReport};
pub use sampling::{choose_samples, sample_count};

use cache::Fnv;

/// Bump when the same parameters would give different output (invalidates every cache).
pub const PIPELINE_VERSION: u64 = 1;
const EMBEDDINGS_DIR: &str = "embeddings";
const PCA_DIR: &str = "pca";
const CACHE_EXT: &str = "nmc";

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

/// A file-name-safe form of a layer name (a short hash keeps distinct names distinct).
fn fs_name(layer: &str) -> String {
    let safe: String =
        layer.chars().map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' }).collect();
    if safe == layer {
        safe
    } else {
        format!("{safe}-{:08x}", Fnv::new().str(layer).finish() as u32)
    }
}

fn hash_samples(samples: &[u32]) -> u64 {
    samples.iter().fold(Fnv::new().u64(samples.len() as u64), |h, &s| h.u64(s as u64)).finish()
}

/// Identity of one (layer, epoch)'s data: its file, where in it, its length and mtime.
fn stamp_hash(run: &Run, layer: &str, epoch: u32) -> Result<u64, PipelineError> {
    let (rel, offset, len, mtime) = run.layer_stamp(layer, epoch)?;
    Ok(Fnv::new().str(&rel.to_string_lossy()).u64(offset).u64(len).u64(mtime as u64).u64((mtime >> 64) as u64).finish())
}

/// Identity of everything an embedding of `layer` depends on: the params, the samples and every
/// epoch's data (of every layer when the layers are aligned to each other).
fn fingerprint(run: &Run, layer: &str, params: &EmbedParams, samples: &[u32]) -> Result<String, PipelineError> {
    let mut h = Fnv::new().str(&params.cache_key()).str(layer).u64(hash_samples(samples));
    let own = [layer.to_string()];
    let all: Vec<String> = run.layers().iter().map(|l| l.name.clone()).collect();
    for l in if params.align_layers { &all[..] } else { &own[..] } {
        h = h.str(l);
        for &e in run.epochs() {
            h = h.u64(e as u64).u64(stamp_hash(run, l, e)?);
        }
    }
    Ok(format!("{:016x}", h.finish()))
}

fn embedding_path(run: &Run, layer: &str, params: &EmbedParams) -> PathBuf {
    run.path().join(nm_run::CACHE_DIR).join(EMBEDDINGS_DIR).join(format!(
        "{}.{}.{CACHE_EXT}",
        fs_name(layer),
        params.cache_key()
    ))
}

fn decode_embedding(header: &serde_json::Value, payload: &[u8]) -> Option<LayerEmbedding> {
    let layer = header["layer"].as_str()?.to_string();
    let epochs: Vec<u32> = serde_json::from_value(header["epochs"].clone()).ok()?;
    let n = header["n_samples"].as_u64()? as usize;
    let e = epochs.len();
    if payload.len() != 4 * n + 4 * e * n * 2 {
        return None;
    }
    let samples = cache::u32_from(&payload[..4 * n]);
    let positions = cache::f32_from(&payload[4 * n..]);
    Some(LayerEmbedding { layer, epochs, samples, positions })
}

/// Cached embedding of `layer`, if one for these params (and the run's current epochs) exists and is intact.
pub fn cached(run: &Run, layer: &str, params: &EmbedParams) -> Option<LayerEmbedding> {
    let params = &params.normalized(run);
    find_layer(run, layer).ok()?;
    let samples = choose_samples(run, params);
    let fp = fingerprint(run, layer, params, &samples).ok()?;
    let (header, payload) = cache::read(&embedding_path(run, layer, params))?;
    if header["fingerprint"].as_str() != Some(fp.as_str()) || header["layer"].as_str() != Some(layer) {
        return None;
    }
    let emb = decode_embedding(&header, &payload)?;
    (emb.epochs == run.epochs() && emb.samples == samples).then_some(emb)
}

/// A cached embedding found on disk (for `neuromapper info`).
#[derive(Clone, Debug)]
pub struct CacheEntry {
    pub layer: String,
    pub params: EmbedParams,
    pub epochs: usize,
    pub n_samples: usize,
    /// Whether it matches the run's current data (else it is recomputed when next asked for).
    pub current: bool,
    pub bytes: u64,
    pub path: PathBuf,
}

/// Every intact cached embedding of `run`, sorted by layer then parameters.
pub fn list_cached(run: &Run) -> Vec<CacheEntry> {
    let dir = run.path().join(nm_run::CACHE_DIR).join(EMBEDDINGS_DIR);
    let Ok(rd) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(CACHE_EXT) {
            continue;
        }
        let Some((header, _)) = cache::peek(&path) else { continue };
        let (Some(layer), Ok(params)) =
            (header["layer"].as_str(), serde_json::from_value::<EmbedParams>(header["params"].clone()))
        else {
            continue;
        };
        let current = run.layer(layer).is_some()
            && fingerprint(run, layer, &params, &choose_samples(run, &params)).ok().as_deref()
                == header["fingerprint"].as_str();
        out.push(CacheEntry {
            layer: layer.to_string(),
            epochs: header["epochs"].as_array().map(|a| a.len()).unwrap_or(0),
            n_samples: header["n_samples"].as_u64().unwrap_or(0) as usize,
            params,
            current,
            bytes: entry.metadata().map(|m| m.len()).unwrap_or(0),
            path,
        });
    }
    out.sort_by(|a, b| (&a.layer, a.params.describe()).cmp(&(&b.layer, b.params.describe())));
    out
}

/// Streams the chosen rows of a layer to the PCA, L2-normalising them for the cosine metric.
struct SampledRows<'a> {
    reader: LayerReader,
    samples: &'a [u32],
    normalize: bool,
}

impl RowBlocks for SampledRows<'_> {
    fn n_rows(&self) -> usize {
        self.samples.len()
    }
    fn n_cols(&self) -> usize {
        self.reader.n_cols()
    }
    fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), nm_umap::SourceError> {
        self.reader.read_indexed(&self.samples[start..start + n], out)?;
        if self.normalize {
            normalize_rows(out, self.reader.n_cols());
        }
        Ok(())
    }
}

/// Scales each row of a [*, d] matrix to unit length (zero rows stay zero).
fn normalize_rows(data: &mut [f32], d: usize) {
    for row in data.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
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

/// One epoch's slice for the aligned fit: the chosen rows, pre-embedded by PCA when the layer is
/// wider than `pca_dims` ([n, p]), else as they are ([n, D]). PCA results are cached.
pub fn load_slice(
    run: &Run,
    layer: &str,
    epoch: u32,
    samples: &[u32],
    params: &EmbedParams,
    ctl: &Control,
) -> Result<Matrix, PipelineError> {
    let li = find_layer(run, layer)?;
    let dim = run.layers()[li].dim;
    let n = samples.len();
    let mut reader = run.layer_reader(layer, epoch)?;
    if !params.uses_pca(dim, n) {
        let mut data = vec![0f32; n * dim];
        reader.read_indexed(samples, &mut data)?;
        return Ok(Matrix::new(n, dim, data)?);
    }
    let normalize = params.metric_kind()? == Metric::Cosine;
    let key = Fnv::new()
        .u64(PIPELINE_VERSION)
        .u64(params.pca_dims as u64)
        .u64(params.seed)
        .u64(normalize as u64)
        .u64(hash_samples(samples))
        .u64(stamp_hash(run, layer, epoch)?)
        .finish();
    let path = run
        .path()
        .join(nm_run::CACHE_DIR)
        .join(PCA_DIR)
        .join(fs_name(layer))
        .join(format!("{epoch}.{key:016x}.{CACHE_EXT}"));
    if let Some((h, payload)) = cache::read(&path) {
        let k = params.pca_dims;
        if h["rows"].as_u64() == Some(n as u64) && h["cols"].as_u64() == Some(k as u64) && payload.len() == n * k * 4 {
            return Ok(Matrix::new(n, k, cache::f32_from(&payload))?);
        }
    }
    let mut rows = SampledRows { reader, samples, normalize };
    let m = nm_umap::pca_blocks(&mut rows, params.pca_dims, params.seed, ctl).map_err(|e| match e {
        // The reader's own error, reported as the run error it is.
        nm_umap::UmapError::Source { start, end, source } => match source.downcast::<RunError>() {
            Ok(run_error) => PipelineError::Run(*run_error),
            Err(source) => from_umap(nm_umap::UmapError::Source { start, end, source }),
        },
        other => from_umap(other),
    })?;
    let header = serde_json::json!({"kind": "pca", "layer": layer, "epoch": epoch, "rows": m.n_rows, "cols": m.n_cols});
    if let Err(e) = cache::write(&path, &header, &cache::f32_bytes(&m.data)) {
        cache::warn_not_cached("a PCA pre-embed", &e);
    }
    Ok(m)
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

/// One grid fit at a time per process: callers asking for layers of the same aligned view (the
/// server runs a task per layer) wait for the first and then find every layer in the cache.
static GRID_FITS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every layer of the run, aligned along epochs and to each other (`params.align_layers`): from the
/// cache when every layer is there, else one joint fit of the whole layer × epoch grid
/// ([`nm_umap::fit_grid`]), stored per layer. In the run's layer order.
///
/// Progress: `Stage::Pca` over all layers' epochs, then the engine's stages for the whole grid.
pub fn embed_aligned_layers(
    run: &Run,
    params: &EmbedParams,
    ctl: &Control,
) -> Result<Vec<LayerEmbedding>, PipelineError> {
    let params = &EmbedParams { align_layers: true, ..params.checked(run)? };
    let names: Vec<String> = run.layers().iter().map(|l| l.name.clone()).collect();
    let from_cache = || names.iter().map(|l| cached(run, l, params)).collect::<Option<Vec<_>>>();
    if let Some(all) = from_cache() {
        return Ok(all);
    }
    let _one_at_a_time = GRID_FITS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(all) = from_cache() {
        return Ok(all);
    }
    let samples = choose_samples(run, params);
    let epochs = run.epochs().to_vec();
    let mut slices = Vec::with_capacity(names.len());
    for (k, layer) in names.iter().enumerate() {
        let outer = ctl.progress;
        let total = names.len() as f32;
        let inner_progress = move |stage: Stage, f: f32| {
            if let (Some(p), Stage::Pca) = (outer, stage) {
                p(Stage::Pca, (k as f32 + f.clamp(0.0, 1.0)) / total);
            }
        };
        let inner = Control { progress: Some(&inner_progress), cancel: ctl.cancel };
        slices.push(load_slices(run, layer, &epochs, &samples, params, &inner)?);
    }
    // One metric for the whole grid: pre-embedded slices are compared euclidean (the cosine metric
    // was folded in by normalising rows before the PCA); a layer narrow enough to skip the PCA is
    // normalised here for the cosine metric, which gives the cosine's neighbour order.
    if params.metric_kind()? == Metric::Cosine {
        for (layer, layer_slices) in names.iter().zip(&mut slices) {
            if !params.uses_pca(run.layers()[find_layer(run, layer)?].dim, samples.len()) {
                layer_slices.iter_mut().for_each(|m| normalize_rows(&mut m.data, m.n_cols));
            }
        }
    }
    let grid =
        nm_umap::fit_grid(&slices, &params.aligned_params(true), LAYER_REGULARISATION, ctl).map_err(|e| match e {
            nm_umap::UmapError::InvalidSlice { slice, message } if slice < names.len() * epochs.len() => {
                from_umap_at(run, &names[slice / epochs.len()], &epochs)(nm_umap::UmapError::InvalidSlice {
                    slice: slice % epochs.len(),
                    message,
                })
            }
            other => from_umap(other),
        })?;
    let mut out = Vec::with_capacity(names.len());
    for (layer, fitted) in names.iter().zip(grid) {
        let positions: Vec<f32> = fitted.iter().flat_map(|m| m.data.iter().copied()).collect();
        let emb = LayerEmbedding { layer: layer.clone(), epochs: epochs.clone(), samples: samples.clone(), positions };
        store_embedding(run, params, &emb)?;
        out.push(emb);
    }
    Ok(out)
}

/// λ_layer of the grid fit: the pull between a sample's positions in adjacent layers, per unit of
/// neighbourhood overlap. The same as the pull between epochs (`AlignedParams`' 0.01); on the
/// digits run (`examples/align_layers.rs`), 0.01 cut the cross-layer displacement 6× at equal
/// trustworthiness, 0.1 cut it 15× at 0.002 less, and 0.3 collapsed the plots (trust 0.53).
pub const LAYER_REGULARISATION: f32 = 0.01;

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

/// Writes `emb` to the run's embedding cache as the embedding of `params` (atomically), so that
/// [`cached`] and [`embed_layer`] answer with it. A failed write is logged, not an error: the cache
/// is only a cache. Errors only when `emb` does not fit the run (its samples, epochs or layer).
pub fn store_embedding(run: &Run, params: &EmbedParams, emb: &LayerEmbedding) -> Result<(), PipelineError> {
    let params = &params.normalized(run);
    let layer = emb.layer.as_str();
    find_layer(run, layer)?;
    let samples = choose_samples(run, params);
    if emb.samples != samples
        || emb.epochs != run.epochs()
        || emb.positions.len() != emb.epochs.len() * samples.len() * 2
    {
        return Err(invalid(
            "embedding",
            format!("layer `{layer}`: the embedding does not match the run's samples and epochs for these parameters"),
        ));
    }
    let fp = fingerprint(run, layer, params, &samples)?;
    let header = serde_json::json!({
        "kind": "embedding",
        "layer": layer,
        "params": params,
        "epochs": emb.epochs,
        "n_samples": emb.samples.len(),
        "fingerprint": fp,
    });
    let mut payload = cache::u32_bytes(&emb.samples);
    payload.extend(cache::f32_bytes(&emb.positions));
    if let Err(e) = cache::write(&embedding_path(run, layer, params), &header, &payload) {
        cache::warn_not_cached("the embedding", &e);
    }
    Ok(())
}

/// Pre-embeds every epoch of a layer, reporting `Stage::Pca` with the overall fraction.
pub(crate) fn load_slices(
    run: &Run,
    layer: &str,
    epochs: &[u32],
    samples: &[u32],
    params: &EmbedParams,
    ctl: &Control,
) -> Result<Vec<Matrix>, PipelineError> {
    let total = epochs.len().max(1) as f32;
    let mut slices = Vec::with_capacity(epochs.len());
    for (k, &e) in epochs.iter().enumerate() {
        if cancelled(ctl) {
            return Err(PipelineError::Cancelled);
        }
        let outer = ctl.progress;
        let inner_progress = move |stage: Stage, f: f32| {
            if let (Some(p), Stage::Pca) = (outer, stage) {
                p(Stage::Pca, (k as f32 + f.clamp(0.0, 1.0)) / total);
            }
        };
        let inner = Control { progress: Some(&inner_progress), cancel: ctl.cancel };
        slices.push(load_slice(run, layer, e, samples, params, &inner)?);
        if let Some(p) = ctl.progress {
            p(Stage::Pca, (k + 1) as f32 / total);
        }
    }
    Ok(slices)
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
