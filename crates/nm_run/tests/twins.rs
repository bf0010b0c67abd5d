//! Adversarial twins (`twins.npy`): written by `RunWriter`, read back with the manifest's attack
//! and the metrics' `adv_success`, refused with a message naming the file when a link is bad, and
//! absent (every sample clean) in runs written before twins existed.

use std::path::Path;

use nm_run::{AttackInfo, EpochMetrics, Manifest, Run, RunWriter};
use nm_testkit::TempDir;

const LABELS: [u32; 6] = [0, 1, 0, 1, 0, 1];

/// Six samples: 0..4 clean, 4 a twin of 0 and 5 a twin of 1; one layer `fc` [6, 2].
fn run_with_twins(root: &Path) -> RunWriter {
    let manifest = Manifest {
        adversarial: Some(AttackInfo { attack: Some("fgsm".into()), eps: Some(8.0 / 255.0), steps: Some(1) }),
        ..Manifest::new(Some(vec!["cat".into(), "dog".into()]), Some(vec!["fc".into()]))
    };
    let twins = [None, None, None, None, Some(0), Some(1)];
    let w = RunWriter::create_with_twins(root, &manifest, &LABELS, None, Some(&twins)).unwrap();
    let fc: Vec<f32> = (0..12).map(|k| k as f32).collect();
    w.write_epoch(0, &[("fc", 2, &fc)], Some(&[0, 1, 0, 1, 1, 0])).unwrap();
    w
}

/// `twins.npy` as numpy would save it: `<i8`, shape (n,).
fn write_twins_npy(root: &Path, links: &[i64]) {
    let mut dict = format!("{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}", links.len());
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    for v in links {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(root.join("twins.npy"), bytes).unwrap();
}

fn open_err(root: &Path) -> String {
    match Run::open(root) {
        Ok(_) => panic!("{} opened, expected an error", root.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn twins_round_trip_with_the_attack_and_the_success_rate() {
    let dir = TempDir::new("nm_run_twins_ok");
    let w = run_with_twins(dir.path());
    let m =
        EpochMetrics { epoch: 0, train_accuracy: None, test_accuracy: Some(0.5), loss: None, adv_success: Some(0.5) };
    w.write_metrics(&[m]).unwrap();
    let run = Run::open(dir.path()).unwrap();
    assert_eq!(run.twins().unwrap(), &[None, None, None, None, Some(0), Some(1)]);
    assert!(run.is_twin(4) && run.is_twin(5) && !run.is_twin(0) && !run.is_twin(6));
    let attack = run.manifest().adversarial.as_ref().unwrap();
    assert_eq!((attack.attack.as_deref(), attack.steps), (Some("fgsm"), Some(1)));
    assert_eq!(run.metrics().unwrap()[0].adv_success, Some(0.5));
}

#[test]
fn runs_without_twins_read_as_before() {
    let dir = TempDir::new("nm_run_twins_none");
    let manifest = Manifest::new(Some(vec!["cat".into(), "dog".into()]), None);
    let w = RunWriter::create(dir.path(), &manifest, &LABELS, None).unwrap();
    w.write_epoch(0, &[("fc", 1, &[0.0; 6])], None).unwrap();
    std::fs::write(dir.path().join("metrics.json"), br#"[{"epoch": 0, "loss": 1.5}]"#).unwrap();
    let run = Run::open(dir.path()).unwrap();
    assert!(run.twins().is_none() && !run.is_twin(0));
    assert!(run.manifest().adversarial.is_none());
    assert_eq!(run.metrics().unwrap()[0].adv_success, None);
    let json = std::fs::read_to_string(dir.path().join("neuromapper.json")).unwrap();
    assert!(!json.contains("adversarial"), "a run without twins writes no attack: {json}");
}

#[test]
fn bad_links_are_refused_naming_the_file_and_the_row() {
    let dir = TempDir::new("nm_run_twins_bad");
    run_with_twins(dir.path());
    let cases: [(&[i64], &str); 6] = [
        (&[-1, -1, -1, -1, 6, 1], "row 4 links to 6, which is not a sample"),
        (&[-1, -1, -1, -1, -2, 1], "row 4 links to -2"),
        (&[-1, -1, -1, -1, 4, 1], "row 4 links to itself"),
        (&[-1, -1, -1, -1, 5, 1], "row 4 links to row 5, which is itself a twin"),
        (&[-1, -1, -1, -1, 1, 1], "row 4 (label 0) links to row 1 (label 1)"),
        (&[-1, -1, -1, -1, 0], "expected [N=6] integers"),
    ];
    for (links, needle) in cases {
        write_twins_npy(dir.path(), links);
        let msg = open_err(dir.path());
        assert!(msg.contains("twins.npy") && msg.contains(needle), "{links:?}: `{needle}` not in {msg}");
    }
    // Floats are not links.
    let mut bytes = std::fs::read(dir.path().join("twins.npy")).unwrap();
    let at = bytes.windows(3).position(|w| w == b"<i8").unwrap();
    bytes[at + 1] = b'f';
    std::fs::write(dir.path().join("twins.npy"), bytes).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains("twins.npy") && msg.contains("integers"), "{msg}");
}

#[test]
fn the_writer_refuses_bad_links_before_writing_anything() {
    let dir = TempDir::new("nm_run_twins_writer");
    let root = dir.path().join("run");
    let manifest = Manifest::new(None, None);
    let bad = [None, Some(0), Some(1), None];
    let e = RunWriter::create_with_twins(&root, &manifest, &[0, 0, 1, 1], None, Some(&bad)).err().unwrap();
    let msg = e.to_string();
    assert!(msg.contains("twins.npy") && msg.contains("row 2 links to row 1, which is itself a twin"), "{msg}");
    assert!(!root.join("neuromapper.json").exists(), "no run may be left behind");
}
