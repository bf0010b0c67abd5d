//! Per-sample values from prediction scores (`predictions.npy` given as `[N, C]` logits or
//! probabilities): the model's confidence, its margin and the per-sample cross-entropy loss.
//!
//! Probabilities are recognised when every score is ≥ 0 and every row sums to 1 (within
//! [`PROBABILITY_TOLERANCE`]); anything else is taken as logits and turned into probabilities by a
//! softmax. Per sample, with p its probabilities:
//! - confidence: max p (the predicted class's probability);
//! - margin: the largest p minus the second largest (0 = a tie; with one column, the confidence);
//! - loss: −ln p(label), the cross-entropy against the true label (from the logits directly, as
//!   log-sum-exp − z(label), so a very wrong sample's loss is not clipped); NaN when the label has no
//!   column (a run may give fewer columns than classes).

/// How far from 1 a row of non-negative scores may sum and still be read as probabilities.
pub const PROBABILITY_TOLERANCE: f64 = 1e-3;
/// Smallest probability the loss of a probability row uses (−ln of it, about 27.6, is the cap).
const MIN_PROBABILITY: f64 = 1e-12;

/// One epoch's confidence, margin and loss per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionValues {
    pub confidence: Vec<f32>,
    pub margin: Vec<f32>,
    pub loss: Vec<f32>,
    /// Whether the scores were read as probabilities (else as logits).
    pub probabilities: bool,
}

/// Whether `scores` ([N, c] row-major) are probabilities: non-negative rows summing to 1.
pub fn are_probabilities(scores: &[f32], c: usize) -> bool {
    c > 0
        && scores.chunks_exact(c).all(|row| {
            row.iter().all(|&v| v >= 0.0)
                && (row.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() <= PROBABILITY_TOLERANCE
        })
}

/// Confidence, margin and loss of every sample from its scores ([N, c] row-major) and label.
pub fn prediction_values(labels: &[u32], c: usize, scores: &[f32]) -> PredictionValues {
    let probabilities = are_probabilities(scores, c);
    let n = scores.len().checked_div(c).unwrap_or(0);
    let mut out = PredictionValues {
        confidence: Vec::with_capacity(n),
        margin: Vec::with_capacity(n),
        loss: Vec::with_capacity(n),
        probabilities,
    };
    let mut p = vec![0f64; c];
    for (i, row) in scores.chunks_exact(c.max(1)).take(n).enumerate() {
        // log_z: ln Σ exp(z) for logits (stable: shifted by the row's maximum), 0 for probabilities.
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let log_z = if probabilities {
            p.iter_mut().zip(row).for_each(|(q, &v)| *q = f64::from(v));
            0.0
        } else {
            let mut sum = 0.0;
            for (q, &v) in p.iter_mut().zip(row) {
                *q = (f64::from(v) - max).exp();
                sum += *q;
            }
            p.iter_mut().for_each(|q| *q /= sum);
            max + sum.ln()
        };
        let (mut first, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for &q in &p {
            if q > first {
                second = first;
                first = q;
            } else if q > second {
                second = q;
            }
        }
        out.confidence.push(first as f32);
        out.margin.push(if second.is_finite() { (first - second) as f32 } else { first as f32 });
        let label = labels.get(i).map_or(usize::MAX, |&l| l as usize);
        let loss = match row.get(label) {
            None => f64::NAN,
            Some(&z) if probabilities => -f64::from(z).max(MIN_PROBABILITY).ln(),
            Some(&z) => log_z - f64::from(z),
        };
        out.loss.push(loss as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_give_softmax_confidence_margin_and_cross_entropy() {
        // Row 0: logits (2, 0, 0) → p = (e², 1, 1) / (e² + 2).
        let v = prediction_values(&[0, 2], 3, &[2.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert!(!v.probabilities);
        let e2 = 2f64.exp();
        let p0 = e2 / (e2 + 2.0);
        assert!((f64::from(v.confidence[0]) - p0).abs() < 1e-6);
        assert!((f64::from(v.margin[0]) - (p0 - 1.0 / (e2 + 2.0))).abs() < 1e-6);
        assert!((f64::from(v.loss[0]) + p0.ln()).abs() < 1e-5);
        // Row 1: a three-way tie: confidence 1/3, margin 0, loss ln 3.
        assert!((v.confidence[1] - 1.0 / 3.0).abs() < 1e-6 && v.margin[1].abs() < 1e-6);
        assert!((f64::from(v.loss[1]) - 3f64.ln()).abs() < 1e-5);
    }

    #[test]
    fn probabilities_are_used_as_they_are_and_extreme_logits_do_not_overflow() {
        let v = prediction_values(&[1], 2, &[0.75, 0.25]);
        assert!(v.probabilities);
        assert_eq!((v.confidence[0], v.margin[0]), (0.75, 0.5));
        assert!((f64::from(v.loss[0]) - 4f64.ln()).abs() < 1e-6);
        // Logits far apart: the wrong label's loss is the logit gap, not infinity.
        let v = prediction_values(&[1], 2, &[1000.0, 0.0]);
        assert!((v.loss[0] - 1000.0).abs() < 1e-3 && v.confidence[0] == 1.0);
        // A label without a column has no loss.
        assert!(prediction_values(&[5], 2, &[0.1, 0.2]).loss[0].is_nan());
    }
}
