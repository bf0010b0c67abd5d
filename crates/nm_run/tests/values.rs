//! Per-sample values (`epochs/<e>/<name>.values.npy`) and the static `samples.csv`: written by
//! `RunWriter`, read back, and refused with a message naming the file when malformed.

use std::path::Path;

use nm_run::{Manifest, Run, RunWriter, SampleColumn, SamplesTable};
use nm_testkit::TempDir;

/// A run of 4 samples, 2 classes, one layer `fc` [4, 2], epochs 0 and 1, with a value `loss` at
/// both and `difficulty` at epoch 1 only.
fn run_with_values(root: &Path) -> RunWriter {
    let manifest = Manifest::new(Some(vec!["cat".into(), "dog".into()]), Some(vec!["fc".into()]));
    let w = RunWriter::create(root, &manifest, &[0, 1, 0, 1], None).unwrap();
    let fc = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    w.write_epoch_with_values(0, &[("fc", 2, &fc)], Some(&[0, 0, 0, 1]), &[("loss", &[2.0, 1.5, 1.0, 0.5])]).unwrap();
    w.write_epoch_with_values(
        1,
        &[("fc", 2, &fc)],
        None,
        &[("loss", &[0.2, 0.1, 0.3, 0.4]), ("difficulty", &[1.0, 2.0, 3.0, 4.0])],
    )
    .unwrap();
    w
}

fn open_err(root: &Path) -> String {
    match Run::open(root) {
        Ok(_) => panic!("{} opened, expected an error", root.display()),
        Err(e) => e.to_string(),
    }
}

/// A little-endian .npy (version 1.0) of `descr` with `shape` and raw `data`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn values_are_read_per_epoch_and_are_not_layers() {
    let dir = TempDir::new("nm_values_read");
    run_with_values(dir.path());
    let run = Run::open(dir.path()).unwrap();
    assert_eq!(run.layers().len(), 1, "a values file is not a layer");
    assert_eq!(run.value_names(), vec!["difficulty".to_string(), "loss".to_string()]);
    assert_eq!(run.values("loss", 0).unwrap(), Some(vec![2.0, 1.5, 1.0, 0.5]));
    assert_eq!(run.values("difficulty", 1).unwrap(), Some(vec![1.0, 2.0, 3.0, 4.0]));
    assert_eq!(run.values("difficulty", 0).unwrap(), None, "epoch 0 has no difficulty");
    assert!(run.values("loss", 7).is_err(), "no epoch 7");
}

#[test]
fn without_a_manifest_layer_list_values_still_are_not_layers_but_a_listed_name_stays_a_layer() {
    let dir = TempDir::new("nm_values_nolist");
    let w = RunWriter::create(dir.path(), &Manifest::new(None, None), &[0, 1], None).unwrap();
    w.write_epoch_with_values(0, &[("fc", 1, &[1.0, 2.0])], None, &[("score", &[0.5, 0.25])]).unwrap();
    let run = Run::open(dir.path()).unwrap();
    assert_eq!(run.layers().iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["fc"]);
    assert_eq!(run.value_names(), ["score"]);
    // A run written before values existed, whose manifest names a layer `x.values`, reads as before.
    let old = TempDir::new("nm_values_old");
    let w = RunWriter::create(old.path(), &Manifest::new(None, Some(vec!["x.values".into()])), &[0, 1], None).unwrap();
    w.write_epoch(0, &[("x.values", 1, &[1.0, 2.0])], None).unwrap();
    let run = Run::open(old.path()).unwrap();
    assert_eq!(run.layers()[0].name, "x.values");
    assert!(run.value_names().is_empty());
}

#[test]
fn bad_values_files_are_refused_naming_the_file() {
    let dir = TempDir::new("nm_values_bad");
    run_with_values(dir.path());
    let file = dir.path().join("epochs/1/difficulty.values.npy");
    // [N, 2]: not one value per sample.
    std::fs::write(&file, npy("<f4", "(4, 2)", &f32_bytes(&[0.0; 8]))).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains("difficulty.values.npy") && msg.contains("[N] numbers"), "{msg}");
    // Wrong number of rows.
    std::fs::write(&file, npy("<f4", "(3,)", &f32_bytes(&[0.0; 3]))).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains("difficulty.values.npy") && msg.contains("expected 4 rows"), "{msg}");
    // A NaN: the run opens (headers only), reading the value names the file and the row.
    std::fs::write(&file, npy("<f4", "(4,)", &f32_bytes(&[1.0, f32::NAN, 3.0, 4.0]))).unwrap();
    let run = Run::open(dir.path()).unwrap();
    let msg = run.values("difficulty", 1).unwrap_err().to_string();
    assert!(msg.contains("difficulty.values.npy") && msg.to_lowercase().contains("nan"), "{msg}");
    // Not a regular file: a folder of that name.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains("difficulty.values.npy"), "{msg}");
    std::fs::remove_dir(&file).unwrap();
    // A name of nothing but the suffix.
    std::fs::write(dir.path().join("epochs/1/.values.npy"), npy("<f4", "(4,)", &f32_bytes(&[0.0; 4]))).unwrap();
    assert!(Run::open(dir.path()).is_ok(), "hidden files are ignored");
    // Integer values are numbers too.
    std::fs::write(
        &file,
        npy("<i8", "(4,)", &[1i64, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
    )
    .unwrap();
    assert_eq!(Run::open(dir.path()).unwrap().values("difficulty", 1).unwrap(), Some(vec![1.0, 2.0, 3.0, 4.0]));
}

#[test]
fn the_writer_refuses_bad_values_before_writing() {
    let dir = TempDir::new("nm_values_writer");
    let w = run_with_values(dir.path());
    let fc = [0.0f32; 8];
    let short = w.write_epoch_with_values(2, &[("fc", 2, &fc)], None, &[("loss", &[1.0])]).unwrap_err().to_string();
    assert!(short.contains("loss.values.npy") && short.contains("expected 4 values"), "{short}");
    let nan = w.write_epoch_with_values(2, &[("fc", 2, &fc)], None, &[("loss", &[1.0, f32::NAN, 0.0, 0.0])]);
    assert!(nan.unwrap_err().to_string().contains("not finite"));
    let twice = w.write_epoch_with_values(2, &[("fc", 2, &fc)], None, &[("a", &[0.0; 4]), ("a", &[0.0; 4])]);
    assert!(twice.unwrap_err().to_string().contains("given twice"));
    assert!(!dir.path().join("epochs/2").exists(), "nothing written");
}

#[test]
fn samples_csv_numeric_columns_are_values_and_the_rest_text() {
    let dir = TempDir::new("nm_samples_csv");
    let w = run_with_values(dir.path());
    assert_eq!(Run::open(dir.path()).unwrap().samples_table().unwrap(), None);
    let table = SamplesTable {
        columns: vec![
            ("difficulty".into(), SampleColumn::Numeric(vec![0.5, 1.0, f32::NAN, 2.0])),
            (
                "file".into(),
                SampleColumn::Text(vec!["a.png".into(), "b, c.png".into(), "\"d\".png".into(), "e".into()]),
            ),
        ],
    };
    w.write_samples(&table).unwrap();
    let got = Run::open(dir.path()).unwrap().samples_table().unwrap().unwrap();
    assert_eq!(got.columns[1], table.columns[1]);
    let SampleColumn::Numeric(v) = &got.columns[0].1 else { panic!("difficulty should be numeric: {got:?}") };
    assert_eq!((v[0], v[1], v[3]), (0.5, 1.0, 2.0));
    assert!(v[2].is_nan(), "an empty cell is unknown");
    // A column with one word among numbers is text.
    let csv = dir.path().join("samples.csv");
    std::fs::write(&csv, "score,id\n1,7\n2,8\nhigh,9\n4,10\n").unwrap();
    let got = Run::open(dir.path()).unwrap().samples_table().unwrap().unwrap();
    assert!(matches!(got.columns[0].1, SampleColumn::Text(_)));
    assert_eq!(got.columns[1].1, SampleColumn::Numeric(vec![7.0, 8.0, 9.0, 10.0]));
}

#[test]
fn bad_samples_csv_is_refused_naming_the_file_and_the_problem() {
    let dir = TempDir::new("nm_samples_csv_bad");
    run_with_values(dir.path());
    let csv = dir.path().join("samples.csv");
    let err = |body: &str| {
        std::fs::write(&csv, body).unwrap();
        let e = Run::open(dir.path()).unwrap().samples_table().unwrap_err().to_string();
        assert!(e.contains("samples.csv"), "{e}");
        e
    };
    assert!(err("a\n1\n2\n").contains("has 2 data rows; expected 4"));
    assert!(err("a,b\n1,2\n1\n1,2\n1,2\n").contains("row 3 (sample 1) has 1 cells"));
    assert!(err("a,a\n1,2\n1,2\n1,2\n1,2\n").contains("named twice"));
    assert!(err("a,\n1,2\n1,2\n1,2\n1,2\n").contains("has no name"));
    assert!(err("").contains("empty"));
    assert!(err("a\n\"1\n2\n3\n4\n").contains("not closed"));
    std::fs::remove_file(&csv).unwrap();
    std::fs::create_dir(&csv).unwrap();
    let e = open_err(dir.path());
    assert!(e.contains("samples.csv") && e.contains("not a regular file"), "{e}");
}
