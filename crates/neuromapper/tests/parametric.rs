//! `embed --parametric`, `export --parametric` and `transform` on a small image run: the
//! parametric view keeps the non-parametric one's trustworthiness, `transform` of a slice's own
//! activations lands where the slice was embedded, and bad input gets a clear error.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nm_run::{LayerReader, Manifest, RunWriter};
use nm_testkit::TempDir;
use nm_train::shapes::{self, Split};
use nm_umap::{trustworthiness, Matrix};

const N: usize = 200;
const EPOCHS: [u32; 3] = [0, 1, 2];
/// The images downsampled 2×2 to 16×16×3.
const D: usize = 16 * 16 * 3;

/// 200 images of the shapes set (20 per class), each layer's rows the 16×16 RGB image; at epoch e
/// the image is sharpened towards its class's mean image by 0.15·e (a network learning), with a
/// little seeded noise. Returns the activations per epoch.
fn make_run(root: &Path) -> Vec<Vec<f32>> {
    let data = shapes::generate(5, Split::Capture, N);
    let mut pixels = vec![0f32; N * D];
    for i in 0..N {
        let img = data.image(i);
        for y in 0..16 {
            for x in 0..16 {
                for c in 0..3 {
                    let at = |yy: usize, xx: usize| img[(yy * 32 + xx) * 3 + c] as f32 / 255.0;
                    let v = at(2 * y, 2 * x) + at(2 * y + 1, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x + 1);
                    pixels[i * D + (y * 16 + x) * 3 + c] = v / 4.0;
                }
            }
        }
    }
    let mut class_mean = vec![0f32; 10 * D];
    for i in 0..N {
        let l = data.labels[i] as usize;
        for t in 0..D {
            class_mean[l * D + t] += pixels[i * D + t] / (N / 10) as f32;
        }
    }
    let classes: Vec<String> = shapes::CLASSES.iter().map(std::string::ToString::to_string).collect();
    let manifest = Manifest::new(Some(classes), Some(vec!["pixels".into()]));
    let writer = RunWriter::create(root, &manifest, &data.labels, None).unwrap();
    let mut all = Vec::new();
    for &e in &EPOCHS {
        let pull = 0.15 * e as f32;
        let mut state = 0x9E37_79B9_u64 + e as u64;
        let act: Vec<f32> = (0..N * D)
            .map(|k| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let noise = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.05;
                let l = data.labels[k / D] as usize;
                (1.0 - pull) * pixels[k] + pull * class_mean[l * D + k % D] + noise
            })
            .collect();
        writer.write_epoch(e, &[("pixels", D, &act)], None).unwrap();
        all.push(act);
    }
    writer.finish(&EPOCHS).unwrap();
    all
}

fn neuromapper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neuromapper")).args(args).output().expect("the binary runs")
}

fn check(args: &[&str], code: i32) -> (String, String) {
    let out = neuromapper(args);
    let (so, se) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(code), "neuromapper {args:?}\nstdout:\n{so}\nstderr:\n{se}");
    (so, se)
}

fn read_npy(path: &Path) -> Vec<f32> {
    LayerReader::open_npy(path).unwrap().read_all().unwrap()
}

fn rms_radius(y: &[f32]) -> f32 {
    let n = y.len() / 2;
    let (mx, my) = (y.iter().step_by(2).sum::<f32>() / n as f32, y.iter().skip(1).step_by(2).sum::<f32>() / n as f32);
    (y.chunks(2).map(|p| (p[0] - mx).powi(2) + (p[1] - my).powi(2)).sum::<f32>() / n as f32).sqrt()
}

#[test]
fn parametric_views_keep_their_quality_and_transform_places_points_where_they_were_embedded() {
    let tmp = TempDir::new("neuromapper_parametric");
    let root: PathBuf = tmp.join("run");
    let acts = make_run(&root);
    let r = root.to_str().unwrap();
    let (out, _) = check(&["embed", r, "--parametric"], 0);
    assert!(out.contains("3 epochs × 200 samples  parametric"), "{out}");
    let (out, _) = check(&["embed", r, "--parametric"], 0);
    assert!(out.contains("cached"), "the second time from the cache:\n{out}");

    let param = tmp.join("param.npy");
    let plain = tmp.join("plain.npy");
    let (out, _) = check(&["export", r, "--layer", "pixels", "--parametric", "--out", param.to_str().unwrap()], 0);
    assert!(out.contains("from the cache"), "{out}");
    check(&["export", r, "--layer", "pixels", "--out", plain.to_str().unwrap()], 0);
    let (param, plain) = (read_npy(&param), read_npy(&plain));
    assert_eq!((param.len(), plain.len()), (EPOCHS.len() * N * 2, EPOCHS.len() * N * 2));
    for (k, act) in acts.iter().enumerate() {
        let x = Matrix::new(N, D, act.clone()).unwrap();
        let slice = |v: &[f32]| Matrix::new(N, 2, v[k * N * 2..(k + 1) * N * 2].to_vec()).unwrap();
        let (tp, tn) = (trustworthiness(&x, &slice(&param), 15), trustworthiness(&x, &slice(&plain), 15));
        eprintln!("epoch {k}: trustworthiness@15 parametric {tp:.4}, non-parametric {tn:.4}");
        assert!(tp > tn - 0.03, "epoch {k}: trustworthiness@15 parametric {tp:.4} vs non-parametric {tn:.4}");

        // The slice's own activations, placed by `transform`, land on its embedded positions.
        let xin = tmp.join(format!("x{k}.npy"));
        let yout = tmp.join(format!("y{k}.npy"));
        nm_run::npy::write(&xin, &[N, D], act).unwrap();
        let e = EPOCHS[k].to_string();
        let args = ["transform", r, "--layer", "pixels", "--epoch", &e, "--in", xin.to_str().unwrap()];
        let (out, _) = check(&[&args[..], &["--out", yout.to_str().unwrap()]].concat(), 0);
        assert!(out.contains("200 points"), "{out}");
        let placed = read_npy(&yout);
        let own = &param[k * N * 2..(k + 1) * N * 2];
        let err = (placed.iter().zip(own).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / N as f32).sqrt();
        let radius = rms_radius(own);
        eprintln!("epoch {k}: transform RMS error {:.4} radii", err / radius);
        assert!(err < 0.05 * radius, "epoch {k}: transform is {err} from the embedded positions (radius {radius})");
    }
}

#[test]
fn transform_refuses_bad_input_with_clear_errors() {
    let tmp = TempDir::new("neuromapper_parametric_errors");
    let root: PathBuf = tmp.join("run");
    let acts = make_run(&root);
    let r = root.to_str().unwrap();
    let xin = tmp.join("x.npy");
    nm_run::npy::write(&xin, &[N, D], &acts[0]).unwrap();
    let out = tmp.join("y.npy");
    let (x, y) = (xin.to_str().unwrap(), out.to_str().unwrap());
    let base = ["transform", r, "--layer", "pixels", "--epoch", "0"];
    let run_cmd = |extra: &[&str]| check(&[&base[..], extra].concat(), 1).1;

    // Nothing cached yet: the error says which command makes it.
    let err = run_cmd(&["--in", x, "--out", y]);
    assert!(err.contains("no parametric embedding") && err.contains("--parametric --layers pixels"), "{err}");

    // Train with few samples (fast), then ask with other parameters, a wrong D, a folder, an unknown epoch or layer.
    check(&["embed", r, "--parametric", "--samples", "60", "--n-neighbors", "8"], 0);
    let few = ["--samples", "60", "--n-neighbors", "8"];
    let err = run_cmd(&["--in", x, "--out", y, "--samples", "60"]);
    assert!(err.contains("no parametric embedding") && err.contains("n_neighbors=15"), "{err}");
    let narrow = tmp.join("narrow.npy");
    nm_run::npy::write(&narrow, &[4, 10], &[0f32; 40]).unwrap();
    let err = run_cmd(&[&["--in", narrow.to_str().unwrap(), "--out", y][..], &few].concat());
    assert!(err.contains("rows of 10 values") && err.contains(&format!("D = {D}")), "{err}");
    let err = run_cmd(&[&["--in", tmp.to_str().unwrap(), "--out", y][..], &few].concat());
    assert!(err.contains("not a regular file"), "{err}");
    let err =
        check(&[&["transform", r, "--layer", "pixels", "--epoch", "9", "--in", x, "--out", y][..], &few].concat(), 1).1;
    assert!(err.contains("no epoch 9") && err.contains("0, 1, 2"), "{err}");
    let err =
        check(&[&["transform", r, "--layer", "nope", "--epoch", "0", "--in", x, "--out", y][..], &few].concat(), 1).1;
    assert!(err.contains("unknown layer"), "{err}");
    let inside = root.join("y.npy");
    let err = run_cmd(&[&["--in", x, "--out", inside.to_str().unwrap()][..], &few].concat());
    assert!(err.contains("inside the run"), "{err}");
    assert!(!out.exists(), "no output written on an error");
    // And with the right input: [N, 2].
    run_cmd_ok(&[&base[..], &["--in", x, "--out", y][..], &few].concat());
    assert_eq!(read_npy(&out).len(), N * 2);
}

fn run_cmd_ok(args: &[&str]) {
    check(args, 0);
}
