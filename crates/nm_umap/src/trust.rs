//! Trustworthiness (Venna and Kaski, 2001), as scikit-learn defines it:
//!
//! `T(k) = 1 - 2 / (N k (2N - 3k - 1)) · Σ_i Σ_{j ∈ U_k(i)} max(0, r(i, j) - k)`
//!
//! where U_k(i) are i's k nearest neighbours in the embedding and r(i, j) is j's rank among i's
//! neighbours in the input space (1 = nearest). Both spaces euclidean. 1 means every embedded
//! neighbour is also a near input neighbour. O(N² D) time, O(N) memory per worker.

use crate::knn::prepare;
use crate::linalg::{dot, gemm_abt_acc};
use crate::params::Metric;
use crate::Matrix;
use rayon::prelude::*;

/// Rows of `high` handled per task.
const TRUST_BLOCK: usize = 32;

/// Trustworthiness of `low` [N, d] as an embedding of `high` [N, D] with `k` neighbours.
/// Returns NaN when the shapes disagree or `k` is not below N/2 (scikit-learn's requirement).
pub fn trustworthiness(high: &Matrix, low: &Matrix, k: usize) -> f64 {
    let n = high.n_rows;
    if n != low.n_rows || k == 0 || 2 * k >= n || high.data.len() != n * high.n_cols || low.data.len() != n * low.n_cols
    {
        return f64::NAN;
    }
    let x = prepare(high, Metric::Euclidean);
    let d = x.n_cols;
    let norms: Vec<f32> = x.data.chunks_exact(d).map(|r| dot(r, r)).collect();
    let ld = low.n_cols;
    let penalty: f64 = (0..n.div_ceil(TRUST_BLOCK))
        .into_par_iter()
        .map(|b| {
            let i0 = b * TRUST_BLOCK;
            let nb = TRUST_BLOCK.min(n - i0);
            let mut g = vec![0f32; nb * n];
            gemm_abt_acc(&x.data[i0 * d..(i0 + nb) * d], nb, &x.data, n, d, &mut g, n);
            let mut total = 0u64;
            let mut low_d: Vec<(f64, u32)> = Vec::with_capacity(n);
            for t in 0..nb {
                let i = i0 + t;
                let row = &mut g[t * n..(t + 1) * n];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = norms[i] + norms[j] - 2.0 * *v;
                }
                // Embedded neighbours of i.
                low_d.clear();
                let li = &low.data[i * ld..(i + 1) * ld];
                for j in 0..n {
                    if j != i {
                        let lj = &low.data[j * ld..(j + 1) * ld];
                        let dd: f64 = li.iter().zip(lj).map(|(p, q)| ((p - q) as f64).powi(2)).sum();
                        low_d.push((dd, j as u32));
                    }
                }
                low_d.select_nth_unstable_by(k - 1, |p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
                for &(_, j) in &low_d[..k] {
                    let j = j as usize;
                    let dij = row[j];
                    let mut rank = 1u64;
                    for (m, &dm) in row.iter().enumerate() {
                        if m != i && (dm < dij || (dm == dij && m < j)) {
                            rank += 1;
                        }
                    }
                    total += rank.saturating_sub(k as u64);
                }
            }
            total as f64
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    let (nf, kf) = (n as f64, k as f64);
    1.0 - penalty * 2.0 / (nf * kf * (2.0 * nf - 3.0 * kf - 1.0))
}
