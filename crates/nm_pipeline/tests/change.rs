//! Per-sample neighbour change (`sample_change`) against a direct computation: brute-force 15-NN
//! sets of the raw activations at consecutive epochs and their Jaccard distance, per sample; its
//! mean against `quality`'s `change15`; the cache.

use nm_pipeline::{embed_layer, quality, sample_change, EmbedParams};
use nm_testkit::RunSpec;
use nm_umap::Control;

const K: usize = 15;

/// The `K` nearest other rows of each row of `x` ([m, d], Euclidean, brute force), as sorted sets.
fn direct_sets(x: &[f32], d: usize) -> Vec<Vec<usize>> {
    let m = x.len() / d;
    (0..m)
        .map(|i| {
            let mut by_dist: Vec<(f64, usize)> = (0..m)
                .filter(|&j| j != i)
                .map(|j| {
                    let dist: f64 = (0..d).map(|c| f64::from(x[i * d + c] - x[j * d + c]).powi(2)).sum();
                    (dist, j)
                })
                .collect();
            by_dist.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let mut set: Vec<usize> = by_dist[..K].iter().map(|&(_, j)| j).collect();
            set.sort_unstable();
            set
        })
        .collect()
}

fn jaccard(a: &[usize], b: &[usize]) -> f64 {
    let shared = a.iter().filter(|j| b.contains(j)).count();
    1.0 - shared as f64 / (a.len() + b.len() - shared) as f64
}

/// Rows `samples` of the run's layer `small` at `epoch`, [m, 8].
fn rows(kit: &nm_testkit::TestRun, epoch: u32, samples: &[u32]) -> Vec<f32> {
    let all = kit.activations("small", epoch);
    samples.iter().flat_map(|&s| all[s as usize * 8..(s as usize + 1) * 8].to_vec()).collect()
}

#[test]
fn per_sample_change_matches_a_direct_computation_and_its_mean_is_quality_change15() {
    let kit = RunSpec::new(90, 3).layers(&[("small", 8)]).epochs(&[0, 1, 2]).noise(2.0).write_temp("nm_change_direct");
    let run = kit.open();
    // D = 8 < pca_dims: the view is fitted on the activations themselves, as the direct computation.
    let params = EmbedParams { n_neighbors: 10, pca_dims: 20, ..EmbedParams::default() };
    let ctl = Control::default();
    for samples in [(0..90).collect::<Vec<u32>>(), (0..90).step_by(2).collect()] {
        let change = sample_change(&run, "small", &samples, &[0, 1, 2], &params, &ctl).unwrap();
        assert_eq!(change.values.len(), 3 * samples.len());
        assert!(change.row(0).iter().all(|v| v.is_nan()), "nothing to compare with at the first epoch");
        let mut some_change = false;
        for e in 1..3u32 {
            let before = direct_sets(&rows(&kit, e - 1, &samples), 8);
            let now = direct_sets(&rows(&kit, e, &samples), 8);
            for (k, v) in change.row(e as usize).iter().enumerate() {
                let want = jaccard(&now[k], &before[k]);
                assert!((f64::from(*v) - want).abs() < 1e-6, "epoch {e}, sample {}: {v} vs {want}", samples[k]);
                some_change |= want > 0.0;
            }
        }
        assert!(some_change, "the noise should move some neighbourhoods");
        // The same numbers again, now from the cache.
        let again = sample_change(&run, "small", &samples, &[0, 1, 2], &params, &ctl).unwrap();
        assert_eq!(again.row(1), change.row(1));
    }
    let cached: Vec<_> = std::fs::read_dir(kit.path().join(".neuromapper/quality"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("change."))
        .collect();
    assert_eq!(cached.len(), 2, "one cache file per sample set: {cached:?}");
    // Over all samples (fewer than quality's 2,000 points), the mean is quality's change15.
    let emb = embed_layer(&run, "small", &params, &ctl).unwrap();
    let report = quality(&run, std::slice::from_ref(&emb), &params, &ctl).unwrap();
    let change = sample_change(&run, "small", &emb.samples, &emb.epochs, &params, &ctl).unwrap();
    for (e, slice) in report.layers[0].slices.iter().enumerate().skip(1) {
        let row = change.row(e);
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / row.len() as f64;
        let q = slice.change15.unwrap();
        assert!((mean - q).abs() < 1e-6, "epoch {}: mean {mean} vs change15 {q}", slice.epoch);
    }
}

#[test]
fn an_unknown_layer_is_an_error_naming_it() {
    let kit = RunSpec::new(30, 3).layers(&[("small", 8)]).epochs(&[0, 1]).write_temp("nm_change_unknown");
    let err = sample_change(&kit.open(), "nope", &[0, 1, 2], &[0, 1], &EmbedParams::default(), &Control::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope") && err.contains("small"), "{err}");
}
