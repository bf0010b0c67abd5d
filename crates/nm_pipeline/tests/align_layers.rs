//! Alignment across layers (`EmbedParams::align_layers`): adjacent layers' plots agree far more than
//! independent fits while each stays as trustworthy, every layer is cached by one joint fit, and the
//! keys of views without it are unchanged.

use std::path::Path;

use nm_pipeline::{cached, choose_samples, embed_layer, embed_layers, load_slice, EmbedParams, LayerEmbedding};
use nm_run::{Manifest, Run, RunWriter};
use nm_testkit::TempDir;
use nm_umap::{trustworthiness, Control, Matrix};
use rand::{Rng, SeedableRng};

const CLASSES: usize = 5;
const N: usize = 300;
const LAYERS: [&str; 3] = ["block1", "block2", "block3"];
const D: usize = 12;

/// Five blobs in 12-D that separate over 4 epochs, seen through three layers: each the previous
/// one through a fixed random linear map and a ReLU, plus noise. (Written here rather than by
/// nm_testkit's `RunSpec`, whose layers are independent draws: this test needs layers that are
/// maps of each other, as a network's are.)
fn make_run(root: &Path) -> Run {
    let labels: Vec<u32> = (0..N).map(|i| (i % CLASSES) as u32).collect();
    let manifest = Manifest::new(
        Some((0..CLASSES).map(|c| format!("class{c}")).collect()),
        Some(LAYERS.iter().map(std::string::ToString::to_string).collect()),
    );
    let w = RunWriter::create(root, &manifest, &labels, None).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
    let centres: Vec<f32> = (0..CLASSES * D).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let maps: Vec<Vec<f32>> = (0..2).map(|_| (0..D * D).map(|_| rng.gen_range(-0.6f32..0.6)).collect()).collect();
    let noise: Vec<f32> = (0..N * D).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    for e in 0..4u32 {
        let mut x: Vec<f32> = (0..N * D)
            .map(|k| centres[labels[k / D] as usize * D + k % D] * (1.0 + 1.5 * e as f32) + noise[k])
            .collect();
        let mut outs = vec![x.clone()];
        for m in &maps {
            x = (0..N * D)
                .map(|k| {
                    let (i, j) = (k / D, k % D);
                    let v: f32 = (0..D).map(|t| x[i * D + t] * m[t * D + j]).sum();
                    v.max(0.0) + 0.1 * rng.gen_range(-1.0f32..1.0)
                })
                .collect();
            outs.push(x.clone());
        }
        let acts: Vec<(&str, usize, &[f32])> = LAYERS.iter().zip(&outs).map(|(l, o)| (*l, D, o.as_slice())).collect();
        w.write_epoch(e, &acts, None).unwrap();
    }
    Run::open(root).unwrap()
}

/// Mean over epochs and adjacent layer pairs of the RMS distance between the two plots, each scaled
/// to unit RMS radius about its centre.
fn displacement(embs: &[LayerEmbedding]) -> f64 {
    let unit = |s: &[f32]| -> Vec<f64> {
        let n = (s.len() / 2) as f64;
        let (mx, my) = s.chunks(2).fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64 / n, y + p[1] as f64 / n));
        let r = (s.chunks(2).map(|p| (p[0] as f64 - mx).powi(2) + (p[1] as f64 - my).powi(2)).sum::<f64>() / n).sqrt();
        s.chunks(2).flat_map(|p| [(p[0] as f64 - mx) / r, (p[1] as f64 - my) / r]).collect()
    };
    let mut total = 0.0;
    let mut count = 0;
    for pair in embs.windows(2) {
        for e in 0..pair[0].epochs.len() {
            let (a, b) = (unit(pair[0].slice(e)), unit(pair[1].slice(e)));
            total += (a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / (a.len() / 2) as f64).sqrt();
            count += 1;
        }
    }
    total / count as f64
}

fn mean_trust(run: &Run, emb: &LayerEmbedding, params: &EmbedParams) -> f64 {
    let samples = choose_samples(run, params);
    let t: Vec<f64> = emb
        .epochs
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let high = load_slice(run, &emb.layer, e, &samples, params, &Control::default()).unwrap();
            let low = Matrix::new(samples.len(), 2, emb.slice(i).to_vec()).unwrap();
            trustworthiness(&high, &low, 15)
        })
        .collect();
    t.iter().sum::<f64>() / t.len() as f64
}

#[test]
fn aligned_layers_agree_with_each_other_and_stay_trustworthy() {
    let dir = TempDir::new("nm_pipeline_test_align_layers");
    let run = make_run(&dir.join("run"));
    let layers: Vec<String> = LAYERS.iter().map(std::string::ToString::to_string).collect();
    let plain = EmbedParams { n_neighbors: 10, ..EmbedParams::default() };
    let aligned = EmbedParams { align_layers: true, ..plain.clone() };
    let none = |_: &str, _: nm_umap::Stage, _: f32| {};
    let independent: Vec<LayerEmbedding> =
        embed_layers(&run, &layers, &plain, &none, None).into_iter().map(Result::unwrap).collect();
    let joint: Vec<LayerEmbedding> =
        embed_layers(&run, &layers, &aligned, &none, None).into_iter().map(Result::unwrap).collect();

    let (before, after) = (displacement(&independent), displacement(&joint));
    assert!(after * 2.0 <= before, "cross-layer displacement {after:.3} aligned vs {before:.3} independent");
    for (a, b) in independent.iter().zip(&joint) {
        let (ta, tb) = (mean_trust(&run, a, &plain), mean_trust(&run, b, &aligned));
        assert!(tb >= ta - 0.015, "layer {}: trustworthiness {tb:.4} aligned vs {ta:.4} independent", a.layer);
    }

    // One joint fit filled the cache for every layer; one layer asked alone is that same view.
    for l in &layers {
        assert!(cached(&run, l, &aligned).is_some(), "layer {l} not cached");
    }
    let alone = embed_layer(&run, "block2", &aligned, &Control::default()).unwrap();
    assert_eq!(alone.positions, joint[1].positions);
}

#[test]
fn views_without_aligned_layers_keep_their_keys() {
    let json = serde_json::to_string(&EmbedParams::default()).unwrap();
    assert!(!json.contains("align_layers"), "{json}");
    let on = EmbedParams { align_layers: true, ..EmbedParams::default() };
    assert_ne!(on.cache_key(), EmbedParams::default().cache_key());
    assert!(on.describe().ends_with("align_layers"));
}
