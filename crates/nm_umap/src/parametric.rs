//! Parametric UMAP's engine side, for a trainer that fits an encoder network instead of free
//! positions: the slice's graph, the edge sampler (positive edges drawn in proportion to their
//! weight, negatives drawn per edge) and UMAP's cross-entropy with its gradient with respect to the
//! embedded rows, plus a pull towards anchor positions (the alignment term). No network lives here:
//! the trainer back-propagates the gradient [`umap_loss`] returns through its own encoder.
//!
//! For a batch of positive pairs P (sampled edges) and negative pairs N over embedded rows y, with
//! d² = ‖y_i − y_j‖² and a, b from [`crate::curve::fit_ab`]:
//! ```text
//! L = (1/|P|) [ Σ_P log(1 + a d^{2b})  +  γ Σ_N log(1 + 1 / (a (d² + ε)^b)) ]  +  (λ/m) Σ_i ‖y_i − ŷ_i‖²
//! ```
//! The first sum is −log q with q = 1 / (1 + a d^{2b}) (UMAP's membership in the plane), the second
//! −log(1 − q) with ε = 0.001 against the pole at d = 0 (as the layout's repulsion), the last the
//! alignment pull of each of the m rows towards its anchor ŷ_i. Each pair's gradient is clipped to
//! [−4, 4] per coordinate, as in [`crate::layout`], so one close negative cannot swamp a batch.

use crate::fuzzy::{fuzzy_simplicial_set, Graph};
use crate::knn::nearest_neighbors;
use crate::layout::GRAD_CLIP;
use crate::rng::Rng;
use crate::{Matrix, UmapError, UmapParams};

/// Added to d² in the repulsive term (umap-learn's constant, as in the layout).
pub const REPULSION_EPS: f32 = 0.001;

/// The fuzzy graph of one slice, as [`crate::fit`] builds it (k-NN, then the fuzzy union), unpruned:
/// the sampler draws edges by weight, so weak edges are rarely drawn anyway.
pub fn slice_graph(data: &Matrix, params: &UmapParams) -> Result<Graph, UmapError> {
    crate::params::check_input(data, "input")?;
    let p = params.validate(data.n_rows)?;
    let knn = nearest_neighbors(data, p.n_neighbors, p.metric, p.seed);
    Ok(fuzzy_simplicial_set(&knn, p.local_connectivity, p.set_op_mix_ratio))
}

/// One step's sample: the rows the loss needs and the pairs over them.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeBatch {
    /// The vertices whose embedded positions the loss needs, each once, ascending: the trainer
    /// embeds exactly these rows, in this order.
    pub rows: Vec<u32>,
    /// Positive pairs (sampled edges), as indices into `rows`.
    pub positive: Vec<[u32; 2]>,
    /// Negative pairs, as indices into `rows`: each positive pair's head with `negative_rate`
    /// vertices drawn uniformly from the whole slice.
    pub negative: Vec<[u32; 2]>,
}

/// Draws edges of a graph with probability proportional to their weight (umap-learn samples an
/// edge of weight w every max(w)/w epochs: the same proportions), and uniform negatives.
/// Deterministic: a batch depends only on (seed, step) and the graph.
#[derive(Clone, Debug)]
pub struct EdgeSampler {
    heads: Vec<u32>,
    tails: Vec<u32>,
    /// Running sum of the edge weights (f64: millions of small weights).
    cumulative: Vec<f64>,
    n_vertices: usize,
}

impl EdgeSampler {
    /// Every edge of positive weight of `graph` (a symmetric graph lists (i, j) under both ends: both
    /// directions are kept, so each end is a head as often). Errors on a graph without edges.
    pub fn new(graph: &Graph) -> Result<Self, UmapError> {
        let (mut heads, mut tails, mut cumulative) = (Vec::new(), Vec::new(), Vec::new());
        let mut total = 0f64;
        for i in 0..graph.n_vertices {
            for k in graph.indptr[i]..graph.indptr[i + 1] {
                let w = graph.weights[k];
                if w > 0.0 && w.is_finite() {
                    total += w as f64;
                    heads.push(i as u32);
                    tails.push(graph.indices[k]);
                    cumulative.push(total);
                }
            }
        }
        if heads.is_empty() {
            return Err(UmapError::InvalidInput("the graph has no edges of positive weight to sample".into()));
        }
        Ok(EdgeSampler { heads, tails, cumulative, n_vertices: graph.n_vertices })
    }

    /// Number of edges (each direction counted).
    pub fn n_edges(&self) -> usize {
        self.heads.len()
    }

    /// `n_edges` edges drawn by weight (with replacement), each with `negative_rate` negatives.
    pub fn sample(&self, seed: u64, step: u64, n_edges: usize, negative_rate: usize) -> EdgeBatch {
        let mut rng = Rng::keyed(seed, &[0x9A7A, step]);
        let total = *self.cumulative.last().expect("at least one edge");
        let mut pos = Vec::with_capacity(n_edges);
        let mut neg = Vec::with_capacity(n_edges * negative_rate);
        for _ in 0..n_edges {
            let u = rng.uniform() * total;
            let e = self.cumulative.partition_point(|&c| c <= u).min(self.heads.len() - 1);
            let (h, t) = (self.heads[e], self.tails[e]);
            pos.push([h, t]);
            for _ in 0..negative_rate {
                neg.push([h, rng.below(self.n_vertices) as u32]);
            }
        }
        let mut rows: Vec<u32> = pos.iter().chain(&neg).flat_map(|p| p.iter().copied()).collect();
        rows.sort_unstable();
        rows.dedup();
        let at = |v: u32| rows.binary_search(&v).expect("every vertex of a pair is a row") as u32;
        let positive = pos.iter().map(|&[h, t]| [at(h), at(t)]).collect();
        let negative = neg.iter().map(|&[h, t]| [at(h), at(t)]).collect();
        EdgeBatch { rows, positive, negative }
    }
}

/// The constants of the loss: the curve's a and b, and the repulsion's weight γ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossCurve {
    pub a: f32,
    pub b: f32,
    /// γ, umap-learn's `repulsion_strength` (1).
    pub repulsion: f32,
}

impl LossCurve {
    /// a, b fitted for `spread` and `min_dist` ([`crate::curve::fit_ab`]), γ = 1.
    pub fn new(spread: f32, min_dist: f32) -> LossCurve {
        let (a, b) = crate::curve::fit_ab(spread as f64, min_dist as f64);
        LossCurve { a: a as f32, b: b as f32, repulsion: 1.0 }
    }

    /// −log q for a pair at squared distance `d2` and its derivative with respect to d².
    pub fn attraction(&self, d2: f32) -> (f32, f32) {
        if d2 <= 0.0 {
            return (0.0, 0.0);
        }
        let p = d2.powf(self.b);
        ((self.a * p).ln_1p(), self.a * self.b * p / d2 / (1.0 + self.a * p))
    }

    /// −log(1 − q) (with ε) for a pair at squared distance `d2` and its derivative with respect to d².
    pub fn repulsion_term(&self, d2: f32) -> (f32, f32) {
        let de = d2.max(0.0) + REPULSION_EPS;
        let p = de.powf(self.b);
        ((1.0 / (self.a * p)).ln_1p(), -self.b / (de * (1.0 + self.a * p)))
    }
}

/// Where each row of a batch is pulled (the alignment term), and how hard (λ).
#[derive(Clone, Copy, Debug)]
pub struct Anchor<'a> {
    /// [rows, dim], row-major: the target of each row of the batch.
    pub positions: &'a [f32],
    pub strength: f32,
}

/// The loss of `batch` at embedded rows `y` ([rows, dim], row-major, in `batch.rows`' order) and its
/// gradient with respect to `y` (same shape), per the module docs. Errors when the shapes disagree.
pub fn umap_loss(
    y: &[f32],
    dim: usize,
    batch: &EdgeBatch,
    curve: &LossCurve,
    anchor: Option<Anchor>,
) -> Result<(f32, Vec<f32>), UmapError> {
    let m = batch.rows.len();
    if dim == 0 || y.len() != m * dim {
        return Err(UmapError::InvalidInput(format!(
            "the embedded rows hold {} values, expected rows × dim = {m} × {dim}",
            y.len()
        )));
    }
    if let Some(a) = anchor {
        if a.positions.len() != y.len() {
            return Err(UmapError::InvalidInput(format!(
                "the anchors hold {} values, expected {}",
                a.positions.len(),
                y.len()
            )));
        }
    }
    let mut grad = vec![0f32; y.len()];
    let scale = 1.0 / batch.positive.len().max(1) as f32;
    let mut loss = 0f64;
    let mut pair = |i: usize, j: usize, weight: f32, term: &dyn Fn(f32) -> (f32, f32)| {
        let (yi, yj) = (&y[i * dim..(i + 1) * dim], &y[j * dim..(j + 1) * dim]);
        let d2: f32 = yi.iter().zip(yj).map(|(p, q)| (p - q) * (p - q)).sum();
        let (l, dl) = term(d2);
        loss += (weight * scale * l) as f64;
        for c in 0..dim {
            // ∂L/∂y_i = 2 dL/d(d²) (y_i − y_j), and the opposite for y_j.
            let g = (2.0 * dl * (yi[c] - yj[c])).clamp(-GRAD_CLIP, GRAD_CLIP) * weight * scale;
            grad[i * dim + c] += g;
            grad[j * dim + c] -= g;
        }
    };
    for &[i, j] in &batch.positive {
        pair(i as usize, j as usize, 1.0, &|d2| curve.attraction(d2));
    }
    for &[i, j] in &batch.negative {
        if i != j {
            pair(i as usize, j as usize, curve.repulsion, &|d2| curve.repulsion_term(d2));
        }
    }
    if let Some(a) = anchor {
        let s = a.strength / m.max(1) as f32;
        for ((g, &v), &t) in grad.iter_mut().zip(y).zip(a.positions) {
            loss += (s * (v - t) * (v - t)) as f64;
            *g += 2.0 * s * (v - t);
        }
    }
    Ok((loss as f32, grad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize, f32)]) -> Graph {
        let mut rows = vec![Vec::new(); n];
        for &(i, j, w) in edges {
            rows[i].push((j as u32, w));
            rows[j].push((i as u32, w));
        }
        let mut g = Graph { n_vertices: n, indptr: vec![0], indices: Vec::new(), weights: Vec::new() };
        for r in rows {
            for (j, w) in r {
                g.indices.push(j);
                g.weights.push(w);
            }
            g.indptr.push(g.indices.len());
        }
        g
    }

    #[test]
    fn sampler_draws_edges_in_proportion_to_their_weight() {
        // Edge 0-1 weighs 0.9, edge 2-3 weighs 0.1: 90% of draws should be the first.
        let s = EdgeSampler::new(&graph(4, &[(0, 1, 0.9), (2, 3, 0.1)])).unwrap();
        assert_eq!(s.n_edges(), 4);
        let (mut heavy, mut total) = (0, 0);
        for step in 0..50 {
            let b = s.sample(7, step, 200, 0);
            for &[h, _] in &b.positive {
                total += 1;
                heavy += usize::from(b.rows[h as usize] < 2);
            }
        }
        let share = heavy as f64 / total as f64;
        assert!((share - 0.9).abs() < 0.02, "share of the heavy edge {share}");
    }

    #[test]
    fn batches_index_their_rows_and_are_deterministic() {
        let s = EdgeSampler::new(&graph(6, &[(0, 1, 1.0), (2, 3, 0.5), (4, 5, 0.25)])).unwrap();
        let b = s.sample(3, 11, 32, 5);
        assert_eq!((b.positive.len(), b.negative.len()), (32, 160));
        assert!(b.rows.windows(2).all(|w| w[0] < w[1]));
        for &[h, t] in &b.positive {
            let (h, t) = (b.rows[h as usize], b.rows[t as usize]);
            assert!(matches!((h.min(t), h.max(t)), (0, 1) | (2, 3) | (4, 5)), "({h}, {t}) is no edge");
        }
        // Each negative starts at its positive's head.
        for (k, &[h, _]) in b.negative.iter().enumerate() {
            assert_eq!(h, b.positive[k / 5][0]);
        }
        assert_eq!(b, s.sample(3, 11, 32, 5));
        assert_ne!(b, s.sample(3, 12, 32, 5));
        assert!(EdgeSampler::new(&graph(3, &[])).is_err());
    }

    #[test]
    fn loss_and_gradient_match_hand_computed_values() {
        // a = 1, b = 1: q = 1 / (1 + d²). Rows y0 = (0, 0), y1 = (1, 0), y2 = (0, 2).
        let curve = LossCurve { a: 1.0, b: 1.0, repulsion: 1.0 };
        let y = [0.0, 0.0, 1.0, 0.0, 0.0, 2.0];
        let batch = EdgeBatch { rows: vec![0, 1, 2], positive: vec![[0, 1]], negative: vec![[0, 2]] };
        let (loss, grad) = umap_loss(&y, 2, &batch, &curve, None).unwrap();
        // Positive (0, 1), d² = 1: log(1 + 1) = ln 2; dL/d(d²) = 1/2, so ∂/∂y0 = 2·½·(y0 − y1) = (−1, 0).
        // Negative (0, 2), d² = 4: log(1 + 1/4.001); dL/d(d²) = −1/(4.001·5.001),
        // so ∂/∂y0 = 2·(−1/(4.001·5.001))·(0, −2) = (0, 0.19992...).
        let neg = (1.0f64 + 1.0 / 4.001).ln();
        assert!((loss as f64 - (2f64.ln() + neg)).abs() < 1e-6, "loss {loss}");
        let g = 4.0 / (4.001 * 5.001);
        let want = [-1.0, g, 1.0, 0.0, 0.0, -g];
        for (got, want) in grad.iter().zip(want) {
            assert!((*got as f64 - want).abs() < 1e-6, "{grad:?}");
        }
    }

    #[test]
    fn the_fitted_curve_and_the_anchor_term() {
        // min_dist 0.1, spread 1: umap-learn's a ≈ 1.577, b ≈ 0.895.
        let curve = LossCurve::new(1.0, 0.1);
        assert!((curve.a - 1.577).abs() < 0.01 && (curve.b - 0.895).abs() < 0.01, "{curve:?}");
        // Attraction at d² = 2: log(1 + a 2^b), derivative a b 2^(b−1) / (1 + a 2^b).
        let (l, dl) = curve.attraction(2.0);
        let p = 2f32.powf(curve.b);
        assert!((l - (1.0 + curve.a * p).ln()).abs() < 1e-6);
        assert!((dl - curve.a * curve.b * p / 2.0 / (1.0 + curve.a * p)).abs() < 1e-6);
        // Anchor only (no pairs): λ/m Σ ‖y − ŷ‖² with m = 2 rows, λ = 0.5.
        let batch = EdgeBatch { rows: vec![0, 1], positive: vec![], negative: vec![] };
        let y = [1.0, 2.0, 3.0, 4.0];
        let target = [1.0, 0.0, 0.0, 4.0];
        let (loss, grad) =
            umap_loss(&y, 2, &batch, &curve, Some(Anchor { positions: &target, strength: 0.5 })).unwrap();
        assert!((loss - 0.25 * (4.0 + 9.0)).abs() < 1e-6);
        assert_eq!(grad, vec![0.0, 1.0, 1.5, 0.0]);
        assert!(umap_loss(&y[..3], 2, &batch, &curve, None).is_err());
    }

    #[test]
    fn a_close_negative_is_clipped() {
        let curve = LossCurve { a: 1.0, b: 1.0, repulsion: 1.0 };
        let batch = EdgeBatch { rows: vec![0, 1], positive: vec![], negative: vec![[0, 1]] };
        let (_, grad) = umap_loss(&[0.0, 0.0, 0.01, 0.0], 2, &batch, &curve, None).unwrap();
        // Pushed apart (towards −x for y0), at most GRAD_CLIP per coordinate.
        assert_eq!((grad[0], grad[2]), (GRAD_CLIP, -GRAD_CLIP));
    }
}
