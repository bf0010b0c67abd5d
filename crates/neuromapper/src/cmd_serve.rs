//! `neuromapper serve RUN [RUN…]`: the browser viewer for a run, following it as it grows; several
//! runs that share their probe set are shown side by side, a row per run. `--parametric` shows the
//! parametric views that `embed --parametric` cached, and lets the viewer add points to them.

use std::path::PathBuf;

use crate::params::ParamArgs;
use crate::server_flags::ServerFlags;
use crate::threads::init_threads;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (with neuromapper.json); several runs that record the same samples (at most
    /// 6) are shown side by side, a row each, turned onto the first's
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    #[command(flatten)]
    pub server: ServerFlags,
    /// Show the run as it is now; do not follow epochs written later
    #[arg(long)]
    pub no_follow: bool,
    /// The default view's parameters (those of `embed`: its cached result is shown at once)
    #[command(flatten)]
    pub params: ParamArgs,
    /// Show the parametric views (the positions the per-layer encoders of `embed --parametric` give,
    /// from its cache), where the viewer can add points from a .npy of activations (drawn hollow).
    /// One run, not followed, each layer on its own
    #[cfg(feature = "train")]
    #[arg(long)]
    pub parametric: bool,
    /// Worker threads (default: one per core)
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    init_threads(args.threads)?;
    // A followed run's view grows epoch by epoch, one layer at a time, so it cannot be aligned across
    // layers: with --align-layers a finished run is served as it is (the aligned view), and a run
    // still being written is followed unaligned (the viewer's "align layers" toggle asks for the
    // aligned view of the epochs written so far).
    let mut follow = !args.no_follow;
    #[cfg(feature = "train")]
    let placer = if args.parametric {
        anyhow::ensure!(
            !args.params.align_layers,
            "--parametric embeds each layer on its own: leave out --align-layers"
        );
        anyhow::ensure!(
            args.runs.len() == 1,
            "--parametric serves one run (its cached parametric views); {} were given",
            args.runs.len()
        );
        // The cached encoders are the view: a run still being written is shown as it was embedded.
        follow = false;
        Some(crate::parametric::placer())
    } else {
        None
    };
    #[cfg(not(feature = "train"))]
    let placer = None;
    if args.params.align_layers {
        let finished = args.runs.iter().all(|run| nm_run::Run::open(run).is_ok_and(|r| r.is_finished()));
        if finished {
            follow = false;
        } else if follow {
            eprintln!(
                "note: --align-layers: the run is not marked finished, so it is followed unaligned; \
                 the viewer's \"align layers\" toggle shows the aligned view"
            );
        }
    }
    let opts = nm_server::ServeOptions { params: args.params.overrides(), placer, ..args.server.options(follow) };
    anyhow::ensure!(
        args.runs.len() <= nm_server::MAX_RUNS,
        "at most {} runs can be served side by side; {} were given",
        nm_server::MAX_RUNS,
        args.runs.len()
    );
    let server = if args.runs.len() == 1 {
        nm_server::start(args.runs.swap_remove(0), opts)?
    } else {
        nm_server::start_runs(args.runs, opts)?
    };
    println!("{}", server.url());
    server.wait()
}
