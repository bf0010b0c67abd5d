//! Reading, validating and writing runs. Every .npy and .safetensors file here is built byte by
//! byte from its header (no numpy), so each dtype, order, endianness and version is pinned down;
//! one test writes a run with real numpy (python3) to check against the reference writer.

use std::path::Path;

use nm_run::{EpochMetrics, Inputs, Manifest, Run, RunError, RunWriter};
use nm_testkit::TempDir;

/// A fresh, empty folder for one test, removed when dropped (nm_testkit).
fn scratch(name: &str) -> TempDir {
    TempDir::new(&format!("nm_run_test_{name}"))
}

/// An .npy file from its parts: version, dtype string, order, shape and raw data bytes.
fn npy(version: (u8, u8), descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(std::string::ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    // A structured dtype's descr is a list, written unquoted.
    let descr = if descr.starts_with('[') { descr.to_string() } else { format!("'{descr}'") };
    let mut dict = format!("{{'descr': {descr}, 'fortran_order': {order}, 'shape': {dims}, }}");
    let len_bytes = if version.0 == 1 { 2 } else { 4 };
    while (8 + len_bytes + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version.0, version.1]);
    if version.0 == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Encodes values with a numpy float or int type string (`<f2`, `>f8`, `|i1`, `>u4`, ...).
fn encode(descr: &str, values: &[f64]) -> Vec<u8> {
    let big = descr.starts_with('>');
    let mut out = Vec::new();
    for &v in values {
        let mut b: Vec<u8> = match &descr[1..] {
            "f2" => half::f16::from_f64(v).to_le_bytes().to_vec(),
            "f4" => (v as f32).to_le_bytes().to_vec(),
            "f8" => v.to_le_bytes().to_vec(),
            "i1" => (v as i8).to_le_bytes().to_vec(),
            "u1" => (v as u8).to_le_bytes().to_vec(),
            "i2" => (v as i16).to_le_bytes().to_vec(),
            "u2" => (v as u16).to_le_bytes().to_vec(),
            "i4" => (v as i32).to_le_bytes().to_vec(),
            "u4" => (v as u32).to_le_bytes().to_vec(),
            "i8" => (v as i64).to_le_bytes().to_vec(),
            "u8" => (v as u64).to_le_bytes().to_vec(),
            other => panic!("test helper: no encoder for {other}"),
        };
        if big {
            b.reverse();
        }
        out.extend(b);
    }
    out
}

/// Row-major [rows, cols] values as stored in Fortran (column-major) order.
fn to_fortran(values: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols).flat_map(|j| (0..rows).map(move |i| values[i * cols + j])).collect()
}

/// Test activations: sample i, column j -> i + j/4 (exact in float16).
fn activations(n: usize, d: usize) -> Vec<f64> {
    (0..n * d).map(|k| (k / d) as f64 + (k % d) as f64 / 4.0).collect()
}

const N: usize = 6;
const D: usize = 3;

/// A valid run with two classes, N samples, layers `a` [N, D] and `b` [N, 2, 2], epochs 0 and 1.
fn write_run(root: &Path) {
    write(root, "neuromapper.json", br#"{"format": "neuromapper-run/1", "classes": ["cat", "dog"]}"#);
    write(root, "labels.npy", &npy((1, 0), "<i8", false, &[N], &encode("<i8", &[0., 1., 0., 1., 1., 1.])));
    for e in ["0", "1"] {
        write(
            root,
            &format!("epochs/{e}/a.npy"),
            &npy((1, 0), "<f4", false, &[N, D], &encode("<f4", &activations(N, D))),
        );
        write(
            root,
            &format!("epochs/{e}/b.npy"),
            &npy((1, 0), "<f4", false, &[N, 2, 2], &encode("<f4", &activations(N, 4))),
        );
    }
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Opening must fail with a message naming `file` and containing every one of `needles`.
fn check_open_error(root: &Path, file: &str, needles: &[&str]) {
    match Run::open(root) {
        Ok(_) => panic!("expected an error mentioning {needles:?}"),
        Err(e) => check_error(e, file, needles),
    }
}

fn check_error(e: RunError, file: &str, needles: &[&str]) {
    let msg = e.to_string();
    assert!(msg.contains(file), "error should name {file}: {msg}");
    for n in needles {
        assert!(msg.contains(n), "error should contain `{n}`: {msg}");
    }
}

#[test]
fn valid_run_opens_with_layers_classes_and_epochs() {
    let root = scratch("valid");
    write_run(&root);
    let run = Run::open(&root).unwrap();
    assert_eq!(run.n_samples(), N);
    assert_eq!(run.classes(), ["cat", "dog"]);
    assert_eq!(run.labels(), [0, 1, 0, 1, 1, 1]);
    assert_eq!(run.class_counts(), [2, 4]);
    let layers: Vec<(String, usize)> = run.layers().iter().map(|l| (l.name.clone(), l.dim)).collect();
    assert_eq!(layers, [("a".to_string(), D), ("b".to_string(), 4)]);
    assert_eq!(run.epochs(), [0, 1]);
    assert!(run.name().starts_with("nm_run_test_"), "name defaults to the folder: {}", run.name());
    let (d, x) = run.read_layer("a", 1).unwrap();
    assert_eq!(d, D);
    assert_eq!(x, activations(N, D).iter().map(|&v| v as f32).collect::<Vec<_>>());
    assert!(run.predictions(0).unwrap().is_none());
    assert!(run.inputs().unwrap().is_none());
    assert!(run.metrics().unwrap().is_empty());
}

/// metrics.json from other writers: `train_loss` stands for `loss`, both may be there (then `loss`
/// wins), and keys we do not know are kept out of the way; the finished marker is seen.
#[test]
fn metrics_accept_train_loss_and_other_keys_and_the_finished_marker_is_seen() {
    let root = scratch("metrics-keys");
    write_run(&root);
    write(
        &root,
        "metrics.json",
        br#"[{"epoch": 1, "train_loss": 0.5, "probe_accuracy": 0.9},
             {"epoch": 0, "loss": 2.0, "train_loss": 2.5, "test_accuracy": 0.1}]"#,
    );
    let run = Run::open(&root).unwrap();
    let m = run.metrics().unwrap();
    assert_eq!((m[0].epoch, m[0].loss, m[0].test_accuracy), (0, Some(2.0), Some(0.1)));
    assert_eq!((m[1].epoch, m[1].loss, m[1].test_accuracy), (1, Some(0.5), None));
    assert!(!run.is_finished());
    write(&root, "finished.json", b"");
    assert!(run.is_finished(), "an empty marker counts");
}

#[test]
fn every_npy_version_dtype_order_and_endianness_reads_the_same() {
    let expected: Vec<f32> = activations(N, D).iter().map(|&v| v as f32).collect();
    let mut count = 0;
    for version in [(1, 0), (2, 0), (3, 0)] {
        for descr in ["<f2", ">f2", "<f4", ">f4", "<f8", ">f8"] {
            for fortran in [false, true] {
                let root = scratch("variants");
                write_run(&root);
                let vals = if fortran { to_fortran(&activations(N, D), N, D) } else { activations(N, D) };
                let file = npy(version, descr, fortran, &[N, D], &encode(descr, &vals));
                write(&root, "epochs/0/a.npy", &file);
                let run = Run::open(&root).unwrap_or_else(|e| panic!("{version:?} {descr} fortran={fortran}: {e}"));
                let (d, x) = run.read_layer("a", 0).unwrap();
                assert_eq!((d, &x), (D, &expected), "{version:?} {descr} fortran={fortran}");
                count += 1;
            }
        }
    }
    assert_eq!(count, 36);
}

#[test]
fn fortran_order_3d_layer_is_flattened_in_c_order() {
    // [N, 2, 3] in Fortran order: element (i, j, k) is stored at i + N*j + 2N*k.
    let root = scratch("fortran3d");
    write_run(&root);
    let value = |i: usize, j: usize, k: usize| (i * 100 + j * 10 + k) as f64;
    let mut storage = vec![0f64; N * 6];
    for i in 0..N {
        for j in 0..2 {
            for k in 0..3 {
                storage[i + N * j + 2 * N * k] = value(i, j, k);
            }
        }
    }
    for e in ["0", "1"] {
        write(&root, &format!("epochs/{e}/b.npy"), &npy((1, 0), "<f8", true, &[N, 2, 3], &encode("<f8", &storage)));
    }
    let run = Run::open(&root).unwrap();
    let (d, x) = run.read_layer("b", 0).unwrap();
    assert_eq!(d, 6);
    for i in 0..N {
        let row: Vec<f32> = (0..2).flat_map(|j| (0..3).map(move |k| value(i, j, k) as f32)).collect();
        assert_eq!(&x[i * 6..(i + 1) * 6], &row[..], "row {i}");
    }
    // Row blocks and scattered rows agree with the whole read.
    let mut r = run.layer_reader("b", 0).unwrap();
    let mut block = vec![0f32; 2 * 6];
    r.read_rows(3, 2, &mut block).unwrap();
    assert_eq!(&block[..], &x[18..30]);
    let mut picked = vec![0f32; 3 * 6];
    r.read_indexed(&[0, 4, 5], &mut picked).unwrap();
    assert_eq!(&picked[..6], &x[..6]);
    assert_eq!(&picked[6..], &x[24..36]);
}

#[test]
fn labels_may_be_any_integer_dtype() {
    for descr in ["|i1", "|u1", "<i2", ">i2", "<u2", "<i4", ">i4", "<u4", ">u4", "<i8", ">i8", "<u8", ">u8"] {
        let root = scratch("labels");
        write_run(&root);
        let labels = [1., 0., 1., 1., 0., 0.];
        write(&root, "labels.npy", &npy((1, 0), descr, false, &[N], &encode(descr, &labels)));
        let run = Run::open(&root).unwrap_or_else(|e| panic!("{descr}: {e}"));
        assert_eq!(run.labels(), [1, 0, 1, 1, 0, 0], "{descr}");
    }
}

#[test]
fn classes_default_to_label_ids_and_layers_to_sorted_files() {
    let root = scratch("defaults");
    write_run(&root);
    write(&root, "neuromapper.json", br#"{"format": "neuromapper-run/1", "name": "r"}"#);
    let run = Run::open(&root).unwrap();
    assert_eq!(run.classes(), ["0", "1"]);
    assert_eq!(run.name(), "r");
    // The manifest's layer order wins over sorting, and selects layers.
    write(&root, "neuromapper.json", br#"{"format": "neuromapper-run/1", "layers": ["b", "a"]}"#);
    let run = Run::open(&root).unwrap();
    assert_eq!(run.layers().iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["b", "a"]);
}

/// A safetensors file from (name, dtype, shape, raw bytes) tensors.
fn safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (k, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let (b, e) = (data.len(), data.len() + bytes.len());
        data.extend_from_slice(bytes);
        if k > 0 {
            header.push(',');
        }
        header.push_str(&format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{b},{e}]}}"#));
    }
    header.push('}');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

#[test]
fn safetensors_epochs_read_like_npy_folders() {
    let root = scratch("safetensors");
    write_run(&root);
    std::fs::remove_dir_all(root.join("epochs/1")).unwrap();
    let a = activations(N, D);
    let b = activations(N, 4);
    let bf16: Vec<u8> = b.iter().flat_map(|&v| half::bf16::from_f64(v).to_le_bytes()).collect();
    let logits: Vec<f64> = (0..N).flat_map(|i| [i as f64 % 2.0, 1.0 - i as f64 % 2.0]).collect();
    let file = safetensors(&[
        ("a", "F16", vec![N, D], encode("<f2", &a)),
        ("b", "BF16", vec![N, 2, 2], bf16),
        ("predictions", "F32", vec![N, 2], encode("<f4", &logits)),
    ]);
    write(&root, "epochs/0002.safetensors", &file);
    let run = Run::open(&root).unwrap();
    assert_eq!(run.epochs(), [0, 2]);
    assert_eq!(run.epoch_storage(2), Some(nm_run::EpochStorage::Safetensors));
    assert_eq!(run.read_layer("a", 2).unwrap().1, run.read_layer("a", 0).unwrap().1);
    assert_eq!(run.read_layer("b", 2).unwrap().1, run.read_layer("b", 0).unwrap().1);
    assert_eq!(run.predictions(2).unwrap().unwrap(), [1, 0, 1, 0, 1, 0]);

    // Integer predictions in an .npy folder.
    write(
        &root,
        "epochs/0/predictions.npy",
        &npy((1, 0), "<i8", false, &[N], &encode("<i8", &[1., 1., 0., 0., 1., 0.])),
    );
    let run = Run::open(&root).unwrap();
    assert_eq!(run.predictions(0).unwrap().unwrap(), [1, 1, 0, 0, 1, 0]);
}

#[test]
fn inputs_are_validated_and_read() {
    let root = scratch("inputs");
    write_run(&root);
    let pixels: Vec<f64> = (0..N * 2 * 3 * 3).map(|k| (k % 251) as f64).collect();
    write(&root, "inputs.npy", &npy((1, 0), "|u1", false, &[N, 2, 3, 3], &encode("|u1", &pixels)));
    let run = Run::open(&root).unwrap();
    let i = run.inputs().unwrap().unwrap();
    assert_eq!((i.n, i.height, i.width, i.channels), (N, 2, 3, 3));
    assert_eq!(i.data[..5], [0, 1, 2, 3, 4]);
    write(&root, "inputs.npy", &npy((1, 0), "|u1", false, &[N, 2, 3, 2], &encode("|u1", &pixels[..N * 12])));
    check_open_error(&root, "inputs.npy", &["C = 1 or 3", "[6, 2, 3, 2]"]);
}

#[test]
fn missing_manifest_is_an_error() {
    let root = scratch("no_manifest");
    write_run(&root);
    std::fs::remove_file(root.join("neuromapper.json")).unwrap();
    check_open_error(&root, "neuromapper.json", &["not found", "neuromapper-run/1"]);
    let err = Run::open(&root.join("nothing_here")).err().unwrap();
    assert!(err.to_string().contains("not a folder"), "{err}");
}

#[test]
fn unknown_format_is_an_error() {
    let root = scratch("format");
    write_run(&root);
    write(&root, "neuromapper.json", br#"{"format": "neuromapper-run/7"}"#);
    check_open_error(&root, "neuromapper.json", &["unknown format", "neuromapper-run/7", "neuromapper-run/1"]);
    write(&root, "neuromapper.json", br#"{"name": "x"}"#);
    check_open_error(&root, "neuromapper.json", &["format"]);
    write(&root, "neuromapper.json", b"{ not json");
    check_open_error(&root, "neuromapper.json", &["not a valid manifest"]);
}

#[test]
fn labels_length_must_match_the_activations() {
    let root = scratch("labels_len");
    write_run(&root);
    write(&root, "labels.npy", &npy((1, 0), "<i8", false, &[N - 1], &encode("<i8", &[0.; N - 1])));
    check_open_error(&root, "epochs/0/a.npy", &["expected 5 rows", "labels.npy has 5 labels", "[6, 3]"]);
}

#[test]
fn a_layer_missing_in_one_epoch_is_an_error() {
    let root = scratch("missing_layer");
    write_run(&root);
    std::fs::remove_file(root.join("epochs/1/b.npy")).unwrap();
    check_open_error(&root, "epochs/1/b.npy", &["layer `b` is missing in epoch 1", "that epoch has: a"]);
}

#[test]
fn d_changing_across_epochs_is_an_error() {
    let root = scratch("d_change");
    write_run(&root);
    write(&root, "epochs/1/a.npy", &npy((1, 0), "<f4", false, &[N, 4], &encode("<f4", &activations(N, 4))));
    check_open_error(&root, "epochs/1/a.npy", &["D = 4", "D = 3", "epochs/0/a.npy"]);
}

#[test]
fn non_numeric_dtypes_are_errors() {
    // Each file holds exactly the bytes its shape needs (a length that disagrees is its own error).
    for (descr, size) in [("<U10", 40), ("|O", 8), ("<c8", 8), ("|b1", 1), ("<i4", 4)] {
        let root = scratch("dtype");
        write_run(&root);
        write(&root, "epochs/0/a.npy", &npy((1, 0), descr, false, &[N, D], &vec![0u8; N * D * size]));
        check_open_error(&root, "epochs/0/a.npy", &["float16, float32 or float64", "found"]);
    }
    let root = scratch("dtype_struct");
    write_run(&root);
    let f = npy((1, 0), "[('x', '<f4')]", false, &[N, D], &encode("<f4", &activations(N, D)));
    write(&root, "epochs/0/a.npy", &f);
    check_open_error(&root, "epochs/0/a.npy", &["structured dtype"]);
    // Labels must be integers.
    let root = scratch("dtype_labels");
    write_run(&root);
    write(&root, "labels.npy", &npy((1, 0), "<f4", false, &[N], &encode("<f4", &[0.; N])));
    check_open_error(&root, "labels.npy", &["labels must be integers", "float32"]);
}

#[test]
fn nan_and_inf_are_counted_with_the_first_row() {
    let root = scratch("nan");
    write_run(&root);
    let mut v = activations(N, D);
    v[2 * D + 1] = f64::NAN;
    v[4 * D] = f64::INFINITY;
    v[5 * D + 2] = f64::NEG_INFINITY;
    write(&root, "epochs/1/a.npy", &npy((1, 0), "<f8", false, &[N, D], &encode("<f8", &v)));
    let run = Run::open(&root).expect("NaN is checked when data is read, not at open");
    let err = run.read_layer("a", 1).err().unwrap();
    check_error(err, "epochs/1/a.npy", &["3 values are NaN or infinite", "first in row 2"]);
    // A block without NaN reads fine; one with NaN fails with the whole count.
    let mut r = run.layer_reader("a", 1).unwrap();
    let mut buf = vec![0f32; 2 * D];
    r.read_rows(0, 2, &mut buf).unwrap();
    check_error(r.read_rows(4, 2, &mut buf).err().unwrap(), "a.npy", &["3 values", "first in row 2"]);
}

#[test]
fn truncated_and_garbled_files_are_errors() {
    let root = scratch("truncated");
    write_run(&root);
    let full = npy((1, 0), "<f4", false, &[N, D], &encode("<f4", &activations(N, D)));
    write(&root, "epochs/1/a.npy", &full[..full.len() - 5]);
    check_open_error(&root, "epochs/1/a.npy", &["truncated", "needs 72 bytes", "only 67"]);
    write(&root, "epochs/1/a.npy", &full[..20]);
    check_open_error(&root, "epochs/1/a.npy", &["truncated"]);
    write(&root, "epochs/1/a.npy", b"PK\x03\x04 this is a zip, not an npy");
    check_open_error(&root, "epochs/1/a.npy", &["not a numpy .npy file"]);
    write(&root, "epochs/1/a.npy", &[]);
    check_open_error(&root, "epochs/1/a.npy", &["not a numpy .npy file"]);
    let mut bad = full.clone();
    bad[10] = b'#';
    write(&root, "epochs/1/a.npy", &bad);
    check_open_error(&root, "epochs/1/a.npy", &["garbled .npy header"]);
    let mut v9 = full.clone();
    v9[6] = 9;
    write(&root, "epochs/1/a.npy", &v9);
    check_open_error(&root, "epochs/1/a.npy", &["unsupported .npy version 9.0"]);

    // Safetensors: truncated data, garbled header.
    let root = scratch("truncated_st");
    write_run(&root);
    std::fs::remove_dir_all(root.join("epochs/1")).unwrap();
    let st = safetensors(&[
        ("a", "F32", vec![N, D], encode("<f4", &activations(N, D))),
        ("b", "F32", vec![N, 4], encode("<f4", &activations(N, 4))),
    ]);
    write(&root, "epochs/1.safetensors", &st[..st.len() - 4]);
    check_open_error(&root, "epochs/1.safetensors", &["truncated"]);
    write(&root, "epochs/1.safetensors", &st[..6]);
    check_open_error(&root, "epochs/1.safetensors", &["truncated"]);
    let mut g = st.clone();
    g[9] = b'!';
    write(&root, "epochs/1.safetensors", &g);
    check_open_error(&root, "epochs/1.safetensors", &["garbled .safetensors header"]);
}

#[test]
fn non_numeric_epoch_names_are_errors() {
    let root = scratch("epoch_name");
    write_run(&root);
    std::fs::rename(root.join("epochs/1"), root.join("epochs/final")).unwrap();
    check_open_error(&root, "epochs/final", &["epoch name \"final\" is not a number"]);
    std::fs::rename(root.join("epochs/final"), root.join("epochs/-1")).unwrap();
    check_open_error(&root, "epochs/-1", &["is not a number"]);
    // Hidden entries (a writer's temp folder) and stray files are ignored; "05" is epoch 5.
    std::fs::rename(root.join("epochs/-1"), root.join("epochs/05")).unwrap();
    std::fs::create_dir_all(root.join("epochs/.tmp-7-123")).unwrap();
    write(&root, "epochs/README.txt", b"notes");
    assert_eq!(Run::open(&root).unwrap().epochs(), [0, 5]);
    // The same epoch twice.
    std::fs::create_dir_all(root.join("epochs/5")).unwrap();
    check_open_error(&root, "epochs/5", &["epoch 5 is given twice"]);
}

#[test]
fn class_ids_outside_classes_are_errors() {
    let root = scratch("class_range");
    write_run(&root);
    write(&root, "labels.npy", &npy((1, 0), "<i8", false, &[N], &encode("<i8", &[0., 1., 2., 0., 0., 0.])));
    check_open_error(&root, "labels.npy", &["label 2 of sample 2 is outside the 2 classes", "expected 0..=1"]);
    write(&root, "labels.npy", &npy((1, 0), "<i8", false, &[N], &encode("<i8", &[0., 1., -1., 0., 0., 0.])));
    check_open_error(&root, "labels.npy", &["label -1 of sample 2"]);
    // Integer predictions are checked against classes too.
    write_run(&root);
    write(
        &root,
        "epochs/0/predictions.npy",
        &npy((1, 0), "<i4", false, &[N], &encode("<i4", &[0., 0., 5., 0., 0., 0.])),
    );
    let run = Run::open(&root).unwrap();
    check_error(run.predictions(0).err().unwrap(), "predictions.npy", &["prediction 5 of sample 2"]);
}

#[test]
fn empty_runs_are_errors() {
    let root = scratch("empty");
    write_run(&root);
    std::fs::remove_dir_all(root.join("epochs")).unwrap();
    check_open_error(&root, "epochs", &["empty run"]);
    std::fs::create_dir_all(root.join("epochs")).unwrap();
    check_open_error(&root, "epochs", &["empty run", "no epochs"]);
    std::fs::create_dir_all(root.join("epochs/3")).unwrap();
    check_open_error(&root, "epochs", &["empty run", "no layers"]);
    write(&root, "labels.npy", &npy((1, 0), "<i8", false, &[0], &[]));
    check_open_error(&root, "labels.npy", &["no samples"]);
}

#[test]
fn writer_round_trips_and_replaces_epochs_atomically() {
    let tmp = scratch("writer");
    let root = tmp.join("run");
    let manifest = Manifest::new(Some(vec!["a".into(), "b".into(), "c".into()]), Some(vec!["x".into(), "y".into()]));
    let labels = [0u32, 2, 1, 2];
    let pixels: Vec<u8> = (0..4 * 2 * 2).map(|k| k as u8).collect();
    let inputs = Inputs { n: 4, height: 2, width: 2, channels: 1, data: pixels.clone() };
    let w = RunWriter::create(&root, &manifest, &labels, Some(&inputs)).unwrap();
    let x: Vec<f32> = (0..4 * 3).map(|k| k as f32 * 0.5).collect();
    let y: Vec<f32> = (0..4).map(|k| -(k as f32)).collect();
    w.write_epoch(1, &[("x", 3, &x), ("y", 1, &y)], Some(&[0, 1, 2, 2])).unwrap();
    w.write_epoch(0, &[("x", 3, &x), ("y", 1, &y)], None).unwrap();
    // Replacing an epoch leaves exactly the new content.
    let x2: Vec<f32> = x.iter().map(|v| v + 1.0).collect();
    w.write_epoch(1, &[("x", 3, &x2), ("y", 1, &y)], Some(&[2, 2, 2, 2])).unwrap();
    let metrics = vec![EpochMetrics {
        epoch: 1,
        train_accuracy: Some(0.5),
        test_accuracy: None,
        loss: Some(1.25),
        adv_success: None,
    }];
    w.write_metrics(&metrics).unwrap();

    let run = Run::open(&root).unwrap();
    assert_eq!(run.labels(), labels);
    assert_eq!(run.epochs(), [0, 1]);
    assert_eq!(run.read_layer("x", 1).unwrap(), (3, x2));
    assert_eq!(run.read_layer("y", 0).unwrap(), (1, y));
    assert_eq!(run.predictions(1).unwrap().unwrap(), [2, 2, 2, 2]);
    assert_eq!(run.inputs().unwrap().unwrap().data, pixels);
    let m = run.metrics().unwrap();
    assert_eq!((m.len(), m[0].loss), (1, Some(1.25)));
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(root.join("epochs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Bad input to the writer is an error, not a panic.
    assert!(w.write_epoch(2, &[("x", 3, &[1.0; 5])], None).is_err());
    assert!(w.write_epoch(2, &[("../evil", 1, &[1.0; 4])], None).is_err());
    assert!(RunWriter::create(&root, &manifest, &[0, 7], None).is_err());
    assert_eq!(Run::open(&root).unwrap().epochs(), [0, 1], "failed writes leave no epoch behind");
}

#[test]
fn refresh_sees_new_epochs() {
    let root = scratch("refresh");
    write_run(&root);
    let mut run = Run::open(&root).unwrap();
    for f in ["a", "b"] {
        let src = root.join(format!("epochs/1/{f}.npy"));
        write(&root, &format!("epochs/2/{f}.npy"), &std::fs::read(src).unwrap());
    }
    assert_eq!(run.epochs(), [0, 1]);
    run.refresh().unwrap();
    assert_eq!(run.epochs(), [0, 1, 2]);
}

/// The python with numpy: $NM_PYTHON, else the project's venv, else python3.
fn python() -> String {
    if let Ok(p) = std::env::var("NM_PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".to_string()
}

#[test]
fn run_written_by_numpy_loads() {
    let py = python();
    let has_numpy =
        std::process::Command::new(&py).args(["-c", "import numpy"]).output().is_ok_and(|o| o.status.success());
    assert!(
        has_numpy,
        "this test needs python3 with numpy: install it (`pip install numpy`, or create .venv with it), \
         or point NM_PYTHON at a python that has it (tried `{py}`)"
    );
    let root = scratch("numpy");
    let script = r#"
import json, os, sys
import numpy as np
root = sys.argv[1]
n = 40
rng = np.random.default_rng(0)
labels = (np.arange(n) % 4).astype(np.int16)
os.makedirs(f"{root}/epochs", exist_ok=True)
json.dump({"format": "neuromapper-run/1", "classes": ["a", "b", "c", "d"], "layers": ["conv", "fc"]}, open(f"{root}/neuromapper.json", "w"))
np.save(f"{root}/labels.npy", labels)
np.save(f"{root}/inputs.npy", rng.integers(0, 255, size=(n, 4, 5, 3), dtype=np.uint8))
for e in [0, 1, 10]:
    d = f"{root}/epochs/{e:03d}"
    os.makedirs(d)
    conv = (np.arange(n * 2 * 3 * 4).reshape(n, 2, 3, 4) / 8.0 + e)
    np.save(f"{d}/conv.npy", np.asfortranarray(conv.astype(np.float16)))
    fc = (np.arange(n * 5).reshape(n, 5) * 0.25 - e).astype(">f8")
    with open(f"{d}/fc.npy", "wb") as f:
        np.lib.format.write_array(f, fc, version=(3, 0))
    np.save(f"{d}/predictions.npy", np.eye(4, dtype=np.float32)[(labels + e) % 4])
"#;
    let out = std::process::Command::new(&py).args(["-c", script, root.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "numpy script failed: {}", String::from_utf8_lossy(&out.stderr));
    let run = Run::open(&root).unwrap();
    assert_eq!(run.epochs(), [0, 1, 10]);
    assert_eq!(run.labels()[..6], [0, 1, 2, 3, 0, 1]);
    assert_eq!(run.layers().iter().map(|l| (l.name.as_str(), l.dim)).collect::<Vec<_>>(), [("conv", 24), ("fc", 5)]);
    let (_, conv) = run.read_layer("conv", 10).unwrap();
    for k in [0usize, 1, 23, 24, 500, 959] {
        assert_eq!(conv[k], k as f32 / 8.0 + 10.0, "conv element {k}");
    }
    let (_, fc) = run.read_layer("fc", 1).unwrap();
    assert_eq!(fc[7], 7.0 * 0.25 - 1.0);
    let p = run.predictions(1).unwrap().unwrap();
    assert_eq!(p[..4], [1, 2, 3, 0]);
    let i = run.inputs().unwrap().unwrap();
    assert_eq!((i.n, i.height, i.width, i.channels), (40, 4, 5, 3));
}

// ---- Hostile files (issue 11): every one is an error that names the file, never a panic, a hang
// or an allocation the file cannot back.

/// Runs `f` on another thread and fails the test if it takes more than 20 s (a FIFO would block
/// forever): a regression shows as a failure, not as a hung test run.
fn within_20_s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20)).expect("did not finish within 20 s (blocked on a FIFO?)")
}

/// An npy file whose header dict is given as raw bytes (any garbage), version 1.0 or 3.0.
fn npy_raw_header(major: u8, dict: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict);
    out.extend_from_slice(data);
    out
}

#[test]
fn non_ascii_dtype_descr_is_an_error_not_a_panic() {
    let data = encode("<f4", &activations(N, D));
    // '<f4' with the high bit of 'f' set: one latin-1 byte in 1.0, a two-byte character in 3.0.
    let latin1 = b"{'descr': '<\xe64', 'fortran_order': False, 'shape': (6, 3), }\n".to_vec();
    let utf8 = "{'descr': '<\u{e6}4', 'fortran_order': False, 'shape': (6, 3), }\n".as_bytes().to_vec();
    for (major, dict) in [(1u8, &latin1), (3, &utf8), (1, &utf8)] {
        let root = scratch("descr_high_bit");
        write_run(&root);
        write(&root, "epochs/0/a.npy", &npy_raw_header(major, dict, &data));
        check_open_error(&root, "epochs/0/a.npy", &["float16, float32 or float64"]);
        // The same in labels.npy.
        let labels_dict = String::from_utf8_lossy(dict).replace("(6, 3)", "(6,)").into_bytes();
        let labels_dict = if major == 1 && dict == &latin1 { latin1.clone() } else { labels_dict };
        write(&root, "labels.npy", &npy_raw_header(major, &labels_dict, &[0u8; 48]));
        check_open_error(&root, "labels.npy", &[]);
    }
    // Version 3.0 headers must be utf-8: a lone high byte is a garbled header.
    let root = scratch("descr_v3_latin1");
    write_run(&root);
    write(&root, "epochs/0/a.npy", &npy_raw_header(3, &latin1, &data));
    check_open_error(&root, "epochs/0/a.npy", &["garbled .npy header", "utf-8"]);
}

#[test]
fn overflowing_shapes_are_errors() {
    let root = scratch("overflow_shape");
    write_run(&root);
    // 300 × 15372286728091293 × 4 bytes wraps around 2^64 to a small number.
    let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (300, 15372286728091293), }\n";
    write(&root, "epochs/0/a.npy", &npy_raw_header(1, dict, &[0u8; 64]));
    check_open_error(&root, "epochs/0/a.npy", &["[300, 15372286728091293]", "overflows"]);
    // A zero first dimension must not hide an overflowing row width.
    let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }\n";
    write(&root, "epochs/0/a.npy", &npy_raw_header(1, dict, &[]));
    check_open_error(&root, "epochs/0/a.npy", &["overflows"]);
    let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 3), }\n";
    write(&root, "epochs/0/a.npy", &npy_raw_header(1, dict, &[]));
    check_open_error(&root, "epochs/0/a.npy", &["garbled .npy header", "too large"]);
}

#[test]
fn labels_claiming_more_than_the_file_holds_are_errors() {
    let root = scratch("labels_huge");
    write_run(&root);
    // Padded as numpy pads, so the data starts at byte 128: 128 + 8 × 2305843009213693936 is 2^64,
    // which wrapped to 0 and passed the length check, then the allocation failed.
    let mut dict = b"{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693936,), }".to_vec();
    dict.resize(117, b' ');
    dict.push(b'\n');
    write(&root, "labels.npy", &npy_raw_header(1, &dict, &[0u8; 48]));
    check_open_error(&root, "labels.npy", &["garbled header", "2305843009213693936", "larger than any file"]);
}

#[test]
fn data_length_must_match_the_shape_exactly() {
    let root = scratch("extra_bytes");
    write_run(&root);
    let mut f = npy((1, 0), "<f4", false, &[N, D], &encode("<f4", &activations(N, D)));
    f.extend_from_slice(&[0u8; 12]);
    write(&root, "epochs/1/a.npy", &f);
    check_open_error(&root, "epochs/1/a.npy", &["needs 72 bytes", "84 follow the header"]);
    // A safetensors file with bytes after its last tensor.
    let root = scratch("extra_bytes_st");
    write_run(&root);
    std::fs::remove_dir_all(root.join("epochs/1")).unwrap();
    let mut st = safetensors(&[
        ("a", "F32", vec![N, D], encode("<f4", &activations(N, D))),
        ("b", "F32", vec![N, 4], encode("<f4", &activations(N, 4))),
    ]);
    st.extend_from_slice(&[0u8; 8]);
    write(&root, "epochs/1.safetensors", &st);
    check_open_error(&root, "epochs/1.safetensors", &["garbled file", "tensors end at data byte 168"]);
}

#[test]
fn a_huge_label_without_classes_is_refused_at_once() {
    let root = scratch("huge_label");
    write_run(&root);
    write(&root, "neuromapper.json", br#"{"format": "neuromapper-run/1"}"#);
    write(&root, "labels.npy", &npy((1, 0), "<i8", false, &[N], &encode("<i8", &[0., 1., 30_000_000., 0., 1., 1.])));
    let t = std::time::Instant::now();
    check_open_error(&root, "labels.npy", &["label 30000000 of sample 2", "above 100000", "\"classes\""]);
    assert!(t.elapsed().as_secs_f64() < 2.0, "took {:?}", t.elapsed());
    // u64 beyond i64 and the bound itself.
    write(&root, "labels.npy", &npy((1, 0), ">u8", false, &[N], &[0xffu8; N * 8]));
    check_open_error(&root, "labels.npy", &["above 100000"]);
    write(&root, "labels.npy", &npy((1, 0), "<i8", false, &[N], &encode("<i8", &[0., 1., 100_000., 0., 1., 1.])));
    assert_eq!(Run::open(&root).unwrap().classes().len(), 100_001);
    // With classes listed, the manifest decides.
    write(&root, "neuromapper.json", br#"{"format": "neuromapper-run/1", "classes": ["a", "b"]}"#);
    check_open_error(&root, "labels.npy", &["label 100000 of sample 2 is outside the 2 classes"]);
}

#[cfg(unix)]
fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    let ok = std::process::Command::new("mkfifo").arg(p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
}

#[cfg(unix)]
#[test]
fn fifos_and_folders_are_refused_not_waited_on() {
    for (file, needle) in
        [("epochs/0/a.npy", "FIFO"), ("neuromapper.json", "FIFO"), ("labels.npy", "FIFO"), ("inputs.npy", "FIFO")]
    {
        let root = scratch("fifo");
        write_run(&root);
        mkfifo(&root.join(file));
        let r = root.to_path_buf();
        let result = within_20_s(move || Run::open(&r).map(|_| ()));
        check_error(result.err().unwrap_or_else(|| panic!("{file}: opened")), file, &[needle, "not a regular file"]);
    }
    // metrics.json is read later.
    let root = scratch("fifo_metrics");
    write_run(&root);
    mkfifo(&root.join("metrics.json"));
    let r = root.to_path_buf();
    let result = within_20_s(move || Run::open(&r).unwrap().metrics().map(|_| ()));
    check_error(result.err().unwrap(), "metrics.json", &["FIFO"]);
    // A safetensors epoch that is a FIFO, and a layer file that is a folder.
    let root = scratch("fifo_st");
    write_run(&root);
    mkfifo(&root.join("epochs/2.safetensors"));
    let r = root.to_path_buf();
    check_error(within_20_s(move || Run::open(&r).map(|_| ())).err().unwrap(), "2.safetensors", &["FIFO"]);
    let root = scratch("dir_layer");
    write_run(&root);
    std::fs::create_dir_all(root.join("epochs/0/c.npy")).unwrap();
    check_open_error(&root, "epochs/0/c.npy", &["a folder", "not a regular file"]);
    // A symbolic link to a regular file is followed.
    let root = scratch("symlinked_layer");
    write_run(&root);
    std::fs::rename(root.join("epochs/1/a.npy"), root.join("a1.npy")).unwrap();
    std::os::unix::fs::symlink(root.join("a1.npy"), root.join("epochs/1/a.npy")).unwrap();
    assert_eq!(Run::open(&root).unwrap().read_layer("a", 1).unwrap().0, D);
}

#[test]
fn garbage_is_clipped_and_names_are_escaped_in_messages() {
    // A garbled 60 KB header is quoted by at most ~200 bytes.
    let root = scratch("clip");
    write_run(&root);
    let mut dict = vec![b'#'; 60_000];
    dict.push(b'\n');
    write(&root, "epochs/0/a.npy", &npy_raw_header(1, &dict, &[]));
    let e = Run::open(&root).err().unwrap().to_string();
    assert!(e.contains("garbled .npy header") && e.contains("60000 bytes in all") && e.len() < 800, "{e}");
    // A 1 MB class name in a bad manifest is not echoed whole.
    let big = format!(r#"{{"format": "neuromapper-run/1", "classes": "{}"}}"#, "x".repeat(1 << 20));
    write(&root, "neuromapper.json", big.as_bytes());
    let e = Run::open(&root).err().unwrap().to_string();
    assert!(e.contains("neuromapper.json") && e.len() < 800, "{} bytes", e.len());
    // Terminal escape sequences in names are shown escaped in errors.
    write_run(&root);
    write(&root, "neuromapper.json", b"{\"format\": \"neuromapper-run/1\", \"layers\": [\"a\", \"\\u001b[2Jzap\"]}");
    let e = Run::open(&root).err().unwrap().to_string();
    assert!(e.contains("\\x1b[2Jzap") && !e.contains('\x1b'), "{e}");
    write(&root, "neuromapper.json", b"{\"format\": \"\\u001b]0;owned\\u0007\"}");
    let e = Run::open(&root).err().unwrap().to_string();
    assert!(e.contains("\\x1b]0;owned\\x07") && !e.contains('\x1b'), "{e}");
    // A tensor name with an escape sequence, in a safetensors header that does not add up.
    let root = scratch("st_names");
    write_run(&root);
    std::fs::remove_dir_all(root.join("epochs/1")).unwrap();
    let st = safetensors(&[("\u{1b}[31ma", "F32", vec![N, D + 1], encode("<f4", &activations(N, D)))]);
    write(&root, "epochs/1.safetensors", &st);
    let e = Run::open(&root).err().unwrap().to_string();
    assert!(e.contains("1.safetensors") && e.contains("\\x1b[31ma") && !e.contains('\x1b'), "{e}");
}

#[test]
fn hostile_safetensors_headers_are_errors() {
    let root = scratch("st_hostile");
    write_run(&root);
    std::fs::remove_dir_all(root.join("epochs/1")).unwrap();
    let data = encode("<f4", &activations(N, D));
    let header = |h: &str| {
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&data);
        out
    };
    for (h, needle) in [
        (r#"{"a":{"dtype":"F32","shape":[6,3],"data_offsets":[0,18446744073709551615]}}"#, "garbled"),
        (r#"{"a":{"dtype":"F32","shape":[300,15372286728091293],"data_offsets":[0,72]}}"#, "garbled"),
        (r#"{"a":{"dtype":"F32","shape":[6,3],"data_offsets":[72,144]}}"#, "garbled"),
        (r#"{"a":{"dtype":"F32","shape":[6,30],"data_offsets":[0,720]}}"#, "truncated"),
        (r#"{"a":{"dtype":"X99","shape":[6,3],"data_offsets":[0,72]}}"#, "garbled"),
        (r#"{"a":7}"#, "garbled"),
        ("\u{ff}", "garbled"),
    ] {
        write(&root, "epochs/1.safetensors", &header(h));
        check_open_error(&root, "epochs/1.safetensors", &[needle]);
    }
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    write(&root, "epochs/1.safetensors", &huge);
    check_open_error(&root, "epochs/1.safetensors", &["garbled or truncated"]);
}

#[cfg(unix)]
#[test]
fn owns_path_sees_through_links() {
    let root = scratch("owns");
    write_run(&root);
    let run = Run::open(&root).unwrap();
    let outside = scratch("owns_outside");
    assert!(run.owns_path(&root.join("labels.npy")));
    assert!(run.owns_path(&root.join("epochs/0/new.npy")), "a new file inside");
    assert!(run.owns_path(&root.join(".neuromapper/x.npy")));
    assert!(!run.owns_path(&outside.join("x.npy")));
    // Through a symlinked folder, a symlink to a run file, and a hard link to one.
    std::os::unix::fs::symlink(root.join("epochs"), outside.join("eps")).unwrap();
    assert!(run.owns_path(&outside.join("eps/0/a.npy")));
    assert!(run.owns_path(&outside.join("eps/0/fresh.npy")));
    std::os::unix::fs::symlink(root.join("labels.npy"), outside.join("l.npy")).unwrap();
    assert!(run.owns_path(&outside.join("l.npy")));
    std::fs::hard_link(root.join("epochs/1/b.npy"), outside.join("hard.npy")).unwrap();
    assert!(run.owns_path(&outside.join("hard.npy")));
    // Relative paths too.
    assert!(!run.owns_path(Path::new("surely-not-in-the-run.npy")));
}

#[cfg(unix)]
#[test]
fn cache_dir_must_be_a_real_folder_in_the_run() {
    let root = scratch("cache_dir");
    write_run(&root);
    assert_eq!(nm_run::writable_cache_dir(&root).unwrap(), root.join(".neuromapper"));
    assert!(root.join(".neuromapper").is_dir());
    std::fs::remove_dir(root.join(".neuromapper")).unwrap();
    let elsewhere = scratch("cache_dir_target");
    std::os::unix::fs::symlink(&elsewhere, root.join(".neuromapper")).unwrap();
    check_error(nm_run::writable_cache_dir(&root).unwrap_err(), ".neuromapper", &["symbolic link"]);
    std::fs::remove_file(root.join(".neuromapper")).unwrap();
    write(&root, ".neuromapper", b"a file");
    check_error(nm_run::writable_cache_dir(&root).unwrap_err(), ".neuromapper", &["a real folder"]);
}
