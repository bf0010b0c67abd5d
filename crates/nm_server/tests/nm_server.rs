//! Server tests over real HTTP (a raw std TcpStream client, so requests are sent byte for byte,
//! path-traversal attempts included), on small runs written with nm_run::RunWriter.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nm_run::EpochMetrics;
use nm_server::{ParamOverrides, ServeOptions, ServerHandle};
use nm_testkit::{Predictions, RunSpec, TempDir, TestRun};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

const LAYERS: [(&str, usize); 2] = [("block1", 8), ("block2", 6)];

/// A run of `n` samples in 3 classes with 4x4 RGB thumbnails and the layers LAYERS over `epochs`,
/// written by nm_testkit into a temp folder that goes with it. The clusters separate more with
/// each epoch (as a training network's do) and so do the predictions: sample i is wrong when
/// i % (epoch + 2) == 0.
fn make_run(tag: &str, n: usize, epochs: &[u32]) -> TestRun {
    RunSpec::new(n, 3)
        .class_names(&["cat", "dog", "ship"])
        .layers(&LAYERS)
        .epochs(epochs)
        .separation(1.0, 1.0)
        .noise(0.5)
        .thumbnails(4, 4, 3)
        .predictions(Predictions::improving())
        .write_temp(&format!("nm_server_test_{tag}"))
}

fn serve(path: &Path, live: bool) -> ServerHandle {
    nm_server::start(
        path.to_path_buf(),
        ServeOptions { port: Some(0), open_browser: false, follow: live, ..Default::default() },
    )
    .unwrap()
}

fn addr(server: &ServerHandle) -> String {
    server.url().trim_start_matches("http://").split('/').next().unwrap().to_string()
}

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends `method target` with `body` as raw HTTP/1.1 and reads the whole reply.
fn request(server: &ServerHandle, method: &str, target: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr(server)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body); // the server may answer (413) before reading it all
    read_reply(&mut s)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

fn get(server: &ServerHandle, target: &str) -> Reply {
    request(server, "GET", target, b"")
}

fn post_json(server: &ServerHandle, target: &str, v: &Value) -> Reply {
    request(server, "POST", target, v.to_string().as_bytes())
}

/// A subscription to /api/events.
struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    fn open(server: &ServerHandle) -> Events {
        let mut s = TcpStream::connect(addr(server)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n").unwrap();
        let mut ev = Events { reader: BufReader::new(s) };
        let first = ev.next().expect("no hello event");
        assert_eq!(first["type"], "hello");
        ev
    }

    /// The next event's JSON (chunk framing lines and keep-alive comments are skipped).
    fn next(&mut self) -> Option<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                return serde_json::from_str(data).ok();
            }
        }
    }

    /// Reads events until `pred` holds for one (returned) or `timeout` passes (panics with what was seen).
    fn until(&mut self, timeout: Duration, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let end = Instant::now() + timeout;
        let mut seen = Vec::new();
        while Instant::now() < end {
            match self.next() {
                Some(v) if pred(&v) => return v,
                Some(v) => {
                    if v["type"] != "progress" {
                        seen.push(v);
                    }
                }
                None => break,
            }
        }
        panic!("event not seen; got: {seen:?}");
    }
}

/// Parsed `NMEM` embedding: (header, samples, quantised positions).
fn parse_embedding(b: &[u8]) -> (Value, Vec<u32>, Vec<u16>) {
    assert_eq!(&b[..4], b"NMEM");
    let hl = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let h: Value = serde_json::from_slice(&b[12..12 + hl]).unwrap();
    let n = h["n"].as_u64().unwrap() as usize;
    let e = h["epochs"].as_array().unwrap().len();
    let body = &b[12 + hl..];
    let samples = body[..4 * n].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    let pos = body[4 * n..4 * n + 4 * n * e].chunks(2).map(|c| u16::from_le_bytes(c.try_into().unwrap())).collect();
    (h, samples, pos)
}

/// Polls until the layer's view can be fetched.
fn wait_for_view(server: &ServerHandle, layer: &str, view: &str) -> Reply {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let r = get(server, &format!("/api/layers/{layer}/embedding?view={view}"));
        if r.status == 200 || Instant::now() > end {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Summary, static files, default views

#[test]
fn summary_lists_classes_layers_epochs_and_accuracy() {
    let run = make_run("summary", 60, &[1, 2, 3]);
    run.writer()
        .write_metrics(&[EpochMetrics {
            epoch: 1,
            train_accuracy: Some(0.5),
            test_accuracy: Some(0.4),
            loss: Some(1.0),
            adv_success: None,
        }])
        .unwrap();
    let server = serve(run.path(), false);
    let r = get(&server, "/api/run");
    assert_eq!(r.status, 200);
    let s = r.json();
    assert_eq!(s["classes"], json!(["cat", "dog", "ship"]));
    assert_eq!(s["layers"][0]["name"], "block1");
    assert_eq!(s["layers"][1]["dim"], 6);
    assert_eq!(s["epochs"], json!([1, 2, 3]));
    assert_eq!(s["n_samples"], 60);
    // Epoch 1: every 3rd sample wrong -> 40/60 right.
    let acc = s["accuracy"][0]["accuracy"].as_f64().unwrap();
    assert!((acc - 40.0 / 60.0).abs() < 1e-6, "{acc}");
    assert_eq!(s["metrics"][0]["test_accuracy"].as_f64().unwrap() as f32, 0.4);
    assert_eq!(s["thumbs"]["width"], 4);
    server.shutdown().unwrap();
}

#[test]
fn viewer_files_are_served_from_the_binary() {
    let run = make_run("static", 30, &[1]);
    let server = serve(run.path(), false);
    let r = get(&server, "/");
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("js/main.js"));
    let r = get(&server, "/js/main.js");
    assert_eq!(r.status, 200);
    assert!(r.headers.to_ascii_lowercase().contains("text/javascript"), "{}", r.headers);
    server.shutdown().unwrap();
}

#[test]
fn default_views_samples_and_thumbnails_are_served_as_binary() {
    let run = make_run("default", 90, &[1, 2, 3]);
    let server = serve(run.path(), false);
    let key = get(&server, "/api/run").json()["default_view"].as_str().unwrap().to_string();
    for (layer, _) in LAYERS {
        let r = wait_for_view(&server, layer, &key);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let (h, samples, pos) = parse_embedding(&r.body);
        assert_eq!(h["epochs"], json!([1, 2, 3]));
        assert_eq!(samples, (0..90).collect::<Vec<u32>>());
        assert_eq!(pos.len(), 3 * 90 * 2);
        // Each epoch's quantised range is used fully on both axes.
        for e in 0..3 {
            let slice = &pos[e * 180..(e + 1) * 180];
            assert_eq!(slice.iter().step_by(2).max(), Some(&65535));
            assert_eq!(slice.iter().skip(1).step_by(2).min(), Some(&0));
        }
        // Without ?view the default view is served.
        assert_eq!(get(&server, &format!("/api/layers/{layer}/embedding")).body, r.body);
    }
    let r = get(&server, "/api/samples");
    assert_eq!(&r.body[..4], b"NMSA");
    let hl = u32::from_le_bytes(r.body[8..12].try_into().unwrap()) as usize;
    let h: Value = serde_json::from_slice(&r.body[12..12 + hl]).unwrap();
    assert_eq!(h["pred_epochs"], json!([1, 2, 3]));
    assert_eq!(h["label_bytes"], 1);
    let labels = &r.body[12 + hl..12 + hl + 90];
    assert_eq!(labels[..4], [0, 1, 2, 0]);
    let r = get(&server, "/api/thumbs/0.png");
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[1..4], b"PNG");
    server.shutdown().unwrap();
}

/// Parsed `NMVA` values: (header, f32 values).
fn parse_values(b: &[u8]) -> (Value, Vec<f32>) {
    assert_eq!(&b[..4], b"NMVA", "{}", String::from_utf8_lossy(b));
    let hl = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let h: Value = serde_json::from_slice(&b[12..12 + hl]).unwrap();
    (h, b[12 + hl..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
}

#[test]
fn per_sample_values_and_neighbour_change_are_served() {
    let run = make_run("values", 90, &[1, 2, 3]);
    // Logits for the predictions (row i: 2 at class i % 3, else 0), a per-epoch value, samples.csv.
    for e in [1u32, 2, 3] {
        let dir = run.path().join(format!("epochs/{e}"));
        let logits: Vec<f32> = (0..90).flat_map(|i| (0..3).map(move |c| if c == i % 3 { 2.0 } else { 0.0 })).collect();
        nm_run::npy::write(&dir.join("predictions.npy"), &[90, 3], &logits).unwrap();
        let v: Vec<f32> = (0..90).map(|i| i as f32 + e as f32 * 100.0).collect();
        nm_run::npy::write(&dir.join("difficulty.values.npy"), &[90], &v).unwrap();
    }
    let mut csv = String::from("weight,file\n");
    for i in 0..90 {
        csv.push_str(&format!("{i}.5,f{i}.png\n"));
    }
    std::fs::write(run.path().join("samples.csv"), csv).unwrap();
    let server = serve(run.path(), false);
    let summary = get(&server, "/api/run").json();
    let ids: Vec<&str> = summary["values"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pred:confidence", "pred:margin", "pred:loss", "change", "run:difficulty", "csv:weight"]);

    let (h, v) = parse_values(&get(&server, "/api/values?id=pred:confidence").body);
    assert_eq!((h["epochs"].clone(), h["n"].clone()), (json!([1, 2, 3]), json!(90)));
    let p = 2f32.exp() / (2f32.exp() + 2.0);
    assert!(v.len() == 270 && v.iter().all(|x| (x - p).abs() < 1e-5), "softmax confidence {p}: {:?}", &v[..3]);
    let (_, loss) = parse_values(&get(&server, "/api/values?id=pred:loss").body);
    // Sample 1 (class 1) is predicted class 1: loss -ln p; labels are i % 3 like the logits' argmax.
    assert!((loss[1] + p.ln()).abs() < 1e-5, "{}", loss[1]);
    let (h, v) = parse_values(&get(&server, "/api/values?id=run:difficulty").body);
    assert_eq!(h["epochs"], json!([1, 2, 3]));
    assert_eq!((v[0], v[90 + 5], v[180 + 89]), (100.0, 205.0, 389.0));
    let (h, v) = parse_values(&get(&server, "/api/values?id=csv:weight").body);
    assert_eq!((h["epochs"].clone(), v.len(), v[3]), (Value::Null, 90, 3.5));
    assert_eq!(
        get(&server, "/api/sample-text").json(),
        json!({"columns": ["file"], "rows": [(0..90).map(|i| format!("f{i}.png")).collect::<Vec<_>>()]})
    );
    assert_4xx(&get(&server, "/api/values?id=run:nope"), 404, "no per-sample value `nope`");
    assert_4xx(&get(&server, "/api/values?id=csv:file"), 404, "text, not numbers");
    assert_4xx(&get(&server, "/api/values"), 400, "id");

    let key = summary["default_view"].as_str().unwrap().to_string();
    assert_eq!(wait_for_view(&server, "block1", &key).status, 200);
    let r = get(&server, &format!("/api/change?layer=block1&view={key}"));
    let (h, v) = parse_values(&r.body);
    assert_eq!(
        (h["epochs"].clone(), h["n"].clone(), h["layer"].clone()),
        (json!([1, 2, 3]), json!(90), json!("block1"))
    );
    assert!(v[..90].iter().all(|x| x.is_nan()), "nothing to compare with at the first epoch");
    assert!(v[90..].iter().all(|x| (0.0..=1.0).contains(x)), "Jaccard distances");
    assert_4xx(&get(&server, "/api/change?layer=nope"), 404, "unknown layer `nope`");
    assert_4xx(&get(&server, "/api/change?layer=block1&view=nope"), 404, "no view `nope`");
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Bad requests: 4xx with a message, never a panic, never a file outside the run

fn assert_4xx(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let msg = r.error();
    assert!(msg.contains(needle), "message {msg:?} should mention {needle:?}");
}

#[test]
fn bad_requests_get_4xx_with_a_message() {
    let run = make_run("bad", 40, &[1, 2]);
    let server = serve(run.path(), false);
    let compute = |params: Value| post_json(&server, "/api/compute", &json!({"client": "t", "params": params}));

    assert_4xx(&get(&server, "/api/layers/nope/embedding"), 404, "unknown layer `nope`");
    assert_4xx(&post_json(&server, "/api/compute", &json!({"layers": ["nope"]})), 404, "unknown layer");
    assert_4xx(&compute(json!({"n_neighbors": 0})), 400, "n_neighbors");
    assert_4xx(&compute(json!({"n_neighbors": 1_000_000_000u64})), 400, "n_neighbors");
    assert_4xx(&compute(json!({"n_neighbors": 40})), 400, "n_neighbors"); // not fewer than the 40 points
    assert_4xx(&compute(json!({"min_dist": -1})), 400, "min_dist");
    assert_4xx(&compute(json!({"min_dist": 7.5})), 400, "min_dist");
    assert_4xx(&compute(json!({"metric": "manhattan"})), 400, "metric");
    assert_4xx(&compute(json!({"sampling": {"kind": "total", "n": 0}})), 400, "samples");
    // Per class beyond every class's size selects every sample: the all-samples view, not an error.
    let all = compute(json!({"sampling": {"kind": "all"}})).json()["view"].clone();
    assert_eq!(compute(json!({"sampling": {"kind": "per_class", "n": 1_000_000}})).json()["view"], all);
    assert_4xx(&compute(json!({"pca_dims": 1_000_000})), 400, "pca_dims");
    assert_4xx(&compute(json!({"bogus": 1})), 400, "bogus");
    assert_4xx(&post_json(&server, "/api/compute", &json!({"layers": []})), 400, "layers");
    assert_4xx(&post_json(&server, "/api/compute", &json!({"client": "../../x"})), 400, "client");
    assert_4xx(&request(&server, "POST", "/api/compute", b"{not json"), 400, "bad compute request");
    let huge = format!("{{\"client\": \"{}\"}}", "a".repeat(1 << 20));
    assert_4xx(&request(&server, "POST", "/api/compute", huge.as_bytes()), 413, "too large");
    assert_4xx(&get(&server, "/api/thumbs/99.png"), 404, "thumbnail page");
    assert_4xx(&get(&server, "/api/thumbs/..%2f..%2fetc%2fpasswd"), 404, "thumbnail page");
    assert_4xx(&get(&server, "/api/layers/block1/embedding?view=nothing"), 404, "no view");
    assert_4xx(&get(&server, "/api/nothing"), 404, "no API route");
    assert_4xx(&request(&server, "DELETE", "/index.html", b""), 405, "not allowed");

    // Path traversal, plain and encoded: never a file from outside the run (or the embedded UI).
    for target in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/..%2f..%2fetc%2fpasswd",
        "/js/../../../../etc/passwd",
        "/%252e%252e/etc/passwd",
        "/....//....//etc/passwd",
        "/..\\..\\etc\\passwd",
        "/api/layers/..%2f..%2f..%2fetc%2fpasswd/embedding",
        "/api/layers/%2e%2e/embedding",
        "//etc/passwd",
    ] {
        let r = get(&server, target);
        assert!((400..500).contains(&r.status), "{target}: {}", r.status);
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("root:"), "{target} leaked /etc/passwd");
    }
    // The run's own files are not served either (only through the API).
    assert_eq!(get(&server, "/labels.npy").status, 404);
    assert_eq!(get(&server, "/neuromapper.json").status, 404);

    // Still alive and well after all that.
    assert_eq!(get(&server, "/api/run").status, 200);
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Compute requests: progress stream, sharing, supersession

#[test]
fn compute_streams_progress_and_is_shared_between_clients() {
    let run = make_run("share", 120, &[1, 2]);
    let server = serve(run.path(), false);
    let mut events = Events::open(&server);
    let params = json!({"n_neighbors": 6, "min_dist": 0.3});
    let a = post_json(&server, "/api/compute", &json!({"client": "a", "params": params}));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let b = post_json(&server, "/api/compute", &json!({"client": "b", "params": params, "layers": ["block2"]}));
    let (a, b) = (a.json(), b.json());
    let view = a["view"].as_str().unwrap().to_string();
    assert_eq!(b["view"], a["view"], "same parameters, same view");
    assert_eq!(a["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(b["tasks"].as_array().unwrap().len(), 1);

    let mut progress = 0;
    let mut done = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(120);
    while done.len() < 2 && Instant::now() < end {
        let ev = events.next().expect("event stream ended");
        if ev["view"] != view.as_str() {
            continue;
        }
        match ev["type"].as_str().unwrap() {
            "progress" => {
                progress += 1;
                let f = ev["fraction"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&f));
            }
            "done" => {
                done.insert(ev["layer"].as_str().unwrap().to_string());
            }
            other => panic!("unexpected {other}: {ev}"),
        }
    }
    assert_eq!(done.len(), 2, "both layers done");
    assert!(progress > 0, "progress was streamed");
    let r = get(&server, &format!("/api/layers/block2/embedding?view={view}"));
    assert_eq!(r.status, 200);
    // Asking again is answered from memory.
    let again = post_json(&server, "/api/compute", &json!({"client": "c", "params": params})).json();
    assert!(again["tasks"].as_array().unwrap().iter().all(|t| t["state"] == "done"), "{again}");
    let views = get(&server, "/api/run").json()["views"].clone();
    assert!(
        views.as_array().unwrap().iter().any(|v| v["key"] == view.as_str() && v["params"]["n_neighbors"] == 6),
        "{views}"
    );
    server.shutdown().unwrap();
}

#[test]
fn a_newer_request_cancels_the_older_unless_another_client_wants_it() {
    // Big enough that a fit takes a while, so the second request arrives while the first runs.
    let run = make_run("supersede", 3000, &[1, 2, 3]);
    let server = serve(run.path(), false);
    let mut events = Events::open(&server);
    let one_layer = |client: &str, nn: u32| {
        let r = post_json(
            &server,
            "/api/compute",
            &json!({"client": client, "layers": ["block1"], "params": {"n_neighbors": nn}}),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["view"].as_str().unwrap().to_string()
    };
    // Client a alone wants view x; then it asks for y instead: x is cancelled.
    let x = one_layer("a", 7);
    let y = one_layer("a", 8);
    let ev = events.until(Duration::from_secs(120), |v| {
        v["view"] == x.as_str() && (v["type"] == "cancelled" || v["type"] == "done")
    });
    assert_eq!(ev["type"], "cancelled", "{ev}");
    // Clients b and c share z; b moves on to w, but c still wants z: z completes.
    let z = one_layer("b", 9);
    assert_eq!(one_layer("c", 9), z);
    let _w = one_layer("b", 10);
    let ev = events.until(Duration::from_secs(180), |v| {
        v["view"] == z.as_str() && (v["type"] == "cancelled" || v["type"] == "done")
    });
    assert_eq!(ev["type"], "done", "{ev}");
    assert_eq!(get(&server, &format!("/api/layers/block1/embedding?view={z}")).status, 200);
    let _ = y;
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Live mode

#[test]
fn live_mode_embeds_new_epochs_and_tells_browsers() {
    let run = make_run("live", 80, &[]);
    let server = serve(run.path(), true);
    let mut events = Events::open(&server);
    let s = get(&server, "/api/run").json();
    assert_eq!(s["live"], true);
    assert_eq!(s["training"], true);
    assert_eq!(s["default_view"], "live");

    for (k, epoch) in [1u32, 2, 3].into_iter().enumerate() {
        run.write_epoch(epoch);
        server.epoch_added(epoch);
        let ev = events.until(Duration::from_secs(120), |v| v["type"] == "epochs");
        assert_eq!(ev["epochs"].as_array().unwrap().len(), k + 1, "{ev}");
        for (layer, _) in LAYERS {
            let r = get(&server, &format!("/api/layers/{layer}/embedding?view=live"));
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let (h, samples, _) = parse_embedding(&r.body);
            assert_eq!(h["epochs"].as_array().unwrap().len(), k + 1, "{h}");
            assert_eq!(samples.len(), 80);
        }
        let s = get(&server, "/api/run").json();
        assert_eq!(s["epochs"].as_array().unwrap().len(), k + 1);
        assert_eq!(s["accuracy"].as_array().unwrap().len(), k + 1);
    }
    let live_positions = |server: &ServerHandle, view: &str| -> Vec<Vec<u16>> {
        LAYERS
            .iter()
            .map(|(layer, _)| {
                parse_embedding(&get(server, &format!("/api/layers/{layer}/embedding?view={view}")).body).2
            })
            .collect()
    };
    let incremental = live_positions(&server, "live");
    server.training_finished();
    let ev = events.until(Duration::from_secs(10), |v| v["type"] == "training_finished");
    assert_eq!(ev["refining"], true, "{ev}");
    // Every layer's incremental view is replaced by its refinement over all epochs.
    let mut refined = std::collections::BTreeSet::new();
    while refined.len() < LAYERS.len() {
        let ev = events.until(Duration::from_secs(120), |v| v["type"] == "done" && v["refined"] == true);
        assert_eq!(ev["view"], "live");
        assert_eq!(ev["epochs"].as_array().unwrap().len(), 3, "{ev}");
        refined.insert(ev["layer"].as_str().unwrap().to_string());
    }
    server.wait_live_idle();
    assert_eq!(get(&server, "/api/run").json()["training"], false);
    let final_view = live_positions(&server, "live");
    assert_ne!(final_view, incremental, "the refinement should differ from the incremental embedding");
    server.shutdown().unwrap();

    // Reopening the finished run shows the very same view, straight from the cache.
    let server = serve(run.path(), false);
    let key = get(&server, "/api/run").json()["default_view"].as_str().unwrap().to_string();
    for (layer, _) in LAYERS {
        assert_eq!(wait_for_view(&server, layer, &key).status, 200);
    }
    assert_eq!(live_positions(&server, &key), final_view);
    server.shutdown().unwrap();
}

/// `serve` follows a run that another writer grows: no `epoch_added` call, only files appearing in
/// the folder (RunWriter's atomic epoch renames, as the Python writer does them).
#[test]
fn serve_follows_epochs_written_later_without_moving_the_first_ones() {
    let run = make_run("follow", 90, &[0, 1]);
    let server = serve(run.path(), true);
    let mut events = Events::open(&server);
    for (layer, _) in LAYERS {
        assert_eq!(wait_for_view(&server, layer, "live").status, 200);
    }
    let s = get(&server, "/api/run").json();
    assert_eq!(s["epochs"], json!([0, 1]));
    assert_eq!(s["live"], true, "an unfinished run is followed");
    let before: Vec<Vec<u16>> = LAYERS
        .iter()
        .map(|(layer, _)| parse_embedding(&get(&server, &format!("/api/layers/{layer}/embedding?view=live")).body).2)
        .collect();

    run.write_epoch(2);
    run.write_epoch(3);
    events.until(Duration::from_secs(120), |v| v["type"] == "epochs" && v["epochs"] == json!([0, 1, 2, 3]));
    server.wait_live_idle();
    assert_eq!(get(&server, "/api/run").json()["epochs"], json!([0, 1, 2, 3]));
    for (k, (layer, _)) in LAYERS.iter().enumerate() {
        let r = get(&server, &format!("/api/layers/{layer}/embedding?view=live"));
        let (h, samples, pos) = parse_embedding(&r.body);
        assert_eq!(h["epochs"], json!([0, 1, 2, 3]), "{h}");
        // Positions are quantised per epoch, so unchanged epochs give the very same numbers.
        let first_two = 2 * samples.len() * 2;
        assert_eq!(pos[..first_two], before[k][..first_two], "layer {layer}: epochs 0 and 1 moved");
    }

    // The trainer marks the run finished: the views are refined, cached and the run is no longer live.
    run.writer().finish(&[0, 1, 2, 3]).unwrap();
    let ev = events.until(Duration::from_secs(30), |v| v["type"] == "training_finished");
    assert_eq!(ev["refining"], true);
    let mut refined = std::collections::BTreeSet::new();
    while refined.len() < LAYERS.len() {
        let ev = events.until(Duration::from_secs(120), |v| v["type"] == "done" && v["refined"] == true);
        refined.insert(ev["layer"].as_str().unwrap().to_string());
    }
    server.wait_live_idle();
    let s = get(&server, "/api/run").json();
    assert_eq!((s["live"].clone(), s["training"].clone()), (json!(false), json!(false)));
    server.shutdown().unwrap();
}

/// A run whose probe set changes under the viewer (another N) gets a message, not a crash, and
/// the views already shown stay.
#[test]
fn a_run_whose_samples_change_under_the_viewer_gets_a_message() {
    let run = make_run("changed-n", 60, &[0]);
    let server = serve(run.path(), true);
    let mut events = Events::open(&server);
    for (layer, _) in LAYERS {
        assert_eq!(wait_for_view(&server, layer, "live").status, 200);
    }
    // Another writer starts over in the same folder with fewer samples.
    let other = make_run("changed-n-source", 45, &[0, 1]);
    for name in ["labels.npy", "inputs.npy"] {
        std::fs::copy(other.path().join(name), run.path().join(name)).unwrap();
    }
    let epochs = run.path().join("epochs");
    std::fs::remove_dir_all(&epochs).unwrap();
    std::fs::rename(other.path().join("epochs"), &epochs).unwrap();
    let ev = events.until(Duration::from_secs(30), |v| v["type"] == "error");
    let msg = ev["error"].as_str().unwrap();
    assert!(msg.contains("samples changed") && msg.contains("60") && msg.contains("45"), "{msg}");
    for (layer, _) in LAYERS {
        assert_eq!(get(&server, &format!("/api/layers/{layer}/embedding?view=live")).status, 200);
    }
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Binding

#[test]
fn a_taken_port_is_replaced_by_a_free_one() {
    let run = make_run("port", 20, &[1]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let server = nm_server::start(
        run.path_buf(),
        ServeOptions { port: Some(port), open_browser: false, follow: false, ..Default::default() },
    )
    .unwrap();
    assert!(!server.url().ends_with(&format!(":{port}/")), "{}", server.url());
    assert_eq!(get(&server, "/api/run").status, 200);
    server.shutdown().unwrap();
}

#[test]
fn a_missing_run_is_an_error_not_a_panic() {
    let tmp = TempDir::new("nm_server_test_missing");
    let r = nm_server::start(
        tmp.join("no-run-here"),
        ServeOptions { port: Some(0), open_browser: false, follow: false, ..Default::default() },
    );
    let msg = format!("{:#}", r.err().expect("should fail"));
    assert!(msg.contains("cannot open the run"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Safe on a laptop: Host, Origin, token, slow clients, bounded compute

/// Sends `head` (request line and headers, without the blank line; `Connection: close` is added)
/// and `body` to `addr` and reads the whole reply.
fn send_raw(addr: &str, head: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!("{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    read_reply(&mut s)
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no header end");
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = headers.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn serve_with(path: &Path, opts: ServeOptions) -> ServerHandle {
    nm_server::start(path.to_path_buf(), ServeOptions { port: Some(0), open_browser: false, ..opts }).unwrap()
}

#[test]
fn a_foreign_host_is_refused_so_dns_rebinding_cannot_read_the_run() {
    let run = make_run("host", 30, &[1]);
    let server = serve(run.path(), false);
    let a = addr(&server);
    let port = a.rsplit(':').next().unwrap().to_string();
    for host in ["evil.example", &format!("evil.example:{port}"), "127.0.0.1.evil.example", "localhostx:1"] {
        let r = send_raw(&a, &format!("GET /api/run HTTP/1.1\r\nHost: {host}"), b"");
        assert_4xx(&r, 403, "answers only to localhost");
        let r = send_raw(&a, &format!("GET /index.html HTTP/1.1\r\nHost: {host}"), b"");
        assert_eq!(r.status, 403, "the viewer too");
    }
    // No Host at all, and a foreign host in an absolute-form target.
    assert_4xx(&send_raw(&a, "GET /api/run HTTP/1.0", b""), 403, "no Host");
    assert_4xx(&send_raw(&a, "GET http://evil.example/api/run HTTP/1.1\r\nHost: localhost", b""), 403, "evil");
    // The loopback names, with this port or another (an SSH tunnel's local port).
    for host in
        [a.clone(), format!("localhost:{port}"), format!("LOCALHOST:{port}"), "[::1]:9000".into(), "localhost".into()]
    {
        let r = send_raw(&a, &format!("GET /api/run HTTP/1.1\r\nHost: {host}"), b"");
        assert_eq!(r.status, 200, "Host: {host}: {}", String::from_utf8_lossy(&r.body));
    }
    server.shutdown().unwrap();
}

#[test]
fn cross_origin_and_cross_site_requests_to_the_api_are_refused() {
    let run = make_run("origin", 40, &[1, 2]);
    let server = serve(run.path(), false);
    let a = addr(&server);
    let body = json!({"client": "x", "layers": ["block1"], "params": {"n_neighbors": 5}}).to_string();
    let post = |headers: &str| {
        send_raw(
            &a,
            &format!("POST /api/compute HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json{headers}"),
            body.as_bytes(),
        )
    };
    // A page elsewhere posting to us (a form or fetch): refused, and nothing is queued.
    assert_4xx(&post("\r\nOrigin: http://evil.example"), 403, "cross-origin");
    assert_4xx(&post("\r\nOrigin: null"), 403, "cross-origin");
    assert_4xx(&post("\r\nOrigin: http://127.0.0.1:1"), 403, "cross-origin"); // another port, another origin
    assert_4xx(&post("\r\nSec-Fetch-Site: cross-site"), 403, "cross-site");
    assert_4xx(&post("\r\nSec-Fetch-Site: same-site"), 403, "cross-site");
    // Once the default views are done, no other task exists or has run (a task that ran is a stored view).
    let key = get(&server, "/api/run").json()["default_view"].as_str().unwrap().to_string();
    for (layer, _) in LAYERS {
        assert_eq!(wait_for_view(&server, layer, &key).status, 200);
    }
    let s = get(&server, "/api/run").json();
    assert_eq!(s["tasks"], json!([]), "{s}");
    assert!(s["views"].as_array().unwrap().iter().all(|v| v["params"]["n_neighbors"] != 5), "{s}");
    // Reading the API from another site: refused even for GET.
    let r = send_raw(&a, &format!("GET /api/run HTTP/1.1\r\nHost: {a}\r\nOrigin: http://evil.example"), b"");
    assert_4xx(&r, 403, "cross-origin");
    let r = send_raw(&a, &format!("GET /api/thumbs/0.png HTTP/1.1\r\nHost: {a}\r\nSec-Fetch-Site: cross-site"), b"");
    assert_4xx(&r, 403, "cross-site");
    // The viewer's own requests are same-origin; plain GETs of its files pass whatever the origin.
    let r = post(&format!("\r\nOrigin: http://{a}\r\nSec-Fetch-Site: same-origin"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = send_raw(&a, &format!("GET /api/run HTTP/1.1\r\nHost: {a}\r\nSec-Fetch-Site: none"), b"");
    assert_eq!(r.status, 200);
    let r = send_raw(&a, &format!("GET /js/main.js HTTP/1.1\r\nHost: {a}\r\nOrigin: http://evil.example"), b"");
    assert_eq!(r.status, 200);
    server.shutdown().unwrap();
}

fn token_of(url: &str) -> String {
    url.split("?token=").nth(1).unwrap_or_else(|| panic!("no token in {url}")).to_string()
}

#[test]
fn beyond_loopback_a_random_token_is_required_then_kept_in_a_cookie() {
    let run = make_run("token", 30, &[1]);
    let server = serve_with(run.path(), ServeOptions { host: "0.0.0.0".into(), ..Default::default() });
    let token = token_of(server.url());
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!server.url().contains("://0.0.0.0"), "{}", server.url());
    let port = addr(&server).rsplit(':').next().unwrap().to_string();
    let a = format!("127.0.0.1:{port}");
    let head = |target: &str, extra: &str| format!("GET {target} HTTP/1.1\r\nHost: 192.0.2.7:{port}{extra}");

    for (target, extra) in [
        ("/api/run", ""),
        ("/", ""),
        ("/api/run?token=0123", ""),
        ("/api/run", "\r\nAuthorization: Bearer nope"),
        ("/api/run", &format!("\r\nCookie: neuromapper-token-{port}={}", &token[1..]) as &str),
        ("/api/run", &format!("\r\nCookie: other={token}")),
    ] {
        let r = send_raw(&a, &head(target, extra), b"");
        assert_4xx(&r, 401, "token");
    }
    // The printed URL: accepted, and the answer sets the cookie the viewer's own requests then carry.
    let r = send_raw(&a, &head(&format!("/?token={token}"), ""), b"");
    assert_eq!(r.status, 200);
    let cookie_line = r.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    assert!(cookie_line.contains(&format!("neuromapper-token-{port}={token}")), "{cookie_line}");
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"), "{cookie_line}");
    let cookie = format!("\r\nCookie: a=b; neuromapper-token-{port}={token}");
    assert_eq!(send_raw(&a, &head("/api/run", &cookie), b"").status, 200);
    assert_eq!(send_raw(&a, &head("/api/run", &format!("\r\nAuthorization: Bearer {token}")), b"").status, 200);
    // The event stream with the cookie.
    let mut s = TcpStream::connect(&a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("{}\r\nAccept: text/event-stream\r\n\r\n", head("/api/events", &cookie)).as_bytes()).unwrap();
    let mut ev = Events { reader: BufReader::new(s) };
    assert_eq!(ev.next().expect("hello")["type"], "hello");
    server.shutdown().unwrap();
}

#[test]
fn a_token_given_on_loopback_is_required_too_and_the_host_still_checked() {
    let run = make_run("token_lo", 30, &[1]);
    let server = serve_with(run.path(), ServeOptions { token: Some("s3cret-T".into()), ..Default::default() });
    assert!(server.url().starts_with("http://127.0.0.1:") && server.url().ends_with("/?token=s3cret-T"));
    let a = addr(&server);
    assert_4xx(&get(&server, "/api/run"), 401, "token");
    assert_eq!(get(&server, "/api/run?token=s3cret-T").status, 200);
    let r = send_raw(&a, "GET /api/run?token=s3cret-T HTTP/1.1\r\nHost: evil.example", b"");
    assert_4xx(&r, 403, "localhost");
    server.shutdown().unwrap();
    // A token that cannot go in a URL is refused at start.
    let r = nm_server::start(
        run.path_buf(),
        ServeOptions { token: Some("a b".into()), port: Some(0), ..Default::default() },
    );
    assert!(format!("{:#}", r.err().expect("should fail")).contains("--token"));
}

/// Seconds until the server closes `s` (reads until EOF; a reply sent before closing is allowed).
fn seconds_until_closed(s: &mut TcpStream) -> f64 {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed().as_secs_f64(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return start.elapsed().as_secs_f64(),
            Err(e) => panic!("still open after {:.1} s ({e})", start.elapsed().as_secs_f64()),
        }
    }
}

#[test]
fn slow_and_idle_clients_are_closed_after_the_client_timeout() {
    let run = make_run("slow", 30, &[1]);
    let timeout = Duration::from_millis(1000);
    let server = serve_with(run.path(), ServeOptions { client_timeout: timeout, ..Default::default() });
    let a = addr(&server);
    // 40 clients that send half a request head, and one that sends nothing.
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(&a).unwrap();
            s.write_all(b"GET /api/run HTTP/1.1\r\nHost: loc").unwrap();
            s
        })
        .collect();
    slow.push(TcpStream::connect(&a).unwrap());
    // They do not hold up anyone else.
    let t = Instant::now();
    assert_eq!(get(&server, "/api/run").status, 200);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    for s in &mut slow {
        let secs = seconds_until_closed(s);
        assert!(secs < 3.0, "a slow client stayed {secs:.1} s");
    }
    // A body announced and half sent: answered 408 and closed.
    let mut s = TcpStream::connect(&a).unwrap();
    s.write_all(b"POST /api/compute HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"cl")
        .unwrap();
    let t = Instant::now();
    let r = read_reply(&mut s);
    assert_4xx(&r, 408, "not sent within");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // An idle keep-alive connection (a whole request answered, then nothing): closed too.
    let mut s = TcpStream::connect(&a).unwrap();
    s.write_all(b"GET /api/run HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains(" 200 "), "{line}");
    let secs = seconds_until_closed(&mut s);
    assert!(secs < 3.0, "an idle keep-alive connection stayed {secs:.1} s");
    assert_eq!(get(&server, "/api/run").status, 200);
    server.shutdown().unwrap();
}

#[test]
fn event_streams_stay_open_past_the_client_timeout() {
    let run = make_run("sse_long", 60, &[1, 2]);
    let server =
        serve_with(run.path(), ServeOptions { client_timeout: Duration::from_millis(500), ..Default::default() });
    let mut events = Events::open(&server);
    std::thread::sleep(Duration::from_millis(2000));
    let r = post_json(&server, "/api/compute", &json!({"client": "s", "layers": ["block1"], "params": {"seed": 9}}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let view = r.json()["view"].as_str().unwrap().to_string();
    let ev = events.until(Duration::from_secs(60), |v| v["view"] == view.as_str() && v["type"] == "done");
    assert_eq!(ev["layer"], "block1");
    server.shutdown().unwrap();
}

fn process_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

#[test]
fn many_distinct_computations_keep_the_threads_bounded_and_the_server_answering() {
    let run = make_run("threads", 600, &[1, 2]);
    let server = serve(run.path(), false);
    let a = addr(&server);
    // The default views first: they start the compute workers and rayon's pool.
    let key = get(&server, "/api/run").json()["default_view"].as_str().unwrap().to_string();
    for (layer, _) in LAYERS {
        assert_eq!(wait_for_view(&server, layer, &key).status, 200);
    }
    let baseline = process_threads();
    // 200 distinct computations, sent at once from 200 connections (no client threads: they would count).
    let mut conns: Vec<TcpStream> = (0..200)
        .map(|i| {
            let body = json!({"client": format!("c{i}"), "layers": ["block1"], "params": {"seed": 1000 + i}}).to_string();
            let mut s = TcpStream::connect(&a).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let head = format!(
                "POST /api/compute HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body.as_bytes()).unwrap();
            s
        })
        .collect();
    let mut peak = process_threads();
    let (mut accepted, mut busy) = (0, 0);
    for s in &mut conns {
        let r = read_reply(s);
        peak = peak.max(process_threads());
        match r.status {
            200 => accepted += 1,
            429 => {
                assert!(r.error().contains("busy"), "{}", r.error());
                busy += 1;
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    // While the accepted ones run, the server answers at once.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(get(&server, "/api/run").status, 200);
        slowest = slowest.max(t.elapsed());
        peak = peak.max(process_threads());
        std::thread::sleep(Duration::from_millis(100));
    }
    let queued = get(&server, "/api/run").json()["tasks"].as_array().unwrap().len();
    eprintln!(
        "threads: {baseline} before, {peak} at most; {accepted} accepted, {busy} refused (429); {queued} tasks; slowest GET /api/run {slowest:?}"
    );
    // Other tests run in this process too: the bound leaves them room, far below one thread per request.
    assert!(peak - baseline <= 80, "threads grew from {baseline} to {peak}");
    assert!(busy > 0 && accepted + busy == 200, "{accepted} accepted, {busy} refused");
    assert!(queued <= 64, "{queued} tasks");
    assert!(slowest < Duration::from_secs(3), "GET /api/run took {slowest:?} under load");
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Static sites (nm_server::site): the same bytes as the API

/// Views of every layer of `run` laid out by hand (no engine): point k of epoch e at (k + e, k * e).
fn hand_embeddings(epochs: &[u32], n: usize) -> Vec<nm_server::LayerEmbedding> {
    LAYERS
        .iter()
        .map(|(layer, _)| nm_server::LayerEmbedding {
            layer: (*layer).to_string(),
            epochs: epochs.to_vec(),
            samples: (0..n as u32).collect(),
            positions: epochs
                .iter()
                .flat_map(|&e| (0..n).flat_map(move |k| [k as f32 + e as f32, (k * e as usize) as f32]))
                .collect(),
        })
        .collect()
}

#[test]
fn a_sites_files_are_the_bytes_the_api_sends() {
    let run = make_run("site_bytes", 60, &[1, 2]);
    let embeddings = hand_embeddings(&[1, 2], 60);
    let server = nm_server::start_with_embeddings(
        run.path().to_path_buf(),
        ServeOptions { port: Some(0), open_browser: false, ..Default::default() },
        embeddings.clone(),
    )
    .unwrap();
    let opened = run.open();
    let params = nm_server::ParamOverrides::default().resolve(&opened).unwrap();
    let layers: Vec<String> = LAYERS.iter().map(|(l, _)| (*l).to_string()).collect();
    let views = [nm_server::site::SiteView { params: params.clone(), embeddings, quality: None }];
    let packed = nm_server::site::build(run.open(), &layers, &views, 0, vec![], Some(12)).unwrap();
    let site = nm_server::site::build(opened, &layers, &views, 0, vec![], None).unwrap();
    let files: std::collections::HashMap<String, Vec<u8>> = site.folder_files().unwrap().into_iter().collect();
    let key = params.cache_key();
    // Packed (the default of `neuromapper site`): the same files but the views, which are NMEP.
    let packed_files: std::collections::HashMap<String, Vec<u8>> = packed.folder_files().unwrap().into_iter().collect();
    assert_eq!(packed_files.len(), files.len());
    for (path, bytes) in &packed_files {
        if path.starts_with("data/views/") && path.ends_with(".bin") {
            assert_eq!(&bytes[..4], b"NMEP", "{path}");
        } else {
            assert_eq!(bytes, &files[path], "{path}");
        }
    }

    assert_eq!(files["data/run.json"], get(&server, "/api/run").body, "the summary");
    assert_eq!(files["data/samples.bin"], get(&server, "/api/samples").body, "the samples");
    assert_eq!(files["data/thumbs/0.png"], get(&server, "/api/thumbs/0.png").body, "the thumbnails");
    for (i, layer) in layers.iter().enumerate() {
        let api = get(&server, &format!("/api/layers/{layer}/embedding?view={key}"));
        assert_eq!(api.status, 200);
        assert_eq!(files[&format!("data/views/{key}/{i}.bin")], api.body, "layer {layer}");
    }
    for asset in ["style.css", "js/main.js", "js/static.js", "js/widgets/grid.js"] {
        assert_eq!(files[asset], get(&server, &format!("/{asset}")).body, "{asset}");
    }
    let index: Value = serde_json::from_slice(&files["site.json"]).unwrap();
    assert_eq!(index["format"], nm_server::site::SITE_FORMAT);
    assert_eq!(index["files"]["views"][&key]["layers"]["block2"], format!("data/views/{key}/1.bin"));
    let page = String::from_utf8(files["index.html"].clone()).unwrap();
    assert!(page.contains(r#"<meta name="neuromapper-site" content="site.json">"#), "{page}");
    server.shutdown().unwrap();

    // One file: no reference to any other file, every data file a data: URL.
    let html = String::from_utf8(site.single_html().unwrap()).unwrap();
    assert!(html.contains(r#"<meta name="neuromapper-site" content="inline">"#));
    assert!(!html.contains("href=\"style.css\"") && !html.contains("src=\"js/"), "the page still links a file");
    assert!(!html.contains("\"data/"), "a data file was not inlined");
    assert!(html.contains("\"nm/js/main.js\":\"data:text/javascript;base64,"));
    assert!(html.len() as u64 > site.data_bytes(), "{} bytes for {} of data", html.len(), site.data_bytes());
}

#[test]
fn a_site_goes_only_where_it_may() {
    let run = make_run("site_out", 30, &[1]);
    let opened = run.open();
    let params = nm_server::ParamOverrides::default().resolve(&opened).unwrap();
    let layers: Vec<String> = LAYERS.iter().map(|(l, _)| (*l).to_string()).collect();
    let views = [nm_server::site::SiteView { params, embeddings: hand_embeddings(&[1], 30), quality: None }];
    let site = nm_server::site::build(opened, &layers, &views, 0, vec![], Some(12)).unwrap();
    let tmp = TempDir::new("nm_server_site_out");
    let out = tmp.join("nested/site");
    use nm_server::site::{check_out_file, check_out_folder};
    check_out_folder(&out).unwrap();
    let (count, bytes) = site.write_folder(&out).unwrap();
    assert!(out.join("index.html").is_file() && out.join("data/samples.bin").is_file());
    assert_eq!(count, site.folder_files().unwrap().len());
    assert!(bytes > site.data_bytes());
    // Ours: written again, in place, with nothing left beside it.
    check_out_folder(&out).unwrap();
    std::fs::write(out.join("stale.txt"), b"from the old site").unwrap();
    site.write_folder(&out).unwrap();
    assert!(!out.join("stale.txt").exists(), "the old site was not replaced");
    let siblings: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("site")], "temp folders left behind");

    // Someone else's folder, a file, a link: refused with the reason.
    let foreign = tmp.join("photos");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("cat.jpg"), b"x").unwrap();
    let e = format!("{:#}", check_out_folder(&foreign).unwrap_err());
    assert!(e.contains("not a site neuromapper wrote") && e.contains("photos"), "{e}");
    let e = format!("{:#}", check_out_folder(&foreign.join("cat.jpg")).unwrap_err());
    assert!(e.contains("is a file") && e.contains("--single-file"), "{e}");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&out, tmp.join("link")).unwrap();
        assert!(format!("{:#}", check_out_folder(&tmp.join("link")).unwrap_err()).contains("is a link"));
    }
    // One file: new, or a page of ours, never another file or a folder.
    let page = tmp.join("view.html");
    check_out_file(&page).unwrap();
    nm_server::site::write_file(&page, &site.single_html().unwrap()).unwrap();
    check_out_file(&page).unwrap();
    let e = format!("{:#}", check_out_file(&foreign.join("cat.jpg")).unwrap_err());
    assert!(e.contains("not a page neuromapper wrote"), "{e}");
    assert!(format!("{:#}", check_out_file(&foreign).unwrap_err()).contains("is a folder"));
}

// ---------------------------------------------------------------------------------------------
// Runs side by side

fn serve_runs(paths: &[&Path], opts: ServeOptions) -> anyhow::Result<ServerHandle> {
    nm_server::start_runs(
        paths.iter().map(|p| p.to_path_buf()).collect(),
        ServeOptions { port: Some(0), open_browser: false, ..opts },
    )
}

/// Like `make_run`, with another seed for the activations' noise: the same samples (labels) as
/// `make_run`'s, embedded differently.
fn make_run_seeded(tag: &str, n: usize, epochs: &[u32], seed: u64) -> TestRun {
    RunSpec::new(n, 3)
        .class_names(&["cat", "dog", "ship"])
        .layers(&LAYERS)
        .epochs(epochs)
        .separation(1.0, 1.0)
        .noise(0.5)
        .seed(seed)
        .predictions(Predictions::improving())
        .write_temp(&format!("nm_server_test_{tag}"))
}

/// Polls `target` until it answers 200 (or two minutes pass).
fn wait_for(server: &ServerHandle, target: &str) -> Reply {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let r = get(server, target);
        if r.status == 200 || Instant::now() > end {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Decoded positions `[E][n][2]` of an `NMEM` embedding (dequantised within each epoch's bounds).
fn positions(b: &[u8]) -> (Vec<u32>, Vec<Vec<[f64; 2]>>) {
    let (h, samples, q) = parse_embedding(b);
    let n = samples.len();
    let bounds = h["bounds"].as_array().unwrap();
    let per_epoch = bounds
        .iter()
        .enumerate()
        .map(|(e, bd)| {
            let bd: Vec<f64> = bd.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            (0..n)
                .map(|k| {
                    let (x, y) = (f64::from(q[(e * n + k) * 2]), f64::from(q[(e * n + k) * 2 + 1]));
                    [bd[0] + x / 65535.0 * (bd[2] - bd[0]), bd[1] + y / 65535.0 * (bd[3] - bd[1])]
                })
                .collect()
        })
        .collect();
    (samples, per_epoch)
}

/// RMS distance between two position sets over their first `epochs` epochs.
fn rms(a: &[Vec<[f64; 2]>], b: &[Vec<[f64; 2]>], epochs: usize) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for e in 0..epochs {
        for (p, q) in a[e].iter().zip(&b[e]) {
            sum += (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
            count += 1;
        }
    }
    (sum / count as f64).sqrt()
}

#[test]
fn runs_with_different_probe_sets_are_refused_naming_both_and_where_they_differ() {
    let a = make_run("probe_a", 60, &[1]);
    // Same N, labels in blocks (0 × 20, 1 × 20, 2 × 20) where `a` has 0, 1, 2, 0, …: sample 1 differs.
    let b = RunSpec::new(60, 3).class_counts(&[20, 20, 20]).layers(&LAYERS).write_temp("nm_server_test_probe_b");
    let c = make_run("probe_c", 45, &[1]);
    let opts = || ServeOptions { follow: false, ..Default::default() };
    let msg = format!("{:#}", serve_runs(&[a.path(), b.path()], opts()).err().expect("labels differ"));
    assert!(msg.contains("do not share their probe set"), "{msg}");
    assert!(msg.contains(&a.path().display().to_string()) && msg.contains(&b.path().display().to_string()), "{msg}");
    assert!(msg.contains("sample 1 has label 1"), "{msg}");
    let msg = format!("{:#}", serve_runs(&[a.path(), c.path()], opts()).err().expect("N differs"));
    assert!(msg.contains("has 60 samples") && msg.contains("has 45"), "{msg}");
    let seven: Vec<&Path> = std::iter::repeat_n(a.path(), nm_server::MAX_RUNS + 1).collect();
    let msg = format!("{:#}", serve_runs(&seven, opts()).err().expect("too many"));
    assert!(msg.contains(&format!("at most {}", nm_server::MAX_RUNS)), "{msg}");
}

#[test]
fn runs_are_listed_and_each_has_every_route_under_its_prefix() {
    let a = make_run("list_a", 60, &[1, 2, 3]);
    let b = make_run_seeded("list_b", 60, &[1, 2], 9);
    let server = serve_runs(&[a.path(), b.path()], ServeOptions::default()).unwrap();
    let runs = get(&server, "/api/runs").json();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    // Both folders are named `run` (nm_testkit): the labels add their parents' names.
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let label = |p: &Path| format!("{}/{}", name(p.parent().unwrap()), name(p));
    assert_eq!(runs[0]["label"], label(a.path()));
    assert_eq!(runs[1]["label"], label(b.path()));
    assert_eq!(runs[0]["epochs"], json!([1, 2, 3]));
    assert_eq!(runs[1]["epochs"], json!([1, 2]));
    assert_eq!(runs[1]["layers"], json!(["block1", "block2"]));
    // The unprefixed routes are run 0's; each run has its own summary, samples, views and compute.
    assert_eq!(get(&server, "/api/run").json()["epochs"], json!([1, 2, 3]));
    assert_eq!(get(&server, "/api/runs/0/run").json()["epochs"], json!([1, 2, 3]));
    let s1 = get(&server, "/api/runs/1/run").json();
    assert_eq!(s1["epochs"], json!([1, 2]));
    assert_eq!(get(&server, "/api/runs/1/samples").status, 200);
    let key = s1["default_view"].as_str().unwrap().to_string();
    let r = wait_for(&server, &format!("/api/runs/1/layers/block2/embedding?view={key}"));
    assert_eq!(r.status, 200);
    assert_eq!(parse_embedding(&r.body).0["epochs"], json!([1, 2]));
    assert_eq!(get(&server, "/api/runs/2/run").status, 404);
    let r = post_json(&server, "/api/runs/1/compute", &json!({"client": "t", "layers": ["nope"]}));
    assert_4xx(&r, 404, "unknown layer `nope`");
    // Events name their run.
    let mut events = Events::open(&server);
    let r = post_json(
        &server,
        "/api/runs/1/compute",
        &json!({"client": "t", "layers": ["block1"], "params": {"n_neighbors": 7}}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Run 0's default views may still be finishing: wait for this view's `done`, which names run 1.
    let view = r.json()["view"].clone();
    let done = events.until(Duration::from_secs(120), |v| v["type"] == "done" && v["view"] == view);
    assert_eq!(done["run"], 1, "{done}");
    server.shutdown().unwrap();
}

#[test]
fn a_later_runs_views_are_turned_rigidly_onto_the_first_runs() {
    let a = make_run("align_a", 90, &[1, 2, 3]);
    let b = make_run_seeded("align_b", 90, &[1, 2, 3], 4);
    let server = serve_runs(&[a.path(), b.path()], ServeOptions::default()).unwrap();
    let key = get(&server, "/api/run").json()["default_view"].as_str().unwrap().to_string();
    for layer in ["block1", "block2"] {
        let r0 = wait_for(&server, &format!("/api/layers/{layer}/embedding?view={key}"));
        assert_eq!(r0.status, 200);
        let r1 = wait_for(&server, &format!("/api/runs/1/layers/{layer}/embedding?view={key}"));
        assert_eq!(r1.status, 200);
        let (s0, p0) = positions(&r0.body);
        let (s1, p1) = positions(&r1.body);
        assert_eq!(s0, s1);
        // Run 1 as computed: the pipeline's view of the same parameters (the server cached it).
        let run_b = b.open();
        let params = ParamOverrides::default().resolve(&run_b).unwrap();
        let own = nm_pipeline::embed_layer(&run_b, layer, &params, &nm_umap::Control::default()).unwrap();
        let n = own.samples.len();
        let raw: Vec<Vec<[f64; 2]>> = (0..own.epochs.len())
            .map(|e| own.slice(e).chunks(2).map(|c| [f64::from(c[0]), f64::from(c[1])]).collect())
            .collect();
        let (before, after) = (rms(&raw, &p0, 3), rms(&p1, &p0, 3));
        eprintln!("{layer}: RMS distance to run 0 {before:.3} unaligned, {after:.3} turned onto it");
        assert!(after < before, "{layer}: {after} not below {before}");
        // A rigid motion: distances within run 1 are unchanged (up to the u16 quantisation).
        let span = p1[0].iter().fold(0.0f64, |m, p| m.max(p[0].abs()).max(p[1].abs()));
        for e in 0..3 {
            for k in (0..n).step_by(7) {
                let j = (k * 13 + 5) % n;
                let d = |p: &[[f64; 2]]| ((p[k][0] - p[j][0]).powi(2) + (p[k][1] - p[j][1]).powi(2)).sqrt();
                assert!((d(&p1[e]) - d(&raw[e])).abs() < 1e-3 * (1.0 + span), "{layer} epoch {e}: not rigid");
            }
        }
    }
    server.shutdown().unwrap();
}

#[test]
fn a_run_not_written_yet_is_served_and_shown_once_its_first_epoch_comes() {
    let a = make_run("wait_a", 60, &[0, 1]);
    let tmp = TempDir::new("nm_server_test_wait_b");
    let later = tmp.join("later");
    let opts = ServeOptions { follow: true, wait_for_missing: true, ..Default::default() };
    let server = serve_runs(&[a.path(), &later], opts).unwrap();
    let s1 = get(&server, "/api/runs/1/run").json();
    assert_eq!(s1["epochs"], json!([]));
    assert_eq!(get(&server, "/api/runs").json()["runs"][1]["label"], "later");
    RunSpec::new(60, 3).class_names(&["cat", "dog", "ship"]).layers(&LAYERS).epochs(&[0]).seed(3).write(&later);
    let r = wait_for(&server, "/api/runs/1/layers/block1/embedding?view=live");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&server, "/api/runs/1/run").json()["epochs"], json!([0]));
    server.shutdown().unwrap();
    // Without wait_for_missing, a missing run is an error.
    let msg = format!(
        "{:#}",
        serve_runs(&[a.path(), &tmp.join("never")], ServeOptions { follow: true, ..Default::default() })
            .err()
            .expect("missing")
    );
    assert!(msg.contains("cannot open the run"), "{msg}");
}
