//! Replays a finished run epoch by epoch through [`LiveLayer`]s, as the live server does while a
//! model trains, and prints how long each new epoch takes to embed (issue 5's "≤ 5 s after capture").
//!
//! `cargo run --release -p nm_pipeline --example live_latency -- RUN [--busy K] [--serial] [--save DIR]`
//!
//! The run's epoch folders are copied one at a time into a temporary run. `--busy K` keeps K threads
//! spinning meanwhile, a stand-in for the trainer competing for the cores. Layers are updated in
//! parallel, as the server does; `--serial` updates them one after another instead. `--save DIR`
//! writes, per layer, for `shared/bench/score.py`: the incremental embedding (`DIR/LAYER.live.npy`),
//! its refinement over all epochs that the server shows when training ends, rigidly aligned onto it
//! (`DIR/LAYER.refined.npy`), and for comparison a full aligned fit from scratch, rigidly aligned
//! too (`DIR/LAYER.full.npy`). It prints how far each lands from the incremental view.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nm_pipeline::{EmbedParams, LayerEmbedding, LiveLayer};
use nm_run::Run;
use nm_umap::Control;
use rayon::prelude::*;

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Mean distance between a point's positions in `a` and `b` at the last epoch, over `a`'s RMS radius.
fn jump(a: &LayerEmbedding, b: &LayerEmbedding) -> f64 {
    let e = a.epochs.len() - 1;
    let (pa, pb) = (a.slice(e), b.slice(e));
    let n = pa.len() / 2;
    let (cx, cy) = pa.chunks(2).fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64 / n as f64, y + p[1] as f64 / n as f64));
    let rms =
        (pa.chunks(2).map(|p| (p[0] as f64 - cx).powi(2) + (p[1] as f64 - cy).powi(2)).sum::<f64>() / n as f64).sqrt();
    let mean =
        pa.chunks(2).zip(pb.chunks(2)).map(|(p, q)| ((p[0] - q[0]) as f64).hypot((p[1] - q[1]) as f64)).sum::<f64>()
            / n as f64;
    mean / rms
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(src) = args.first().map(PathBuf::from) else { anyhow::bail!("usage: live_latency RUN [--busy K]") };
    let busy: usize = match args.iter().position(|a| a == "--busy") {
        Some(i) => args.get(i + 1).ok_or_else(|| anyhow::anyhow!("--busy needs a thread count"))?.parse()?,
        None => 0,
    };
    let serial = args.iter().any(|a| a == "--serial");
    let save = args.iter().position(|a| a == "--save").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let full = Run::open(&src)?;
    let tmp = std::env::temp_dir().join(format!("nm-live-latency-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("epochs"))?;
    for entry in std::fs::read_dir(&src)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), tmp.join(entry.file_name()))?;
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..busy)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                }
            })
        })
        .collect();

    let layer_names: Vec<String> = full.layers().iter().map(|l| l.name.clone()).collect();
    let mut lives: Vec<LiveLayer> = layer_names.iter().map(|l| LiveLayer::new(l, EmbedParams::default())).collect();
    println!("{} samples, layers {:?}, {busy} busy threads", full.n_samples(), layer_names);
    let mut worst = 0f64;
    for &e in full.epochs() {
        copy_dir(&src.join("epochs").join(e.to_string()), &tmp.join("epochs").join(e.to_string()))?;
        let t0 = Instant::now();
        let run = Run::open(&tmp)?;
        let update = |live: &mut LiveLayer| {
            let t = Instant::now();
            let stages = std::sync::Mutex::new(Vec::new());
            let progress = |st: nm_umap::Stage, f: f32| {
                let mut s = stages.lock().unwrap();
                if f >= 1.0 || s.last().is_none_or(|(x, _)| *x != st) {
                    s.push((st, t.elapsed().as_secs_f64()));
                }
            };
            let ctl = Control { progress: Some(&progress), cancel: None };
            let r = live.update(&run, &ctl);
            let trace: Vec<String> =
                stages.into_inner().unwrap().iter().map(|(s, x)| format!("{s:?}@{x:.2}")).collect();
            (r, t.elapsed().as_secs_f64(), trace.join(" "))
        };
        let results: Vec<_> =
            if serial { lives.iter_mut().map(update).collect() } else { lives.par_iter_mut().map(update).collect() };
        let secs = t0.elapsed().as_secs_f64();
        for (name, (r, secs, trace)) in layer_names.iter().zip(results) {
            println!("  epoch {e} {name}: {secs:.2} s  [{trace}]");
            r?;
        }
        if e > full.epochs()[0] {
            worst = worst.max(secs);
        }
        println!("epoch {e}: all layers in {secs:.2} s");
    }
    println!("worst later epoch: {worst:.2} s");
    if let Some(dir) = save {
        std::fs::create_dir_all(&dir)?;
        let run = Run::open(&tmp)?;
        let t = Instant::now();
        let ctl = Control::default();
        let params = EmbedParams::default();
        let full: Vec<LayerEmbedding> =
            layer_names.par_iter().map(|l| nm_pipeline::fit_layer(&run, l, &params, &ctl)).collect::<Result<_, _>>()?;
        println!("full aligned refit of {} layers: {:.2} s", full.len(), t.elapsed().as_secs_f64());
        let incremental: Vec<LayerEmbedding> = lives.iter().map(|l| l.embedding().expect("updated above")).collect();
        let t = Instant::now();
        let refined: Vec<LayerEmbedding> =
            lives.par_iter_mut().map(|l| l.refine(&run, &ctl)).collect::<Result<_, _>>()?;
        println!(
            "refinement of {} layers from the incremental layout: {:.2} s",
            refined.len(),
            t.elapsed().as_secs_f64()
        );
        for ((inc, mut emb), fine) in incremental.iter().zip(full).zip(&refined) {
            let mut fine_aligned = fine.clone();
            nm_pipeline::align_rigidly(&mut fine_aligned, inc);
            let before = jump(inc, &emb);
            nm_pipeline::align_rigidly(&mut emb, inc);
            println!(
                "  {}: jump from the incremental view at the last epoch, in RMS radii: full fit {before:.2} as fitted, {:.2} rigidly aligned; refinement {:.2}, {:.2} rigidly aligned",
                emb.layer,
                jump(inc, &emb),
                jump(inc, fine),
                jump(inc, &fine_aligned)
            );
            nm_pipeline::export::write(&run, inc, &dir.join(format!("{}.live.npy", emb.layer)))?;
            nm_pipeline::export::write(&run, &emb, &dir.join(format!("{}.full.npy", emb.layer)))?;
            nm_pipeline::export::write(&run, &fine_aligned, &dir.join(format!("{}.refined.npy", emb.layer)))?;
        }
        println!("wrote {}", dir.display());
    }
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        let _ = s.join();
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
