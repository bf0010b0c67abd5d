//! Per-sample neighbour change: for every sample of a view and every epoch after its first, the
//! Jaccard distance between the sample's [`CHANGE_K`] nearest high-D neighbours at that epoch and
//! at the previous one (0 = the same neighbours, 1 = none shared). `quality`'s `change15` is the
//! mean of these numbers over its evenly spaced points; here every sample of the view counts, in the
//! same space (the PCA pre-embed the view was fitted in). Results are cached beside the quality
//! reports, keyed by the run's files, the parameters, the samples and the epochs.

use nm_run::Run;
use nm_umap::Control;

use crate::cache::{self, Fnv};
use crate::quality::{high_slice, jaccard_per_point, neighbour_sets, CHANGE_K, QUALITY_DIR};
use crate::{find_layer, EmbedParams, PipelineError};

/// Bump when the same inputs would give different numbers (invalidates cached results).
const CHANGE_VERSION: u64 = 1;

/// One layer's per-sample neighbour change over a view's epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleChange {
    pub layer: String,
    /// The view's epochs, ascending.
    pub epochs: Vec<u32>,
    /// The view's samples (run sample indices); column `k` of `values` is sample `samples[k]`.
    pub samples: Vec<u32>,
    /// `[epochs, samples]` row-major; the first epoch's row is NaN (nothing to compare with).
    pub values: Vec<f32>,
}

impl SampleChange {
    /// Row `e` (an index into `epochs`): one value per sample of the view.
    pub fn row(&self, e: usize) -> &[f32] {
        let n = self.samples.len();
        &self.values[e * n..(e + 1) * n]
    }
}

/// The neighbour change of every sample of `samples` in `layer` between consecutive `epochs`
/// (ascending, the view's), with the view's `params`; from the cache when present.
pub fn sample_change(
    run: &Run,
    layer: &str,
    samples: &[u32],
    epochs: &[u32],
    params: &EmbedParams,
    ctl: &Control,
) -> Result<SampleChange, PipelineError> {
    let params = &params.normalized(run);
    find_layer(run, layer)?;
    let n = samples.len();
    let path = change_path(run, layer, samples, epochs, params)?;
    let expected = epochs.len() * n * 4;
    if let Some((header, payload)) = cache::read(&path) {
        if header["kind"].as_str() == Some("change") && payload.len() == expected {
            let values = payload.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            return Ok(SampleChange {
                layer: layer.to_string(),
                epochs: epochs.to_vec(),
                samples: samples.to_vec(),
                values,
            });
        }
    }
    let points: Vec<usize> = (0..n).collect();
    let k = CHANGE_K.min(n.saturating_sub(1));
    let mut values = vec![f32::NAN; epochs.len() * n];
    let mut previous: Option<Vec<u32>> = None;
    for (e, &epoch) in epochs.iter().enumerate() {
        if crate::cancelled(ctl) {
            return Err(PipelineError::Cancelled);
        }
        let x = high_slice(run, layer, epoch, samples, params, &points, ctl)?;
        let sets = neighbour_sets(&x, CHANGE_K);
        if let Some(prev) = &previous {
            let row = jaccard_per_point(&sets, prev, k);
            if row.len() == n {
                values[e * n..(e + 1) * n].iter_mut().zip(&row).for_each(|(v, &j)| *v = j as f32);
            }
        }
        previous = Some(sets);
    }
    let header = serde_json::json!({"kind": "change", "layer": layer, "n": n, "epochs": epochs});
    let payload: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    if let Err(e) = cache::write(&path, &header, &payload) {
        cache::warn_not_cached("the neighbour change", &e);
    }
    Ok(SampleChange { layer: layer.to_string(), epochs: epochs.to_vec(), samples: samples.to_vec(), values })
}

fn change_path(
    run: &Run,
    layer: &str,
    samples: &[u32],
    epochs: &[u32],
    params: &EmbedParams,
) -> Result<std::path::PathBuf, PipelineError> {
    let mut h = Fnv::new().u64(CHANGE_VERSION).str(&crate::fingerprint(run, layer, params, samples)?);
    for &e in epochs {
        h = h.u64(e as u64);
    }
    Ok(run.path().join(nm_run::CACHE_DIR).join(QUALITY_DIR).join(format!(
        "change.{}.{:016x}.{}",
        params.cache_key(),
        h.finish(),
        crate::CACHE_EXT
    )))
}
