//! Every layer fitted jointly (`EmbedParams::align_layers`): one [`nm_umap::fit_grid`] over the
//! run's layer × epoch grid, stored per layer, one such fit at a time per process.

use nm_run::Run;
use nm_umap::{Control, Metric, Stage};

use crate::slices::{load_slices, normalize_rows};
use crate::{
    cached, choose_samples, find_layer, from_umap, from_umap_at, store_embedding, EmbedParams, LayerEmbedding,
    PipelineError,
};

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
    let _one_at_a_time = GRID_FITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
/// neighbourhood overlap (the pull between epochs is `AlignedParams`' 0.02). Measured with
/// `examples/align_layers.rs` (per-slice SGD): 0.005 cut the cross-layer displacement 6.6× on the
/// digits CNN run (trust within 0.001 of independent fits) and 2.5× on the demo's run (within
/// 0.009); 0.01 cut them 10.6× and 3.1×, but cost the demo's run up to 0.019 of trust; 0.3
/// collapsed the plots (trust 0.53, earlier engine).
pub const LAYER_REGULARISATION: f32 = 0.005;
