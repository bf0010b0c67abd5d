//! One (layer, epoch)'s rows for the engine: the chosen samples streamed from the run to the
//! randomized PCA (L2-normalised for the cosine metric), and the pre-embeds cached per (layer, epoch).

use nm_run::{LayerReader, Run, RunError};
use nm_umap::{Control, Matrix, Metric, RowBlocks, Stage};

use crate::cache::{self, Fnv};
use crate::store::{fs_name, hash_samples, stamp_hash};
use crate::{cancelled, find_layer, from_umap, EmbedParams, PipelineError, CACHE_EXT, PCA_DIR, PIPELINE_VERSION};

/// Streams the chosen rows of a layer to the PCA, L2-normalising them for the cosine metric.
pub(crate) struct SampledRows<'a> {
    pub(crate) reader: LayerReader,
    pub(crate) samples: &'a [u32],
    pub(crate) normalize: bool,
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
pub(crate) fn normalize_rows(data: &mut [f32], d: usize) {
    for row in data.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
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
    let m = nm_umap::pca_blocks(&mut rows, params.pca_dims, params.seed, ctl).map_err(from_pca)?;
    let header = serde_json::json!({"kind": "pca", "layer": layer, "epoch": epoch, "rows": m.n_rows, "cols": m.n_cols});
    if let Err(e) = cache::write(&path, &header, &cache::f32_bytes(&m.data)) {
        cache::warn_not_cached("a PCA pre-embed", &e);
    }
    Ok(m)
}

/// A PCA's error: the reader's own error reported as the run error it is.
pub(crate) fn from_pca(e: nm_umap::UmapError) -> PipelineError {
    match e {
        nm_umap::UmapError::Source { start, end, source } => match source.downcast::<RunError>() {
            Ok(run_error) => PipelineError::Run(*run_error),
            Err(source) => from_umap(nm_umap::UmapError::Source { start, end, source }),
        },
        other => from_umap(other),
    }
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
