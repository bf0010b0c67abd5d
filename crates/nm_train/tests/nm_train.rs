//! Integration tests of nm_train: the generator, the file readers, the config checks and a tiny
//! end-to-end training run read back with nm_run.

use std::path::Path;

use nm_testkit::TempDir;
use nm_train::readers::{load_cifar10, load_mnist, CIFAR10_RECORD};
use nm_train::shapes::{self, Split};
use nm_train::TrainError;
use nm_train::{captured_dim, Adversarial, Attack, Capture, DataSource, Scenario, Silent, TrainConfig};

/// A fresh empty folder for this test, removed when dropped (nm_testkit).
fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("nm_train_test_{name}"))
}

/// Asserts that `r` is an error whose message contains every one of `needles`.
fn check_err<T: std::fmt::Debug>(r: Result<T, TrainError>, needles: &[&str]) {
    let msg = format!("{}", r.expect_err("expected an error"));
    for n in needles {
        assert!(msg.contains(n), "error message {msg:?} should mention {n:?}");
    }
}

#[test]
fn shapes_are_deterministic_per_seed_and_split() {
    let a = shapes::generate(7, Split::Train, 40);
    let b = shapes::generate(7, Split::Train, 40);
    assert_eq!(a, b, "same seed and split must give the same images");
    let c = shapes::generate(8, Split::Train, 40);
    assert_ne!(a.pixels, c.pixels, "another seed must give other images");
    let d = shapes::generate(7, Split::Capture, 40);
    assert_ne!(a.pixels, d.pixels, "splits must not share images");
    // A prefix of a larger set is the smaller set: image i depends only on (seed, split, i).
    let e = shapes::generate(7, Split::Train, 20);
    assert_eq!(&a.pixels[..e.pixels.len()], &e.pixels[..]);
    assert_eq!((a.n, a.height, a.width, a.channels), (40, 32, 32, 3));
    assert_eq!(a.pixels.len(), 40 * 32 * 32 * 3);
    assert_eq!(a.classes.len(), 10);
    let mut counts = [0; 10];
    a.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [4; 10], "classes are balanced");
}

#[test]
fn shapes_images_are_not_flat() {
    // Every image has a visible shape: its pixels spread over a good part of the range.
    let d = shapes::generate(0, Split::Test, 50);
    for i in 0..d.n {
        let img = d.image(i);
        let (lo, hi) = img.iter().fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(hi - lo > 60, "image {i} is nearly flat ({lo}..{hi})");
    }
}

/// One CIFAR-10 record: label, then the planar R, G, B planes filled with r, g, b.
fn cifar_record(label: u8, r: u8, g: u8, b: u8) -> Vec<u8> {
    let mut rec = vec![label];
    for v in [r, g, b] {
        rec.extend(std::iter::repeat_n(v, 1024));
    }
    rec
}

#[test]
fn cifar10_reader_reads_tiny_files_and_interleaves_channels() {
    let dir = temp_dir("cifar");
    let sub = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&sub).unwrap();
    let train: Vec<u8> = [cifar_record(3, 10, 20, 30), cifar_record(9, 1, 2, 3)].concat();
    std::fs::write(sub.join("data_batch_1.bin"), &train).unwrap();
    std::fs::write(sub.join("data_batch_2.bin"), cifar_record(0, 5, 6, 7)).unwrap();
    std::fs::write(sub.join("test_batch.bin"), cifar_record(7, 100, 150, 200)).unwrap();
    let (tr, te) = load_cifar10(&dir).unwrap();
    assert_eq!((tr.n, tr.height, tr.width, tr.channels), (3, 32, 32, 3));
    assert_eq!(tr.labels, vec![3, 9, 0]);
    assert_eq!(&tr.image(0)[..6], &[10, 20, 30, 10, 20, 30], "HWC interleaved");
    assert_eq!(&tr.image(2)[..3], &[5, 6, 7]);
    assert_eq!(te.labels, vec![7]);
    assert_eq!(tr.classes[0], "airplane");
}

#[test]
fn cifar10_reader_rejects_garbled_and_missing_files() {
    let dir = temp_dir("cifar_bad");
    check_err(load_cifar10(&dir), &["data_batch_1.bin", "binary version"]);
    let mut truncated = cifar_record(1, 0, 0, 0);
    truncated.truncate(CIFAR10_RECORD - 10);
    std::fs::write(dir.join("data_batch_1.bin"), &truncated).unwrap();
    check_err(load_cifar10(&dir), &["test_batch.bin"]);
    std::fs::write(dir.join("test_batch.bin"), cifar_record(1, 0, 0, 0)).unwrap();
    check_err(load_cifar10(&dir), &["data_batch_1.bin", "3073-byte"]);
    std::fs::write(dir.join("data_batch_1.bin"), cifar_record(12, 0, 0, 0)).unwrap();
    check_err(load_cifar10(&dir), &["label 12", "0..=9"]);
}

fn idx_images(n: usize, rows: usize, cols: usize, fill: impl Fn(usize) -> u8) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        v.extend((d as u32).to_be_bytes());
    }
    v.extend((0..n * rows * cols).map(fill));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend((labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// Writes a tiny MNIST (`n_train` and `n_test` 28×28 images, labels cycling 0..9) into `dir`.
/// Class c's images are bright in a band of rows that depends on c, so they are learnable.
fn write_mnist(dir: &Path, n_train: usize, n_test: usize) {
    for (stem, n) in [("train", n_train), ("t10k", n_test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let img = idx_images(n, 28, 28, |p| {
            let (i, row) = (p / 784, (p % 784) / 28);
            if row / 3 == i % 10 {
                250
            } else {
                (p * 7 % 40) as u8
            }
        });
        std::fs::write(dir.join(format!("{stem}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{stem}-labels-idx1-ubyte")), idx_labels(&labels)).unwrap();
    }
}

#[test]
fn mnist_reader_reads_tiny_files() {
    let dir = temp_dir("mnist");
    write_mnist(&dir, 12, 5);
    let (tr, te) = load_mnist(&dir).unwrap();
    assert_eq!((tr.n, tr.height, tr.width, tr.channels), (12, 28, 28, 1));
    assert_eq!(te.n, 5);
    assert_eq!(tr.labels[11], 1);
    assert_eq!(tr.image(2)[2 * 3 * 28], 250, "class 2 is bright on row 6");
}

#[test]
fn mnist_reader_rejects_garbled_files() {
    let dir = temp_dir("mnist_bad");
    check_err(load_mnist(&dir), &["train-images-idx3-ubyte", "is missing"]);
    write_mnist(&dir, 4, 4);
    // Wrong magic (a label file where images belong).
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx_labels(&[1; 20])).unwrap();
    check_err(load_mnist(&dir), &["train-images-idx3-ubyte", "magic", "0x00000803"]);
    // gzip left compressed.
    std::fs::write(dir.join("train-images-idx3-ubyte"), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    check_err(load_mnist(&dir), &["gunzip"]);
    // Header promises more images than the file holds.
    let mut short = idx_images(4, 28, 28, |_| 0);
    short.truncate(short.len() - 100);
    std::fs::write(dir.join("train-images-idx3-ubyte"), short).unwrap();
    check_err(load_mnist(&dir), &["header says 4 images", "file has"]);
    // Labels disagree with images in count.
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx_images(4, 28, 28, |_| 0)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(&[1, 2, 3])).unwrap();
    check_err(load_mnist(&dir), &["3 labels", "4 images"]);
}

#[test]
fn config_check_rejects_each_bad_option() {
    let ok = TrainConfig::default();
    assert!(ok.check().is_ok());
    let cases: Vec<(TrainConfig, &str)> = vec![
        (TrainConfig { epochs: 0, ..ok.clone() }, "epochs"),
        (TrainConfig { capture_per_class: 0, ..ok.clone() }, "capture-per-class"),
        (TrainConfig { width: 0, ..ok.clone() }, "width"),
        (TrainConfig { blocks_per_stage: 0, ..ok.clone() }, "blocks-per-stage"),
        (TrainConfig { learning_rate: f64::NAN, ..ok.clone() }, "lr"),
        (TrainConfig { learning_rate: -1.0, ..ok.clone() }, "lr"),
        (TrainConfig { batch_size: 1, ..ok.clone() }, "batch-size"),
        (TrainConfig { train_size: Some(3), ..ok.clone() }, "train-size"),
        (TrainConfig { capture: Capture::Grid(0), ..ok.clone() }, "capture-grid"),
    ];
    for (c, name) in cases {
        check_err(c.check(), &[name]);
    }
    let under = TrainConfig { scenario: Scenario::Underfit, epochs: 9, ..ok.clone() }.check().unwrap();
    assert!(under.width < ok.width && under.epochs < 9);
    let over = TrainConfig { scenario: Scenario::Overfit, ..ok }.check().unwrap();
    assert!(over.train_size.unwrap() < 1000);
}

/// The tiny configuration the training tests use: quick on two cores.
fn tiny(epochs: u32) -> TrainConfig {
    TrainConfig {
        data: DataSource::Shapes,
        train_size: Some(2000),
        epochs,
        capture_per_class: 20,
        width: 8,
        blocks_per_stage: 1,
        learning_rate: 0.003,
        batch_size: 32,
        seed: 1,
        capture: Capture::Grid(2),
        scenario: Scenario::Normal,
        name: None,
        adversarial: None,
    }
}

#[test]
fn training_on_shapes_learns_and_writes_a_readable_run() {
    let tmp = temp_dir("run");
    let out = tmp.join("run");
    let config = tiny(3);
    let summary = nm_train::train(&config, &out, &mut Silent).unwrap();
    let acc: Vec<f32> = summary.metrics.iter().map(|m| m.test_accuracy.unwrap()).collect();
    eprintln!("test accuracy by epoch: {acc:?}");
    assert_eq!(acc.len(), 4, "epochs 0..=3");
    // Chance is 10%; the untrained net sits near it and three epochs lift it far above.
    assert!(acc[0] < 0.3, "untrained accuracy {} should be near chance", acc[0]);
    assert!(acc[3] >= 0.3, "after 3 epochs test accuracy {} should be far above chance (0.1)", acc[3]);
    let train_acc = summary.metrics[3].train_accuracy.unwrap();
    assert!(train_acc >= 0.25, "train accuracy {train_acc}");

    let run = nm_run::Run::open(&out).unwrap();
    assert_eq!(run.n_samples(), 200);
    assert_eq!(run.epochs(), &[0, 1, 2, 3]);
    assert_eq!(run.classes().len(), 10);
    let mut counts = [0; 10];
    run.labels().iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [20; 10]);
    // Stages of width 8: 8, 16, 32, 64 channels on 32², 16², 8², 4² grids, pooled to 2×2.
    let expected: Vec<(String, usize)> = [(8, 32), (16, 16), (32, 8), (64, 4)]
        .iter()
        .enumerate()
        .map(|(k, &(c, s))| (format!("stage{}", k + 1), captured_dim(Capture::Grid(2), c, s, s)))
        .collect();
    let got: Vec<(String, usize)> = run.layers().iter().map(|l| (l.name.clone(), l.dim)).collect();
    assert_eq!(got, expected);
    for l in &expected {
        let (d, data) = run.read_layer(&l.0, 3).unwrap();
        assert_eq!(d, l.1);
        assert_eq!(data.len(), 200 * d);
        assert!(data.iter().any(|&v| v != 0.0), "{} holds activations", l.0);
    }
    let preds = run.predictions(3).unwrap().expect("predictions are written");
    assert_eq!(preds.len(), 200);
    let agree = preds.iter().zip(run.labels()).filter(|(p, l)| p == l).count() as f32 / 200.0;
    assert!((agree - acc[3]).abs() < 1e-6, "predictions agree with the reported accuracy");
    let inputs = run.inputs().unwrap().expect("inputs.npy is written");
    assert_eq!((inputs.n, inputs.height, inputs.width, inputs.channels), (200, 32, 32, 3));
    let metrics = run.metrics().unwrap();
    assert_eq!(metrics.len(), 4);
    assert!(metrics[0].train_accuracy.is_none() && metrics[3].loss.is_some());
}

#[test]
fn training_on_mnist_files_captures_odd_sized_stages() {
    let dir = temp_dir("mnist_train");
    write_mnist(&dir, 60, 30);
    let out = dir.join("run");
    let config = TrainConfig {
        data: DataSource::Mnist(dir.to_path_buf()),
        capture_per_class: 2,
        capture: Capture::Full,
        epochs: 1,
        width: 2,
        batch_size: 16,
        ..TrainConfig::default()
    };
    nm_train::train(&config, &out, &mut Silent).unwrap();
    let run = nm_run::Run::open(&out).unwrap();
    assert_eq!(run.n_samples(), 20);
    // 28 → 14 → 7 → 4 (stride-2 convs round up).
    let dims: Vec<usize> = run.layers().iter().map(|l| l.dim).collect();
    assert_eq!(dims, vec![2 * 28 * 28, 4 * 14 * 14, 8 * 7 * 7, 16 * 4 * 4]);
    let inputs = run.inputs().unwrap().unwrap();
    assert_eq!((inputs.height, inputs.width, inputs.channels), (28, 28, 1));
}

/// A tiny run with `k` FGSM twins per class at `eps`: 1 epoch on 800 images, 10 capture images per class.
fn adversarial_run(out: &Path, k: usize, eps: f32) -> nm_train::TrainSummary {
    let config = TrainConfig {
        train_size: Some(800),
        epochs: 1,
        capture_per_class: 10,
        adversarial: Some(Adversarial { per_class: k, attack: Attack::Fgsm, eps }),
        ..tiny(1)
    };
    nm_train::train(&config, out, &mut Silent).unwrap()
}

#[test]
fn adversarial_twins_are_linked_rows_and_a_larger_eps_succeeds_more_often() {
    let tmp = temp_dir("adversarial");
    let strong = adversarial_run(&tmp.join("strong"), 5, 16.0 / 255.0);
    let weak = adversarial_run(&tmp.join("weak"), 5, 1.0 / 255.0);

    let run = nm_run::Run::open(&tmp.join("strong")).unwrap();
    // 100 clean capture images, then 5 twins per class.
    assert_eq!(run.n_samples(), 150);
    let twins = run.twins().expect("twins.npy is written");
    assert!(twins[..100].iter().all(Option::is_none));
    for (t, link) in twins[100..].iter().enumerate() {
        let clean = link.expect("every row after the capture set is a twin") as usize;
        assert!(clean < 100 && run.labels()[clean] == run.labels()[100 + t]);
    }
    let per_class = twins[100..].iter().fold([0; 10], |mut c, l| {
        c[run.labels()[l.unwrap() as usize] as usize] += 1;
        c
    });
    assert_eq!(per_class, [5; 10]);
    let attack = run.manifest().adversarial.clone().unwrap();
    assert_eq!((attack.attack.as_deref(), attack.steps), (Some("fgsm"), Some(1)));
    // Twins have their own activations: not their clean images' rows.
    let (d, stage4) = run.read_layer("stage4", 1).unwrap();
    let c = twins[100].unwrap() as usize;
    assert_ne!(&stage4[100 * d..101 * d], &stage4[c * d..(c + 1) * d]);
    // The clean accuracy counts the capture set only.
    let preds = run.predictions(1).unwrap().unwrap();
    let clean_acc = preds[..100].iter().zip(run.labels()).filter(|(p, l)| p == l).count() as f32 / 100.0;
    assert!((clean_acc - strong.metrics[1].test_accuracy.unwrap()).abs() < 1e-6);

    let rate = |s: &nm_train::TrainSummary| s.metrics[1].adv_success.expect("adv_success at epoch 1");
    eprintln!("adv_success at epoch 1: eps 16/255 {}, eps 1/255 {}", rate(&strong), rate(&weak));
    assert!(strong.metrics.iter().all(|m| m.adv_success.is_none_or(|r| (0.0..=1.0).contains(&r))));
    assert!(rate(&strong) > rate(&weak) + 0.2, "16/255 should flip far more than 1/255");
    assert_eq!(run.metrics().unwrap()[1].adv_success, strong.metrics[1].adv_success, "adv_success is in metrics.json");
}
