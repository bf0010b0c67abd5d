//! The embedding cache: what identifies an embedding (its parameters, samples and every input
//! file's identity), where it lives (`.neuromapper/embeddings/<layer>.<key>.nmc`), reading it back,
//! storing it, and listing what a run has cached. The file format itself is [`crate::cache`]'s.

use std::path::PathBuf;

use nm_run::Run;

use crate::cache::{self, Fnv};
use crate::{
    choose_samples, find_layer, invalid, EmbedParams, LayerEmbedding, PipelineError, CACHE_EXT, EMBEDDINGS_DIR,
};

/// A file-name-safe form of a layer name (a short hash keeps distinct names distinct).
pub(crate) fn fs_name(layer: &str) -> String {
    let safe: String =
        layer.chars().map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' }).collect();
    if safe == layer {
        safe
    } else {
        format!("{safe}-{:08x}", Fnv::new().str(layer).finish() as u32)
    }
}

pub(crate) fn hash_samples(samples: &[u32]) -> u64 {
    samples.iter().fold(Fnv::new().u64(samples.len() as u64), |h, &s| h.u64(s as u64)).finish()
}

/// Identity of one (layer, epoch)'s data: its file, where in it, its length and mtime.
pub(crate) fn stamp_hash(run: &Run, layer: &str, epoch: u32) -> Result<u64, PipelineError> {
    let (rel, offset, len, mtime) = run.layer_stamp(layer, epoch)?;
    Ok(Fnv::new().str(&rel.to_string_lossy()).u64(offset).u64(len).u64(mtime as u64).u64((mtime >> 64) as u64).finish())
}

/// Identity of everything an embedding of `layer` depends on: the params, the samples and every
/// epoch's data (of every layer when the layers are aligned to each other).
pub(crate) fn fingerprint(
    run: &Run,
    layer: &str,
    params: &EmbedParams,
    samples: &[u32],
) -> Result<String, PipelineError> {
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

pub(crate) fn embedding_path(run: &Run, layer: &str, params: &EmbedParams) -> PathBuf {
    run.path().join(nm_run::CACHE_DIR).join(EMBEDDINGS_DIR).join(format!(
        "{}.{}.{CACHE_EXT}",
        fs_name(layer),
        params.cache_key()
    ))
}

pub(crate) fn decode_embedding(header: &serde_json::Value, payload: &[u8]) -> Option<LayerEmbedding> {
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
            epochs: header["epochs"].as_array().map_or(0, std::vec::Vec::len),
            n_samples: header["n_samples"].as_u64().unwrap_or(0) as usize,
            params,
            current,
            bytes: entry.metadata().map_or(0, |m| m.len()),
            path,
        });
    }
    out.sort_by(|a, b| (&a.layer, a.params.describe()).cmp(&(&b.layer, b.params.describe())));
    out
}

/// Writes `emb` to the run's embedding cache as the embedding of `params` (atomically), so that
/// [`cached`] and [`crate::embed_layer`] answer with it. A failed write is logged, not an error: the cache
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
