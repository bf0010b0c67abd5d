//! `neuromapper serve RUN`: the browser viewer for a run, following it as it grows.

use std::path::PathBuf;

use crate::params::ParamArgs;
use crate::server_flags::ServerFlags;
use crate::threads::init_threads;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (with neuromapper.json).
    pub run: PathBuf,
    #[command(flatten)]
    pub server: ServerFlags,
    /// Show the run as it is now; do not follow epochs written later
    #[arg(long)]
    pub no_follow: bool,
    /// The default view's parameters (those of `embed`: its cached result is shown at once)
    #[command(flatten)]
    pub params: ParamArgs,
    /// Worker threads (default: one per core)
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_threads(args.threads)?;
    let opts = nm_server::ServeOptions { params: args.params.overrides(), ..args.server.options(!args.no_follow) };
    let server = nm_server::start(args.run, opts)?;
    println!("{}", server.url());
    server.wait()
}
