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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nm_run::{LayerReader, Run, RunError};
use nm_umap::{AlignedEmbedding, AlignedParams, Control, Matrix, Metric, RowBlocks, Stage, UmapParams};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

pub mod cache;
pub mod export;

use cache::Fnv;

/// Bump when the same parameters would give different output (invalidates every cache).
pub const PIPELINE_VERSION: u64 = 1;
/// UMAP's `spread`, fixed: `min_dist` must lie in [0, SPREAD].
pub const SPREAD: f32 = 1.0;
/// Largest accepted `pca_dims` (the randomized SVD's cost grows with it; 50 is the usual choice).
pub const PCA_DIMS_MAX: usize = 1024;
/// Smallest non-zero `pca_dims`.
pub const PCA_DIMS_MIN: usize = 2;
const EMBEDDINGS_DIR: &str = "embeddings";
const PCA_DIR: &str = "pca";
const CACHE_EXT: &str = "nmc";

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Sampling {
    /// Every sample of the run.
    All,
    /// This many in total, split over classes in proportion to their sizes (largest remainder);
    /// a total at or above the run's size means all samples.
    Total(usize),
    /// This many of each class (all of a smaller class): the NeuroMapper paper's "sample size".
    PerClass(usize),
}

/// What the user may change; everything else is the engine's default.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EmbedParams {
    pub n_neighbors: usize, // 15
    pub min_dist: f32,      // 0.1
    pub metric: String,     // "euclidean" | "cosine"
    pub pca_dims: usize,    // 50; 0 = off
    pub sampling: Sampling, // All
    pub seed: u64,          // 0
}

impl Default for EmbedParams {
    fn default() -> Self {
        EmbedParams {
            n_neighbors: 15,
            min_dist: 0.1,
            metric: "euclidean".into(),
            pca_dims: 50,
            sampling: Sampling::All,
            seed: 0,
        }
    }
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

fn invalid(name: &'static str, message: impl Into<String>) -> PipelineError {
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

impl EmbedParams {
    /// One validation step; the error names the field and the allowed range.
    pub fn validate(&self, run: &Run) -> Result<(), PipelineError> {
        self.metric_kind()?;
        if !self.min_dist.is_finite() || !(0.0..=SPREAD).contains(&self.min_dist) {
            return Err(invalid(
                "min_dist",
                format!("must be in [0, {SPREAD}] (0 packs points tightly, 1 spreads them), found {}", self.min_dist),
            ));
        }
        if self.pca_dims != 0 && !(PCA_DIMS_MIN..=PCA_DIMS_MAX).contains(&self.pca_dims) {
            return Err(invalid(
                "pca_dims",
                format!("must be 0 (no pre-embedding) or in [{PCA_DIMS_MIN}, {PCA_DIMS_MAX}], found {}; 50 is the usual choice", self.pca_dims),
            ));
        }
        match self.sampling {
            Sampling::Total(0) => {
                return Err(invalid("samples", "must be at least 1 (or leave it out for all samples)"))
            }
            Sampling::PerClass(0) => {
                return Err(invalid("samples_per_class", "must be at least 1 (or leave it out for all samples)"))
            }
            _ => {}
        }
        let n = sample_count(run, &self.sampling);
        if self.n_neighbors < 2 {
            return Err(invalid("n_neighbors", format!("must be at least 2, found {}", self.n_neighbors)));
        }
        if self.n_neighbors >= n {
            return Err(invalid(
                "n_neighbors",
                format!(
                    "must be less than the number of samples embedded ({n}), found {}; lower it or sample more",
                    self.n_neighbors
                ),
            ));
        }
        Ok(())
    }

    fn metric_kind(&self) -> Result<Metric, PipelineError> {
        match self.metric.as_str() {
            "euclidean" => Ok(Metric::Euclidean),
            "cosine" => Ok(Metric::Cosine),
            other => Err(invalid("metric", format!("must be \"euclidean\" or \"cosine\", found \"{other}\""))),
        }
    }

    /// Stable key for the cache path (same params -> same key).
    pub fn cache_key(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", Fnv::new().u64(PIPELINE_VERSION).str(&json).finish())
    }

    /// A one-line description, e.g. `n_neighbors=15 min_dist=0.1 metric=euclidean pca=50 samples=all seed=0`.
    pub fn describe(&self) -> String {
        let sampling = match self.sampling {
            Sampling::All => "all".to_string(),
            Sampling::Total(n) => n.to_string(),
            Sampling::PerClass(k) => format!("{k}/class"),
        };
        format!(
            "n_neighbors={} min_dist={} metric={} pca={} samples={} seed={}",
            self.n_neighbors, self.min_dist, self.metric, self.pca_dims, sampling, self.seed
        )
    }

    /// The engine's parameters for a layer whose slices are `pre_embedded` (metric already folded in).
    fn aligned_params(&self, pre_embedded: bool) -> AlignedParams {
        let metric = if pre_embedded { Metric::Euclidean } else { self.metric_kind().unwrap_or_default() };
        AlignedParams {
            umap: UmapParams {
                n_neighbors: self.n_neighbors,
                min_dist: self.min_dist,
                spread: SPREAD,
                metric,
                seed: self.seed,
                ..UmapParams::default()
            },
            ..AlignedParams::default()
        }
    }

    /// Whether a layer of `dim` columns is pre-embedded by PCA with `n` samples.
    fn uses_pca(&self, dim: usize, n: usize) -> bool {
        self.pca_dims > 0 && dim > self.pca_dims && n > self.pca_dims
    }
}

/// Samples per class that `sampling` takes (by largest remainder for a total), indexed by class.
fn class_quotas(run: &Run, sampling: &Sampling) -> Vec<usize> {
    let counts = run.class_counts();
    let n: usize = counts.iter().sum();
    match *sampling {
        Sampling::All => counts,
        Sampling::PerClass(k) => counts.iter().map(|&c| c.min(k)).collect(),
        Sampling::Total(t) if t >= n => counts,
        Sampling::Total(t) => {
            // Proportional allocation: floor(t·c/n) each, the remainder to the largest fractions.
            let mut quotas: Vec<usize> = counts.iter().map(|&c| t * c / n).collect();
            let mut order: Vec<usize> = (0..counts.len()).collect();
            order.sort_by_key(|&k| (std::cmp::Reverse((t * counts[k]) % n), k));
            let mut left = t - quotas.iter().sum::<usize>();
            for k in order.into_iter().cycle().take(counts.len() * 2) {
                if left == 0 {
                    break;
                }
                if quotas[k] < counts[k] {
                    quotas[k] += 1;
                    left -= 1;
                }
            }
            quotas
        }
    }
}

/// How many samples `sampling` chooses from `run`.
pub fn sample_count(run: &Run, sampling: &Sampling) -> usize {
    class_quotas(run, sampling).iter().sum()
}

/// Sample indices chosen by `params.sampling` (stratified, deterministic with the seed), ascending.
///
/// Within each class the choice is a seeded partial Fisher–Yates shuffle keyed by (seed, class),
/// so the same seed gives the same samples on every machine and in every layer and epoch.
pub fn choose_samples(run: &Run, params: &EmbedParams) -> Vec<u32> {
    if params.sampling == Sampling::All {
        return (0..run.n_samples() as u32).collect();
    }
    let quotas = class_quotas(run, &params.sampling);
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); quotas.len()];
    for (i, &l) in run.labels().iter().enumerate() {
        by_class[l as usize].push(i as u32);
    }
    let mut chosen = Vec::with_capacity(quotas.iter().sum());
    for (c, mut members) in by_class.into_iter().enumerate() {
        let k = quotas[c];
        let key = params.seed ^ (c as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(key);
        for i in 0..k.min(members.len()) {
            let j = rng.gen_range(i..members.len());
            members.swap(i, j);
        }
        chosen.extend_from_slice(&members[..k.min(members.len())]);
    }
    chosen.sort_unstable();
    chosen
}

fn find_layer(run: &Run, layer: &str) -> Result<usize, PipelineError> {
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

/// Identity of everything an embedding of `layer` depends on: the params, the samples and every epoch's data.
fn fingerprint(run: &Run, layer: &str, params: &EmbedParams, samples: &[u32]) -> Result<String, PipelineError> {
    let mut h = Fnv::new().str(&params.cache_key()).str(layer).u64(hash_samples(samples));
    for &e in run.epochs() {
        h = h.u64(e as u64).u64(stamp_hash(run, layer, e)?);
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
    /// The first read error, kept typed so the caller can report it as a run error.
    error: Option<RunError>,
}

impl RowBlocks for SampledRows<'_> {
    fn n_rows(&self) -> usize {
        self.samples.len()
    }
    fn n_cols(&self) -> usize {
        self.reader.n_cols()
    }
    fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), String> {
        if let Err(e) = self.reader.read_indexed(&self.samples[start..start + n], out) {
            let msg = e.to_string();
            self.error.get_or_insert(e);
            return Err(msg);
        }
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

fn cancelled(ctl: &Control) -> bool {
    ctl.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
}

fn from_umap(e: nm_umap::UmapError) -> PipelineError {
    match e {
        nm_umap::UmapError::Cancelled => PipelineError::Cancelled,
        other => PipelineError::Umap(other),
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
    let mut rows = SampledRows { reader, samples, normalize, error: None };
    let result = nm_umap::pca_blocks(&mut rows, params.pca_dims, params.seed, ctl);
    let m = match result {
        Ok(m) => m,
        Err(e) => return Err(rows.error.take().map(PipelineError::Run).unwrap_or_else(|| from_umap(e))),
    };
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
    let aligned = AlignedEmbedding::fit(&slices, &params.aligned_params(pre), ctl).map_err(from_umap)?;
    let positions: Vec<f32> = aligned.embeddings().iter().flat_map(|m| m.data.iter().copied()).collect();
    Ok(LayerEmbedding { layer: layer.to_string(), epochs, samples, positions })
}

/// Writes `emb` to the run's embedding cache as the embedding of `params` (atomically), so that
/// [`cached`] and [`embed_layer`] answer with it. A failed write is logged, not an error: the cache
/// is only a cache. Errors only when `emb` does not fit the run (its samples, epochs or layer).
pub fn store_embedding(run: &Run, params: &EmbedParams, emb: &LayerEmbedding) -> Result<(), PipelineError> {
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

/// Moves `emb` rigidly (one rotation or reflection plus one translation for all its epochs, so
/// distances and trajectories are unchanged) to lie as close as possible to `reference` over the
/// epochs and samples both have (orthogonal Procrustes on all those points at once). Used when a
/// refined embedding replaces one the user has been looking at, so the view does not turn over.
/// Returns false, leaving `emb` as it is, when they share no epoch or hold different samples.
pub fn align_rigidly(emb: &mut LayerEmbedding, reference: &LayerEmbedding) -> bool {
    if emb.samples.is_empty() || emb.samples != reference.samples {
        return false;
    }
    let pairs: Vec<(usize, usize)> = emb
        .epochs
        .iter()
        .enumerate()
        .filter_map(|(i, e)| reference.epochs.iter().position(|r| r == e).map(|j| (i, j)))
        .collect();
    if pairs.is_empty() {
        return false;
    }
    let mean = |v: &[f32]| -> [f64; 2] {
        let k = (v.len() / 2) as f64;
        let (sx, sy) = v.chunks(2).fold((0f64, 0f64), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
        [sx / k, sy / k]
    };
    let moving: Vec<f32> = pairs.iter().flat_map(|&(i, _)| emb.slice(i).iter().copied()).collect();
    let base: Vec<f32> = pairs.iter().flat_map(|&(_, j)| reference.slice(j).iter().copied()).collect();
    let (mm, mb) = (mean(&moving), mean(&base));
    // M = Σ pᵀq over the centred pairs; with row vectors (p · R), the best rotation and the best
    // reflection in 2-D have closed forms: trace(RᵀM) = c·(M00 ± M11) + s·(M01 ∓ M10).
    let mut m = [0f64; 4];
    for (p, q) in moving.chunks(2).zip(base.chunks(2)) {
        let (px, py) = (p[0] as f64 - mm[0], p[1] as f64 - mm[1]);
        let (qx, qy) = (q[0] as f64 - mb[0], q[1] as f64 - mb[1]);
        m[0] += px * qx;
        m[1] += px * qy;
        m[2] += py * qx;
        m[3] += py * qy;
    }
    let (rot_c, rot_s) = (m[0] + m[3], m[1] - m[2]);
    let (ref_c, ref_s) = (m[0] - m[3], m[1] + m[2]);
    let r = if rot_c.hypot(rot_s) >= ref_c.hypot(ref_s) {
        let t = rot_s.atan2(rot_c);
        [t.cos(), t.sin(), -t.sin(), t.cos()]
    } else {
        let t = ref_s.atan2(ref_c);
        [t.cos(), t.sin(), t.sin(), -t.cos()]
    };
    for p in emb.positions.chunks_mut(2) {
        let (x, y) = (p[0] as f64 - mm[0], p[1] as f64 - mm[1]);
        p[0] = (x * r[0] + y * r[2] + mb[0]) as f32;
        p[1] = (x * r[1] + y * r[3] + mb[1]) as f32;
    }
    true
}

/// Pre-embeds every epoch of a layer, reporting `Stage::Pca` with the overall fraction.
fn load_slices(
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
    layers
        .par_iter()
        .map(|layer| {
            let report = |stage: Stage, f: f32| progress(layer, stage, f);
            let ctl = Control { progress: Some(&report), cancel };
            embed_layer(run, layer, params, &ctl)
        })
        .collect()
}

/// Live (growing) embedding of one layer: each new epoch is added with the engine's incremental
/// update (`AlignedEmbedding::extend`) instead of a full refit. Used by the server in live mode.
pub struct LiveLayer {
    layer: String,
    params: EmbedParams,
    samples: Vec<u32>,
    epochs: Vec<u32>,
    aligned: Option<AlignedEmbedding>,
}

impl LiveLayer {
    pub fn new(layer: &str, params: EmbedParams) -> LiveLayer {
        LiveLayer { layer: layer.to_string(), params, samples: Vec::new(), epochs: Vec::new(), aligned: None }
    }

    /// The epochs embedded so far.
    pub fn epochs(&self) -> &[u32] {
        &self.epochs
    }

    /// Re-optimises all epochs embedded so far jointly, from the incremental layout
    /// (`AlignedEmbedding::refine`): for when training has ended. Returns the refined embedding.
    pub fn refine(&mut self, run: &Run, ctl: &Control) -> Result<LayerEmbedding, PipelineError> {
        let ap = self.aligned_params(run)?;
        let aligned = self
            .aligned
            .as_mut()
            .ok_or_else(|| invalid("layer", format!("`{}` has no live embedding to refine yet", self.layer)))?;
        aligned.refine(&ap, ctl).map_err(from_umap)?;
        Ok(self.embedding().expect("refined above"))
    }

    /// The engine's parameters for this layer's slices (PCA-embedded or as they are) and samples.
    fn aligned_params(&self, run: &Run) -> Result<AlignedParams, PipelineError> {
        let li = find_layer(run, &self.layer)?;
        Ok(self.params.aligned_params(self.params.uses_pca(run.layers()[li].dim, self.samples.len())))
    }

    /// The embedding so far (None before the first update).
    pub fn embedding(&self) -> Option<LayerEmbedding> {
        let aligned = self.aligned.as_ref()?;
        Some(LayerEmbedding {
            layer: self.layer.clone(),
            epochs: self.epochs.clone(),
            samples: self.samples.clone(),
            positions: aligned.embeddings().iter().flat_map(|m| m.data.iter().copied()).collect(),
        })
    }

    /// Adds every epoch of `run` not yet embedded (in ascending order) and returns the embedding so far.
    /// The first call fits all current epochs jointly; an epoch that appears before the last one
    /// embedded (out of order) triggers a full refit.
    pub fn update(&mut self, run: &Run, ctl: &Control) -> Result<LayerEmbedding, PipelineError> {
        // For the samples chosen so far (the extend branch); a first fit chooses them below.
        let ap = self.aligned_params(run)?;
        let last = self.epochs.last().copied();
        let new: Vec<u32> = run.epochs().iter().copied().filter(|e| !self.epochs.contains(e)).collect();
        let out_of_order = matches!((last, new.first()), (Some(l), Some(&f)) if f < l);
        match self.aligned.as_mut() {
            Some(aligned) if !out_of_order => {
                for e in new {
                    if cancelled(ctl) {
                        return Err(PipelineError::Cancelled);
                    }
                    let slice = load_slice(run, &self.layer, e, &self.samples, &self.params, ctl)?;
                    aligned.extend(&slice, &ap, ctl).map_err(from_umap)?;
                    self.epochs.push(e);
                }
            }
            _ => {
                self.params.validate(run)?;
                self.samples = choose_samples(run, &self.params);
                let epochs = run.epochs().to_vec();
                let slices = load_slices(run, &self.layer, &epochs, &self.samples, &self.params, ctl)?;
                self.aligned =
                    Some(AlignedEmbedding::fit(&slices, &self.aligned_params(run)?, ctl).map_err(from_umap)?);
                self.epochs = epochs;
            }
        }
        Ok(self.embedding().expect("fitted above"))
    }
}

/// The cache folder of a run without creating it (for reports).
pub fn cache_path(run_path: &Path) -> PathBuf {
    run_path.join(nm_run::CACHE_DIR)
}
