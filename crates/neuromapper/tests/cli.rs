//! The `neuromapper` binary on a generated run: `info`, `embed` (then from the cache), `export`,
//! and the exit codes (0 ok, 1 user error with a message, 2 usage error).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nm_run::{Manifest, RunWriter};

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("neuromapper_cli_test_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// 90 samples in 3 classes, layers `conv` [90, 40] and `fc` [90, 6], epochs 1..=3.
fn make_run(root: &Path) {
    let n = 90;
    let labels: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let manifest =
        Manifest::new(Some(vec!["ant".into(), "bee".into(), "cow".into()]), Some(vec!["conv".into(), "fc".into()]));
    let w = RunWriter::create(root, &manifest, &labels, None).unwrap();
    let layer = |d: usize, e: u32| -> Vec<f32> {
        (0..n * d)
            .map(|k| {
                let (i, j) = (k / d, k % d);
                let centre = if j % 3 == labels[i] as usize { 5.0 + e as f32 * 0.1 } else { 0.0 };
                // A cheap deterministic jitter in [-1, 1).
                let h = ((i * 7919 + j * 104_729 + e as usize * 13) % 1000) as f32 / 500.0 - 1.0;
                centre + h
            })
            .collect()
    };
    for e in 1..=3 {
        w.write_epoch(e, &[("conv", 40, &layer(40, e)), ("fc", 6, &layer(6, e))], None).unwrap();
    }
}

fn neuromapper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neuromapper")).args(args).output().expect("the binary runs")
}

/// Runs the binary and checks its exit code; returns (stdout, stderr).
fn check(args: &[&str], code: i32) -> (String, String) {
    let out = neuromapper(args);
    let (so, se) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(code), "neuromapper {args:?}\nstdout:\n{so}\nstderr:\n{se}");
    (so, se)
}

#[test]
fn info_describes_the_run() {
    let root = scratch("info");
    make_run(&root);
    let r = root.to_str().unwrap();
    let (out, _) = check(&["info", r], 0);
    for needle in [
        "samples    90",
        "classes    3: ant 30, bee 30, cow 30",
        "layers     2: conv [40], fc [6]",
        "epochs     3: 1-3",
        "cached     none",
    ] {
        assert!(out.contains(needle), "`{needle}` not in:\n{out}");
    }
}

#[test]
fn embed_then_answer_from_the_cache_then_export() {
    let root = scratch("embed");
    make_run(&root);
    let r = root.to_str().unwrap();
    let flags = ["--n-neighbors", "8", "--pca", "10", "--seed", "3"];
    let args: Vec<&str> = ["embed", r].iter().copied().chain(flags).collect();
    let (out, err) = check(&args, 0);
    assert!(out.contains("conv  3 epochs × 90 samples") && out.contains("fc    3 epochs × 90 samples"), "{out}");
    assert!(out.contains("total ") && err.contains("embedded in"), "{out}\n{err}");
    let (out, _) = check(&args, 0);
    assert_eq!(out.matches("cached").count(), 2, "second time from the cache:\n{out}");
    let (info, _) = check(&["info", r], 0);
    assert!(info.contains("cached     2 embeddings") && info.contains("n_neighbors=8"), "{info}");

    // Export with the same flags: from the cache; float32 [E, N, 2].
    let npy = root.join("conv.npy");
    let args: Vec<&str> =
        ["export", r, "--layer", "conv", "--out", npy.to_str().unwrap()].iter().copied().chain(flags).collect();
    let (out, _) = check(&args, 0);
    assert!(out.contains("from the cache"), "{out}");
    let bytes = std::fs::read(&npy).unwrap();
    let header = String::from_utf8_lossy(&bytes[..128]);
    assert!(header.contains("'<f4'") && header.contains("(3, 90, 2)"), "{header}");
    assert!(!root.join("conv.samples.npy").exists(), "not sampled: no index file");

    // Sampled CSV export computes and writes epoch,sample,label,class,predicted,x,y.
    let csv = root.join("fc.csv");
    let (out, _) = check(
        &[
            "export",
            r,
            "--layer",
            "fc",
            "--out",
            csv.to_str().unwrap(),
            "--samples-per-class",
            "10",
            "--n-neighbors",
            "5",
        ],
        0,
    );
    assert!(out.contains("computed"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some("epoch,sample,label,class,predicted,x,y"));
    assert_eq!(text.lines().count(), 1 + 3 * 30);
    let npy = root.join("fc.npy");
    check(&["export", r, "--layer", "fc", "--out", npy.to_str().unwrap(), "--samples", "30", "--n-neighbors", "5"], 0);
    let idx = std::fs::read(root.join("fc.samples.npy")).unwrap();
    assert!(String::from_utf8_lossy(&idx[..128]).contains("(30,)"));
}

#[test]
fn user_errors_exit_1_with_a_message() {
    let root = scratch("user_errors");
    make_run(&root);
    let r = root.to_str().unwrap();
    let (_, err) = check(&["info", root.join("missing").to_str().unwrap()], 1);
    assert!(err.starts_with("error: could not open the run: ") && err.contains("not a folder"), "{err}");
    let (_, err) = check(&["embed", r, "--n-neighbors", "1"], 1);
    assert!(err.contains("n_neighbors") && err.contains("between 2 and 200"), "{err}");
    // `serve` takes the same flags, checked by the same rules before it listens.
    let (_, err) = check(&["serve", r, "--n-neighbors", "1", "--no-open", "--port", "0"], 1);
    assert!(err.contains("n_neighbors") && err.contains("between 2 and 200"), "{err}");
    let (_, err) = check(&["embed", r, "--n-neighbors", "100"], 1);
    assert!(err.contains("less than the number of samples embedded (90)"), "{err}");
    let (_, err) = check(&["embed", r, "--min-dist", "7"], 1);
    assert!(err.contains("min_dist"), "{err}");
    let (_, err) = check(&["embed", r, "--layers", "conv,nope"], 1);
    assert!(err.contains("unknown layer `nope`; the run has: conv, fc"), "{err}");
    let (_, err) = check(&["export", r, "--layer", "fc", "--out", root.join("x.txt").to_str().unwrap()], 1);
    assert!(err.contains("must end in .npy or .csv"), "{err}");
    std::fs::write(root.join("neuromapper.json"), r#"{"format": "other/2"}"#).unwrap();
    let (_, err) = check(&["info", r], 1);
    assert!(err.contains("neuromapper.json") && err.contains("unknown format"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    check(&["embed"], 2);
    check(&["embed", "x", "--metric", "manhattan"], 2);
    check(&["embed", "x", "--samples", "5", "--samples-per-class", "3"], 2);
    check(&["export", "x", "--out", "y.npy"], 2);
    check(&["info", "x", "--n-neighbors", "5"], 2);
}

/// `n` samples in 4 classes, one layer `wide` [n, 24], epochs 1..=2: enough work that the embedding
/// is still running when the test presses Ctrl-C.
fn make_big_run(root: &Path, n: usize) {
    let labels: Vec<u32> = (0..n).map(|i| (i % 4) as u32).collect();
    let manifest = Manifest::new(None, Some(vec!["wide".into()]));
    let w = RunWriter::create(root, &manifest, &labels, None).unwrap();
    for e in 1..=2u32 {
        let x: Vec<f32> = (0..n * 24)
            .map(|k| {
                let (i, j) = (k / 24, k % 24);
                let centre = if j % 4 == labels[i] as usize { 4.0 } else { 0.0 };
                centre + ((i * 7919 + j * 104_729 + e as usize * 13) % 1000) as f32 / 500.0 - 1.0
            })
            .collect();
        w.write_epoch(e, &[("wide", 24, &x)], None).unwrap();
    }
}

#[test]
fn ctrl_c_stops_embed_cleanly_with_exit_code_130() {
    use std::io::Read;
    let root = scratch("ctrl_c");
    make_big_run(&root, 6000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuromapper"))
        .args(["embed", root.to_str().unwrap(), "--threads", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the header line (the work has started), then press Ctrl-C.
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("samples (") {
        let k = stderr.read(&mut buf).unwrap();
        assert!(k > 0, "embed ended before it started: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..k]);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let err = format!("{}{rest}", String::from_utf8_lossy(&seen));
    assert_eq!(status.code(), Some(130), "stderr:\n{err}");
    assert!(err.contains("interrupted by Ctrl-C; 0 of 1 layers embedded"), "stderr:\n{err}");
    // Nothing half-written: no embedding and no temporary file anywhere under the cache.
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                files(&e.path(), out)
            } else {
                out.push(e.path())
            }
        }
    }
    let mut cache = Vec::new();
    files(&root.join(".neuromapper"), &mut cache);
    assert!(
        cache.iter().all(|p| !p.to_string_lossy().contains("embedding") && !p.to_string_lossy().contains(".tmp")),
        "{cache:?}"
    );
    // And the next run starts over and finishes.
    check(&["embed", root.to_str().unwrap(), "--n-neighbors", "5", "--samples", "400"], 0);
}
