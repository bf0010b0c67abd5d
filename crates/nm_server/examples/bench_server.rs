//! Serves a synthetic run with precomputed (synthetic) embeddings, for the viewer benchmark
//! (bench/viewer_bench.mjs) and screenshots: the viewer's speed measured without the engine's.
//!
//! `cargo run -p nm_server --example bench_server -- DIR N EPOCHS LAYERS [CLASSES]` writes a run of N
//! samples to DIR (1-D activations: only the embeddings matter here), prints the URL on stdout and
//! serves until killed.

use std::f32::consts::TAU;

use nm_pipeline::LayerEmbedding;
use nm_run::{Manifest, RunWriter};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        anyhow::bail!("usage: bench_server DIR N EPOCHS LAYERS [CLASSES]");
    }
    let dir = std::path::PathBuf::from(&args[0]);
    let n: usize = args[1].parse()?;
    let n_epochs: u32 = args[2].parse()?;
    let n_layers: usize = args[3].parse()?;
    let n_classes: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let classes: Vec<String> =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
            .iter()
            .cycle()
            .take(n_classes)
            .map(std::string::ToString::to_string)
            .collect();
    let layers: Vec<String> = (1..=n_layers).map(|i| format!("layer{i}")).collect();
    let labels: Vec<u32> = (0..n).map(|i| (i % n_classes) as u32).collect();
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 40) as f32 / (1u64 << 24) as f32
    };

    let _ = std::fs::remove_dir_all(&dir);
    let w = RunWriter::create(&dir, &Manifest::new(Some(classes), Some(layers.clone())), &labels, None)?;
    let acts = vec![0f32; n];
    for e in 1..=n_epochs {
        let preds: Vec<u32> = labels
            .iter()
            .map(|&l| if rand() < 0.9 * e as f32 / n_epochs as f32 { l } else { (l + 1) % n_classes as u32 })
            .collect();
        let ls: Vec<(&str, usize, &[f32])> = layers.iter().map(|l| (l.as_str(), 1, acts.as_slice())).collect();
        w.write_epoch(e, &ls, Some(&preds))?;
    }
    // Class clusters on a circle that tighten with the epochs; each point drifts smoothly.
    let jitter: Vec<(f32, f32)> = (0..n).map(|_| (rand() - 0.5, rand() - 0.5)).collect();
    let embeddings = (0..n_layers)
        .map(|li| {
            let mut positions = Vec::with_capacity(n_epochs as usize * n * 2);
            for e in 0..n_epochs {
                let tight = 0.3 + 2.5 * (1.0 - (e as f32 + 1.0) / n_epochs as f32) * (1.0 + li as f32 * 0.2);
                for (i, &l) in labels.iter().enumerate() {
                    let a = TAU * l as f32 / n_classes as f32 + 0.1 * li as f32;
                    let (jx, jy) = jitter[i];
                    positions.push(4.0 * a.cos() + tight * jx * 3.0);
                    positions.push(4.0 * a.sin() + tight * jy * 3.0);
                }
            }
            LayerEmbedding {
                layer: layers[li].clone(),
                epochs: (1..=n_epochs).collect(),
                samples: (0..n as u32).collect(),
                positions,
            }
        })
        .collect();
    let opts = nm_server::ServeOptions { port: Some(0), open_browser: false, follow: false, ..Default::default() };
    let server = nm_server::start_with_embeddings(dir, opts, embeddings)?;
    println!("{}", server.url());
    server.wait()
}
