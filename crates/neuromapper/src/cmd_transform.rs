//! `neuromapper transform RUN --layer L --epoch E --in X.npy --out Y.npy`: places new activations
//! [m, D] of layer L into the parametric view of epoch E (made by `embed --parametric` with the same
//! embedding flags), through that epoch's PCA map and encoder; writes float32 [m, 2].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nm_run::text::escape;
use nm_run::{LayerReader, Run};

use crate::params::ParamArgs;
use crate::threads::init_threads;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
    /// The layer whose view the points join
    #[arg(long)]
    pub layer: String,
    /// The epoch whose view the points join
    #[arg(long)]
    pub epoch: u32,
    /// The new activations: a float .npy of [m, D] (or [m, ...] flattened per row), D as the layer's
    #[arg(long = "in", value_name = "X.npy")]
    pub input: PathBuf,
    /// Where to write the positions: float32 .npy [m, 2]
    #[arg(long, value_name = "Y.npy")]
    pub out: PathBuf,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    anyhow::ensure!(
        args.out.extension().and_then(|e| e.to_str()) == Some("npy"),
        "--out {}: the output file must end in .npy",
        escape(&args.out.display().to_string())
    );
    init_threads(args.threads)?;
    let run = Run::open(&args.run).context("could not open the run")?;
    anyhow::ensure!(
        !run.owns_path(&args.out),
        "--out {}: inside the run {} (or one of its files through a link); a run's files are never modified, \
         so choose a path outside the run's folder",
        escape(&args.out.display().to_string()),
        escape(&run.path().display().to_string())
    );
    let params = args.params.overrides().resolve(&run)?;
    crate::embedding::resolve_layers(&run, std::slice::from_ref(&args.layer))?;
    let layer = nm_pipeline::cached_parametric(&run, &args.layer, &params).ok_or_else(|| {
        anyhow::anyhow!(
            "no parametric embedding of layer `{}` is cached for these parameters ({}); make it with \
             `neuromapper embed {} --parametric --layers {}` and the same embedding flags",
            escape(&args.layer),
            params.describe(),
            escape(&run.path().display().to_string()),
            escape(&args.layer)
        )
    })?;
    let slice = layer.slice_of(args.epoch)?;
    let dim = layer.maps[slice].dim;
    let mut reader = LayerReader::open_npy(&args.input).context("--in: could not read the activations")?;
    anyhow::ensure!(
        reader.n_cols() == dim,
        "--in {}: rows of {} values, but layer `{}` has D = {dim}; give [m, {dim}] activations of that layer",
        escape(&args.input.display().to_string()),
        reader.n_cols(),
        escape(&args.layer)
    );
    let m = reader.n_rows();
    let rows = reader.read_all().context("--in: could not read the activations")?;
    let positions = crate::parametric::place(&layer, slice, rows)?;
    nm_run::npy::write(&args.out, &[m, 2], &positions)
        .with_context(|| format!("could not write {}", escape(&args.out.display().to_string())))?;
    println!(
        "wrote {}: {m} points in layer `{}` at epoch {} ({:.2} s)",
        escape(&args.out.display().to_string()),
        escape(&args.layer),
        args.epoch,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
