//! Dense linear algebra the stages share: a tiled `A · Bᵀ` product (the workhorse of exact
//! neighbours, trustworthiness and the streamed PCA), a Jacobi eigensolver for small symmetric
//! matrices, and Gram-Schmidt orthonormalisation.
//!
//! Every output element is computed by exactly one task in a fixed order, so results do not
//! depend on the number of threads.

use rayon::prelude::*;

/// Rows of `a` given to one rayon task in [`gemm_abt`].
const GEMM_ROWS_PER_TASK: usize = 16;
/// Length of the shared dimension processed per pass (keeps a tile's operands in L1/L2).
const GEMM_DEPTH_BLOCK: usize = 512;
/// Tile of rows of `a` × rows of `b` held in accumulators (4 × 3 × 8 lanes = 12 AVX2 registers).
const GEMM_TILE_A: usize = 4;
const GEMM_TILE_B: usize = 3;
/// Lanes of the accumulators: 8 f32 = one AVX2 register.
const LANES: usize = 8;

trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}
/// Fused multiply-add: only used where the CPU has FMA (else it would be a libm call).
struct Fused;
/// Separate multiply and add: the portable fallback.
struct Unfused;
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}
impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `Σ_d a[i][d] · b[j][d]` for a TA × TB tile over the depth range of the slices given,
/// with L-lane accumulators (TA·TB accumulators must fit in the vector registers).
#[inline(always)]
fn tile<M: MulAdd, const TA: usize, const TB: usize, const L: usize>(
    a: [&[f32]; TA],
    b: [&[f32]; TB],
) -> [[f32; TB]; TA] {
    let n = a[0].len();
    let full = n / L * L;
    let mut acc = [[[0f32; L]; TB]; TA];
    let mut c = 0;
    while c < full {
        let mut bv = [[0f32; L]; TB];
        for r in 0..TB {
            bv[r].copy_from_slice(&b[r][c..c + L]);
        }
        for i in 0..TA {
            let mut av = [0f32; L];
            av.copy_from_slice(&a[i][c..c + L]);
            for j in 0..TB {
                for l in 0..L {
                    acc[i][j][l] = M::mul_add(av[l], bv[j][l], acc[i][j][l]);
                }
            }
        }
        c += L;
    }
    let mut out = [[0f32; TB]; TA];
    for i in 0..TA {
        for j in 0..TB {
            let mut v = acc[i][j];
            let mut w = L;
            while w > 1 {
                w /= 2;
                for l in 0..w {
                    v[l] += v[l + w];
                }
            }
            let mut s = v[0];
            for d in full..n {
                s = M::mul_add(a[i][d], b[j][d], s);
            }
            out[i][j] = s;
        }
    }
    out
}

/// Floats per step of [`dot`] and [`sqdist`]: 4 independent 8-lane accumulators, so that the
/// fused multiply-adds do not wait on each other's latency.
const REDUCE_WIDTH: usize = 4 * LANES;

/// Dot product of two equal-length slices.
#[inline(always)]
fn dot_impl<M: MulAdd>(x: &[f32], y: &[f32]) -> f32 {
    let full = x.len() / REDUCE_WIDTH * REDUCE_WIDTH;
    let mut acc = [0f32; REDUCE_WIDTH];
    let mut c = 0;
    while c < full {
        let (xs, ys) = (&x[c..c + REDUCE_WIDTH], &y[c..c + REDUCE_WIDTH]);
        for l in 0..REDUCE_WIDTH {
            acc[l] = M::mul_add(xs[l], ys[l], acc[l]);
        }
        c += REDUCE_WIDTH;
    }
    let mut s = reduce(acc);
    for d in full..x.len() {
        s = M::mul_add(x[d], y[d], s);
    }
    s
}

/// Squared euclidean distance.
#[inline(always)]
fn sqdist_impl<M: MulAdd>(x: &[f32], y: &[f32]) -> f32 {
    let full = x.len() / REDUCE_WIDTH * REDUCE_WIDTH;
    let mut acc = [0f32; REDUCE_WIDTH];
    let mut c = 0;
    while c < full {
        let (xs, ys) = (&x[c..c + REDUCE_WIDTH], &y[c..c + REDUCE_WIDTH]);
        for l in 0..REDUCE_WIDTH {
            let t = xs[l] - ys[l];
            acc[l] = M::mul_add(t, t, acc[l]);
        }
        c += REDUCE_WIDTH;
    }
    let mut s = reduce(acc);
    for d in full..x.len() {
        let t = x[d] - y[d];
        s = M::mul_add(t, t, s);
    }
    s
}

/// Pairwise (tree) sum of the accumulator lanes, in a fixed order.
#[inline(always)]
fn reduce(mut v: [f32; REDUCE_WIDTH]) -> f32 {
    let mut w = REDUCE_WIDTH;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            v[l] += v[l + w];
        }
    }
    v[0]
}

/// Single-threaded `out[i * ldo + j] += a_i · b_j` over rows `a` [na, dim] and `b` [nb, dim].
#[inline(always)]
fn gemm_abt_serial<M: MulAdd, const TA: usize, const TB: usize, const L: usize>(
    a: &[f32],
    na: usize,
    b: &[f32],
    nb: usize,
    dim: usize,
    out: &mut [f32],
    ldo: usize,
) {
    let mut d0 = 0;
    while d0 < dim {
        let d1 = (d0 + GEMM_DEPTH_BLOCK).min(dim);
        let mut i = 0;
        while i < na {
            let ia: [usize; TA] = std::array::from_fn(|t| (i + t).min(na - 1));
            let ra: [&[f32]; TA] = std::array::from_fn(|t| &a[ia[t] * dim + d0..ia[t] * dim + d1]);
            let mut j = 0;
            while j < nb {
                let jb: [usize; TB] = std::array::from_fn(|t| (j + t).min(nb - 1));
                let rb: [&[f32]; TB] = std::array::from_fn(|t| &b[jb[t] * dim + d0..jb[t] * dim + d1]);
                let t = tile::<M, TA, TB, L>(ra, rb);
                for (ti, &ii) in ia.iter().enumerate().take((na - i).min(TA)) {
                    for (tj, &jj) in jb.iter().enumerate().take((nb - j).min(TB)) {
                        out[ii * ldo + jj] += t[ti][tj];
                    }
                }
                j += TB;
            }
            i += TA;
        }
        d0 = d1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gemm_abt_avx2(a: &[f32], na: usize, b: &[f32], nb: usize, dim: usize, out: &mut [f32], ldo: usize) {
    gemm_abt_serial::<Fused, GEMM_TILE_A, GEMM_TILE_B, LANES>(a, na, b, nb, dim, out, ldo);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(x: &[f32], y: &[f32]) -> f32 {
    dot_impl::<Fused>(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sqdist_avx2(x: &[f32], y: &[f32]) -> f32 {
    sqdist_impl::<Fused>(x, y)
}

#[inline]
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Cached CPU feature test (the detection macro itself is cheap, but this is called per distance).
fn simd() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(has_avx2_fma)
}

/// Single-threaded `out[i * ldo + j] += Σ_d a[i*dim + d] · b[j*dim + d]`
/// for `a` [na, dim], `b` [nb, dim], `out` at least [na, ldo] with `ldo >= nb`.
pub(crate) fn gemm_abt_acc(a: &[f32], na: usize, b: &[f32], nb: usize, dim: usize, out: &mut [f32], ldo: usize) {
    if na == 0 || nb == 0 || dim == 0 {
        return;
    }
    debug_assert!(a.len() >= na * dim && b.len() >= nb * dim && out.len() >= (na - 1) * ldo + nb);
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        unsafe { gemm_abt_avx2(a, na, b, nb, dim, out, ldo) };
        return;
    }
    gemm_abt_serial::<Unfused, GEMM_TILE_A, GEMM_TILE_B, LANES>(a, na, b, nb, dim, out, ldo);
}

/// Parallel `out = a · bᵀ`: `a` [na, dim], `b` [nb, dim], `out` [na, nb] (overwritten).
pub(crate) fn gemm_abt(a: &[f32], na: usize, b: &[f32], nb: usize, dim: usize, out: &mut [f32]) {
    out[..na * nb].fill(0.0);
    gemm_abt_par_acc(a, na, b, nb, dim, out);
}

/// Parallel `out += a · bᵀ`: `a` [na, dim], `b` [nb, dim], `out` [na, nb].
pub(crate) fn gemm_abt_par_acc(a: &[f32], na: usize, b: &[f32], nb: usize, dim: usize, out: &mut [f32]) {
    if nb == 0 {
        return;
    }
    out[..na * nb].par_chunks_mut(GEMM_ROWS_PER_TASK * nb).enumerate().for_each(|(t, o)| {
        let r0 = t * GEMM_ROWS_PER_TASK;
        let rows = o.len() / nb;
        gemm_abt_acc(&a[r0 * dim..(r0 + rows) * dim], rows, b, nb, dim, o, nb);
    });
}

/// `x · y` (f32 accumulation in 8 lanes).
#[inline]
pub(crate) fn dot(x: &[f32], y: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
        return unsafe { dot_avx2(x, y) };
    }
    dot_impl::<Unfused>(x, y)
}

/// `|x - y|²` (f32 accumulation in 8 lanes).
#[inline]
pub(crate) fn sqdist(x: &[f32], y: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
        return unsafe { sqdist_avx2(x, y) };
    }
    sqdist_impl::<Unfused>(x, y)
}

/// Eigen-decomposition of a symmetric n × n matrix (row-major, f64) by cyclic Jacobi rotations.
/// Returns (eigenvalues descending, eigenvectors as columns of a row-major n × n matrix).
/// Meant for small n (Lanczos tridiagonals, PCA Gram matrices, Procrustes): O(n³) per sweep.
pub(crate) fn sym_eigen(mat: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    const MAX_SWEEPS: usize = 60;
    let mut a = mat.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _ in 0..MAX_SWEEPS {
        let mut off = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off += a[p * n + q] * a[p * n + q];
            }
        }
        if off.sqrt() <= 1e-15 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let app = a[p * n + p];
                let aqq = a[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]).then(i.cmp(&j)));
    let vals: Vec<f64> = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vecs = vec![0.0; n * n];
    for (c, &i) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + c] = v[k * n + i];
        }
    }
    (vals, vecs)
}

/// Eigen-decomposition of a symmetric tridiagonal matrix (diagonal `diag`, off-diagonal `off`,
/// `off[i]` coupling i and i+1) by the implicit QL algorithm with Wilkinson-style shifts.
/// Returns (eigenvalues descending, eigenvectors as columns of a row-major n × n matrix).
pub(crate) fn tridiag_eigen(diag: &[f64], off: &[f64]) -> (Vec<f64>, Vec<f64>) {
    const MAX_QL_ITERS: usize = 60;
    let n = diag.len();
    let mut d = diag.to_vec();
    let mut e = vec![0f64; n];
    e[..n.saturating_sub(1)].copy_from_slice(&off[..n.saturating_sub(1)]);
    let mut z = vec![0f64; n * n];
    for i in 0..n {
        z[i * n + i] = 1.0;
    }
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l || iter >= MAX_QL_ITERS {
                break;
            }
            iter += 1;
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut i = m;
            let mut deflated = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                for k in 0..n {
                    let zf = z[k * n + i + 1];
                    z[k * n + i + 1] = s * z[k * n + i] + c * zf;
                    z[k * n + i] = c * z[k * n + i] - s * zf;
                }
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[j].total_cmp(&d[i]).then(i.cmp(&j)));
    let vals = order.iter().map(|&i| d[i]).collect();
    let mut vecs = vec![0f64; n * n];
    for (c, &i) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + c] = z[k * n + i];
        }
    }
    (vals, vecs)
}

/// Sequential dot product of f64 vectors.
#[inline]
pub(crate) fn dot64_seq(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let full = x.len() / 4 * 4;
    for c in (0..full).step_by(4) {
        for l in 0..4 {
            acc[l] += x[c + l] * y[c + l];
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for i in full..x.len() {
        s += x[i] * y[i];
    }
    s
}

/// Classical Gram-Schmidt, twice ("CGS2"): remove from `r` its components along the orthonormal
/// vectors `basis`. Coefficients are computed in parallel over the basis, the update in parallel
/// over elements; both in a fixed order.
pub(crate) fn project_out(r: &mut [f64], basis: &[&[f64]]) {
    const CHUNK: usize = 2048;
    for _pass in 0..2 {
        let coef: Vec<f64> = basis.par_iter().map(|b| dot64_seq(r, b)).collect();
        r.par_chunks_mut(CHUNK).enumerate().for_each(|(t, rc)| {
            let o = t * CHUNK;
            for (b, &c) in basis.iter().zip(&coef) {
                let len = rc.len();
                for (x, &y) in rc.iter_mut().zip(&b[o..o + len]) {
                    *x -= c * y;
                }
            }
        });
    }
}

/// Fixed-order parallel dot product of f64 vectors (chunk sums added in chunk order).
pub(crate) fn dot64(x: &[f64], y: &[f64]) -> f64 {
    const CHUNK: usize = 4096;
    let parts: Vec<f64> = x
        .par_chunks(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .map(|(a, b)| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>())
        .collect();
    parts.iter().sum()
}

/// Orthonormalise the columns (each a Vec of length n) in place by Gram-Schmidt twice ([`project_out`]).
/// A column that collapses (norm below 1e-10 of its original) is replaced by a deterministic
/// pseudo-random vector and re-orthogonalised, so the result is always orthonormal.
///
/// Each column costs a handful of parallel steps (coefficients over the earlier columns at once),
/// not one per earlier column: for the PCA's 60 columns of a few thousand rows, thread hand-offs
/// used to cost more than the arithmetic.
pub(crate) fn orthonormalize(cols: &mut [Vec<f64>], seed: u64) {
    for j in 0..cols.len() {
        let mut tries = 0;
        loop {
            let (done, rest) = cols.split_at_mut(j);
            let col = &mut rest[0];
            let before = dot64(col, col).sqrt();
            let basis: Vec<&[f64]> = done.iter().map(std::vec::Vec::as_slice).collect();
            project_out(col, &basis);
            let norm = dot64(col, col).sqrt();
            if norm > 1e-10 * before.max(1e-300) && norm > 0.0 && tries < 5 {
                col.par_iter_mut().with_min_len(4096).for_each(|x| *x /= norm);
                break;
            }
            tries += 1;
            let mut rng = crate::rng::Rng::keyed(seed, &[0x0A7, j as u64, tries]);
            for x in col.iter_mut() {
                *x = rng.normal();
            }
            if tries > 5 {
                let norm = dot64(col, col).sqrt();
                col.iter_mut().for_each(|x| *x /= norm);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_on_ragged_sizes() {
        let (na, nb, dim) = (7, 9, 1030);
        let a: Vec<f32> = (0..na * dim).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..nb * dim).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let mut out = vec![0.0; na * nb];
        gemm_abt(&a, na, &b, nb, dim, &mut out);
        for i in 0..na {
            for j in 0..nb {
                let naive: f64 = (0..dim).map(|d| a[i * dim + d] as f64 * b[j * dim + d] as f64).sum();
                assert!((out[i * nb + j] as f64 - naive).abs() < 1e-3, "{i} {j}");
                assert!((dot(&a[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim]) as f64 - naive).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn tridiagonal_ql_agrees_with_jacobi() {
        let n = 40;
        let diag: Vec<f64> = (0..n).map(|i| ((i * 7 % 13) as f64 - 6.0) / 3.0).collect();
        let off: Vec<f64> = (0..n - 1).map(|i| ((i * 5 % 11) as f64 + 1.0) / 7.0).collect();
        let mut dense = vec![0.0; n * n];
        for i in 0..n {
            dense[i * n + i] = diag[i];
            if i + 1 < n {
                dense[i * n + i + 1] = off[i];
                dense[(i + 1) * n + i] = off[i];
            }
        }
        let (v1, _) = sym_eigen(&dense, n);
        let (v2, vecs) = tridiag_eigen(&diag, &off);
        for i in 0..n {
            assert!((v1[i] - v2[i]).abs() < 1e-9, "{i}: {} vs {}", v1[i], v2[i]);
        }
        // T v = λ v for the top vector.
        for r in 0..n {
            let tv: f64 = (0..n).map(|c| dense[r * n + c] * vecs[c * n]).sum();
            assert!((tv - v2[0] * vecs[r * n]).abs() < 1e-9);
        }
    }

    #[test]
    fn jacobi_recovers_known_eigenvalues() {
        // [[2,1],[1,2]] has eigenvalues 3 and 1.
        let (vals, vecs) = sym_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 3.0).abs() < 1e-12 && (vals[1] - 1.0).abs() < 1e-12);
        assert!((vecs[0].abs() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }
}
