//! Stage 4: the starting layout.
//!
//! * Spectral: the eigenvectors of the normalised Laplacian `L = I - D^{-1/2} W D^{-1/2}` with the
//!   smallest non-zero eigenvalues, i.e. the top non-trivial eigenvectors of
//!   `M = D^{-1/2} W D^{-1/2}` (the trivial one, ∝ √degree, is projected out). Lanczos with full
//!   reorthogonalisation in f64, then the tridiagonal problem by Jacobi. Each connected component
//!   is embedded on its own, scaled to half the distance to the nearest other component's centre,
//!   and the centres are spread apart (±unit vectors, or the centroids' PCA for many components),
//!   as umap-learn's `multi_component_layout` does.
//! * PCA: the data's first principal components ([`crate::pca::pca_blocks`] on the rows in memory).
//! * Random: uniform in [-10, 10].
//!
//! A failed eigensolve (non-finite output) falls back to PCA, and PCA to random.

use crate::fuzzy::Graph;
use crate::linalg::{dot64, project_out, tridiag_eigen};
use crate::params::Init;
use crate::pca::{pca_blocks, MatrixRows};
use crate::rng::Rng;
use crate::{Control, Matrix};
use rayon::prelude::*;

/// Lanczos steps (Krylov dimension) for the spectral layout, at least.
const LANCZOS_MIN_STEPS: usize = 96;
/// Components smaller than this many points (times n_components) get a random layout.
const SMALL_COMPONENT_FACTOR: usize = 2;

/// The initial [N, dim] layout for `init`, before UMAP's rescaling. `data` is used by PCA and by
/// the layout of disconnected components.
pub fn initial_layout(data: &Matrix, graph: &Graph, dim: usize, init: Init, seed: u64) -> Matrix {
    let n = graph.n_vertices;
    let out = match init {
        Init::Spectral => spectral_layout(data, graph, dim, seed).or_else(|| pca_layout(data, dim, seed)),
        Init::Pca => pca_layout(data, dim, seed),
        Init::Random => None,
    };
    out.unwrap_or_else(|| random_layout(n, dim, seed))
}

/// Uniform in [-10, 10]^dim.
pub fn random_layout(n: usize, dim: usize, seed: u64) -> Matrix {
    let mut rng = Rng::keyed(seed, &[0xC0]);
    let data = (0..n * dim).map(|_| (rng.uniform() * 20.0 - 10.0) as f32).collect();
    Matrix { n_rows: n, n_cols: dim, data }
}

/// Projection on the first `dim` principal components, or None if that fails.
pub fn pca_layout(data: &Matrix, dim: usize, seed: u64) -> Option<Matrix> {
    if dim > data.n_cols.min(data.n_rows) {
        return None;
    }
    let m = pca_blocks(&mut MatrixRows(data), dim, seed, &Control::default()).ok()?;
    m.data.iter().all(|v| v.is_finite()).then_some(m)
}

/// Scale so that the largest |coordinate| is `max_coord`, then add N(0, noise²) (umap-learn's noisy_scale_coords).
pub fn noisy_scale(m: &mut Matrix, max_coord: f32, noise: f64, seed: u64) {
    let big = m.data.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    let s = if big > 0.0 { max_coord / big } else { 1.0 };
    let mut rng = Rng::keyed(seed, &[0xC1]);
    for v in &mut m.data {
        *v = *v * s + (noise * rng.normal()) as f32;
    }
}

/// Scale every column to [0, 10] (umap-learn's last step before the SGD).
pub fn rescale_columns(m: &mut Matrix) {
    let (n, d) = (m.n_rows, m.n_cols);
    for c in 0..d {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for i in 0..n {
            lo = lo.min(m.data[i * d + c]);
            hi = hi.max(m.data[i * d + c]);
        }
        let span = if hi > lo { hi - lo } else { 1.0 };
        for i in 0..n {
            m.data[i * d + c] = 10.0 * (m.data[i * d + c] - lo) / span;
        }
    }
}

/// Connected components: (component id per vertex, number of components), ids in order of first vertex.
pub fn connected_components(g: &Graph) -> (Vec<usize>, usize) {
    let n = g.n_vertices;
    let mut comp = vec![usize::MAX; n];
    let mut count = 0;
    let mut stack = Vec::new();
    for s in 0..n {
        if comp[s] != usize::MAX {
            continue;
        }
        comp[s] = count;
        stack.push(s);
        while let Some(v) = stack.pop() {
            for &u in g.neighbors(v) {
                if comp[u as usize] == usize::MAX {
                    comp[u as usize] = count;
                    stack.push(u as usize);
                }
            }
        }
        count += 1;
    }
    (comp, count)
}

/// Spectral layout of the whole graph, components laid out apart. None if the eigensolver fails.
pub fn spectral_layout(data: &Matrix, g: &Graph, dim: usize, seed: u64) -> Option<Matrix> {
    let n = g.n_vertices;
    let (comp, nc) = connected_components(g);
    if nc == 1 {
        let y = component_spectral(g, &(0..n).collect::<Vec<_>>(), dim, seed)?;
        return Some(Matrix { n_rows: n, n_cols: dim, data: y });
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); nc];
    for (v, &c) in comp.iter().enumerate() {
        members[c].push(v);
    }
    let meta = meta_layout(data, &members, dim, seed);
    let mut out = vec![0f32; n * dim];
    for (c, vs) in members.iter().enumerate() {
        // Half the distance to the nearest other centre.
        let mut nearest = f64::INFINITY;
        for o in 0..nc {
            if o != c {
                let dd: f64 = (0..dim).map(|t| (meta[c * dim + t] - meta[o * dim + t]).powi(2)).sum::<f64>().sqrt();
                nearest = nearest.min(dd);
            }
        }
        let range = if nearest.is_finite() && nearest > 0.0 { nearest / 2.0 } else { 1.0 };
        let local = if vs.len() > SMALL_COMPONENT_FACTOR * dim + 1 {
            component_spectral(g, vs, dim, seed ^ (c as u64 + 1))
                .unwrap_or_else(|| random_layout(vs.len(), dim, seed ^ c as u64).data)
        } else {
            random_layout(vs.len(), dim, seed ^ (c as u64) << 1).data
        };
        let big = local.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        let s = if big > 0.0 { range / big as f64 } else { 0.0 };
        for (t, &v) in vs.iter().enumerate() {
            for k in 0..dim {
                out[v * dim + k] = (local[t * dim + k] as f64 * s + meta[c * dim + k]) as f32;
            }
        }
    }
    Some(Matrix { n_rows: n, n_cols: dim, data: out })
}

/// Centres of the components, [nc, dim] row-major.
fn meta_layout(data: &Matrix, members: &[Vec<usize>], dim: usize, seed: u64) -> Vec<f64> {
    let nc = members.len();
    let mut meta = vec![0f64; nc * dim];
    if nc <= 2 * dim {
        // ±unit vectors: e_0, e_1, ..., -e_0, -e_1, ...
        let half = nc.div_ceil(2);
        for c in 0..nc {
            let (axis, sign) = if c < half { (c, 1.0) } else { (c - half, -1.0) };
            meta[c * dim + axis] = sign;
        }
        return meta;
    }
    // PCA of the component centroids, scaled to max |coord| = 1.
    let d = data.n_cols;
    let mut cent = vec![0f32; nc * d];
    for (c, vs) in members.iter().enumerate() {
        for &v in vs {
            for t in 0..d {
                cent[c * d + t] += data.data[v * d + t] / vs.len() as f32;
            }
        }
    }
    let cm = Matrix { n_rows: nc, n_cols: d, data: cent };
    let p = if dim <= nc.min(d) { pca_blocks(&mut MatrixRows(&cm), dim, seed, &Control::default()).ok() } else { None };
    let p = p.unwrap_or_else(|| random_layout(nc, dim, seed));
    let big = p.data.iter().fold(0.0f32, |a, &v| a.max(v.abs())).max(f32::MIN_POSITIVE);
    for (m, &v) in meta.iter_mut().zip(&p.data) {
        *m = v as f64 / big as f64;
    }
    meta
}

/// Spectral embedding [len(vs), dim] of the subgraph on vertices `vs` (a connected component).
fn component_spectral(g: &Graph, vs: &[usize], dim: usize, seed: u64) -> Option<Vec<f32>> {
    let m = vs.len();
    if m <= dim + 1 {
        return None;
    }
    let mut local = vec![usize::MAX; g.n_vertices];
    for (t, &v) in vs.iter().enumerate() {
        local[v] = t;
    }
    // Local CSR with normalised weights w_ij / sqrt(d_i d_j).
    let deg: Vec<f64> = vs.iter().map(|&v| (g.indptr[v]..g.indptr[v + 1]).map(|p| g.weights[p] as f64).sum()).collect();
    if deg.iter().any(|&x| x <= 0.0) {
        return None;
    }
    let mut indptr = vec![0usize; m + 1];
    let mut idx = Vec::new();
    let mut w = Vec::new();
    for (t, &v) in vs.iter().enumerate() {
        for p in g.indptr[v]..g.indptr[v + 1] {
            let u = local[g.indices[p] as usize];
            if u != usize::MAX {
                idx.push(u);
                w.push(g.weights[p] as f64 / (deg[t] * deg[u]).sqrt());
            }
        }
        indptr[t + 1] = idx.len();
    }
    let matvec = |x: &[f64], y: &mut [f64]| {
        y.par_iter_mut().enumerate().for_each(|(i, yi)| {
            *yi = (indptr[i]..indptr[i + 1]).map(|p| w[p] * x[idx[p]]).sum();
        });
    };
    // Trivial eigenvector ∝ sqrt(degree).
    let mut v0: Vec<f64> = deg.iter().map(|d| d.sqrt()).collect();
    let nv0 = dot64(&v0, &v0).sqrt();
    v0.iter_mut().for_each(|x| *x /= nv0);

    let steps = LANCZOS_MIN_STEPS.max(6 * dim).min(m - 1);
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(steps);
    let mut alpha = Vec::with_capacity(steps);
    let mut beta: Vec<f64> = Vec::with_capacity(steps);
    let mut rng = Rng::keyed(seed, &[0xC2]);
    let mut q: Vec<f64> = (0..m).map(|_| rng.normal()).collect();
    project_out(&mut q, &[&v0]);
    let nq = dot64(&q, &q).sqrt();
    if nq.is_nan() || nq <= 0.0 {
        return None;
    }
    q.iter_mut().for_each(|x| *x /= nq);
    let mut y = vec![0f64; m];
    for s in 0..steps {
        matvec(&q, &mut y);
        let a = dot64(&y, &q);
        alpha.push(a);
        basis.push(std::mem::take(&mut q));
        let mut r = y.clone();
        // Full reorthogonalisation against the trivial vector and every Lanczos vector.
        let refs: Vec<&[f64]> =
            std::iter::once(v0.as_slice()).chain(basis.iter().map(std::vec::Vec::as_slice)).collect();
        project_out(&mut r, &refs);
        let b = dot64(&r, &r).sqrt();
        if s + 1 == steps || b.is_nan() || b <= 1e-12 {
            break;
        }
        beta.push(b);
        r.iter_mut().for_each(|x| *x /= b);
        q = r;
    }
    let k = alpha.len();
    if k < dim {
        return None;
    }
    let (_vals, vecs) = tridiag_eigen(&alpha, &beta);
    let mut out = vec![0f32; m * dim];
    for c in 0..dim {
        let col: Vec<f64> =
            (0..m).into_par_iter().map(|i| (0..k).map(|j| basis[j][i] * vecs[j * k + c]).sum()).collect();
        for i in 0..m {
            out[i * dim + c] = col[i] as f32;
        }
    }
    out.iter().all(|v| v.is_finite()).then_some(out)
}
