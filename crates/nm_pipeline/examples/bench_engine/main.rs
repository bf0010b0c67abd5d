//! Benchmark driver for bench/compare_umap_learn.sh: runs the engine (nm_umap, called directly,
//! not through the pipeline) on a neuromapper run (docs/run-format.md) read by nm_run, and writes
//! the embeddings for shared/bench/score.py. It lives in nm_pipeline, the crate that already joins
//! the engine to runs, so the engine itself never depends on nm_run.
//!
//! ```text
//! bench_engine aligned RUN LAYER OUT.npy [--n-neighbors 15] [--min-dist 0.1] [--epochs E]
//!                      [--lambda 0.01] [--window 3]
//!     Aligned UMAP over all epochs of LAYER; OUT.npy is float32 [E, N, 2]. --lambda and --window
//!     set the alignment regularisation and window (the engine's defaults otherwise).
//! bench_engine single RUN LAYER OUT.npy [--n-neighbors 15] [--min-dist 0.1]
//!     One UMAP of the first epoch of LAYER; OUT.npy is float32 [1, N, 2].
//! bench_engine pca FILE.npy K [OUT.npy]
//!     Streamed PCA of a 2-D .npy to K dims; prints seconds and peak RSS.
//! ```
//! Every mode prints one line with the wall time of the computation (file reading excluded,
//! except for pca, which streams).

use nm_umap::{fit, pca_blocks, AlignedEmbedding, AlignedParams, Control, Matrix, UmapParams};
use std::time::Instant;

/// The run's epochs of `layer` as matrices, read (and validated) by nm_run.
fn load_run(run: &str, layer: &str, first_only: bool) -> Vec<Matrix> {
    let run = nm_run::Run::open(std::path::Path::new(run)).unwrap_or_else(|e| panic!("{e}"));
    let epochs = if first_only { &run.epochs()[..1] } else { run.epochs() };
    epochs
        .iter()
        .map(|&e| {
            let (d, data) = run.read_layer(layer, e).unwrap_or_else(|e| panic!("{e}"));
            Matrix::new(run.n_samples(), d, data).expect("shape")
        })
        .collect()
}

/// Adapts nm_run's streaming reader to the engine's `RowBlocks`.
struct NpyRows(nm_run::LayerReader);

impl nm_umap::RowBlocks for NpyRows {
    fn n_rows(&self) -> usize {
        self.0.n_rows()
    }
    fn n_cols(&self) -> usize {
        self.0.n_cols()
    }
    fn read_rows(&mut self, start: usize, n: usize, out: &mut [f32]) -> Result<(), nm_umap::SourceError> {
        Ok(self.0.read_rows(start, n, out)?)
    }
}

fn write_f32(path: &str, shape: &[usize], data: &[f32]) {
    nm_run::npy::write(std::path::Path::new(path), shape, data).unwrap_or_else(|e| panic!("{e}"));
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("", String::as_str);
    let mut up = UmapParams::default();
    if let Some(k) = flag(&args, "--n-neighbors") {
        up.n_neighbors = k.parse().expect("--n-neighbors");
    }
    if let Some(m) = flag(&args, "--min-dist") {
        up.min_dist = m.parse().expect("--min-dist");
    }
    if let Some(e) = flag(&args, "--epochs") {
        up.n_epochs = Some(e.parse().expect("--epochs"));
    }
    match mode {
        "aligned" | "single" => {
            let (run, layer, out) = (&args[2], &args[3], &args[4]);
            let xs = load_run(run, layer, mode == "single");
            let (n, d) = (xs[0].n_rows, xs[0].n_cols);
            let t0 = Instant::now();
            // NM_BENCH_VERBOSE=1 prints when each stage finishes.
            let verbose = std::env::var("NM_BENCH_VERBOSE").is_ok();
            let last = std::sync::Mutex::new(None);
            let cb = |s: nm_umap::Stage, f: f32| {
                let mut l = last.lock().unwrap();
                if f >= 1.0 && *l != Some(s) {
                    eprintln!("  {:?} done at {:.2} s", s, t0.elapsed().as_secs_f64());
                    *l = Some(s);
                }
            };
            let ctl = if verbose { Control { progress: Some(&cb), cancel: None } } else { Control::default() };
            let embs: Vec<Matrix> = if mode == "single" {
                vec![fit(&xs[0], &up, &ctl).unwrap_or_else(|e| panic!("{e}"))]
            } else {
                let mut ap = AlignedParams { umap: up, ..AlignedParams::default() };
                if let Some(l) = flag(&args, "--lambda") {
                    ap.alignment_regularisation = l.parse().expect("--lambda");
                }
                if let Some(w) = flag(&args, "--window") {
                    ap.alignment_window_size = w.parse().expect("--window");
                }
                AlignedEmbedding::fit(&xs, &ap, &ctl).unwrap_or_else(|e| panic!("{e}")).embeddings().to_vec()
            };
            let secs = t0.elapsed().as_secs_f64();
            let flat: Vec<f32> = embs.iter().flat_map(|m| m.data.iter().copied()).collect();
            write_f32(out, &[embs.len(), n, embs[0].n_cols], &flat);
            println!("nm_umap {mode}: {} epochs x {n} points x {d} dims: {secs:.2} s", embs.len());
        }
        "pca" => {
            let (path, k) = (&args[2], args[3].parse::<usize>().expect("K"));
            let reader = nm_run::LayerReader::open_npy(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
            let mut src = NpyRows(reader);
            let (n, d) = (nm_umap::RowBlocks::n_rows(&src), nm_umap::RowBlocks::n_cols(&src));
            let t0 = Instant::now();
            let y = pca_blocks(&mut src, k, 0, &Control::default()).unwrap_or_else(|e| panic!("{e}"));
            let secs = t0.elapsed().as_secs_f64();
            if let Some(out) = args.get(4) {
                write_f32(out, &[y.n_rows, y.n_cols], &y.data);
            }
            println!("nm_umap pca: {n} x {d} -> {k}: {secs:.2} s, peak RSS {:.0} MiB", peak_rss_mib());
        }
        _ => {
            eprintln!("usage: bench_engine aligned|single RUN LAYER OUT.npy [--n-neighbors K] [--min-dist M] [--epochs E] [--lambda L] [--window W]\n       bench_engine pca FILE.npy K [OUT.npy]");
            std::process::exit(2);
        }
    }
}
