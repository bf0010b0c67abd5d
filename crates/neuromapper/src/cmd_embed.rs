//! `neuromapper embed RUN`: pre-embed every (layer, epoch), Aligned UMAP per layer across epochs,
//! results cached under `RUN/.neuromapper/`. Layers run in parallel, one progress bar each; the
//! same parameters again are answered from the cache at once. `--parametric` trains an encoder
//! per layer and epoch instead (`crate::parametric`), layers in parallel.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nm_run::text::escape;
use nm_run::Run;

use crate::embedding::{cancel_on_ctrl_c, compute, interrupted, resolve_layers};
use crate::params::ParamArgs;
use crate::threads::init_threads;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (neuromapper.json, labels.npy, epochs/)
    pub run: PathBuf,
    /// Layers to embed, comma-separated (default: all)
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub layers: Vec<String>,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Train an encoder per layer and epoch (parametric Aligned UMAP) so that `transform` can place
    /// new activations in the view; cached beside the embeddings
    #[cfg(feature = "train")]
    #[arg(long)]
    pub parametric: bool,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let total = Instant::now();
    init_threads(args.threads)?;
    let run = Run::open(&args.run).context("could not open the run")?;
    let params = args.params.overrides().resolve(&run)?;
    let layers = resolve_layers(&run, &args.layers)?;
    let n = nm_pipeline::sample_count(&run, &params.sampling);
    eprintln!(
        "{}: {} layers × {} epochs × {} samples ({})",
        nm_run::text::clip(run.name()),
        layers.len(),
        run.epochs().len(),
        n,
        params.describe()
    );
    cancel_on_ctrl_c();
    #[cfg(feature = "train")]
    if args.parametric {
        return parametric(&run, &layers, &params, total);
    }
    let outcomes = compute(&run, &layers, &params);
    if interrupted() {
        let done: Vec<&str> = outcomes.iter().filter(|o| o.result.is_ok()).map(|o| o.layer.as_str()).collect();
        return Err(crate::Interrupted(format!(
            "embedding interrupted by Ctrl-C; {} of {} layers embedded and cached{}",
            done.len(),
            layers.len(),
            if done.is_empty() { String::new() } else { format!(" ({})", done.join(", ")) }
        ))
        .into());
    }
    let width = layers.iter().map(|l| escape(l).len()).max().unwrap_or(5);
    let mut failed = Vec::new();
    for o in &outcomes {
        match &o.result {
            Ok(e) => println!(
                "{:<width$}  {} epochs × {} samples  {}",
                escape(&o.layer),
                e.epochs.len(),
                e.samples.len(),
                if o.cached { "cached".to_string() } else { format!("{:.1} s", o.seconds) }
            ),
            Err(e) => failed.push(escape(&format!("{}: {e}", o.layer))),
        }
    }
    println!(
        "total {:.1} s; embeddings in {}",
        total.elapsed().as_secs_f64(),
        escape(&run.path().join(nm_run::CACHE_DIR).display().to_string())
    );
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} layers failed:\n  {}",
        failed.len(),
        layers.len(),
        failed.join("\n  ")
    );
    Ok(())
}

/// One layer's parametric outcome: (epochs, samples, from the cache), and its seconds.
#[cfg(feature = "train")]
type ParamOutcome = (String, anyhow::Result<(usize, usize, bool)>, f64);

/// `embed --parametric`: every layer's encoders, trained (or from the cache), layers in parallel.
#[cfg(feature = "train")]
fn parametric(run: &Run, layers: &[String], params: &nm_pipeline::EmbedParams, total: Instant) -> anyhow::Result<()> {
    use rayon::prelude::*;
    let outcomes: Vec<ParamOutcome> = layers
        .par_iter()
        .map(|layer| {
            let t = Instant::now();
            let r = crate::parametric::embed_parametric(run, layer, params, crate::embedding::cancel_flag())
                .map(|(p, cached)| (p.embedding.epochs.len(), p.embedding.samples.len(), cached));
            if r.is_ok() {
                eprintln!("{}  parametric in {:.1} s", escape(layer), t.elapsed().as_secs_f64());
            }
            (layer.clone(), r, t.elapsed().as_secs_f64())
        })
        .collect();
    let width = layers.iter().map(|l| escape(l).len()).max().unwrap_or(5);
    let mut failed = Vec::new();
    for (layer, r, secs) in &outcomes {
        match r {
            Ok((e, n, cached)) => println!(
                "{:<width$}  {e} epochs × {n} samples  parametric  {}",
                escape(layer),
                if *cached { "cached".to_string() } else { format!("{secs:.1} s") }
            ),
            Err(e) => failed.push(escape(&format!("{layer}: {e:#}"))),
        }
    }
    println!(
        "total {:.1} s; encoders in {}",
        total.elapsed().as_secs_f64(),
        escape(&run.path().join(nm_run::CACHE_DIR).display().to_string())
    );
    if interrupted() {
        return Err(crate::Interrupted(
            "parametric embedding interrupted by Ctrl-C; finished layers are cached".into(),
        )
        .into());
    }
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} layers failed:\n  {}",
        failed.len(),
        layers.len(),
        failed.join("\n  ")
    );
    Ok(())
}
