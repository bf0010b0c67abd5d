//! PCA pre-embed by randomized SVD (Halko, Martinsson and Tropp, 2011), streamed over row blocks.
//!
//! For A [N, D] with column means μ and A_c = A - 1μᵀ, with l = k + oversampling:
//! 1. Y = A_c Ω for a Gaussian Ω [D, l]; Q = orth(Y)        (one pass over A, also giving μ)
//! 2. q power iterations: Z = orth(A_cᵀ Q) [D, l]; Q = orth(A_c Z)            (two passes each)
//! 3. Bᵀ = A_cᵀ Q [D, l]; B Bᵀ = W Λ Wᵀ (l × l); scores = Q W_k Λ_k^{1/2} [N, k] (one pass)
//!
//! Centring is folded in (`A_c X = A X - 1(μᵀX)`, `A_cᵀ Q = AᵀQ - μ(1ᵀQ)`), so A is never copied.
//! Memory: Y and Q [N, l], Ω/Z/Bᵀ [D, l], and one block of rows (plus its transpose);
//! never D × D or N × N. Each component's sign is fixed so that its largest-magnitude score is positive.

use crate::linalg::{gemm_abt, gemm_abt_par_acc, orthonormalize, sym_eigen};
use crate::rng::Rng;
use crate::{Control, Matrix, RowBlocks, SourceError, Stage, UmapError};
use rayon::prelude::*;

/// Extra random directions beyond k (sklearn's default n_oversamples).
pub const PCA_OVERSAMPLES: usize = 10;
/// Power iterations (each costs two passes over the data).
pub const PCA_POWER_ITERS: usize = 2;
/// Floats per block of rows read from the source (32 MiB).
const BLOCK_FLOATS: usize = 8 << 20;

/// [`RowBlocks`] over an in-memory matrix.
pub struct MatrixRows<'a>(pub &'a Matrix);

impl RowBlocks for MatrixRows<'_> {
    fn n_rows(&self) -> usize {
        self.0.n_rows
    }
    fn n_cols(&self) -> usize {
        self.0.n_cols
    }
    fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), SourceError> {
        let c = self.0.n_cols;
        out.copy_from_slice(&self.0.data[start * c..(start + n) * c]);
        Ok(())
    }
}

/// Column means: computed during a pass, or already known.
enum Means<'m> {
    Compute(&'m mut Vec<f64>),
    Known(&'m mut Vec<f64>),
}

struct Streamer<'s, 'c> {
    source: &'s mut dyn RowBlocks,
    n: usize,
    d: usize,
    block_rows: usize,
    buf: Vec<f32>,
    ctl: &'c Control<'c>,
    passes_done: usize,
    passes_total: usize,
}

impl Streamer<'_, '_> {
    /// Call `f(start_row, rows, block)` for every block of rows.
    fn pass(&mut self, mut f: impl FnMut(usize, usize, &[f32])) -> Result<(), UmapError> {
        let mut s = 0;
        while s < self.n {
            let nb = self.block_rows.min(self.n - s);
            let block = &mut self.buf[..nb * self.d];
            self.source.read_rows(s, nb, block).map_err(|source| UmapError::Source {
                start: s,
                end: s + nb,
                source,
            })?;
            if let Some(bad) = block.iter().position(|x| !x.is_finite()) {
                return Err(UmapError::InvalidInput(format!(
                    "PCA input holds a non-finite value (NaN or Inf) in row {} (column {}); clean or drop those rows",
                    s + bad / self.d,
                    bad % self.d
                )));
            }
            f(s, nb, block);
            s += nb;
            if self.ctl.cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(UmapError::Cancelled);
            }
            if let Some(p) = self.ctl.progress {
                p(Stage::Pca, ((self.passes_done as f64 + s as f64 / self.n as f64) / self.passes_total as f64) as f32);
            }
        }
        self.passes_done += 1;
        Ok(())
    }
}

/// Y = A_c X for X given transposed as `xt` [l, D] (f32); returns the columns of Y (f64).
/// `mean` holds the column means; with `Means::Compute` they are accumulated in this same pass.
fn times(st: &mut Streamer, xt: &[f32], l: usize, mean: Means) -> Result<Vec<Vec<f64>>, UmapError> {
    let (n, d) = (st.n, st.d);
    let mut y = vec![0f32; n * l];
    let (mean, compute) = match mean {
        Means::Compute(m) => (m, true),
        Means::Known(m) => (m, false),
    };
    let mut sums = vec![0f64; if compute { d } else { 0 }];
    st.pass(|s, nb, block| {
        gemm_abt(block, nb, xt, l, d, &mut y[s * l..(s + nb) * l]);
        if compute {
            sums.par_chunks_mut(1024).enumerate().for_each(|(t, m)| {
                let c0 = t * 1024;
                for r in 0..nb {
                    for (o, mv) in m.iter_mut().enumerate() {
                        *mv += block[r * d + c0 + o] as f64;
                    }
                }
            });
        }
    })?;
    if compute {
        for (m, s) in mean.iter_mut().zip(&sums) {
            *m = s / n as f64;
        }
    }
    let mean: &[f64] = mean;
    // μᵀX, to subtract from every row.
    let mx: Vec<f64> = (0..l).map(|j| (0..d).map(|c| mean[c] * xt[j * d + c] as f64).sum()).collect();
    Ok((0..l).map(|j| (0..n).map(|i| y[i * l + j] as f64 - mx[j]).collect()).collect())
}

/// Z = A_cᵀ Q for Q given as columns (f64, length N); returns Z as columns (f64, length D).
fn times_t(st: &mut Streamer, q: &[Vec<f64>], mean: &[f64]) -> Result<Vec<Vec<f64>>, UmapError> {
    let (d, l) = (st.d, q.len());
    let mut z = vec![0f32; d * l]; // [D, l]
    let mut at = Vec::new();
    let mut qt = Vec::new();
    st.pass(|s, nb, block| {
        // Transpose the block to [D, nb] and Q's rows to [l, nb], then Z += Atᵀ-products.
        at.resize(d * nb, 0f32);
        at.par_chunks_mut(nb).enumerate().for_each(|(c, col)| {
            for (r, v) in col.iter_mut().enumerate() {
                *v = block[r * d + c];
            }
        });
        qt.resize(l * nb, 0f32);
        for j in 0..l {
            for r in 0..nb {
                qt[j * nb + r] = q[j][s + r] as f32;
            }
        }
        gemm_abt_par_acc(&at, d, &qt, l, nb, &mut z);
    })?;
    let qsum: Vec<f64> = q.iter().map(|c| c.iter().sum()).collect();
    Ok((0..l).map(|j| (0..d).map(|c| z[c * l + j] as f64 - mean[c] * qsum[j]).collect()).collect())
}

/// Columns (f64) to a transposed f32 matrix [l, len].
fn to_rows_f32(cols: &[Vec<f64>]) -> Vec<f32> {
    cols.iter().flat_map(|c| c.iter().map(|&v| v as f32)).collect()
}

/// PCA of the rows of `source` to `k` dims by streamed randomized SVD: [N, D] -> [N, k] scores.
pub fn pca_blocks(source: &mut dyn RowBlocks, k: usize, seed: u64, ctl: &Control) -> Result<Matrix, UmapError> {
    pca_blocks_with_basis(source, k, seed, ctl).map(|(scores, _)| scores)
}

/// The linear map of a PCA fit: new rows [m, D] to the fitted components' scores [m, k]
/// (`(x − mean) · componentsᵀ`), for placing new rows where the fitted ones were put.
#[derive(Clone, Debug, PartialEq)]
pub struct PcaBasis {
    /// Column means of the fitted rows, `[D]`.
    pub mean: Vec<f32>,
    /// The k right singular vectors (unit length, mutually orthogonal), row-major [k, D], with
    /// the same signs as the scores'.
    pub components: Vec<f32>,
}

impl PcaBasis {
    /// Input width D.
    pub fn n_cols(&self) -> usize {
        self.mean.len()
    }

    /// Number of components k.
    pub fn n_components(&self) -> usize {
        self.components.len().checked_div(self.mean.len()).unwrap_or(0)
    }

    /// Projects rows [m, D] (row-major) to [m, k]. Errors if `rows` is not a whole number of rows.
    pub fn project(&self, rows: &[f32]) -> Result<Matrix, UmapError> {
        let (d, k) = (self.n_cols(), self.n_components());
        if d == 0 || !rows.len().is_multiple_of(d) {
            return Err(UmapError::InvalidInput(format!(
                "{} values are not a whole number of rows of {d} columns",
                rows.len()
            )));
        }
        let m = rows.len() / d;
        let mut out = vec![0f32; m * k];
        out.par_chunks_mut(k.max(1)).zip(rows.par_chunks(d)).for_each(|(o, x)| {
            let centred: Vec<f32> = x.iter().zip(&self.mean).map(|(v, mu)| v - mu).collect();
            for (c, oc) in o.iter_mut().enumerate() {
                *oc = crate::linalg::dot(&centred, &self.components[c * d..(c + 1) * d]);
            }
        });
        Matrix::new(m, k, out)
    }
}

/// [`pca_blocks`], also returning the fit's [`PcaBasis`] (what projects new rows the same way).
/// The basis is the right singular vectors of the sketch `B = Qᵀ A_c`, `Bᵀ W_c / σ_c`: for the
/// fitted rows, `(a − μ) · V_c` equals their score up to the sketch's error (the share of A_c
/// outside span Q, small after the power iterations).
pub fn pca_blocks_with_basis(
    source: &mut dyn RowBlocks,
    k: usize,
    seed: u64,
    ctl: &Control,
) -> Result<(Matrix, PcaBasis), UmapError> {
    let (n, d) = (source.n_rows(), source.n_cols());
    if n == 0 || d == 0 {
        return Err(UmapError::InvalidInput(format!("PCA input is empty ({n} rows x {d} columns)")));
    }
    if k == 0 || k > n.min(d) {
        return Err(crate::error::param(
            "k",
            format!("PCA dimensions must be in 1..={} (min of rows {n} and columns {d}), found {k}", n.min(d)),
        ));
    }
    let l = (k + PCA_OVERSAMPLES).min(n.min(d));
    let block_rows = (BLOCK_FLOATS / d).clamp(1, n);
    let mut st = Streamer {
        source,
        n,
        d,
        block_rows,
        buf: vec![0f32; block_rows * d],
        ctl,
        passes_done: 0,
        passes_total: 2 + 2 * PCA_POWER_ITERS,
    };

    let omega_t: Vec<f32> = (0..l)
        .into_par_iter()
        .flat_map_iter(|j| {
            let mut rng = Rng::keyed(seed, &[0xB0, j as u64]);
            (0..d).map(move |_| rng.normal() as f32).collect::<Vec<_>>()
        })
        .collect();
    // First pass: the column means and AΩ together; centring is applied afterwards.
    let mut mean = vec![0f64; d];
    let mut q = times(&mut st, &omega_t, l, Means::Compute(&mut mean))?;
    orthonormalize(&mut q, seed ^ 1);
    for it in 0..PCA_POWER_ITERS {
        let mut z = times_t(&mut st, &q, &mean)?;
        orthonormalize(&mut z, seed ^ (2 + 2 * it as u64));
        q = times(&mut st, &to_rows_f32(&z), l, Means::Known(&mut mean))?;
        orthonormalize(&mut q, seed ^ (3 + 2 * it as u64));
    }
    let bt = times_t(&mut st, &q, &mean)?; // columns of Bᵀ, each length D
    let mut gram = vec![0f64; l * l];
    for i in 0..l {
        for j in i..l {
            let g = crate::linalg::dot64(&bt[i], &bt[j]);
            gram[i * l + j] = g;
            gram[j * l + i] = g;
        }
    }
    let (vals, vecs) = sym_eigen(&gram, l);
    let mut out = vec![0f32; n * k];
    let mut components = vec![0f32; k * d];
    for c in 0..k {
        let sv = vals[c].max(0.0).sqrt();
        let mut col: Vec<f64> = (0..n).map(|i| (0..l).map(|j| q[j][i] * vecs[j * l + c]).sum::<f64>() * sv).collect();
        let big = col.iter().copied().fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        if big < 0.0 {
            col.iter_mut().for_each(|v| *v = -*v);
        }
        for i in 0..n {
            out[i * k + c] = col[i] as f32;
        }
        // V_c = Bᵀ W_c / σ_c (zero for a component of no variance).
        let scale = if sv > 0.0 { sign / sv } else { 0.0 };
        for (t, v) in components[c * d..(c + 1) * d].iter_mut().enumerate() {
            *v = ((0..l).map(|j| bt[j][t] * vecs[j * l + c]).sum::<f64>() * scale) as f32;
        }
    }
    let basis = PcaBasis { mean: mean.iter().map(|&m| m as f32).collect(), components };
    Ok((Matrix::new(n, k, out)?, basis))
}
