//! Property tests (proptest) over the readers: mutated .npy, .safetensors and manifest files, and
//! whole runs with one file damaged (bit flips, truncations, overwritten header bytes, hostile
//! shapes). Each case must end in Ok or in an error that names a file of the run: never a panic, a
//! hang or a huge allocation. Kept fast: a modest number of small cases per property.

use std::path::Path;

use nm_run::{LayerReader, Run};
use nm_testkit::TempDir;
use proptest::prelude::*;

const N: usize = 6;
const D: usize = 3;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// A fresh folder per case, removed when dropped (nm_testkit).
fn scratch(name: &str) -> TempDir {
    TempDir::new(&format!("nm_run_fuzz_{name}"))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn valid_npy(shape: &[usize], data: &[u8], descr: &str) -> Vec<u8> {
    let mut out = nm_run::npy::header_bytes(descr, shape);
    out.extend_from_slice(data);
    out
}

fn layer_bytes() -> Vec<u8> {
    let x: Vec<f32> = (0..N * D).map(|k| k as f32 / 4.0).collect();
    valid_npy(&[N, D], &f32_bytes(&x), "<f4")
}

fn labels_bytes() -> Vec<u8> {
    let l: Vec<u8> = [0i64, 1, 0, 1, 1, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    valid_npy(&[N], &l, "<i8")
}

fn safetensors_bytes() -> Vec<u8> {
    let x: Vec<f32> = (0..N * D).map(|k| k as f32).collect();
    let y: Vec<f32> = (0..N * 2).map(|k| -(k as f32)).collect();
    let h = format!(
        r#"{{"a":{{"dtype":"F32","shape":[{N},{D}],"data_offsets":[0,{}]}},"c":{{"dtype":"F32","shape":[{N},2],"data_offsets":[{},{}]}}}}"#,
        N * D * 4,
        N * D * 4,
        N * D * 4 + N * 8
    );
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&f32_bytes(&x));
    out.extend_from_slice(&f32_bytes(&y));
    out
}

const MANIFEST: &[u8] =
    br#"{"format": "neuromapper-run/1", "name": "fz", "classes": ["cat", "dog"], "layers": ["a", "c"]}"#;

/// A valid run: npy epoch 0, safetensors epoch 1, layers `a` [N, D] and `c` [N, 2].
fn write_run(root: &Path) {
    let put = |rel: &str, b: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    };
    put("neuromapper.json", MANIFEST);
    put("labels.npy", &labels_bytes());
    put("epochs/0/a.npy", &layer_bytes());
    let c: Vec<f32> = (0..N * 2).map(|k| k as f32).collect();
    put("epochs/0/c.npy", &valid_npy(&[N, 2], &f32_bytes(&c), "<f4"));
    put("epochs/1.safetensors", &safetensors_bytes());
    put("metrics.json", br#"[{"epoch": 0, "train_accuracy": 0.5, "test_accuracy": 0.4, "loss": 1.0}]"#);
}

/// One way to damage a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Truncate {
        keep: usize,
    },
    Overwrite {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Replace the first occurrence of `from` (a header token) with `to`.
    Replace {
        from: &'static str,
        to: String,
    },
}

fn hostile_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("(300, 15372286728091293)".to_string()),
        Just("(2305843009213693936,)".to_string()),
        Just("(0, 4294967296, 4294967296)".to_string()),
        Just("(18446744073709551615, 2)".to_string()),
        Just("(99999999999999999999999999,)".to_string()),
        Just("[18446744073709551615,2]".to_string()),
        Just("[0,18446744073709551615]".to_string()),
        Just("'<\u{e6}4'".to_string()),
        Just("'<\u{1b}[31m'".to_string()),
        Just("\"\u{1b}]0;x\u{7}\"".to_string()),
        Just("\"BF16\"".to_string()),
        Just("\"F8_E5M2\"".to_string()),
        "[ -~]{0,12}".prop_map(|s| s),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        2 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        2 => (
            prop_oneof![
                Just("(6, 3)"),
                Just("(6,)"),
                Just("'<f4'"),
                Just("'<i8'"),
                Just("False"),
                Just("[6,3]"),
                Just("[0,72]"),
                Just("\"F32\""),
                Just("\"format\""),
                Just("\"cat\""),
                Just("[\"a\", \"c\"]"),
            ],
            hostile_token()
        )
            .prop_map(|(from, to)| Mutation::Replace { from, to }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Flip { at, bit } => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] ^= 1 << bit;
            }
        }
        Mutation::Truncate { keep } => {
            let k = keep % (bytes.len() + 1);
            bytes.truncate(k);
        }
        Mutation::Overwrite { at, bytes: b } => {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                for (k, &x) in b.iter().enumerate() {
                    if i + k < bytes.len() {
                        bytes[i + k] = x;
                    }
                }
            }
        }
        Mutation::Replace { from, to } => {
            if let Some(i) = bytes.windows(from.len()).position(|w| w == from.as_bytes()) {
                bytes.splice(i..i + from.len(), to.bytes());
            }
        }
    }
}

/// Opens the run and reads everything it offers; any error must name a file of the run.
fn exercise(root: &Path) {
    let check = |e: nm_run::RunError| {
        let msg = e.to_string();
        let shown = nm_run::text::escape(&root.display().to_string());
        assert!(msg.contains(&shown), "the error names no file of the run: {msg}");
        assert!(msg.len() < 2000, "an error of {} bytes: {msg}", msg.len());
        assert!(!msg.chars().any(char::is_control), "a raw control character: {msg:?}");
    };
    let run = match Run::open(root) {
        Ok(r) => r,
        Err(e) => return check(e),
    };
    for l in run.layers().to_vec() {
        for &e in &run.epochs().to_vec() {
            if let Err(err) = run.read_layer(&l.name, e) {
                check(err);
            }
        }
    }
    for &e in &run.epochs().to_vec() {
        if let Err(err) = run.predictions(e) {
            check(err);
        }
    }
    if let Err(e) = run.inputs() {
        check(e);
    }
    if let Err(e) = run.metrics() {
        check(e);
    }
    let _ = run.class_counts();
}

fn damage(root: &Path, rel: &str, ms: &[Mutation]) {
    let p = root.join(rel);
    let mut bytes = std::fs::read(&p).unwrap();
    for m in ms {
        apply(&mut bytes, m);
    }
    std::fs::write(&p, &bytes).unwrap();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_damaged_layer_npy_never_panics(ms in proptest::collection::vec(mutation(), 1..4)) {
        let root = scratch("layer");
        write_run(&root);
        damage(&root, "epochs/0/a.npy", &ms);
        exercise(&root);
    }

    #[test]
    fn damaged_labels_never_panic(ms in proptest::collection::vec(mutation(), 1..4), classes in any::<bool>()) {
        let root = scratch("labels");
        write_run(&root);
        if !classes {
            std::fs::write(root.join("neuromapper.json"), br#"{"format": "neuromapper-run/1"}"#).unwrap();
        }
        damage(&root, "labels.npy", &ms);
        exercise(&root);
    }

    #[test]
    fn a_damaged_safetensors_epoch_never_panics(ms in proptest::collection::vec(mutation(), 1..4)) {
        let root = scratch("st");
        write_run(&root);
        damage(&root, "epochs/1.safetensors", &ms);
        exercise(&root);
    }

    #[test]
    fn a_damaged_manifest_or_metrics_never_panics(ms in proptest::collection::vec(mutation(), 1..4), metrics in any::<bool>()) {
        let root = scratch("manifest");
        write_run(&root);
        damage(&root, if metrics { "metrics.json" } else { "neuromapper.json" }, &ms);
        exercise(&root);
    }

    #[test]
    fn any_bytes_as_an_npy_file_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), prefix in any::<bool>()) {
        // With the magic and a plausible length, the header parser itself gets the garbage.
        let root = scratch("raw");
        let mut file = Vec::new();
        if prefix {
            file.extend_from_slice(b"\x93NUMPY\x01\x00");
            file.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        }
        file.extend_from_slice(&bytes);
        let p = root.join("x.npy");
        std::fs::write(&p, &file).unwrap();
        match LayerReader::open_npy(&p) {
            Ok(mut r) => {
                if r.n_cols() > 0 && r.n_rows().checked_mul(r.n_cols()).is_some_and(|n| n < 1 << 20) {
                    let _ = r.read_all();
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("x.npy"), "{e}"),
        }
    }

    #[test]
    fn hostile_npy_shapes_never_panic(dims in proptest::collection::vec(prop_oneof![0usize..8, any::<usize>(), Just(usize::MAX)], 0..5),
                                      descr in prop_oneof![Just("<f4"), Just(">f8"), Just("|u1"), Just("<i8"), Just("<c8"), Just("|b1")],
                                      data_len in 0usize..200, as_labels in any::<bool>()) {
        let root = scratch("shapes");
        write_run(&root);
        let data = vec![0u8; data_len];
        let rel = if as_labels { "labels.npy" } else { "epochs/0/a.npy" };
        std::fs::write(root.join(rel), valid_npy(&dims, &data, descr)).unwrap();
        exercise(&root);
    }
}
