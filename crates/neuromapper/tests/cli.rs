//! The `neuromapper` binary on a generated run: `info`, `embed` (then from the cache), `export`,
//! and the exit codes (0 ok, 1 user error with a message, 2 usage error).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nm_run::{Manifest, RunWriter};
use nm_testkit::{RunSpec, TempDir};

/// A fresh temp folder (removed when the guard drops) and the path `run` inside it, not created:
/// files a test puts beside the run stay in the temp folder too.
fn scratch(name: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new(&format!("neuromapper_cli_test_{name}"));
    let root = tmp.join("run");
    (tmp, root)
}

/// 90 samples in 3 classes, layers `conv` [90, 40] and `fc` [90, 6], epochs 1..=3 (nm_testkit).
fn make_run(root: &Path) {
    RunSpec::new(90, 3)
        .class_names(&["ant", "bee", "cow"])
        .layers(&[("conv", 40), ("fc", 6)])
        .epochs(&[1, 2, 3])
        .separation(5.0, 0.1)
        .write(root);
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
    let (_root_tmp, root) = scratch("info");
    make_run(&root);
    let r = root.to_str().unwrap();
    let (out, _) = check(&["info", r], 0);
    for needle in [
        "samples    90",
        "classes    3: ant 30, bee 30, cow 30",
        "layers     2: conv [40], fc [6]",
        "epochs     3: 1-3",
        "finished   no",
        "cached     none",
    ] {
        assert!(out.contains(needle), "`{needle}` not in:\n{out}");
    }
    std::fs::write(root.join("finished.json"), b"").unwrap();
    let (out, _) = check(&["info", r], 0);
    assert!(out.contains("finished   yes (finished.json)"), "{out}");
}

#[test]
fn embed_then_answer_from_the_cache_then_export() {
    let (_root_tmp, root) = scratch("embed");
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

    // Export with the same flags: from the cache; float32 [E, N, 2]. Outputs go outside the run
    // (a run's files are read-only: export refuses an output inside its folder).
    let (_out_dir_tmp, out_dir) = scratch("embed_out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let npy = out_dir.join("conv.npy");
    let args: Vec<&str> =
        ["export", r, "--layer", "conv", "--out", npy.to_str().unwrap()].iter().copied().chain(flags).collect();
    let (out, _) = check(&args, 0);
    assert!(out.contains("from the cache"), "{out}");
    let bytes = std::fs::read(&npy).unwrap();
    let header = String::from_utf8_lossy(&bytes[..128]);
    assert!(header.contains("'<f4'") && header.contains("(3, 90, 2)"), "{header}");
    assert!(!out_dir.join("conv.samples.npy").exists(), "not sampled: no index file");

    // Sampled CSV export computes and writes epoch,sample,label,class,predicted,x,y.
    let csv = out_dir.join("fc.csv");
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
    let npy = out_dir.join("fc.npy");
    check(&["export", r, "--layer", "fc", "--out", npy.to_str().unwrap(), "--samples", "30", "--n-neighbors", "5"], 0);
    let idx = std::fs::read(out_dir.join("fc.samples.npy")).unwrap();
    assert!(String::from_utf8_lossy(&idx[..128]).contains("(30,)"));
}

#[test]
fn user_errors_exit_1_with_a_message() {
    let (_root_tmp, root) = scratch("user_errors");
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
    RunSpec::new(n, 4).unnamed_classes().layers(&[("wide", 24)]).epochs(&[1, 2]).separation(4.0, 0.0).write(root);
}

#[test]
fn ctrl_c_stops_embed_cleanly_with_exit_code_130() {
    use std::io::Read;
    let (_root_tmp, root) = scratch("ctrl_c");
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
                files(&e.path(), out);
            } else {
                out.push(e.path());
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

// ---- Issue 11, the file side: pipes, read-only runs, the cache's safety and size, hostile names.

/// Runs the binary with a 60 s limit (a FIFO would block forever): a regression fails, not hangs.
fn run_with_timeout(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_neuromapper"));
    cmd.args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary runs");
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > 60 {
            let _ = child.kill();
            panic!("neuromapper {args:?} did not finish within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn info_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    // Over 64 KiB of output (the pipe's buffer): 30,000 classes with long names.
    let (_root_tmp, root) = scratch("broken_pipe");
    let n = 30_000;
    let classes: Vec<String> = (0..n).map(|i| format!("class-number-{i:06}")).collect();
    let labels: Vec<u32> = (0..n as u32).collect();
    let w = RunWriter::create(&root, &Manifest::new(Some(classes), None), &labels, None).unwrap();
    w.write_epoch(0, &[("fc", 1, &vec![0.5; n])], None).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuromapper"))
        .args(["info", root.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, as `head -c 10` would, then hang up.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && out.status.code() != Some(101), "status {:?}\n{err}", out.status);
    assert!(err.is_empty(), "quiet: {err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "ended by SIGPIPE like a Unix filter: {:?}", out.status);
    }
}

#[test]
fn export_refuses_to_write_into_the_run() {
    let (_root_tmp, root) = scratch("export_into_run");
    make_run(&root);
    let r = root.to_str().unwrap();
    let labels_before = std::fs::read(root.join("labels.npy")).unwrap();
    let layer_before = std::fs::read(root.join("epochs/1/conv.npy")).unwrap();
    let (_outside_tmp, outside) = scratch("export_into_run_outside");
    std::fs::create_dir_all(&outside).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("epochs"), outside.join("eps")).unwrap();
        std::os::unix::fs::symlink(root.join("labels.npy"), outside.join("sym.npy")).unwrap();
        std::fs::hard_link(root.join("labels.npy"), outside.join("hard.npy")).unwrap();
    }
    let mut targets = vec![
        root.join("labels.npy"),
        root.join("epochs/1/conv.npy"),
        root.join("new.csv"),
        root.join(".neuromapper/out.npy"),
        root.join("epochs/../labels.npy"),
    ];
    if cfg!(unix) {
        targets.extend([outside.join("eps/1/conv.npy"), outside.join("sym.npy"), outside.join("hard.npy")]);
    }
    for t in &targets {
        let (_, err) = check(&["export", r, "--layer", "fc", "--out", t.to_str().unwrap(), "--n-neighbors", "5"], 1);
        assert!(err.contains("inside the run") && err.contains("choose an --out outside"), "{}: {err}", t.display());
    }
    assert_eq!(std::fs::read(root.join("labels.npy")).unwrap(), labels_before);
    assert_eq!(std::fs::read(root.join("epochs/1/conv.npy")).unwrap(), layer_before);
    assert!(!root.join("new.csv").exists());
    // Beside the run is fine.
    check(&["export", r, "--layer", "fc", "--out", outside.join("fc.npy").to_str().unwrap(), "--n-neighbors", "5"], 0);
}

#[cfg(unix)]
#[test]
fn a_cache_that_cannot_be_written_is_a_warning_and_the_result_still_prints() {
    let (_root_tmp, root) = scratch("unwritable_cache");
    make_run(&root);
    let r = root.to_str().unwrap();
    // .neuromapper as a link to elsewhere: refused for writes, nothing written through it.
    let (_elsewhere_tmp, elsewhere) = scratch("unwritable_cache_target");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join(".neuromapper")).unwrap();
    let (out, err) = check(&["embed", r, "--layers", "conv", "--n-neighbors", "5", "--pca", "10"], 0);
    assert!(out.contains("conv  3 epochs × 90 samples") && out.contains("total "), "{out}");
    assert!(err.contains("warning:") && err.contains(".neuromapper") && err.contains("symbolic link"), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "one warning per reason:\n{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through the link");
    // .neuromapper as a plain file: the same.
    std::fs::remove_file(root.join(".neuromapper")).unwrap();
    std::fs::write(root.join(".neuromapper"), b"not a folder").unwrap();
    let flags = ["--layers", "fc", "--n-neighbors", "5"];
    let (out, err) = check(&[&["embed", r][..], &flags].concat(), 0);
    assert!(out.contains("fc  3 epochs × 90 samples"), "{out}");
    assert!(err.contains("warning:") && err.contains(".neuromapper") && err.contains("real folder"), "{err}");
    let npy = root.with_extension("fc.npy");
    let (out, err) = check(&["export", r, "--layer", "fc", "--out", npy.to_str().unwrap(), "--n-neighbors", "5"], 0);
    assert!(out.contains("wrote ") && err.contains("warning:"), "{out}\n{err}");
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_run_is_refused_not_waited_on() {
    for file in ["epochs/2/conv.npy", "neuromapper.json"] {
        let (_root_tmp, root) = scratch("fifo");
        make_run(&root);
        let p = root.join(file);
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
        assert_eq!(made, 0, "mkfifo {}", p.display());
        for cmd in ["info", "embed"] {
            let out = run_with_timeout(&[cmd, root.to_str().unwrap()], &[]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd} {file}: {err}");
            assert!(err.contains(file) && err.contains("FIFO") && err.contains("not a regular file"), "{err}");
        }
    }
}

#[test]
fn names_with_terminal_escapes_are_printed_escaped() {
    let (_root_tmp, root) = scratch("escapes");
    let manifest = Manifest {
        format: nm_run::FORMAT_V1.into(),
        name: Some("run\u{1b}]0;pwned\u{7}".into()),
        classes: Some(vec!["ant\u{1b}[2J".into(), "bee".into()]),
        layers: None,
        adversarial: None,
    };
    let w = RunWriter::create(&root, &manifest, &[0, 1, 0, 1, 0, 1, 0, 1], None).unwrap();
    let x: Vec<f32> = (0..16).map(|k| (k / 2) as f32 + (k % 2) as f32 * 0.25 * (k / 2 % 3) as f32).collect();
    w.write_epoch(0, &[("x\u{1b}[31m", 2, &x)], None).unwrap();
    let (out, _) = check(&["info", root.to_str().unwrap()], 0);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "raw control characters in:\n{out}");
    for needle in ["run\\x1b]0;pwned\\x07", "ant\\x1b[2J 4", "x\\x1b[31m [2]"] {
        assert!(out.contains(needle), "`{needle}` not in:\n{out}");
    }
    let (out, err) = check(&["embed", root.to_str().unwrap(), "--n-neighbors", "3"], 0);
    assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}'), "{out}\n{err}");
}

/// Cache files under a run's .neuromapper/ (path, bytes).
fn cache_files(root: &Path) -> Vec<(PathBuf, u64)> {
    fn walk(d: &Path, out: &mut Vec<(PathBuf, u64)>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                walk(&e.path(), out);
            } else {
                out.push((e.path(), m.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join(".neuromapper"), &mut out);
    out
}

#[test]
fn cache_lists_current_and_stale_entries_and_clears_only_ours() {
    let (_root_tmp, root) = scratch("cache_cmd");
    make_run(&root);
    let r = root.to_str().unwrap();
    let (out, _) = check(&["cache", r], 0);
    assert!(out.contains("empty") && out.contains("NEUROMAPPER_CACHE_MAX_BYTES"), "{out}");
    check(&["embed", r, "--n-neighbors", "8", "--pca", "10"], 0);
    let (out, _) = check(&["cache", r], 0);
    assert!(out.contains("embedding") && out.contains("conv") && out.contains("n_neighbors=8"), "{out}");
    assert!(out.contains("pre-embed") && out.contains("epoch 1 pre-embed, 90 rows → 10 dims"), "{out}");
    assert!(out.contains("current") && !out.contains("stale  ") && out.contains("total 5 files"), "{out}");
    // New data for one layer: its entries are stale.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let bytes = std::fs::read(root.join("epochs/2/conv.npy")).unwrap();
    std::fs::write(root.join("epochs/2/conv.npy"), bytes).unwrap();
    let (out, _) = check(&["cache", r], 0);
    let stale: Vec<&str> = out.lines().filter(|l| l.ends_with("stale")).collect();
    assert_eq!(stale.len(), 2, "the conv embedding and its epoch 2 pre-embed:\n{out}");
    assert!(stale.iter().all(|l| l.contains("conv")), "{out}");
    // --clear removes our files only.
    std::fs::write(root.join(".neuromapper/NOTES"), b"a user's file").unwrap();
    let (out, _) = check(&["cache", r, "--clear"], 0);
    assert!(out.contains("removed 5 cache files"), "{out}");
    let left: Vec<PathBuf> = cache_files(&root).into_iter().map(|(p, _)| p).collect();
    assert_eq!(left, [root.join(".neuromapper/NOTES")]);
    check(&["cache", root.join("nope").to_str().unwrap()], 1);
}

#[test]
fn cache_stays_under_its_size_cap_least_recently_used_first() {
    let (_root_tmp, root) = scratch("cache_cap");
    make_run(&root);
    let r = root.to_str().unwrap();
    // One embedding of `fc` (no PCA: D = 6) with 90 samples × 3 epochs: about 2.6 KB per file.
    let embed = |seed: &str, cap: &str| {
        let out = run_with_timeout(
            &["embed", r, "--layers", "fc", "--n-neighbors", "5", "--seed", seed],
            &[("NEUROMAPPER_CACHE_MAX_BYTES", cap)],
        );
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    embed("1", "1G");
    let one = cache_files(&root)[0].1;
    let cap = (2 * one + one / 2).to_string();
    embed("2", &cap);
    // Seed 1 is used again (from the cache): it becomes the most recent.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(embed("1", &cap).contains("cached"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    embed("3", &cap);
    let files = cache_files(&root);
    let total: u64 = files.iter().map(|f| f.1).sum();
    assert!(total <= 2 * one + one / 2 && files.len() == 2, "{files:?}");
    // Seed 2 was least recently used: it went; 1 and 3 answer from the cache.
    assert!(embed("1", &cap).contains("cached"));
    assert!(embed("3", &cap).contains("cached"));
    assert!(!embed("2", &cap).contains("cached"));
}

#[test]
fn temp_files_of_a_killed_writer_are_cleaned_on_the_next_cache_write() {
    let (_root_tmp, root) = scratch("killed_writer");
    make_run(&root);
    let r = root.to_str().unwrap();
    let dir = root.join(".neuromapper/embeddings");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let tmp = dir.join(format!(".fc.abc.nmc.tmp-{dead}-0"));
    std::fs::write(&tmp, vec![0u8; 4096]).unwrap();
    check(&["embed", r, "--layers", "fc", "--n-neighbors", "5"], 0);
    assert!(!tmp.exists(), "left by a process that is gone");
    assert!(cache_files(&root).iter().all(|(p, _)| !p.to_string_lossy().contains(".tmp-")));
}

#[test]
fn plot_writes_svg_and_png_of_layers_by_epochs() {
    let (_root_tmp, root) = scratch("plot");
    make_run(&root);
    let r = root.to_str().unwrap();
    let (_out_dir_tmp, out_dir) = scratch("plot_out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let flags = ["--n-neighbors", "8", "--pca", "10"];
    let svg = out_dir.join("fig.svg");
    let args: Vec<&str> = ["plot", r, "--epochs", "1,3", "--out", svg.to_str().unwrap(), "--trajectories", "5"]
        .iter()
        .copied()
        .chain(flags)
        .collect();
    let (out, _) = check(&args, 0);
    assert!(out.contains("2 layers × 2 epochs, 90 points per panel"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    // Points are filled circles: 90 samples × 2 layers × 2 epochs; the trajectory's rings are not filled.
    let circles: Vec<&str> = text.split("<circle").skip(1).collect();
    let filled = circles.iter().filter(|c| !c.split("/>").next().unwrap().contains("fill=\"none\"")).count();
    assert_eq!((filled, circles.len() - filled), (90 * 4, 4));
    for title in ["conv · epoch 1", "conv · epoch 3", "fc · epoch 3", "\nant\n", "\ncow\n"] {
        assert!(text.contains(title), "{title} missing");
    }
    // The same embedding as `export` with the same flags: from the cache this time.
    let png = out_dir.join("fig.png");
    let args: Vec<&str> =
        ["plot", r, "--layers", "fc", "--out", png.to_str().unwrap()].iter().copied().chain(flags).collect();
    let (out, err) = check(&args, 0);
    assert!(err.contains("from the cache") && out.contains("1 layers × 3 epochs"), "{out}\n{err}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

#[test]
fn plot_refuses_bad_arguments_with_clear_errors() {
    let (_root_tmp, root) = scratch("plot_bad");
    make_run(&root);
    let r = root.to_str().unwrap();
    let out = std::env::temp_dir().join(format!("neuromapper_cli_test_{}_plot_bad.svg", std::process::id()));
    let o = out.to_str().unwrap();
    for (args, expected) in [
        (vec!["plot", r, "--out", "fig.jpg"], "fig.jpg: the output file must end in .png or .svg"),
        (vec!["plot", r, "--out", o, "--width", "50"], "--width 50 is out of range; choose 300 to 10000 pixels"),
        (vec!["plot", r, "--out", o, "--layers", "nope"], "unknown layer `nope`; the run has: conv, fc"),
        (vec!["plot", r, "--out", o, "--epochs", "1,7"], "unknown epoch 7; the run has: 1, 2, 3"),
        (vec!["plot", r, "--out", o, "--trajectories", "90"], "sample 90 does not exist; the run has samples 0 to 89"),
    ] {
        let (_, err) = check(&args, 1);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!out.exists(), "nothing written");
    let inside = root.join("fig.svg");
    let (_, err) = check(&["plot", r, "--out", inside.to_str().unwrap()], 1);
    assert!(err.contains("choose an --out outside the run's folder"), "{err}");
}

#[test]
fn plot_without_a_font_still_draws_the_points_and_says_so() {
    let (_root_tmp, root) = scratch("plot_nofont");
    make_run(&root);
    let png = std::env::temp_dir().join(format!("neuromapper_cli_test_{}_nofont.png", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_neuromapper"))
        .args(["plot", root.to_str().unwrap(), "--layers", "fc", "--out", png.to_str().unwrap(), "--pca", "0"])
        .env("NEUROMAPPER_FONT", "")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: no font found, so the PNG has no text"), "{err}");
    let with_text = png.with_file_name(format!("neuromapper_cli_test_{}_font.png", std::process::id()));
    check(&["plot", root.to_str().unwrap(), "--layers", "fc", "--out", with_text.to_str().unwrap(), "--pca", "0"], 0);
    // Same size (the layout does not depend on the font); only the text differs.
    let (a, b) = (std::fs::read(&png).unwrap(), std::fs::read(&with_text).unwrap());
    assert_eq!(&a[16..24], &b[16..24], "same width and height");
    assert_ne!(a, b, "text makes a difference");
}

// ---------------------------------------------------------------------------------------------
// `site`: a static viewer

/// Bytes of `NMEM` embedding file `b` as the encoder lays them out: 12-byte preamble, its JSON
/// header, then u32 samples [n] and u16 positions [E, n, 2] (both multiples of 4 bytes).
fn expected_embedding_len(b: &[u8]) -> usize {
    assert_eq!(&b[..4], b"NMEM");
    let hl = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let h: serde_json::Value = serde_json::from_slice(&b[12..12 + hl]).unwrap();
    let (n, e) = (h["n"].as_u64().unwrap() as usize, h["epochs"].as_array().unwrap().len());
    12 + hl + 4 * n + 4 * e * n
}

/// The JSON header of packed (`NMEP`) view file `b`, after checking the gzip member follows it.
fn packed_header(b: &[u8]) -> serde_json::Value {
    assert_eq!(&b[..4], b"NMEP");
    let hl = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    assert_eq!(&b[12 + hl..12 + hl + 2], [0x1f, 0x8b], "a gzip member after the header");
    serde_json::from_slice(&b[12..12 + hl]).unwrap()
}

#[test]
fn site_writes_a_folder_with_every_view_of_the_grid() {
    let (tmp, root) = scratch("site");
    make_run(&root);
    let r = root.to_str().unwrap();
    let out = tmp.join("site");
    let o = out.to_str().unwrap();
    let (stdout, stderr) = check(
        &["site", r, "--out", o, "--grid", "n_neighbors=5,10", "min_dist=0.1,0.5", "--pca", "0", "--min-dist", "0.5"],
        0,
    );
    assert!(stdout.contains("files") && stdout.contains("http.server"), "{stdout}");
    assert!(stderr.contains("view 4/4"), "progress per view on stderr: {stderr}");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("site.json")).unwrap()).unwrap();
    assert_eq!(index["format"], "neuromapper-site/1");
    assert_eq!(index["grid"]["axes"][0]["name"], "n_neighbors");
    assert_eq!(index["grid"]["axes"][1]["values"], serde_json::json!([0.1, 0.5]));
    let views = index["grid"]["views"].as_array().unwrap();
    assert_eq!(views.len(), 4);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("data/run.json")).unwrap()).unwrap();
    assert_eq!(summary["views"].as_array().unwrap().len(), 4);
    // The view shown first: --min-dist picks 0.5; n_neighbors is not the run's default 15, so the first.
    assert_eq!(summary["default_params"]["min_dist"], 0.5);
    assert_eq!(summary["default_params"]["n_neighbors"], 5);
    let mut bins = 0;
    for v in views {
        let key = v["key"].as_str().unwrap();
        for (i, layer) in ["conv", "fc"].iter().enumerate() {
            let file = index["files"]["views"][key]["layers"][layer].as_str().unwrap();
            assert_eq!(file, format!("data/views/{key}/{i}.bin"));
            let b = std::fs::read(out.join(file)).unwrap();
            assert_eq!(packed_header(&b)["grid"]["bits"], 12, "{file}: 12 bits per axis by default");
            bins += 1;
        }
        let q = index["files"]["views"][key]["quality"].as_str().expect("quality numbers for each view");
        let q: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(q)).unwrap()).unwrap();
        assert_eq!(q["layers"]["fc"].as_array().unwrap().len(), 3);
    }
    assert_eq!(bins, 8);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains(r#"<meta name="neuromapper-site" content="site.json">"#));
    assert!(out.join("js/static.js").is_file() && out.join("style.css").is_file());
    // Nothing written into the run but its cache; the same command again replaces the site.
    let run_files: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!run_files.iter().any(|f| f.to_string_lossy().contains("site")), "{run_files:?}");
    check(&["site", r, "--out", o, "--grid", "n_neighbors=5,10", "min_dist=0.1,0.5", "--pca", "0"], 0);
    // At full precision the views are the server's NMEM bytes, and larger.
    let full = tmp.join("site_full");
    let f = full.to_str().unwrap();
    check(
        &["site", r, "--out", f, "--grid", "n_neighbors=5,10", "min_dist=0.1,0.5", "--pca", "0", "--precision", "full"],
        0,
    );
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(full.join("site.json")).unwrap()).unwrap();
    let key = index["grid"]["views"][0]["key"].as_str().unwrap();
    let b = std::fs::read(full.join(index["files"]["views"][key]["layers"]["fc"].as_str().unwrap())).unwrap();
    assert_eq!(b.len(), expected_embedding_len(&b));
    let packed = std::fs::read(out.join(format!("data/views/{key}/1.bin"))).unwrap();
    assert!(packed.len() < b.len(), "packed {} bytes, full {}", packed.len(), b.len());
    let (_, err) = check(&["site", r, "--out", full.to_str().unwrap(), "--precision", "20"], 1);
    assert!(err.contains("8 to 16, or `full`"), "{err}");

    // One file, under the default limit.
    let page = tmp.join("view.html");
    let (stdout, _) = check(&["site", r, "--out", page.to_str().unwrap(), "--single-file", "--pca", "0"], 0);
    assert!(stdout.contains("one page"), "{stdout}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(r#"<meta name="neuromapper-site" content="inline">"#) && html.contains("type=\"importmap\""));
}

/// Bytes of every file under `dir`.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                folder_bytes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn site_under_a_size_limit_packs_coarser_until_it_fits() {
    let (tmp, root) = scratch("site_fit");
    make_run(&root);
    let r = root.to_str().unwrap();
    let sized = |name: &str, extra: &[&str], code: i32| {
        let out = tmp.join(name);
        let mut args = vec!["site", r, "--out", out.to_str().unwrap(), "--pca", "0", "--layers", "fc"];
        args.extend(extra);
        let (_, err) = check(&args, code);
        (out, err)
    };
    let (at12, _) = sized("s12", &[], 0);
    let (at10, _) = sized("s10", &["--precision", "10"], 0);
    let (b12, b10) = (folder_bytes(&at12), folder_bytes(&at10));
    assert!(b10 < b12, "10 bits {b10} bytes, 12 bits {b12}");
    // A limit between the two: without --precision the site steps down until it fits (11 or 10 bits).
    let limit = format!("{}", (b10 + b12) as f64 / 2.0 / 1e6);
    let (fit, err) = sized("fit", &["--max-size", &limit], 0);
    assert!(err.contains("bits per axis to fit --max-size") && err.contains("12 bits would take"), "{err}");
    assert!(folder_bytes(&fit) as f64 <= (b10 + b12) as f64 / 2.0, "the site fits its limit");
    let b = std::fs::read(fit.join("data/views").read_dir().unwrap().next().unwrap().unwrap().path().join("0.bin"))
        .unwrap();
    let bits = packed_header(&b)["grid"]["bits"].as_u64().unwrap();
    assert!((10..12).contains(&bits), "packed at {bits} bits");
    // An explicit --precision is kept: over the limit it is refused, not coarsened.
    let (_, err) = sized("kept", &["--max-size", &limit, "--precision", "12"], 1);
    assert!(err.contains("would take") && !err.contains("even at"), "{err}");
    // Below what 9 bits take, it is refused and says so.
    let (_, err) = sized("tiny", &["--max-size", "0.001"], 1);
    assert!(err.contains("even at 9 bits per axis") && err.contains("--samples-per-class"), "{err}");
}

#[test]
fn site_refuses_a_bad_out_a_bad_grid_and_a_site_over_its_size_limit() {
    let (tmp, root) = scratch("site_bad");
    make_run(&root);
    let r = root.to_str().unwrap();
    let foreign = tmp.join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"keep me").unwrap();
    let page = tmp.join("v.html");
    let p = page.to_str().unwrap();
    for (args, expected) in [
        (vec!["site", r, "--out", foreign.to_str().unwrap()], "not a site neuromapper wrote"),
        (vec!["site", r, "--out", foreign.join("notes.txt").to_str().unwrap()], "is a file, not a folder"),
        (vec!["site", r, "--out", root.join("site").to_str().unwrap()], "choose an --out outside the run's folder"),
        (vec!["site", r, "--out", p, "--grid", "perplexity=5"], "the grid can vary n_neighbors, min_dist and metric"),
        (vec!["site", r, "--out", p, "--grid", "n_neighbors=5,500"], "n_neighbors"),
        (
            vec!["site", r, "--out", p, "--grid", "n_neighbors=5,10", "--n-neighbors", "7"],
            "--n-neighbors 7 is not among",
        ),
        (vec!["site", r, "--out", p, "--layers", "nope"], "unknown layer `nope`"),
        (vec!["site", r, "--out", p, "--single-file", "--max-size", "0"], "--max-size must be a positive number"),
        // Known before any work at full precision: the positions alone are over the limit.
        (
            vec!["site", r, "--out", p, "--single-file", "--max-size", "0.001", "--precision", "full"],
            "would take at least",
        ),
        // Packed, known once built.
        (vec!["site", r, "--out", p, "--single-file", "--max-size", "0.001"], "would be"),
        // Known once built: the page with the viewer's code is over it.
        (vec!["site", r, "--out", p, "--single-file", "--max-size", "0.02", "--pca", "0"], "would be"),
    ] {
        let (_, err) = check(&args, 1);
        assert!(err.contains(expected), "{args:?}: {err}");
        if expected.contains("would") {
            assert!(err.contains("--samples-per-class") && err.contains("--layers"), "{err}");
        }
    }
    assert_eq!(std::fs::read(foreign.join("notes.txt")).unwrap(), b"keep me");
    assert!(!page.exists() && !root.join("site").exists(), "nothing written");
}

// ---------------------------------------------------------------------------------------------
// Runs side by side

#[test]
fn serving_runs_side_by_side_needs_the_same_samples() {
    let (_ta, a) = scratch("compare_a");
    make_run(&a);
    let (_tb, b) = scratch("compare_b");
    // The same 90 samples in blocks of 30 per class, where `make_run` has 0, 1, 2, 0, …
    RunSpec::new(90, 3)
        .class_names(&["ant", "bee", "cow"])
        .class_counts(&[30, 30, 30])
        .layers(&[("conv", 40), ("fc", 6)])
        .epochs(&[1])
        .write(&b);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (_, err) = check(&["serve", a, b, "--no-open", "--port", "0", "--no-follow"], 1);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("do not share their probe set") && err.contains("sample 1 has label 1"), "{err}");
    assert!(err.contains(a) && err.contains(b), "{err}");
    let seven = vec![a; 7];
    let mut args = vec!["serve"];
    args.extend(seven);
    args.extend(["--no-open", "--port", "0"]);
    let (_, err) = check(&args, 1);
    assert!(err.contains("at most 6 runs"), "{err}");
}
