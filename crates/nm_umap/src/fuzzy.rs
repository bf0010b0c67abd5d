//! Stage 2: the fuzzy simplicial set (UMAP's weighted k-NN graph), exactly as umap-learn builds it.
//!
//! For each point i with neighbour distances d_i1 <= ... (self excluded):
//! * ρ_i: distance to the `local_connectivity`-th nearest non-zero neighbour (interpolated for a
//!   fractional value);
//! * σ_i: solved by bisection (64 steps, tolerance 1e-5) so that
//!   `Σ_j exp(-max(0, d_ij - ρ_i) / σ_i) = log2(k)`, then floored at 1e-3 × the mean
//!   neighbour distance (of the point, or of all points when ρ_i = 0);
//! * directed weights `w_ij = exp(-max(0, d_ij - ρ_i) / σ_i)` (self: 0);
//! * fuzzy union `W = m·(A + Aᵀ - A∘Aᵀ) + (1 - m)·A∘Aᵀ` with m = set_op_mix_ratio.
//!
//! The layout then drops weights below `max(W) / n_epochs` ([`Graph::prune`]).

use crate::knn::Knn;
use rayon::prelude::*;

/// Bisection steps for σ (umap-learn's n_iter).
const SIGMA_BISECTION_STEPS: usize = 64;
/// Bisection stops when the sum is this close to log2(k).
const SMOOTH_K_TOLERANCE: f64 = 1e-5;
/// σ is at least this fraction of the mean neighbour distance.
const MIN_K_DIST_SCALE: f64 = 1e-3;

/// Symmetric sparse graph in CSR form: row i's neighbours are `indices[indptr[i]..indptr[i+1]]`
/// (ascending) with weights in (0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub n_vertices: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub weights: Vec<f32>,
}

impl Graph {
    pub fn neighbors(&self, i: usize) -> &[u32] {
        &self.indices[self.indptr[i]..self.indptr[i + 1]]
    }

    pub fn max_weight(&self) -> f32 {
        self.weights.iter().fold(0.0f32, |m, &w| m.max(w))
    }

    /// Drop edges with weight below `max_weight / n_epochs` (umap-learn's rule; for n_epochs <= 10 it
    /// uses the default epoch count, passed as `default_epochs`): they would be sampled less than once.
    pub fn prune(&mut self, n_epochs: usize, default_epochs: usize) {
        let e = if n_epochs > 10 { n_epochs } else { default_epochs };
        let cut = self.max_weight() / e as f32;
        let mut indptr = Vec::with_capacity(self.indptr.len());
        let mut indices = Vec::with_capacity(self.indices.len());
        let mut weights = Vec::with_capacity(self.weights.len());
        indptr.push(0);
        for i in 0..self.n_vertices {
            for p in self.indptr[i]..self.indptr[i + 1] {
                if self.weights[p] >= cut {
                    indices.push(self.indices[p]);
                    weights.push(self.weights[p]);
                }
            }
            indptr.push(indices.len());
        }
        self.indptr = indptr;
        self.indices = indices;
        self.weights = weights;
    }
}

/// ρ and σ of every point (see the module doc). Distances per row ascending, self first.
pub fn smooth_knn_dist(knn: &Knn, local_connectivity: f64) -> (Vec<f64>, Vec<f64>) {
    let k = knn.k;
    let target = (k as f64).log2();
    let mean_all = knn.distances.iter().map(|&d| d as f64).sum::<f64>() / knn.distances.len().max(1) as f64;
    let res: Vec<(f64, f64)> = (0..knn.n_points)
        .into_par_iter()
        .map(|i| {
            let (_, ds) = knn.row(i);
            let ds: Vec<f64> = ds.iter().map(|&d| d as f64).collect();
            let nz: Vec<f64> = ds.iter().copied().filter(|&d| d > 0.0).collect();
            let mut rho = 0.0;
            if nz.len() as f64 >= local_connectivity {
                let index = local_connectivity.floor() as usize;
                let interp = local_connectivity - index as f64;
                if index > 0 {
                    rho = nz[index - 1];
                    if interp > SMOOTH_K_TOLERANCE && index < nz.len() {
                        rho += interp * (nz[index] - nz[index - 1]);
                    }
                } else if !nz.is_empty() {
                    rho = interp * nz[0];
                }
            } else if !nz.is_empty() {
                rho = nz.iter().copied().fold(0.0, f64::max);
            }
            let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
            for _ in 0..SIGMA_BISECTION_STEPS {
                let mut psum = 0.0;
                for &d in &ds[1..] {
                    let t = d - rho;
                    psum += if t > 0.0 { (-(t / mid)).exp() } else { 1.0 };
                }
                if (psum - target).abs() < SMOOTH_K_TOLERANCE {
                    break;
                }
                if psum > target {
                    hi = mid;
                    mid = (lo + hi) / 2.0;
                } else {
                    lo = mid;
                    if hi == f64::INFINITY {
                        mid *= 2.0;
                    } else {
                        mid = (lo + hi) / 2.0;
                    }
                }
            }
            let mut sigma = mid;
            if rho > 0.0 {
                let mean_i = ds.iter().sum::<f64>() / ds.len() as f64;
                sigma = sigma.max(MIN_K_DIST_SCALE * mean_i);
            } else {
                sigma = sigma.max(MIN_K_DIST_SCALE * mean_all);
            }
            (rho, sigma)
        })
        .collect();
    res.into_iter().unzip()
}

/// The fuzzy simplicial set of a k-NN graph (unpruned).
pub fn fuzzy_simplicial_set(knn: &Knn, local_connectivity: f32, set_op_mix_ratio: f32) -> Graph {
    let (n, k) = (knn.n_points, knn.k);
    let (rho, sigma) = smooth_knn_dist(knn, local_connectivity as f64);
    // Directed memberships, kept as (row, col, weight, forward?) in both orientations.
    let mut entries: Vec<(u32, u32, f32, bool)> = Vec::with_capacity(2 * n * k);
    for i in 0..n {
        let (is, ds) = knn.row(i);
        for (&j, &d) in is.iter().zip(ds) {
            if j as usize == i || j == u32::MAX {
                continue;
            }
            let t = d as f64 - rho[i];
            let w = if t <= 0.0 || sigma[i] == 0.0 { 1.0 } else { (-(t / sigma[i])).exp() };
            if w > 0.0 {
                entries.push((i as u32, j, w as f32, true));
                entries.push((j, i as u32, w as f32, false));
            }
        }
    }
    entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.3.cmp(&b.3)));
    let m = set_op_mix_ratio as f64;
    let mut indptr = vec![0usize; n + 1];
    let mut indices = Vec::with_capacity(entries.len() / 2 + n);
    let mut weights = Vec::with_capacity(entries.len() / 2 + n);
    let mut t = 0;
    while t < entries.len() {
        let (r, c) = (entries[t].0, entries[t].1);
        let (mut a, mut b) = (0.0f64, 0.0f64); // a = A[r][c] (forward), b = A[c][r] (the transpose)
        while t < entries.len() && entries[t].0 == r && entries[t].1 == c {
            if entries[t].3 {
                a = entries[t].2 as f64;
            } else {
                b = entries[t].2 as f64;
            }
            t += 1;
        }
        let prod = a * b;
        let w = m * (a + b - prod) + (1.0 - m) * prod;
        if w > 0.0 {
            indices.push(c);
            weights.push(w as f32);
            indptr[r as usize + 1] += 1;
        }
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    Graph { n_vertices: n, indptr, indices, weights }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_solves_log2k() {
        // One point with neighbours at 0 (self), 1, 2, 3: ρ = 1 and Σ exp(-(d-ρ)/σ) = log2(4) = 2.
        let knn = Knn { n_points: 1, k: 4, indices: vec![0, 1, 2, 3], distances: vec![0.0, 1.0, 2.0, 3.0] };
        let (rho, sigma) = smooth_knn_dist(&knn, 1.0);
        assert_eq!(rho[0], 1.0);
        let s: f64 = [1.0f64, 2.0, 3.0].iter().map(|d| (-(d - rho[0]).max(0.0) / sigma[0]).exp()).sum();
        assert!((s - 2.0).abs() < 1e-4, "sum {s}");
    }

    #[test]
    fn union_and_intersection_follow_the_formula() {
        // Two points, each the other's only neighbour: both directed weights are 1 (d = ρ).
        let knn =
            Knn { n_points: 3, k: 2, indices: vec![0, 1, 1, 0, 2, 0], distances: vec![0.0, 1.0, 0.0, 1.0, 0.0, 2.0] };
        let g = fuzzy_simplicial_set(&knn, 1.0, 1.0);
        // 0-1 mutual: 1; 2->0 only: weight 1 in one direction, union keeps it.
        assert_eq!(g.neighbors(0), &[1, 2]);
        assert!(g.weights.iter().all(|&w| (w - 1.0).abs() < 1e-6));
        let g = fuzzy_simplicial_set(&knn, 1.0, 0.0);
        assert_eq!(g.neighbors(0), &[1], "intersection drops the one-way edge");
    }
}
