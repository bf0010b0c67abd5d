//! How far to trust each plot: per (layer, epoch) neighbour preservation of the 2-D view, and how
//! much the layer's high-D neighbourhoods and geometry changed (between epochs, and to the next layer).
//!
//! Every number is computed on at most [`QUALITY_MAX_POINTS`] of the view's samples (evenly spaced
//! through them, the same points for every layer and epoch), in the space the embedding was fitted
//! in: the PCA pre-embed when the layer is wider than `pca_dims` (else the activations themselves,
//! L2-normalised for the cosine metric). Per slice:
//!
//! - `trust15`: trustworthiness with 15 neighbours ([`nm_umap::trustworthiness`], scikit-learn's
//!   definition): 1 = every 2-D neighbour is also a near high-D neighbour.
//! - `knn10`: kNN preservation, the mean share of a point's 10 nearest high-D neighbours that are
//!   among its 10 nearest in 2-D.
//! - `change15`: neighbour change, the mean Jaccard distance between a point's 15 nearest high-D
//!   neighbours at this epoch and at the previous one (0 = same neighbourhoods; `None` at the first).
//! - `cka_prev_epoch` / `cka_next_layer`: linear CKA (Kornblith et al. 2019) of the slice with the same
//!   layer at the previous epoch / with the next layer (in the run's layer order) at the same epoch:
//!   1 = the same geometry up to rotation and scale; `None` where there is nothing to compare with.
//!
//! Reports are cached in `RUN/.neuromapper/quality/`, keyed by the embeddings' own fingerprints.

use nm_run::Run;
use nm_umap::{Control, Matrix, Metric};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cache::{self, Fnv};
use crate::{find_layer, load_slice, EmbedParams, LayerEmbedding, PipelineError};

/// At most this many points per slice enter the numbers (trustworthiness is O(m²) per slice).
pub const QUALITY_MAX_POINTS: usize = 2000;
/// Neighbours for trustworthiness.
pub const TRUST_K: usize = 15;
/// Neighbours for kNN preservation.
pub const KNN_K: usize = 10;
/// Neighbours for neighbour change.
pub const CHANGE_K: usize = 15;
/// Bump when the same inputs would give different numbers (invalidates cached reports).
const QUALITY_VERSION: u64 = 1;
pub(crate) const QUALITY_DIR: &str = "quality";

/// The numbers of one (layer, epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceQuality {
    pub epoch: u32,
    pub trust15: f64,
    pub knn10: f64,
    pub change15: Option<f64>,
    pub cka_prev_epoch: Option<f64>,
    pub cka_next_layer: Option<f64>,
}

/// One layer's numbers, one entry per epoch of its view (ascending).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerQuality {
    pub layer: String,
    pub slices: Vec<SliceQuality>,
}

/// The numbers of every layer asked for, in the order asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Points per slice that entered the numbers.
    pub points: usize,
    pub layers: Vec<LayerQuality>,
}

impl QualityReport {
    /// The report as `{"points": m, "layers": {LAYER: [{"epoch": E, "trust15": …, "knn10": …,
    /// "change15": …, "cka_prev_epoch": …, "cka_next_layer": …}, …]}}` (absent values are null).
    pub fn to_json(&self) -> serde_json::Value {
        let layers: serde_json::Map<String, serde_json::Value> = self
            .layers
            .iter()
            .map(|l| (l.layer.clone(), serde_json::to_value(&l.slices).unwrap_or(serde_json::Value::Null)))
            .collect();
        serde_json::json!({"points": self.points, "layers": layers})
    }
}

/// Positions (into a view's samples) of the points the numbers use: all of them up to
/// [`QUALITY_MAX_POINTS`], else that many evenly spaced.
pub fn quality_points(n: usize) -> Vec<usize> {
    if n <= QUALITY_MAX_POINTS {
        return (0..n).collect();
    }
    (0..QUALITY_MAX_POINTS).map(|i| i * n / QUALITY_MAX_POINTS).collect()
}

/// The quality numbers of `embeddings` (views of the run's layers with `params`, all over the same
/// samples and epochs, as [`crate::embed_layers`] gives them), from the cache when present.
/// `cka_next_layer` compares each layer with the next one in `embeddings`.
pub fn quality(
    run: &Run,
    embeddings: &[LayerEmbedding],
    params: &EmbedParams,
    ctl: &Control,
) -> Result<QualityReport, PipelineError> {
    let params = &params.normalized(run);
    let Some(first) = embeddings.first() else {
        return Ok(QualityReport { points: 0, layers: Vec::new() });
    };
    for emb in embeddings {
        find_layer(run, &emb.layer)?;
        if emb.samples != first.samples || emb.epochs != first.epochs {
            return Err(crate::invalid(
                "embeddings",
                format!(
                    "layer `{}` was embedded over other samples or epochs than layer `{}`; quality compares views of one parameter set",
                    emb.layer, first.layer
                ),
            ));
        }
    }
    let points = quality_points(first.samples.len());
    let path = report_path(run, embeddings, params, points.len())?;
    if let Some((header, payload)) = cache::read(&path) {
        if header["kind"].as_str() == Some("quality") {
            if let Ok(report) = serde_json::from_slice::<QualityReport>(&payload) {
                if report.layers.iter().map(|l| &l.layer).eq(embeddings.iter().map(|e| &e.layer)) {
                    return Ok(report);
                }
            }
        }
    }
    // The high-D rows of the chosen points, per layer and epoch.
    let high: Vec<Vec<Matrix>> =
        embeddings.par_iter().map(|emb| high_slices(run, emb, params, &points, ctl)).collect::<Result<_, _>>()?;
    let mut layers = Vec::with_capacity(embeddings.len());
    for (li, emb) in embeddings.iter().enumerate() {
        if crate::cancelled(ctl) {
            return Err(PipelineError::Cancelled);
        }
        let near: Vec<(Vec<u32>, Vec<u32>)> =
            high[li].par_iter().map(|x| (neighbour_sets(x, KNN_K), neighbour_sets(x, CHANGE_K))).collect();
        let slices: Vec<SliceQuality> = (0..emb.epochs.len())
            .into_par_iter()
            .map(|e| {
                let low = low_rows(emb, e, &points);
                let x = &high[li][e];
                let (kk, kc) =
                    (KNN_K.min(points.len().saturating_sub(1)), CHANGE_K.min(points.len().saturating_sub(1)));
                SliceQuality {
                    epoch: emb.epochs[e],
                    trust15: nm_umap::trustworthiness(x, &low, TRUST_K.min(max_k(points.len()))),
                    knn10: overlap_share(&near[e].0, &neighbour_sets(&low, KNN_K), kk),
                    change15: (e > 0).then(|| jaccard_distance(&near[e].1, &near[e - 1].1, kc)),
                    cka_prev_epoch: (e > 0).then(|| linear_cka(x, &high[li][e - 1])),
                    cka_next_layer: high.get(li + 1).map(|next| linear_cka(x, &next[e])),
                }
            })
            .collect();
        layers.push(LayerQuality { layer: emb.layer.clone(), slices });
    }
    let report = QualityReport { points: points.len(), layers };
    let header = serde_json::json!({"kind": "quality", "points": report.points});
    // Serialising plain numbers cannot fail; a NaN is written as null and simply not read back.
    if let Ok(payload) = serde_json::to_vec(&report) {
        if let Err(e) = cache::write(&path, &header, &payload) {
            cache::warn_not_cached("the quality report", &e);
        }
    }
    Ok(report)
}

/// The largest neighbour count trustworthiness accepts for m points (it needs 2k < m).
fn max_k(m: usize) -> usize {
    m.saturating_sub(1) / 2
}

fn report_path(
    run: &Run,
    embeddings: &[LayerEmbedding],
    params: &EmbedParams,
    points: usize,
) -> Result<std::path::PathBuf, PipelineError> {
    let mut h = Fnv::new().u64(QUALITY_VERSION).u64(points as u64);
    for emb in embeddings {
        h = h.str(&crate::fingerprint(run, &emb.layer, params, &emb.samples)?);
        // The positions too: a view turned onto another frame, or refined, is another view.
        h = h.u64(emb.positions.iter().fold(Fnv::new(), |f, v| f.u64(v.to_bits() as u64)).finish());
    }
    Ok(run.path().join(nm_run::CACHE_DIR).join(QUALITY_DIR).join(format!(
        "{}.{:016x}.{}",
        params.cache_key(),
        h.finish(),
        crate::CACHE_EXT
    )))
}

/// The fitted space's rows of `points` for every epoch of `emb`: [m, p] each.
fn high_slices(
    run: &Run,
    emb: &LayerEmbedding,
    params: &EmbedParams,
    points: &[usize],
    ctl: &Control,
) -> Result<Vec<Matrix>, PipelineError> {
    emb.epochs.iter().map(|&epoch| high_slice(run, &emb.layer, epoch, &emb.samples, params, points, ctl)).collect()
}

/// The fitted space's rows of `points` (positions into `samples`) of one layer at one epoch:
/// [m, p], the PCA pre-embed when the view used one (else the activations, L2-normalised for the
/// cosine metric).
pub(crate) fn high_slice(
    run: &Run,
    layer: &str,
    epoch: u32,
    samples: &[u32],
    params: &EmbedParams,
    points: &[usize],
    ctl: &Control,
) -> Result<Matrix, PipelineError> {
    let li = find_layer(run, layer)?;
    let pca = params.uses_pca(run.layers()[li].dim, samples.len());
    let cosine = params.metric_kind()? == Metric::Cosine;
    let full = load_slice(run, layer, epoch, samples, params, ctl)?;
    let d = full.n_cols;
    let mut data = Vec::with_capacity(points.len() * d);
    for &p in points {
        data.extend_from_slice(full.row(p));
    }
    if cosine && !pca {
        crate::normalize_rows(&mut data, d);
    }
    Ok(Matrix::new(points.len(), d, data)?)
}

/// The 2-D positions of `points` at slice `e`: [m, 2].
fn low_rows(emb: &LayerEmbedding, e: usize, points: &[usize]) -> Matrix {
    let s = emb.slice(e);
    let data: Vec<f32> = points.iter().flat_map(|&p| [s[2 * p], s[2 * p + 1]]).collect();
    Matrix { n_rows: points.len(), n_cols: 2, data }
}

/// Each point's `k` nearest other points (Euclidean; exact up to [`nm_umap::knn::EXACT_MAX_POINTS`]
/// points, NN-descent with seed 0 above), sorted by index: [m, k'] row-major, k' = min(k, m - 1).
pub(crate) fn neighbour_sets(x: &Matrix, k: usize) -> Vec<u32> {
    let m = x.n_rows;
    let k = k.min(m.saturating_sub(1));
    if k == 0 {
        return Vec::new();
    }
    let knn = nm_umap::knn::nearest_neighbors(x, k + 1, Metric::Euclidean, 0);
    let mut out = Vec::with_capacity(m * k);
    for i in 0..m {
        let (idx, _) = knn.row(i);
        let mut row: Vec<u32> = idx.iter().copied().filter(|&j| j as usize != i).take(k).collect();
        row.sort_unstable();
        out.extend_from_slice(&row);
    }
    out
}

/// Per point, `f(|A ∩ B|)`, A and B the point's rows of `k` sorted neighbour indices in `a` and `b`;
/// empty when there are no rows or the two lists differ in length.
fn per_point_shared(a: &[u32], b: &[u32], k: usize, f: impl Fn(usize) -> f64) -> Vec<f64> {
    let m = a.len().checked_div(k).unwrap_or(0);
    if m == 0 || b.len() != a.len() {
        return Vec::new();
    }
    a.chunks_exact(k)
        .zip(b.chunks_exact(k))
        .map(|(ra, rb)| f(rb.iter().filter(|j| ra.binary_search(j).is_ok()).count()))
        .collect()
}

/// The mean of [`per_point_shared`]; NaN when it is empty.
fn mean_over_shared(a: &[u32], b: &[u32], k: usize, f: impl Fn(usize) -> f64) -> f64 {
    let v = per_point_shared(a, b, k, f);
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean over points of the share of a point's `k` neighbours in `a` that are also among its `k` in `b`.
fn overlap_share(a: &[u32], b: &[u32], k: usize) -> f64 {
    mean_over_shared(a, b, k, |shared| shared as f64 / k as f64)
}

/// The Jaccard distance 1 - |A ∩ B| / |A ∪ B| of two sets of `k` neighbours sharing `shared`.
fn jaccard(shared: usize, k: usize) -> f64 {
    1.0 - shared as f64 / (2 * k - shared) as f64
}

/// Mean over points of the Jaccard distance between a point's `k` neighbours in `a` and in `b`.
fn jaccard_distance(a: &[u32], b: &[u32], k: usize) -> f64 {
    mean_over_shared(a, b, k, |shared| jaccard(shared, k))
}

/// Per point, the Jaccard distance between its `k` neighbours in `a` and in `b` (the numbers
/// [`jaccard_distance`] averages); empty when the lists do not match.
pub(crate) fn jaccard_per_point(a: &[u32], b: &[u32], k: usize) -> Vec<f64> {
    per_point_shared(a, b, k, |shared| jaccard(shared, k))
}

/// Linear CKA of two representations of the same m points ([m, p] and [m, q]):
/// ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F) with both centred, in f64. NaN when either is constant.
pub fn linear_cka(x: &Matrix, y: &Matrix) -> f64 {
    let (xc, p) = centred(x);
    let (yc, q) = centred(y);
    let m = x.n_rows.min(y.n_rows);
    let gram = |a: &[f64], pa: usize, b: &[f64], pb: usize| -> f64 {
        // ‖Aᵀ B‖²_F, accumulated row by row into a [pa, pb] product.
        let mut prod = vec![0f64; pa * pb];
        for r in 0..m {
            let (ra, rb) = (&a[r * pa..(r + 1) * pa], &b[r * pb..(r + 1) * pb]);
            for (i, &va) in ra.iter().enumerate() {
                if va != 0.0 {
                    let out = &mut prod[i * pb..(i + 1) * pb];
                    for (o, &vb) in out.iter_mut().zip(rb) {
                        *o += va * vb;
                    }
                }
            }
        }
        prod.iter().map(|v| v * v).sum()
    };
    let xy = gram(&xc, p, &yc, q);
    let xx = gram(&xc, p, &xc, p).sqrt();
    let yy = gram(&yc, q, &yc, q).sqrt();
    if xx == 0.0 || yy == 0.0 {
        return f64::NAN;
    }
    xy / (xx * yy)
}

/// The rows of `x` with each column's mean removed, in f64: ([m, d] row-major, d).
fn centred(x: &Matrix) -> (Vec<f64>, usize) {
    let (m, d) = (x.n_rows, x.n_cols);
    let mut mean = vec![0f64; d];
    for r in x.data.chunks_exact(d) {
        for (s, &v) in mean.iter_mut().zip(r) {
            *s += v as f64;
        }
    }
    mean.iter_mut().for_each(|s| *s /= m.max(1) as f64);
    let data = x.data.chunks_exact(d).flat_map(|r| r.iter().zip(&mean).map(|(&v, mu)| v as f64 - mu)).collect();
    (data, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[[f32; 3]]) -> Matrix {
        Matrix::new(rows.len(), 3, rows.iter().flatten().copied().collect()).unwrap()
    }

    #[test]
    fn cka_is_one_for_a_rotated_scaled_copy_and_low_for_unrelated_data() {
        let x: Vec<[f32; 3]> = (0..50).map(|i| [i as f32, ((i * 7) % 13) as f32, ((i * 3) % 5) as f32]).collect();
        // Rotate 90° in the first two axes, scale by 3, shift.
        let y: Vec<[f32; 3]> = x.iter().map(|r| [-3.0 * r[1] + 1.0, 3.0 * r[0] - 2.0, 3.0 * r[2]]).collect();
        let cka = linear_cka(&matrix(&x), &matrix(&y));
        assert!((cka - 1.0).abs() < 1e-9, "cka {cka}");
        let z: Vec<[f32; 3]> = (0..50).map(|i| [((i * 31) % 17) as f32, ((i * 11) % 19) as f32, 0.0]).collect();
        let low = linear_cka(&matrix(&x), &matrix(&z));
        assert!(low < 0.5, "unrelated data gave cka {low}");
    }

    #[test]
    fn neighbour_change_is_zero_for_the_same_sets_and_one_for_disjoint_sets() {
        let a = vec![1, 2, 3, 0, 2, 3];
        assert_eq!(jaccard_distance(&a, &a, 3), 0.0);
        let b = vec![4, 5, 6, 4, 5, 6];
        assert_eq!(jaccard_distance(&a, &b, 3), 1.0);
        // Point 0 shares two of three (|∩| = 2, |∪| = 4: distance 0.5), point 1 all three.
        let c = vec![1, 2, 9, 0, 2, 3];
        assert!((jaccard_distance(&a, &c, 3) - 0.25).abs() < 1e-12);
        assert!((overlap_share(&a, &c, 3) - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn quality_points_are_evenly_spaced_and_capped() {
        assert_eq!(quality_points(5), vec![0, 1, 2, 3, 4]);
        let p = quality_points(10 * QUALITY_MAX_POINTS);
        assert_eq!(p.len(), QUALITY_MAX_POINTS);
        assert_eq!(p[1], 10);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }
}
