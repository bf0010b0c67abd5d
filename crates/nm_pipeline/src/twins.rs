//! Adversarial divergence: per (layer, epoch) of a view, how far the run's adversarial twins sit
//! from their clean samples, in the plot's RMS radii, and the share of the flipped twins that sit
//! nearer the centroid of the class they are predicted as than to their own class's centroid.

use crate::LayerEmbedding;

/// The divergence of one epoch of a view.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Divergence {
    pub epoch: u32,
    /// Twins in the view whose clean sample is in the view too.
    pub twins: usize,
    /// Of those, the twins predicted as another class than their label (None without predictions).
    pub flipped: Option<usize>,
    /// Mean distance between a twin and its clean sample, divided by the plot's RMS radius (the
    /// root mean square distance of the clean points from their centroid). None without twins.
    pub distance: Option<f32>,
    /// Of the flipped twins, the share nearer the centroid of their predicted class than to the
    /// centroid of their own class (centroids of the clean points of each class). None when no
    /// twin is flipped (or the classes have no clean points in the view).
    pub toward_predicted: Option<f32>,
}

/// The divergence of every epoch of `emb`. `labels` and `twins` are the run's (`twins[i]`: the
/// clean sample of twin `i`), `predictions(e)` the run's predicted class per sample at epoch `e`.
/// Empty when the view holds no twin together with its clean sample.
pub fn divergence(
    emb: &LayerEmbedding,
    labels: &[u32],
    twins: &[Option<u32>],
    mut predictions: impl FnMut(u32) -> Option<Vec<u32>>,
) -> Vec<Divergence> {
    // Point index of each sample in the view, and the (twin point, clean point) pairs.
    let mut point_of = std::collections::HashMap::with_capacity(emb.samples.len());
    for (p, &s) in emb.samples.iter().enumerate() {
        point_of.insert(s, p);
    }
    let pairs: Vec<(usize, usize)> = emb
        .samples
        .iter()
        .enumerate()
        .filter_map(|(p, &s)| {
            let clean = twins.get(s as usize).copied().flatten()?;
            point_of.get(&clean).map(|&c| (p, c))
        })
        .collect();
    if pairs.is_empty() {
        return Vec::new();
    }
    let is_twin: Vec<bool> = emb.samples.iter().map(|&s| twins.get(s as usize).is_some_and(Option::is_some)).collect();
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    emb.epochs
        .iter()
        .enumerate()
        .map(|(e, &epoch)| {
            let pos = emb.slice(e);
            let at = |p: usize| [f64::from(pos[2 * p]), f64::from(pos[2 * p + 1])];
            // Centroids of the clean points, overall and per class.
            let mut sum = vec![[0f64; 2]; classes];
            let mut count = vec![0usize; classes];
            for (p, &s) in emb.samples.iter().enumerate() {
                if !is_twin[p] {
                    let (c, q) = (labels[s as usize] as usize, at(p));
                    sum[c][0] += q[0];
                    sum[c][1] += q[1];
                    count[c] += 1;
                }
            }
            let n_clean: usize = count.iter().sum();
            let centre = [
                sum.iter().map(|s| s[0]).sum::<f64>() / n_clean.max(1) as f64,
                sum.iter().map(|s| s[1]).sum::<f64>() / n_clean.max(1) as f64,
            ];
            let centroid: Vec<Option<[f64; 2]>> =
                sum.iter().zip(&count).map(|(s, &k)| (k > 0).then(|| [s[0] / k as f64, s[1] / k as f64])).collect();
            let mut sq = 0f64;
            for (p, t) in is_twin.iter().enumerate() {
                if !t {
                    let q = at(p);
                    sq += (q[0] - centre[0]).powi(2) + (q[1] - centre[1]).powi(2);
                }
            }
            let rms = (sq / n_clean.max(1) as f64).sqrt();
            let dist = |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
            let mean = pairs.iter().map(|&(t, c)| dist(at(t), at(c))).sum::<f64>() / pairs.len() as f64;
            let distance = (rms > 0.0).then(|| (mean / rms) as f32);
            let preds = predictions(epoch);
            let (mut flipped, mut judged, mut toward) = (0usize, 0usize, 0usize);
            if let Some(pred) = &preds {
                for &(t, _) in &pairs {
                    let s = emb.samples[t] as usize;
                    let (own, predicted) = (labels[s] as usize, pred.get(s).map_or(labels[s], |&p| p) as usize);
                    if predicted == own {
                        continue;
                    }
                    flipped += 1;
                    let (Some(Some(a)), Some(Some(b))) = (centroid.get(predicted), centroid.get(own)) else { continue };
                    judged += 1;
                    toward += usize::from(dist(at(t), *a) < dist(at(t), *b));
                }
            }
            Divergence {
                epoch,
                twins: pairs.len(),
                flipped: preds.as_ref().map(|_| flipped),
                distance,
                toward_predicted: (judged > 0).then(|| toward as f32 / judged as f32),
            }
        })
        .collect()
}
