//! `divergence` on a hand-made view: distances in RMS radii, flipped twins and the share leaning
//! towards their predicted class, worked out by hand below; and the sampling of runs with twins.

use nm_pipeline::{choose_samples, divergence, EmbedParams, LayerEmbedding, Sampling};
use nm_run::{Manifest, Run, RunWriter};
use nm_testkit::TempDir;

/// Clean samples 0, 1 (class 0) at (−1, ±1) and 2, 3 (class 1) at (1, ±1): centroid (0, 0), RMS
/// radius √2, class centroids (−1, 0) and (1, 0). Twin 4 (of 0) and twin 5 (of 2).
const LABELS: [u32; 6] = [0, 0, 1, 1, 0, 1];
const TWINS: [Option<u32>; 6] = [None, None, None, None, Some(0), Some(2)];

fn view(twin4: [f32; 2], twin5: [f32; 2]) -> Vec<f32> {
    vec![-1., 1., -1., -1., 1., 1., 1., -1., twin4[0], twin4[1], twin5[0], twin5[1]]
}

#[test]
fn divergence_matches_the_hand_computation() {
    let mut positions = view([0.5, 1.0], [1.0, 0.5]);
    positions.extend(view([-1.5, 1.0], [1.0, 0.5]));
    let emb = LayerEmbedding { layer: "fc".into(), epochs: vec![3, 7], samples: (0..6).collect(), positions };
    // Epoch 3: twin 4 predicted as class 1; epoch 7: twin 4 still predicted 1; twin 5 always right.
    let preds = |_e: u32| Some(vec![0, 0, 1, 1, 1, 1]);
    let d = divergence(&emb, &LABELS, &TWINS, preds);
    assert_eq!(d.len(), 2);
    // Epoch 3: twin 4 is 1.5 from (−1, 1), twin 5 0.5 from (1, 1): mean 1 = 1/√2 RMS radii.
    // Twin 4 at (0.5, 1) is √1.25 from class 1's centroid and √3.25 from class 0's: towards.
    assert_eq!((d[0].epoch, d[0].twins, d[0].flipped), (3, 2, Some(1)));
    assert!((d[0].distance.unwrap() - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{:?}", d[0]);
    assert_eq!(d[0].toward_predicted, Some(1.0));
    // Epoch 7: twin 4 at (−1.5, 1): 0.5 away; nearer its own class although flipped.
    assert!((d[1].distance.unwrap() - 0.5 / std::f32::consts::SQRT_2).abs() < 1e-6, "{:?}", d[1]);
    assert_eq!((d[1].flipped, d[1].toward_predicted), (Some(1), Some(0.0)));
    // Without predictions: distances only.
    let d = divergence(&emb, &LABELS, &TWINS, |_| None);
    assert_eq!((d[0].flipped, d[0].toward_predicted), (None, None));
    assert!(d[0].distance.is_some());
}

#[test]
fn twins_without_their_clean_sample_in_the_view_are_left_out() {
    // Sample 2 not in the view: twin 5 has no partner; the view keeps one pair.
    let full = view([0.5, 1.0], [1.0, 0.5]);
    let keep = [0usize, 1, 3, 4, 5];
    let positions: Vec<f32> = keep.iter().flat_map(|&p| [full[2 * p], full[2 * p + 1]]).collect();
    let emb = LayerEmbedding {
        layer: "fc".into(),
        epochs: vec![0],
        samples: keep.iter().map(|&p| p as u32).collect(),
        positions,
    };
    let d = divergence(&emb, &LABELS, &TWINS, |_| Some(vec![0, 0, 1, 1, 1, 1]));
    assert_eq!(d[0].twins, 1);
    // No twins at all: nothing to report.
    let none = [None; 6];
    assert!(divergence(&emb, &LABELS, &none, |_| None).is_empty());
}

#[test]
fn sampling_a_run_with_twins_brings_each_chosen_clean_sample_s_twins() {
    let dir = TempDir::new("nm_pipeline_twins_sampling");
    // 40 clean samples (2 classes), then one twin of each of the first 5 of each class.
    let mut labels: Vec<u32> = (0..40).map(|i| i % 2).collect();
    let mut links: Vec<Option<u32>> = vec![None; 40];
    for i in 0..10u32 {
        labels.push(i % 2);
        links.push(Some(i));
    }
    let w = RunWriter::create_with_twins(dir.path(), &Manifest::new(None, None), &labels, None, Some(&links)).unwrap();
    let x: Vec<f32> = (0..labels.len() * 2).map(|k| k as f32).collect();
    w.write_epoch(0, &[("fc", 2, &x)], None).unwrap();
    let run = Run::open(dir.path()).unwrap();
    let params = EmbedParams { sampling: Sampling::PerClass(6), seed: 3, ..EmbedParams::default() };
    let chosen = choose_samples(&run, &params);
    let clean: Vec<u32> = chosen.iter().copied().filter(|&s| s < 40).collect();
    assert_eq!(clean.len(), 12, "6 clean samples per class");
    for &s in &chosen[clean.len()..] {
        let c = links[s as usize].expect("the rest are twins");
        assert!(clean.contains(&c), "twin {s} came without its clean sample {c}");
    }
    let expected_twins = clean.iter().filter(|&&c| c < 10).count();
    assert_eq!(chosen.len(), 12 + expected_twins);
    assert_eq!(nm_pipeline::sample_count(&run, &Sampling::All), 50);
}
