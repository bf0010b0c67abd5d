//! Orthogonal Procrustes: the rigid motion (a rotation or a reflection, with or without a shift) that
//! brings one set of points as close as possible to another, row i onto row i. The aligned init
//! turns each slice's starting layout onto the previous slice's with it ([`Rigid::fit_about_origin`]);
//! callers that replace a layout someone is looking at turn the new one onto the old
//! ([`Rigid::fit`]), so the picture does not flip over.
//!
//! For `moving` and `base` [N, d] with centroids m̄ and b̄, the best orthogonal R minimises
//! Σᵢ ‖(mᵢ − m̄) R − (bᵢ − b̄)‖² (row vectors). With M = Σᵢ (mᵢ − m̄)ᵀ (bᵢ − b̄) = U S Vᵀ (SVD),
//! R = U Vᵀ: a rotation or a reflection, whichever fits better. The SVD is read off the symmetric
//! eigenproblem MᵀM = V S² Vᵀ, with U's columns u_c = M v_c / s_c (completed to an orthonormal
//! basis where s_c vanishes, i.e. when the points span fewer than d dimensions).

use crate::linalg::sym_eigen;
use crate::{Matrix, UmapError};

/// A rigid motion of d-dimensional row vectors: `p ↦ (p − from) · R + to`, R orthogonal ([d, d]
/// row-major). Distances between points are unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct Rigid {
    dim: usize,
    from: Vec<f64>,
    r: Vec<f64>,
    to: Vec<f64>,
}

impl Rigid {
    /// The motion (orthogonal R plus a shift) that brings `moving` [N, d] as close as possible to
    /// `base` [N, d] in least squares, row i onto row i: centroid onto centroid, then R as in the
    /// module's header. Errors when the shapes differ or there are no rows.
    pub fn fit(base: &Matrix, moving: &Matrix) -> Result<Rigid, UmapError> {
        check_pair(base, moving)?;
        Ok(Rigid::solve(base, moving, column_means(moving), column_means(base)))
    }

    /// The orthogonal R alone (no shift: about the origin) that brings `moving` [N, d] as close as
    /// possible to `base` [N, d], row i onto row i. Errors when the shapes differ or there are no rows.
    pub fn fit_about_origin(base: &Matrix, moving: &Matrix) -> Result<Rigid, UmapError> {
        check_pair(base, moving)?;
        let zero = vec![0f64; base.n_cols];
        Ok(Rigid::solve(base, moving, zero.clone(), zero))
    }

    /// The dimension d of the points it moves.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Moves every row of `points` (row-major, d values per row), in place. Errors, leaving
    /// `points` unchanged, when its length is not a multiple of d.
    pub fn apply(&self, points: &mut [f32]) -> Result<(), UmapError> {
        let d = self.dim;
        if !points.len().is_multiple_of(d) {
            return Err(UmapError::InvalidInput(format!(
                "{} values are not whole rows of the motion's dimension {d}",
                points.len()
            )));
        }
        let mut row = vec![0f64; d];
        for p in points.chunks_exact_mut(d) {
            row.iter_mut().zip(p.iter()).zip(&self.from).for_each(|((x, &v), f)| *x = v as f64 - f);
            for (b, out) in p.iter_mut().enumerate() {
                let moved: f64 = (0..d).map(|a| row[a] * self.r[a * d + b]).sum();
                *out = (moved + self.to[b]) as f32;
            }
        }
        Ok(())
    }

    /// R for the centred pairs (`moving` − `from`, `base` − `to`), and the motion.
    fn solve(base: &Matrix, moving: &Matrix, from: Vec<f64>, to: Vec<f64>) -> Rigid {
        let (n, d) = (moving.n_rows, moving.n_cols);
        let mut m = vec![0f64; d * d];
        for i in 0..n {
            for a in 0..d {
                let p = moving.data[i * d + a] as f64 - from[a];
                for b in 0..d {
                    m[a * d + b] += p * (base.data[i * d + b] as f64 - to[b]);
                }
            }
        }
        Rigid { dim: d, r: orthogonal_factor(&m, d), from, to }
    }
}

/// U Vᵀ for the SVD M = U S Vᵀ of the d × d matrix `m` (row-major).
fn orthogonal_factor(m: &[f64], d: usize) -> Vec<f64> {
    // MᵀM = V S² Vᵀ; U_c = M v_c / s_c.
    let mut mtm = vec![0f64; d * d];
    for a in 0..d {
        for b in 0..d {
            mtm[a * d + b] = (0..d).map(|t| m[t * d + a] * m[t * d + b]).sum();
        }
    }
    let (vals, v) = sym_eigen(&mtm, d);
    let mut ucols: Vec<Vec<f64>> = Vec::with_capacity(d);
    for c in 0..d {
        let s = vals[c].max(0.0).sqrt();
        let col = if s > 1e-12 * vals[0].max(1e-300).sqrt() {
            let col = (0..d).map(|r| (0..d).map(|t| m[r * d + t] * v[t * d + c]).sum::<f64>() / s).collect();
            orthonormalised(col, &ucols)
        } else {
            // Complete the basis with the unit vector e_k that has the largest part outside the
            // columns so far (some e_k has one while they span fewer than d dimensions).
            (0..d)
                .map(|k| orthonormalised((0..d).map(|r| if r == k { 1.0 } else { 0.0 }).collect(), &ucols))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("d > 0")
        };
        ucols.push(col.0);
    }
    // R = U Vᵀ.
    let mut rot = vec![0f64; d * d];
    for a in 0..d {
        for b in 0..d {
            rot[a * d + b] = (0..d).map(|c| ucols[c][a] * v[b * d + c]).sum();
        }
    }
    rot
}

/// `col` minus its projections on the orthonormal `basis`, scaled to unit length when it is not
/// zero; and that residual's length before scaling.
fn orthonormalised(mut col: Vec<f64>, basis: &[Vec<f64>]) -> (Vec<f64>, f64) {
    for p in basis {
        let dp: f64 = col.iter().zip(p).map(|(a, b)| a * b).sum();
        col.iter_mut().zip(p).for_each(|(a, b)| *a -= dp * b);
    }
    let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        col.iter_mut().for_each(|x| *x /= norm);
    }
    (col, norm)
}

/// Column means of `x` in f64, rows summed in order.
fn column_means(x: &Matrix) -> Vec<f64> {
    let d = x.n_cols;
    let mut sum = vec![0f64; d];
    for row in x.data.chunks_exact(d) {
        sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
    }
    sum.iter().map(|s| s / x.n_rows as f64).collect()
}

fn check_pair(base: &Matrix, moving: &Matrix) -> Result<(), UmapError> {
    if (base.n_rows, base.n_cols) != (moving.n_rows, moving.n_cols) {
        return Err(UmapError::InvalidInput(format!(
            "Procrustes needs two point sets of one shape, found [{}, {}] and [{}, {}]",
            base.n_rows, base.n_cols, moving.n_rows, moving.n_cols
        )));
    }
    if base.n_rows == 0 || base.n_cols == 0 {
        return Err(UmapError::InvalidInput("Procrustes needs at least one point of at least one dimension".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n deterministic, spread-out points in d dimensions.
    fn scattered(n: usize, d: usize) -> Matrix {
        let data = (0..n * d).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        Matrix::new(n, d, data).unwrap()
    }

    fn moved(x: &Matrix, r: &[f64], shift: &[f64]) -> Matrix {
        let d = x.n_cols;
        let mut out = x.clone();
        for (src, dst) in x.data.chunks(d).zip(out.data.chunks_mut(d)) {
            for b in 0..d {
                dst[b] = ((0..d).map(|a| src[a] as f64 * r[a * d + b]).sum::<f64>() + shift[b]) as f32;
            }
        }
        out
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn fit_undoes_a_rotation_reflection_and_shift_in_3d() {
        let base = scattered(40, 3);
        let (c, s) = (0.7f64.cos(), 0.7f64.sin());
        // Rotate about z, then reflect x: determinant −1.
        let r = [-c, s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0];
        let mut moving = moved(&base, &r, &[12.0, -3.0, 5.0]);
        let rigid = Rigid::fit(&base, &moving).unwrap();
        rigid.apply(&mut moving.data).unwrap();
        assert!(max_diff(&moving.data, &base.data) < 1e-4, "{}", max_diff(&moving.data, &base.data));
    }

    #[test]
    fn fit_about_origin_rotates_without_shifting() {
        let base = scattered(30, 2);
        let (c, s) = (2.0f64.cos(), 2.0f64.sin());
        let mut moving = moved(&base, &[c, s, -s, c], &[0.0, 0.0]);
        let rigid = Rigid::fit_about_origin(&base, &moving).unwrap();
        rigid.apply(&mut moving.data).unwrap();
        assert!(max_diff(&moving.data, &base.data) < 1e-4);
        // The origin stays where it is.
        let mut origin = [0f32, 0.0];
        rigid.apply(&mut origin).unwrap();
        assert_eq!(origin, [0.0, 0.0]);
    }

    #[test]
    fn collinear_points_still_give_an_orthogonal_map() {
        // All points on one line: M has rank 1, the second direction comes from the completed basis.
        let base = Matrix::new(5, 2, (0..10).map(|i| if i % 2 == 0 { i as f32 } else { 0.0 }).collect()).unwrap();
        let moving = Matrix::new(5, 2, (0..10).map(|i| if i % 2 == 1 { i as f32 } else { 0.0 }).collect()).unwrap();
        let rigid = Rigid::fit(&base, &moving).unwrap();
        let mut unit = [1f32, 0.0, 0.0, 1.0];
        rigid.apply(&mut unit).unwrap();
        let mut origin = [0f32, 0.0];
        rigid.apply(&mut origin).unwrap();
        let len = |i: usize| ((unit[i] - origin[0]).hypot(unit[i + 1] - origin[1]) - 1.0).abs();
        assert!(len(0) < 1e-6 && len(2) < 1e-6, "{unit:?} {origin:?}");
        let dot = (unit[0] - origin[0]) * (unit[2] - origin[0]) + (unit[1] - origin[1]) * (unit[3] - origin[1]);
        assert!(dot.abs() < 1e-6, "{dot}");
    }

    #[test]
    fn rejects_mismatched_shapes_empty_sets_and_partial_rows() {
        let a = scattered(4, 2);
        let err = Rigid::fit(&a, &scattered(5, 2)).unwrap_err().to_string();
        assert!(err.contains("[4, 2] and [5, 2]"), "{err}");
        let empty = Matrix::new(0, 2, vec![]).unwrap();
        assert!(Rigid::fit_about_origin(&empty, &empty).unwrap_err().to_string().contains("at least one point"));
        let rigid = Rigid::fit(&a, &a).unwrap();
        let mut odd = [1f32, 2.0, 3.0];
        assert!(rigid.apply(&mut odd).unwrap_err().to_string().contains("not whole rows"));
        assert_eq!(odd, [1.0, 2.0, 3.0]);
    }
}
