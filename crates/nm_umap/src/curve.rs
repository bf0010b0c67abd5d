//! The low-dimensional similarity curve `1 / (1 + a·d^{2b})`, fitted from `min_dist` and `spread`.
//!
//! As in umap-learn (`find_ab_params`), the target is
//! `ψ(d) = 1` for `d < min_dist` and `exp(-(d - min_dist) / spread)` above, sampled at 300 points
//! evenly spaced on `[0, 3·spread]`, and `(a, b)` minimise `Σ (1/(1 + a d^{2b}) - ψ(d))²`
//! (non-linear least squares; umap-learn calls scipy's `curve_fit`, Levenberg-Marquardt from (1, 1),
//! which is what we do here too).

/// Number of sample points of the target curve (umap-learn's value).
const CURVE_SAMPLES: usize = 300;
/// Iterations of Levenberg-Marquardt (converges in ~20 for every sane input).
const LM_MAX_ITERS: usize = 200;

/// Fit `(a, b)` for `spread > 0` and `0 <= min_dist <= spread`.
/// Defaults (spread 1, min_dist 0.1) give a ≈ 1.57694, b ≈ 0.89506.
pub fn fit_ab(spread: f64, min_dist: f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..CURVE_SAMPLES).map(|i| 3.0 * spread * i as f64 / (CURVE_SAMPLES - 1) as f64).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| if x < min_dist { 1.0 } else { (-(x - min_dist) / spread).exp() }).collect();
    let loss = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| {
                let r = 1.0 / (1.0 + a * x.powf(2.0 * b)) - y;
                r * r
            })
            .sum()
    };
    let (mut a, mut b) = (1.0f64, 1.0f64);
    let mut lambda = 1e-3;
    let mut cur = loss(a, b);
    for _ in 0..LM_MAX_ITERS {
        // Normal equations J^T J δ = -J^T r with damping on the diagonal (Marquardt's scaling).
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x <= 0.0 {
                let r = 1.0 - y;
                let _ = r; // derivatives vanish at x = 0 (x^{2b} = 0)
                continue;
            }
            let p = x.powf(2.0 * b);
            let den = 1.0 + a * p;
            let f = 1.0 / den;
            let r = f - y;
            let da = -p / (den * den);
            let db = -a * p * 2.0 * x.ln() / (den * den);
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let mut improved = false;
        for _ in 0..30 {
            let (m11, m22) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
            let det = m11 * m22 - jab * jab;
            if det.abs() < 1e-300 {
                lambda *= 10.0;
                continue;
            }
            let da = (-ga * m22 + gb * jab) / det;
            let db = (-gb * m11 + ga * jab) / det;
            let (na, nb) = (a + da, b + db);
            let nl = if na > 0.0 && nb > 0.0 { loss(na, nb) } else { f64::INFINITY };
            if nl < cur {
                let rel = (cur - nl) / cur.max(1e-300);
                a = na;
                b = nb;
                cur = nl;
                lambda = (lambda / 10.0).max(1e-12);
                improved = rel > 1e-15;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_match_umap_learn() {
        // umap-learn 0.5's find_ab_params(1.0, 0.1) (scipy curve_fit): a=1.5769434604, b=0.8950608781.
        let (a, b) = super::fit_ab(1.0, 0.1);
        assert!((a - 1.5769434604).abs() < 1e-4, "a = {a}");
        assert!((b - 0.8950608781).abs() < 1e-4, "b = {b}");
    }
}
