//! Pipeline: parameter validation (one test per rule), sampling, embedding quality, the cache
//! (hits, invalidation, corruption), live extension and export.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nm_pipeline::{
    cached, choose_samples, embed_layer, embed_layers, EmbedParams, LayerEmbedding, LiveLayer, PipelineError, Sampling,
};
use nm_run::Run;
use nm_testkit::{Predictions, RunSpec};
use nm_umap::{trustworthiness, Control, Matrix};

const CLASSES: usize = 3;

/// A run of `n` samples in CLASSES clusters (nm_testkit): layer `small` [n, 8] and `wide` [n, 120]
/// (wider than pca_dims); the clusters separate slightly more from epoch to epoch. Epoch 4 has
/// predictions (every third sample wrong); the others have none.
fn spec(n: usize) -> RunSpec {
    RunSpec::new(n, CLASSES).layers(&[("small", 8), ("wide", 120)]).predictions(Predictions::every_third_wrong_at(4))
}

fn params() -> EmbedParams {
    EmbedParams { n_neighbors: 10, pca_dims: 20, ..EmbedParams::default() }
}

fn check_param_error(run: &Run, p: EmbedParams, field: &str, needle: &str) {
    match p.validate(run) {
        Err(PipelineError::InvalidParam { name, message }) => {
            assert_eq!(name, field, "{message}");
            assert!(message.contains(needle), "`{needle}` not in: {message}");
        }
        other => panic!("expected an error on {field}, got {other:?}"),
    }
}

/// An epoch that cannot be embedded is named by its layer, epoch and file, in a full fit and in a
/// live extension alike (the engine only knows "slice k").
#[test]
fn a_degenerate_epoch_is_named_by_layer_epoch_and_file() {
    let kit = spec(60).epochs(&[0, 1]).write_temp("nm_pipeline_test_degenerate");
    let root = kit.path();
    let mut live = LiveLayer::new("small", params());
    live.update(&Run::open(root).unwrap(), &Control::default()).unwrap();
    for e in [0u32, 1] {
        kit.write_epoch(e);
    }
    let flat = vec![0.5f32; 60 * 8];
    let wide = vec![0.25f32; 60 * 120];
    kit.writer().write_epoch(2, &[("small", 8, &flat), ("wide", 120, &wide)], None).unwrap();
    let run = Run::open(root).unwrap();
    for err in [
        embed_layer(&run, "small", &params(), &Control::default()).unwrap_err(),
        live.update(&run, &Control::default()).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(msg.contains("layer `small` at epoch 2") && msg.contains("2/small.npy"), "{msg}");
        assert!(msg.contains("identical"), "{msg}");
    }
}

/// A sampling that selects every sample is one parameter set: same key, same cache entry.
#[test]
fn samplings_that_select_every_sample_share_one_cache_key() {
    let kit = spec(60).class_counts(&[20, 20, 20]).epochs(&[0]).write_temp("nm_pipeline_test_normalize");
    let run = kit.open();
    let key = |s: Sampling| EmbedParams { sampling: s, ..params() }.checked(&run).unwrap().cache_key();
    let all = key(Sampling::All);
    assert_eq!(key(Sampling::PerClass(20)), all);
    assert_eq!(key(Sampling::PerClass(1000)), all);
    assert_eq!(key(Sampling::Total(60)), all);
    assert_ne!(key(Sampling::PerClass(19)), all);
    assert_ne!(key(Sampling::Total(59)), all);
    // What `embed --samples-per-class 1000` caches, `serve` (all samples) finds.
    let per_class = EmbedParams { sampling: Sampling::PerClass(1000), ..params() };
    let emb = embed_layer(&run, "small", &per_class, &Control::default()).unwrap();
    let hit = cached(&run, "small", &params()).expect("the same samples hit the same cache entry");
    assert_eq!(hit.positions, emb.positions);
    // Defaults for a run: all samples up to DEFAULT_MAX_SAMPLES.
    assert_eq!(EmbedParams::default_for(&run).sampling, Sampling::All);
}

#[test]
fn each_parameter_rule_has_a_clear_error() {
    let kit = spec(60).epochs(&[0]).write_temp("nm_pipeline_test_params");
    let run = kit.open();
    params().validate(&run).unwrap();
    let base = params();
    check_param_error(
        &run,
        EmbedParams { metric: "manhattan".into(), ..base.clone() },
        "metric",
        "\"euclidean\" or \"cosine\"",
    );
    check_param_error(&run, EmbedParams { min_dist: -0.1, ..base.clone() }, "min_dist", "[0, 1]");
    check_param_error(&run, EmbedParams { min_dist: 1e9, ..base.clone() }, "min_dist", "[0, 1]");
    check_param_error(&run, EmbedParams { min_dist: f32::NAN, ..base.clone() }, "min_dist", "NaN");
    check_param_error(&run, EmbedParams { pca_dims: 1, ..base.clone() }, "pca_dims", "[2, 1024]");
    check_param_error(&run, EmbedParams { pca_dims: 1_000_000, ..base.clone() }, "pca_dims", "found 1000000");
    check_param_error(&run, EmbedParams { sampling: Sampling::Total(0), ..base.clone() }, "samples", "at least 1");
    check_param_error(
        &run,
        EmbedParams { sampling: Sampling::PerClass(0), ..base.clone() },
        "samples_per_class",
        "at least 1",
    );
    check_param_error(&run, EmbedParams { n_neighbors: 1, ..base.clone() }, "n_neighbors", "between 2 and 200");
    check_param_error(&run, EmbedParams { n_neighbors: 201, ..base.clone() }, "n_neighbors", "between 2 and 200");
    check_param_error(
        &run,
        EmbedParams { n_neighbors: 60, ..base.clone() },
        "n_neighbors",
        "less than the number of samples embedded (60)",
    );
    // n_neighbors is checked against the samples chosen, not the run's.
    check_param_error(&run, EmbedParams { sampling: Sampling::PerClass(3), ..base.clone() }, "n_neighbors", "(9)");
    EmbedParams { pca_dims: 0, min_dist: 0.0, metric: "cosine".into(), ..base.clone() }.validate(&run).unwrap();
    // An invalid parameter is refused before any work.
    let err = embed_layer(&run, "small", &EmbedParams { n_neighbors: 0, ..base }, &Control::default()).unwrap_err();
    assert!(err.to_string().contains("n_neighbors"), "{err}");
}

#[test]
fn sampling_is_stratified_and_deterministic() {
    let kit = spec(0).class_counts(&[60, 30, 10]).epochs(&[0]).write_temp("nm_pipeline_test_sampling");
    let run = kit.open();
    let labels = run.labels().to_vec();
    let per_class = |s: &[u32]| -> Vec<usize> {
        let mut c = vec![0; CLASSES];
        s.iter().for_each(|&i| c[labels[i as usize] as usize] += 1);
        c
    };
    let p = |sampling, seed| EmbedParams { sampling, seed, ..params() };
    let a = choose_samples(&run, &p(Sampling::PerClass(20), 7));
    assert_eq!(per_class(&a), [20, 20, 10]);
    assert!(a.windows(2).all(|w| w[0] < w[1]), "ascending and unique");
    assert_eq!(a, choose_samples(&run, &p(Sampling::PerClass(20), 7)), "same seed, same samples");
    assert_ne!(a, choose_samples(&run, &p(Sampling::PerClass(20), 8)), "another seed, other samples");
    let t = choose_samples(&run, &p(Sampling::Total(10), 0));
    assert_eq!(per_class(&t), [6, 3, 1], "proportional to the class sizes");
    let t = choose_samples(&run, &p(Sampling::Total(25), 0));
    assert_eq!((t.len(), per_class(&t)), (25, vec![15, 8, 2]), "largest remainders");
    assert_eq!(choose_samples(&run, &p(Sampling::Total(1000), 0)).len(), 100, "more than the run: all");
    assert_eq!(choose_samples(&run, &p(Sampling::All, 3)), (0..100).collect::<Vec<u32>>());
    // Samples are spread over the class, not its first members.
    let c0: Vec<u32> = a.iter().copied().filter(|&i| labels[i as usize] == 0).collect();
    assert!(*c0.last().unwrap() > 40, "class 0 picks {c0:?}");
}

/// Fraction of points whose nearest 2-D neighbour has the same label.
fn neighbour_agreement(pos: &[f32], labels: &[u32]) -> f64 {
    let n = labels.len();
    let mut agree = 0;
    for i in 0..n {
        let best = (0..n)
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let da = (pos[2 * a] - pos[2 * i]).powi(2) + (pos[2 * a + 1] - pos[2 * i + 1]).powi(2);
                let db = (pos[2 * b] - pos[2 * i]).powi(2) + (pos[2 * b + 1] - pos[2 * i + 1]).powi(2);
                da.total_cmp(&db)
            })
            .unwrap();
        agree += (labels[best] == labels[i]) as usize;
    }
    agree as f64 / n as f64
}

#[test]
fn embeddings_separate_classes_and_hit_the_cache_the_second_time() {
    let kit = spec(240).epochs(&[0, 1, 2]).write_temp("nm_pipeline_test_cache_hit");
    let root = kit.path();
    let run = kit.open();
    let calls = AtomicUsize::new(0);
    let count = |_: nm_umap::Stage, _: f32| {
        calls.fetch_add(1, Ordering::Relaxed);
    };
    let ctl = Control { progress: Some(&count), cancel: None };
    assert!(cached(&run, "small", &params()).is_none());
    let first = embed_layer(&run, "small", &params(), &ctl).unwrap();
    assert_eq!(first.epochs, [0, 1, 2]);
    assert_eq!(first.positions.len(), 3 * 240 * 2);
    assert!(first.positions.iter().all(|v| v.is_finite()));
    let (d, x) = run.read_layer("small", 2).unwrap();
    let t =
        trustworthiness(&Matrix::new(240, d, x).unwrap(), &Matrix::new(240, 2, first.slice(2).to_vec()).unwrap(), 10);
    assert!(t > 0.85, "trustworthiness {t}");
    assert!(neighbour_agreement(first.slice(0), run.labels()) > 0.95);
    let work = calls.load(Ordering::Relaxed);
    assert!(work > 0);

    let second = embed_layer(&run, "small", &params(), &ctl).unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), work, "a cache hit reports no work");
    assert_eq!(second.positions, first.positions);
    assert_eq!(cached(&run, "small", &params()).unwrap().positions, first.positions);
    let listed = nm_pipeline::list_cached(&run);
    assert_eq!(listed.len(), 1);
    assert!(listed[0].current && listed[0].layer == "small" && listed[0].epochs == 3);

    // Other parameters miss; a new epoch makes the old entry stale.
    assert!(cached(&run, "small", &EmbedParams { min_dist: 0.5, ..params() }).is_none());
    kit.write_epoch(3);
    let run = Run::open(root).unwrap();
    assert!(cached(&run, "small", &params()).is_none(), "the run gained an epoch");
    assert!(!nm_pipeline::list_cached(&run)[0].current);
}

#[test]
fn a_damaged_cache_is_detected_and_recomputed() {
    let kit = spec(120).epochs(&[0, 1]).write_temp("nm_pipeline_test_cache_corrupt");
    let root = kit.path();
    let run = kit.open();
    let first = embed_layer(&run, "small", &params(), &Control::default()).unwrap();
    let dir = root.join(".neuromapper/embeddings");
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let good = std::fs::read(&file).unwrap();
    for damage in ["flip", "truncate"] {
        let mut bad = good.clone();
        match damage {
            "flip" => bad[good.len() / 2] ^= 0x10,
            _ => bad.truncate(good.len() - 7),
        }
        std::fs::write(&file, &bad).unwrap();
        assert!(cached(&run, "small", &params()).is_none(), "{damage}: damaged cache must not load");
        let calls = AtomicUsize::new(0);
        let count = |_: nm_umap::Stage, _: f32| {
            calls.fetch_add(1, Ordering::Relaxed);
        };
        let again = embed_layer(&run, "small", &params(), &Control { progress: Some(&count), cancel: None }).unwrap();
        assert!(calls.load(Ordering::Relaxed) > 0, "{damage}: recomputed");
        assert_eq!(again.positions, first.positions, "{damage}: deterministic recomputation");
        assert_eq!(std::fs::read(&file).unwrap(), good, "{damage}: the cache is rewritten whole");
    }
}

#[test]
fn wide_layers_are_pre_embedded_with_pca_and_sampled() {
    let kit = spec(300).epochs(&[0, 1]).write_temp("nm_pipeline_test_pca");
    let root = kit.path();
    let run = kit.open();
    let p = EmbedParams { sampling: Sampling::PerClass(50), metric: "cosine".into(), ..params() };
    let emb = embed_layer(&run, "wide", &p, &Control::default()).unwrap();
    assert_eq!(emb.samples, choose_samples(&run, &p));
    assert_eq!(emb.samples.len(), 150);
    assert_eq!(emb.positions.len(), 2 * 150 * 2);
    let labels: Vec<u32> = emb.samples.iter().map(|&s| run.labels()[s as usize]).collect();
    assert!(neighbour_agreement(emb.slice(1), &labels) > 0.95);
    let pca_files = std::fs::read_dir(root.join(".neuromapper/pca/wide")).unwrap().count();
    assert_eq!(pca_files, 2, "one PCA cache per epoch");
    // The slice loader returns [n, pca_dims] for a wide layer and the raw rows for a narrow one.
    let s = choose_samples(&run, &p);
    let m = nm_pipeline::load_slice(&run, "wide", 0, &s, &p, &Control::default()).unwrap();
    assert_eq!((m.n_rows, m.n_cols), (150, 20));
    let m = nm_pipeline::load_slice(&run, "small", 0, &s, &p, &Control::default()).unwrap();
    assert_eq!((m.n_rows, m.n_cols), (150, 8));
}

#[test]
fn unknown_layers_and_bad_data_are_errors() {
    let kit = spec(60).epochs(&[0, 1]).write_temp("nm_pipeline_test_errors");
    let root = kit.path();
    let run = kit.open();
    match embed_layer(&run, "nope", &params(), &Control::default()) {
        Err(PipelineError::UnknownLayer { layer, known }) => {
            assert_eq!((layer.as_str(), known.as_str()), ("nope", "small, wide"));
        }
        other => panic!("{other:?}"),
    }
    // NaN in a wide layer surfaces as the run's error (through the streaming PCA).
    let mut wide = kit.activations("wide", 1);
    wide[5 * 120 + 3] = f32::NAN;
    let small = kit.activations("small", 1);
    kit.writer().write_epoch(1, &[("small", 8, &small), ("wide", 120, &wide)], None).unwrap();
    let run = Run::open(root).unwrap();
    let err = embed_layer(&run, "wide", &params(), &Control::default()).unwrap_err();
    assert!(matches!(err, PipelineError::Run(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("epochs/1/wide.npy") && msg.contains("1 values are NaN") && msg.contains("row 5"), "{msg}");
}

#[test]
fn layers_embed_in_parallel_with_progress_each() {
    let kit = spec(90).epochs(&[0, 1]).write_temp("nm_pipeline_test_parallel");
    let root = kit.path();
    let run = kit.open();
    let seen = Mutex::new(std::collections::BTreeSet::new());
    let progress = |layer: &str, _: nm_umap::Stage, _: f32| {
        seen.lock().unwrap().insert(layer.to_string());
    };
    let layers = vec!["wide".to_string(), "small".to_string()];
    let out = embed_layers(&run, &layers, &params(), &progress, None);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].as_ref().unwrap().layer, "wide");
    assert_eq!(out[1].as_ref().unwrap().layer, "small");
    assert_eq!(seen.into_inner().unwrap().len(), 2);
    // Same result as one at a time (each layer is deterministic on its own).
    let alone = embed_layer(&run, "small", &params(), &Control::default()).unwrap();
    assert_eq!(alone.positions, out[1].as_ref().unwrap().positions);
    // A cancelled batch stops.
    let _ = std::fs::remove_dir_all(root.join(".neuromapper"));
    let stop = std::sync::atomic::AtomicBool::new(true);
    let out = embed_layers(&run, &layers, &params(), &|_, _, _| {}, Some(&stop));
    assert!(out.iter().all(|r| matches!(r, Err(PipelineError::Cancelled))));
}

#[test]
fn live_layer_extends_epoch_by_epoch_keeping_earlier_ones() {
    let kit = spec(150).epochs(&[0, 1]).write_temp("nm_pipeline_test_live");
    let run = kit.open();
    let mut live = LiveLayer::new("small", params());
    let a = live.update(&run, &Control::default()).unwrap();
    assert_eq!(a.epochs, [0, 1]);
    kit.write_epoch(2);
    let mut run = run;
    run.refresh().unwrap();
    let b = live.update(&run, &Control::default()).unwrap();
    assert_eq!(b.epochs, [0, 1, 2]);
    assert_eq!(&b.positions[..a.positions.len()], &a.positions[..], "earlier epochs stay where they were");
    assert!(neighbour_agreement(b.slice(2), run.labels()) > 0.95);
    // Nothing new: the same answer.
    assert_eq!(live.update(&run, &Control::default()).unwrap().positions, b.positions);
    // Training over: all epochs re-optimised together, still separating the classes.
    let r = live.refine(&run, &Control::default()).unwrap();
    assert_eq!(r.epochs, [0, 1, 2]);
    assert_ne!(r.positions, b.positions);
    assert!(neighbour_agreement(r.slice(2), run.labels()) > 0.95);
}

#[test]
fn align_rigidly_undoes_a_rotation_reflection_and_shift() {
    let n = 50;
    let reference = LayerEmbedding {
        layer: "l".into(),
        epochs: vec![1, 2],
        samples: (0..n as u32).collect(),
        positions: (0..2 * n * 2).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect(),
    };
    // Reflect x, rotate by 0.7 rad, shift: a rigid motion of every epoch at once.
    let (c, s) = (0.7f32.cos(), 0.7f32.sin());
    let mut moved = reference.clone();
    for p in moved.positions.chunks_mut(2) {
        let (x, y) = (-p[0], p[1]);
        p[0] = c * x - s * y + 12.0;
        p[1] = s * x + c * y - 3.0;
    }
    assert!(nm_pipeline::align_rigidly(&mut moved, &reference));
    for (a, b) in moved.positions.iter().zip(&reference.positions) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    // Different samples: nothing to match, nothing changed.
    let mut other = LayerEmbedding { samples: (1..=n as u32).collect(), ..reference.clone() };
    let before = other.positions.clone();
    assert!(!nm_pipeline::align_rigidly(&mut other, &reference));
    assert_eq!(other.positions, before);
}

#[test]
fn export_writes_npy_and_csv() {
    let kit = spec(60).epochs(&[0, 4]).write_temp("nm_pipeline_test_export");
    let root = kit.path();
    let run = kit.open();
    let p = EmbedParams { sampling: Sampling::PerClass(10), n_neighbors: 5, ..params() };
    let emb = embed_layer(&run, "small", &p, &Control::default()).unwrap();
    let npy = root.join("out.npy");
    let written = nm_pipeline::export::write(&run, &emb, &npy).unwrap();
    assert_eq!(written, [npy.clone(), root.join("out.samples.npy")]);
    let bytes = std::fs::read(&npy).unwrap();
    let text = String::from_utf8_lossy(&bytes[..128]);
    assert!(text.contains("'descr': '<f4'") && text.contains("'shape': (2, 30, 2)"), "{text}");
    assert_eq!(bytes.len(), 128 + 2 * 30 * 2 * 4);
    let csv = root.join("out.csv");
    nm_pipeline::export::write(&run, &emb, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,sample,label,class,predicted,x,y");
    assert_eq!(lines.len(), 1 + 2 * 30);
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[0], "0");
    assert_eq!(first[1], emb.samples[0].to_string());
    assert_eq!(first[2], run.labels()[emb.samples[0] as usize].to_string());
    let label = run.labels()[emb.samples[0] as usize] as usize;
    assert_eq!(first[3], run.classes()[label]);
    assert_eq!(first[4], "", "epoch 0 has no predictions");
    assert_eq!(first[5].parse::<f32>().unwrap(), emb.positions[0]);
    // Epoch 4's rows carry its predictions.
    let preds = run.predictions(4).unwrap().unwrap();
    for (r, line) in lines[31..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[4], preds[emb.samples[r] as usize].to_string(), "{line}");
    }
    assert!(lines[31].starts_with("4,"), "second epoch after the first: {}", lines[31]);
    assert!(nm_pipeline::export::write(&run, &emb, &root.join("out.txt")).is_err());
}
