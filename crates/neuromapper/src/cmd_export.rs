//! `neuromapper export RUN --layer L --out FILE.npy|FILE.csv`: one layer's aligned embedding for
//! other tools (computed first when not cached). `.npy`: float32 [E, n, 2], epochs ascending, rows
//! in the run's sample order, plus `FILE.samples.npy` with the sample indices when sampled;
//! `.csv`: columns epoch,sample,label,class,predicted,x,y. `--parametric`: the parametric view.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nm_pipeline::export::Format;
use nm_run::text::escape;
use nm_run::Run;

use crate::embedding::{cancel_on_ctrl_c, compute, interrupted, resolve_layers};
use crate::params::ParamArgs;
use crate::threads::init_threads;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
    /// The layer to export
    #[arg(long)]
    pub layer: String,
    /// Output file: .npy (float32 [epochs, samples, 2]) or .csv (epoch,sample,label,class,predicted,x,y)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Export the parametric view (`embed --parametric`; trained first when not cached)
    #[cfg(feature = "train")]
    #[arg(long)]
    pub parametric: bool,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    anyhow::ensure!(
        Format::from_path(&args.out).is_some(),
        "{}: the output file must end in .npy or .csv",
        args.out.display()
    );
    init_threads(args.threads)?;
    let run = Run::open(&args.run).context("could not open the run")?;
    // A run's files are read-only to us: no output inside its folder, nor onto one of its files
    // through a link (checked before any work, for the index file too).
    for out in [args.out.clone(), nm_pipeline::export::samples_path(&args.out)] {
        anyhow::ensure!(
            !run.owns_path(&out),
            "{}: inside the run {} (or one of its files through a link); a run's files are never \
             modified, so choose an --out outside the run's folder",
            escape(&out.display().to_string()),
            escape(&run.path().display().to_string())
        );
    }
    let params = args.params.overrides().resolve(&run)?;
    let layers = resolve_layers(&run, std::slice::from_ref(&args.layer))?;
    cancel_on_ctrl_c();
    #[cfg(feature = "train")]
    if args.parametric {
        let (layer, cached) =
            crate::parametric::embed_parametric(&run, &args.layer, &params, crate::embedding::cancel_flag())?;
        for w in nm_pipeline::export::write(&run, &layer.embedding, &args.out)? {
            println!("wrote {}", escape(&w.display().to_string()));
        }
        println!(
            "{}: parametric, {} epochs × {} samples ({}; {:.1} s)",
            escape(&args.layer),
            layer.embedding.epochs.len(),
            layer.embedding.samples.len(),
            if cached { "from the cache" } else { "computed" },
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let outcome = compute(&run, &layers, &params).pop().expect("one layer in, one out");
    if interrupted() && outcome.result.is_err() {
        return Err(crate::Interrupted(format!(
            "export interrupted by Ctrl-C; {} was not written",
            args.out.display()
        ))
        .into());
    }
    let emb = outcome.result?;
    let written = nm_pipeline::export::write(&run, &emb, &args.out)?;
    for w in &written {
        println!("wrote {}", escape(&w.display().to_string()));
    }
    println!(
        "{}: {} epochs × {} samples ({}; {:.1} s)",
        escape(&args.layer),
        emb.epochs.len(),
        emb.samples.len(),
        if outcome.cached { "from the cache" } else { "computed" },
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
