//! The parametric view's data side (the encoders are trained elsewhere, by `nm_train`): each
//! epoch's encoder inputs with the map that made them from activations ([`InputMap`]: cosine
//! normalisation, the PCA basis and mean, a scale), and the cache of one layer's encoders with its
//! positions, `.neuromapper/parametric/<layer>.<key>.nmc`. A cache file is untrusted when read back:
//! every count comes from its header, is checked against the run and the payload's exact length.

use std::path::PathBuf;

use nm_run::Run;
use nm_umap::{Control, Matrix, Metric, PcaBasis};

use crate::cache::{self, Fnv};
use crate::slices::{from_pca, normalize_rows, SampledRows};
use crate::store::{fingerprint, fs_name};
use crate::{choose_samples, find_layer, from_umap, invalid, EmbedParams, LayerEmbedding, PipelineError, CACHE_EXT};

/// Bump when the trainer's settings change what `embed --parametric` computes (invalidates the
/// parametric caches only).
pub const PARAMETRIC_VERSION: u64 = 2;
const PARAMETRIC_DIR: &str = "parametric";
/// Largest width accepted from a cache file's header (any layer wider is refused as damaged).
const MAX_WIDTH: usize = 1 << 24;

/// How one epoch's activation rows [m, D] become its encoder's inputs [m, p]: L2-normalised
/// (cosine metric), projected onto the PCA basis when the layer was pre-embedded (p = PCA dims, else
/// p = D), then divided by `scale` (the inputs' RMS value, so every epoch's inputs are of size 1).
#[derive(Clone, Debug, PartialEq)]
pub struct InputMap {
    /// The layer's width D.
    pub dim: usize,
    pub normalize: bool,
    pub basis: Option<PcaBasis>,
    pub scale: f32,
}

impl InputMap {
    /// The encoder's input width p.
    pub fn input_dims(&self) -> usize {
        self.basis.as_ref().map_or(self.dim, PcaBasis::n_components)
    }

    /// The encoder inputs [m, p] of activation rows [m, D] (row-major).
    pub fn apply(&self, mut rows: Vec<f32>) -> Result<Matrix, PipelineError> {
        if self.dim == 0 || !rows.len().is_multiple_of(self.dim) {
            return Err(invalid("activations", format!("rows of {} values expected", self.dim)));
        }
        if self.normalize {
            normalize_rows(&mut rows, self.dim);
        }
        let mut m = match &self.basis {
            Some(b) => b.project(&rows).map_err(from_umap)?,
            None => Matrix::new(rows.len() / self.dim, self.dim, rows).map_err(from_umap)?,
        };
        m.data.iter_mut().for_each(|v| *v /= self.scale);
        Ok(m)
    }
}

/// One epoch of a layer for the trainer: the encoder inputs of the chosen samples [n, p] and their map.
#[derive(Clone, Debug)]
pub struct ParametricSlice {
    pub inputs: Matrix,
    pub map: InputMap,
}

/// The chosen samples of (layer, epoch) as encoder inputs: the same PCA fit as
/// [`crate::load_slice`] (same seed), keeping its basis, the rows projected onto it (streamed in
/// blocks); then scaled to RMS 1.
pub fn load_parametric_slice(
    run: &Run,
    layer: &str,
    epoch: u32,
    samples: &[u32],
    params: &EmbedParams,
    ctl: &Control,
) -> Result<ParametricSlice, PipelineError> {
    let li = find_layer(run, layer)?;
    let dim = run.layers()[li].dim;
    let normalize = params.metric_kind()? == Metric::Cosine;
    let mut reader = run.layer_reader(layer, epoch)?;
    let (mut inputs, basis) = if params.uses_pca(dim, samples.len()) {
        let mut rows = SampledRows { reader, samples, normalize };
        let (_, b) = nm_umap::pca_blocks_with_basis(&mut rows, params.pca_dims, params.seed, ctl).map_err(from_pca)?;
        // The inputs are the basis's projection of the rows (what `transform` computes), not the
        // sketch's scores: a slice's own activations then land exactly where it was embedded.
        let mut reader = rows.reader;
        let block = ((8usize << 20) / dim.max(1)).max(1);
        let (mut data, mut buf) = (Vec::with_capacity(samples.len() * b.n_components()), Vec::new());
        for chunk in samples.chunks(block) {
            buf.resize(chunk.len() * dim, 0f32);
            reader.read_indexed(chunk, &mut buf)?;
            if normalize {
                normalize_rows(&mut buf, dim);
            }
            data.extend(b.project(&buf).map_err(from_umap)?.data);
        }
        (Matrix::new(samples.len(), b.n_components(), data).map_err(from_umap)?, Some(b))
    } else {
        let mut data = vec![0f32; samples.len() * dim];
        reader.read_indexed(samples, &mut data)?;
        if normalize {
            normalize_rows(&mut data, dim);
        }
        (Matrix::new(samples.len(), dim, data).map_err(from_umap)?, None)
    };
    let ms = inputs.data.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / inputs.data.len().max(1) as f64;
    let scale = if ms > 0.0 && ms.is_finite() { ms.sqrt() as f32 } else { 1.0 };
    inputs.data.iter_mut().for_each(|v| *v /= scale);
    Ok(ParametricSlice { inputs, map: InputMap { dim, normalize, basis, scale } })
}

/// An MLP's weights as plain numbers: layer k maps `dims[k]` to `dims[k + 1]` with a weight matrix
/// `[dims[k], dims[k + 1]]` (row-major) then a bias `[dims[k + 1]]`, all in `params`, layer after layer.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderWeights {
    pub dims: Vec<usize>,
    pub params: Vec<f32>,
}

impl EncoderWeights {
    /// How many numbers an MLP of these widths holds (None on overflow or fewer than two widths).
    pub fn count(dims: &[usize]) -> Option<usize> {
        if dims.len() < 2 {
            return None;
        }
        dims.windows(2).try_fold(0usize, |acc, w| acc.checked_add(w[0].checked_mul(w[1])?.checked_add(w[1])?))
    }
}

/// A layer's parametric embedding: its positions (the encoders' outputs on the chosen samples),
/// and per epoch the map from activations to inputs and the encoder.
#[derive(Clone, Debug)]
pub struct ParametricLayer {
    pub embedding: LayerEmbedding,
    pub maps: Vec<InputMap>,
    pub encoders: Vec<EncoderWeights>,
}

impl ParametricLayer {
    /// The slice index of `epoch`, or an error listing the epochs there are.
    pub fn slice_of(&self, epoch: u32) -> Result<usize, PipelineError> {
        self.embedding.epochs.iter().position(|&e| e == epoch).ok_or_else(|| {
            let list: Vec<String> = self.embedding.epochs.iter().map(u32::to_string).collect();
            invalid("epoch", format!("the run has no epoch {epoch}; it has {}", list.join(", ")))
        })
    }
}

fn parametric_params(params: &EmbedParams, run: &Run) -> EmbedParams {
    EmbedParams { align_layers: false, ..params.normalized(run) }
}

/// Where the parametric embedding of `layer` with `params` is cached.
pub fn parametric_path(run: &Run, layer: &str, params: &EmbedParams) -> PathBuf {
    let key = Fnv::new().u64(PARAMETRIC_VERSION).str(&parametric_params(params, run).cache_key()).finish();
    run.path().join(nm_run::CACHE_DIR).join(PARAMETRIC_DIR).join(format!("{}.{key:016x}.{CACHE_EXT}", fs_name(layer)))
}

/// Writes `layer` to the parametric cache atomically. Errors when it does not fit the run (its
/// samples, epochs, layer or widths); a failed write is only warned about, as for every cache file.
pub fn store_parametric(run: &Run, params: &EmbedParams, layer: &ParametricLayer) -> Result<(), PipelineError> {
    let params = &parametric_params(params, run);
    let emb = &layer.embedding;
    let li = find_layer(run, &emb.layer)?;
    let dim = run.layers()[li].dim;
    let samples = choose_samples(run, params);
    let e = emb.epochs.len();
    let consistent = emb.samples == samples
        && emb.epochs == run.epochs()
        && emb.positions.len() == e * samples.len() * 2
        && layer.maps.len() == e
        && layer.encoders.len() == e
        && layer.maps.iter().zip(&layer.encoders).all(|(m, w)| {
            m.dim == dim
                && w.dims.first() == Some(&m.input_dims())
                && w.dims.last() == Some(&2)
                && EncoderWeights::count(&w.dims) == Some(w.params.len())
                && m.basis.as_ref().is_none_or(|b| b.mean.len() == dim && b.components.len() == m.input_dims() * dim)
        });
    if !consistent {
        return Err(invalid(
            "parametric",
            format!("layer `{}`: the parametric embedding does not match the run for these parameters", emb.layer),
        ));
    }
    let header = serde_json::json!({
        "kind": "parametric",
        "layer": emb.layer,
        "params": params,
        "epochs": emb.epochs,
        "n_samples": samples.len(),
        "fingerprint": fingerprint(run, &emb.layer, params, &samples)?,
        "dim": dim,
        "slices": layer.maps.iter().zip(&layer.encoders).map(|(m, w)| serde_json::json!({
            "normalize": m.normalize,
            "pca": m.basis.as_ref().map(PcaBasis::n_components),
            "scale": m.scale,
            "encoder": w.dims,
        })).collect::<Vec<_>>(),
    });
    let mut payload = cache::u32_bytes(&emb.samples);
    payload.extend(cache::f32_bytes(&emb.positions));
    for (m, w) in layer.maps.iter().zip(&layer.encoders) {
        if let Some(b) = &m.basis {
            payload.extend(cache::f32_bytes(&b.mean));
            payload.extend(cache::f32_bytes(&b.components));
        }
        payload.extend(cache::f32_bytes(&w.params));
    }
    if let Err(e) = cache::write(&parametric_path(run, &emb.layer, params), &header, &payload) {
        cache::warn_not_cached("the parametric embedding", &e);
    }
    Ok(())
}

/// The cached parametric embedding of `layer` with `params`, if one exists for the run's current
/// data and is intact (header consistent with the run, payload of exactly the size it implies).
pub fn cached_parametric(run: &Run, layer: &str, params: &EmbedParams) -> Option<ParametricLayer> {
    let params = &parametric_params(params, run);
    let li = find_layer(run, layer).ok()?;
    let dim = run.layers()[li].dim;
    let samples = choose_samples(run, params);
    let (header, payload) = cache::read(&parametric_path(run, layer, params))?;
    let fp = fingerprint(run, layer, params, &samples).ok()?;
    if header["kind"] != "parametric"
        || header["layer"].as_str() != Some(layer)
        || header["fingerprint"].as_str() != Some(fp.as_str())
        || header["dim"].as_u64() != Some(dim as u64)
        || header["n_samples"].as_u64() != Some(samples.len() as u64)
    {
        return None;
    }
    let epochs: Vec<u32> = serde_json::from_value(header["epochs"].clone()).ok()?;
    let slices = header["slices"].as_array()?;
    if epochs != run.epochs() || slices.len() != epochs.len() {
        return None;
    }
    let n = samples.len();
    let mut at = n.checked_mul(4)?;
    let positions_len = epochs.len().checked_mul(n)?.checked_mul(2)?;
    let take = |at: &mut usize, count: usize| -> Option<Vec<f32>> {
        let end = at.checked_add(count.checked_mul(4)?)?;
        let bytes = payload.get(*at..end)?;
        *at = end;
        Some(cache::f32_from(bytes))
    };
    if cache::u32_from(payload.get(..at)?) != samples {
        return None;
    }
    let positions = take(&mut at, positions_len)?;
    let (mut maps, mut encoders) = (Vec::new(), Vec::new());
    for s in slices {
        let dims: Vec<usize> = serde_json::from_value(s["encoder"].clone()).ok()?;
        let pca = s["pca"].as_u64().map(|k| k as usize);
        let scale = s["scale"].as_f64()? as f32;
        if dims.iter().any(|&w| w == 0 || w > MAX_WIDTH)
            || dims.last() != Some(&2)
            || dims.first() != Some(&pca.unwrap_or(dim))
            || !(scale.is_finite() && scale > 0.0)
        {
            return None;
        }
        let basis = match pca {
            Some(k) => {
                let mean = take(&mut at, dim)?;
                let components = take(&mut at, k.checked_mul(dim)?)?;
                Some(PcaBasis { mean, components })
            }
            None => None,
        };
        let params = take(&mut at, EncoderWeights::count(&dims)?)?;
        maps.push(InputMap { dim, normalize: s["normalize"].as_bool()?, basis, scale });
        encoders.push(EncoderWeights { dims, params });
    }
    if at != payload.len() {
        return None;
    }
    let embedding = LayerEmbedding { layer: layer.to_string(), epochs, samples, positions };
    Some(ParametricLayer { embedding, maps, encoders })
}
