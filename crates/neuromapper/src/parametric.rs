//! The parametric view's glue, shared by `embed --parametric`, `export --parametric` and
//! `transform`: per layer, the epochs' encoder inputs (nm_pipeline), their fuzzy graphs (nm_umap)
//! and the aligned view as landmarks (nm_pipeline, from its cache when present), the encoders
//! trained (nm_train, burn) and the result cached
//! (nm_pipeline); and placing new activations with a cached layer's encoder (`transform`, and the
//! placer `serve --parametric` gives the server).

use std::sync::atomic::AtomicBool;

use anyhow::Context;
use nm_pipeline::{EmbedParams, EncoderWeights, LayerEmbedding, ParametricLayer};
use nm_run::text::escape;
use nm_run::Run;
use nm_train::parametric::{train_parametric, ParametricConfig, SliceData};
use nm_umap::Control;
use rayon::prelude::*;

/// The trainer's settings for `params` (the curve's min_dist and the seed follow the view's).
pub fn config_for(params: &EmbedParams) -> ParametricConfig {
    ParametricConfig { min_dist: params.min_dist, spread: nm_pipeline::SPREAD, seed: params.seed, ..Default::default() }
}

/// The parametric embedding of `layer` (from the cache when present, else trained and cached) and
/// whether it came from the cache. `params` must be validated; a layer-aligned view has no
/// parametric form.
pub fn embed_parametric(
    run: &Run,
    layer: &str,
    params: &EmbedParams,
    cancel: &AtomicBool,
) -> anyhow::Result<(ParametricLayer, bool)> {
    anyhow::ensure!(!params.align_layers, "--parametric embeds each layer on its own: leave out --align-layers");
    if let Some(hit) = nm_pipeline::cached_parametric(run, layer, params) {
        return Ok((hit, true));
    }
    let samples = nm_pipeline::choose_samples(run, params);
    let epochs = run.epochs().to_vec();
    let ctl = Control { progress: None, cancel: Some(cancel) };
    let slices = epochs
        .iter()
        .map(|&e| nm_pipeline::load_parametric_slice(run, layer, e, &samples, params, &ctl))
        .collect::<Result<Vec<_>, _>>()?;
    // The rows reach the engine pre-embedded (or L2-normalised for cosine): Euclidean from here on.
    let umap = params.engine_params().umap;
    let graphs = slices
        .par_iter()
        .zip(&epochs)
        .map(|(s, e)| {
            nm_umap::parametric::slice_graph(&s.inputs, &umap)
                .with_context(|| format!("layer `{}` at epoch {e}", escape(layer)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The landmarks: the ordinary aligned view of the same samples (embedded and cached if absent).
    let plain = nm_pipeline::embed_layer(run, layer, params, &ctl)?;
    anyhow::ensure!(
        plain.samples == samples && plain.epochs == epochs,
        "the aligned view of layer `{}` holds other samples or epochs than its parametric inputs",
        escape(layer)
    );
    let n = samples.len();
    let landmarks = plain
        .positions
        .chunks_exact(n * 2)
        .map(|p| nm_umap::Matrix::new(n, 2, p.to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    let data: Vec<SliceData> =
        slices.iter().zip(&graphs).map(|(s, g)| SliceData { inputs: &s.inputs, graph: g }).collect();
    let stop = || cancel.load(std::sync::atomic::Ordering::Relaxed);
    let trained = train_parametric(&data, &landmarks, &config_for(params), &|_| {}, &stop)
        .with_context(|| format!("training the encoders of layer `{}`", escape(layer)))?;
    let positions = trained.iter().flat_map(|t| t.positions.iter().copied()).collect();
    let result = ParametricLayer {
        embedding: LayerEmbedding { layer: layer.to_string(), epochs, samples, positions },
        maps: slices.into_iter().map(|s| s.map).collect(),
        encoders: trained.into_iter().map(|t| EncoderWeights { dims: t.dims, params: t.params }).collect(),
    };
    nm_pipeline::store_parametric(run, params, &result)?;
    Ok((result, false))
}

/// Places activation rows [m, D] (row-major) into slice `slice` of `layer`'s view: [m, 2].
pub fn place(layer: &ParametricLayer, slice: usize, rows: Vec<f32>) -> anyhow::Result<Vec<f32>> {
    let inputs = layer.maps[slice].apply(rows)?;
    let enc = &layer.encoders[slice];
    Ok(nm_train::parametric::encode(&enc.dims, &enc.params, &inputs)?)
}

/// [`place`] as the server's placer (`serve --parametric`): nm_server runs the encoders through it
/// without depending on burn.
pub fn placer() -> nm_server::Placer {
    nm_server::Placer(std::sync::Arc::new(place))
}
