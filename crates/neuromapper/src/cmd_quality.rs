//! `neuromapper quality RUN [--layers A,B] [--json]`: how far to trust each plot — per layer and
//! epoch, trustworthiness@15 and kNN preservation@10 of the 2-D view, neighbour change@15 since the
//! previous epoch, and linear CKA with the previous epoch and the next layer
//! ([`mod@nm_pipeline::quality`] defines them). Embeddings are computed first when not cached.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nm_pipeline::quality::QUALITY_MAX_POINTS;
use nm_run::text::escape;
use nm_run::Run;

use crate::params::ParamArgs;
use crate::threads::init_threads;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
    /// Layers, comma-separated (default: all); CKA with the next layer follows this order
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub layers: Vec<String>,
    /// Print `{"points": m, "layers": {LAYER: [{"epoch", "trust15", "knn10", "change15", "cka_prev_epoch", "cka_next_layer"}]}}`
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    init_threads(args.threads)?;
    let run = Run::open(&args.run).context("could not open the run")?;
    let params = args.params.overrides().resolve(&run)?;
    let layers = crate::embedding::resolve_layers(&run, &args.layers)?;
    crate::embedding::cancel_on_ctrl_c();
    let mut embeddings = Vec::with_capacity(layers.len());
    for outcome in crate::embedding::compute(&run, &layers, &params) {
        if crate::embedding::interrupted() {
            return Err(crate::Interrupted(
                "quality interrupted by Ctrl-C; embeddings already computed stay cached".into(),
            )
            .into());
        }
        embeddings.push(outcome.result.with_context(|| format!("cannot embed layer `{}`", escape(&outcome.layer)))?);
    }
    let report = nm_pipeline::quality(&run, &embeddings, &params, &nm_umap::Control::default())?;
    if args.json {
        println!("{}", report.to_json());
        return Ok(());
    }
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    let width = layers.iter().map(|l| escape(l).len()).max().unwrap_or(5).max(5);
    println!(
        "{:<width$}  {:>5}  {:>7}  {:>6}  {:>8}  {:>8}  {:>8}",
        "layer", "epoch", "trust15", "knn10", "change15", "cka_prev", "cka_next"
    );
    for layer in &report.layers {
        for s in &layer.slices {
            println!(
                "{:<width$}  {:>5}  {:>7.3}  {:>6.3}  {:>8}  {:>8}  {:>8}",
                escape(&layer.layer),
                s.epoch,
                s.trust15,
                s.knn10,
                fmt(s.change15),
                fmt(s.cka_prev_epoch),
                fmt(s.cka_next_layer)
            );
        }
    }
    eprintln!(
        "{} points per slice{} ({}); {:.1} s\n\
         trust15, knn10: how well the plot keeps the layer's neighbourhoods (1 = perfectly); \
         change15: how much the layer's neighbourhoods changed since the previous epoch (0 = not at all); \
         cka_prev, cka_next: similarity of the layer's geometry to the previous epoch and to the next layer (1 = same)",
        report.points,
        if report.points == QUALITY_MAX_POINTS { " (evenly spaced through the view's samples)" } else { "" },
        params.describe(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
