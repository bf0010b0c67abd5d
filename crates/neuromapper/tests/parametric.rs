//! `embed --parametric`, `export --parametric`, `transform` and `serve --parametric` on a small
//! image run: the parametric view keeps the non-parametric one's trustworthiness, `transform` and the
//! server's place route put a slice's own activations where the slice was embedded, and bad input
//! gets a clear error.
#![cfg(feature = "train")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    let server = Server::start(&["serve", r, "--parametric"]);

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

        // The server's place route (the viewer's "extra points") gives the same positions.
        let (status, reply) = server.place(&format!("/api/layers/pixels/place?epoch={e}"), &npy_bytes(N, D, act));
        assert_eq!(status, 200, "{reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["n"], N);
        let served: Vec<f32> = v["positions"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(served.len(), 2 * N);
        let err = (served.iter().zip(own).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / N as f32).sqrt();
        eprintln!("epoch {k}: served placement RMS error {:.4} radii", err / radius);
        assert!(err < 0.05 * radius, "epoch {k}: the place route is {err} from the embedded positions");
    }

    // Its quality numbers are the parametric view's, not the ordinary view's.
    let (status, reply) = server.get("/api/quality");
    assert_eq!(status, 200, "{reply}");
    let q: serde_json::Value = serde_json::from_str(&reply).unwrap();
    for (k, act) in acts.iter().enumerate() {
        let x = Matrix::new(N, D, act.clone()).unwrap();
        let slice = |v: &[f32]| Matrix::new(N, 2, v[k * N * 2..(k + 1) * N * 2].to_vec()).unwrap();
        let (mine, ordinary) = (trustworthiness(&x, &slice(&param), 15), trustworthiness(&x, &slice(&plain), 15));
        let served = q["layers"]["pixels"][k]["trust15"].as_f64().unwrap();
        eprintln!(
            "epoch {k}: served trust15 {served:.4}, the parametric view's {mine:.4}, the ordinary view's {ordinary:.4}"
        );
        assert!(
            (served - mine).abs() < 0.003 && (served - mine).abs() < (served - ordinary).abs(),
            "epoch {k}: served trust15 {served} vs the parametric view's {mine} (the ordinary view's {ordinary})"
        );
    }
}

/// The .npy bytes of an f32 `[m, d]` array.
fn npy_bytes(m: usize, d: usize, data: &[f32]) -> Vec<u8> {
    nm_run::npy::encode(&[m, d], data)
}

/// A `neuromapper serve` process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `args` (a serve command; `--no-open --port 0` are added) and waits for its URL.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_neuromapper"))
            .args(args)
            .args(["--no-open", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().trim_start_matches("http://").split('/').next().unwrap().to_string();
        assert!(addr.contains(':'), "serve printed no URL: {line:?}");
        Server { child, addr }
    }

    /// Sends `method target` with `body` as raw HTTP/1.1: (status, body).
    fn request(&self, method: &str, target: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(body); // the server may answer (413) before reading it all
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    }

    fn get(&self, target: &str) -> (u16, String) {
        self.request("GET", target, b"")
    }

    /// POSTs a place request once the layer's view is loaded (the route answers 409 before).
    fn place(&self, target: &str, npy: &[u8]) -> (u16, String) {
        let start = Instant::now();
        loop {
            let (status, body) = self.request("POST", target, npy);
            if status != 409 || !body.contains("not loaded") || start.elapsed() > Duration::from_secs(120) {
                return (status, body);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some(eol) = b.find("\r\n") {
        let size = usize::from_str_radix(b[..eol].trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

#[test]
fn the_place_route_refuses_bad_uploads_with_clear_errors() {
    let tmp = TempDir::new("neuromapper_place_errors");
    let root: PathBuf = tmp.join("run");
    let acts = make_run(&root);
    let r = root.to_str().unwrap();
    let good = npy_bytes(N, D, &acts[0]);

    // Without --parametric the route says how to get it.
    let plain = Server::start(&["serve", r, "--no-follow"]);
    let (status, err) = plain.request("POST", "/api/layers/pixels/place?epoch=0", &good);
    assert_eq!(status, 409, "{err}");
    assert!(err.contains("serve RUN --parametric"), "{err}");
    drop(plain);

    // --parametric without the cache is refused at start, naming the command that makes it.
    let few = ["--samples", "60", "--n-neighbors", "8"];
    let out = neuromapper(&[&["serve", r, "--parametric", "--no-open", "--port", "0"][..], &few].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no parametric embedding") && err.contains("--parametric --layers pixels"), "{err}");

    check(&[&["embed", r, "--parametric"][..], &few].concat(), 0);
    let server = Server::start(&[&["serve", r, "--parametric"][..], &few].concat());
    let (status, reply) = server.place("/api/layers/pixels/place?epoch=2", &good);
    assert_eq!(status, 200, "{reply}");
    // Wrong width, unknown epoch and layer, no epoch, not an .npy, too many bytes.
    let (status, err) = server.place("/api/layers/pixels/place?epoch=2", &npy_bytes(4, 10, &[0f32; 40]));
    assert_eq!(status, 400, "{err}");
    assert!(err.contains("rows of 10 values") && err.contains(&format!("D = {D}")), "{err}");
    let (status, err) = server.place("/api/layers/pixels/place?epoch=9", &good);
    assert_eq!(status, 400, "{err}");
    assert!(err.contains("no epoch 9") && err.contains("0, 1, 2"), "{err}");
    let (status, err) = server.place("/api/layers/nope/place?epoch=0", &good);
    assert_eq!(status, 400, "{err}");
    assert!(err.contains("unknown layer `nope`"), "{err}");
    let (status, err) = server.place("/api/layers/pixels/place", &good);
    assert_eq!(status, 400, "{err}");
    assert!(err.contains("?epoch="), "{err}");
    let (status, err) = server.place("/api/layers/pixels/place?epoch=0", b"not an npy file");
    assert_eq!(status, 400, "{err}");
    assert!(err.contains("the uploaded .npy"), "{err}");
    let (status, _) = server.place("/api/layers/pixels/place?epoch=0", &vec![0u8; 65 * 1024 * 1024]);
    assert_eq!(status, 413);
    // The server still answers afterwards.
    assert_eq!(server.place("/api/layers/pixels/place?epoch=0", &good).0, 200);

    // Two uploads that send half their body hold both turns: a third is not read until one ends.
    let head = format!(
        "POST /api/layers/pixels/place?epoch=0 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        good.len()
    );
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&good[..good.len() / 2]).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(&server.addr).unwrap();
    third.write_all(head.as_bytes()).unwrap();
    third.write_all(&good).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    assert!(third.read(&mut buf).is_err(), "a third upload was answered while two held the turns");
    drop(held);
    third.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let n = third.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
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
