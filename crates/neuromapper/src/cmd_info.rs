//! `neuromapper info RUN`: samples, classes with counts, layers with dims, epochs, per-sample
//! values (`<name>.values.npy`, `samples.csv`), adversarial twins, size on disk, cached embeddings.

use std::path::PathBuf;

use anyhow::Context;
use nm_run::text::{clip, escape};
use nm_run::Run;

use crate::sizes::human_bytes;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
}

/// `0-39`, `0, 5, 10-12`: ascending numbers with consecutive runs collapsed.
pub fn ranges(v: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if j > i + 1 {
            format!("{}-{}", v[i], v[j])
        } else if j == i + 1 {
            format!("{}, {}", v[i], v[j])
        } else {
            v[i].to_string()
        });
        i = j + 1;
    }
    parts.join(", ")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let run = Run::open(&args.run).context("could not open the run")?;
    let counts = run.class_counts();
    // Names come from the run's files: printed with control characters escaped, and clipped.
    println!("run        {}  ({})", clip(run.name()), escape(&run.path().display().to_string()));
    println!("samples    {}", run.n_samples());
    if let Some(twins) = run.twins() {
        let a =
            run.manifest().adversarial.clone().unwrap_or(nm_run::AttackInfo { attack: None, eps: None, steps: None });
        println!(
            "twins      {} adversarial twins ({}, eps {}) of {} clean samples  ({})",
            twins.iter().flatten().count(),
            clip(a.attack.as_deref().unwrap_or("attack unknown")),
            a.eps.map_or("?".into(), |e| format!("{e:.4} = {:.1}/255", e * 255.0)),
            twins.iter().filter(|t| t.is_none()).count(),
            nm_run::TWINS_FILE
        );
    }
    let classes: Vec<String> = run.classes().iter().zip(&counts).map(|(c, n)| format!("{} {n}", clip(c))).collect();
    println!("classes    {}: {}", classes.len(), classes.join(", "));
    let layers: Vec<String> = run.layers().iter().map(|l| format!("{} [{}]", clip(&l.name), l.dim)).collect();
    println!("layers     {}: {}", layers.len(), layers.join(", "));
    let storage = match run.epochs().first().and_then(|&e| run.epoch_storage(e)) {
        Some(nm_run::EpochStorage::Safetensors) => ".safetensors",
        _ => ".npy folders",
    };
    println!("epochs     {}: {}  ({storage})", run.epochs().len(), ranges(run.epochs()));
    if run.is_finished() {
        println!("finished   yes ({})", nm_run::FINISHED_FILE);
    } else {
        println!(
            "finished   no: more epochs may come (`serve` follows them); a trainer marks the end with {}",
            nm_run::FINISHED_FILE
        );
    }
    match run.inputs_shape() {
        Some((n, h, w, c)) => println!("inputs     {n} thumbnails {h}×{w}×{c}"),
        None => println!("inputs     none"),
    }
    let values: Vec<String> =
        run.value_names().iter().map(|v| format!("{} (epochs {})", clip(v), ranges(&run.value_epochs(v)))).collect();
    println!("values     {}", if values.is_empty() { "none".to_string() } else { values.join(", ") });
    match run.samples_table()? {
        Some(t) => {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|(name, c)| {
                    let kind = if matches!(c, nm_run::SampleColumn::Numeric(_)) { "number" } else { "text" };
                    format!("{} ({kind})", clip(name))
                })
                .collect();
            println!("samples.csv {}", cols.join(", "));
        }
        None => println!("samples.csv none"),
    }
    let metrics = run.metrics()?;
    println!(
        "metrics    {}",
        if metrics.is_empty() { "none".to_string() } else { format!("{} epochs", metrics.len()) }
    );
    let (data, cache) = run.disk_usage();
    println!("size       {} on disk, cache {}", human_bytes(data), human_bytes(cache));
    let cached = nm_pipeline::list_cached(&run);
    if cached.is_empty() {
        println!("cached     none (compute with `neuromapper embed {}`)", escape(&args.run.display().to_string()));
    } else {
        println!("cached     {} embeddings:", cached.len());
        for c in cached {
            println!(
                "  {:<12} {} epochs × {} samples  {}  {}{}",
                escape(&c.layer),
                c.epochs,
                c.n_samples,
                c.params.describe(),
                human_bytes(c.bytes),
                if c.current { "" } else { "  (stale: the run changed)" }
            );
        }
    }
    Ok(())
}
