//! `neuromapper serve RUN`: the browser viewer for a run, following it as it grows.

use std::path::PathBuf;

use crate::params::{init_threads, ParamArgs};

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

/// Where and how to serve the viewer; shared by `serve` and `demo`.
#[derive(clap::Args)]
pub struct ServerFlags {
    /// Port to listen on (default 8765; a free one is picked, and said, when it is taken; 0: any).
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to bind; 127.0.0.1 keeps the viewer on this machine, 0.0.0.0 exposes it to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Do not open a browser (the URL is printed).
    #[arg(long)]
    pub no_open: bool,
}

impl ServerFlags {
    /// Serve options that follow the run (the default), with the run's default parameters.
    pub fn options(&self) -> nm_server::ServeOptions {
        nm_server::ServeOptions {
            host: self.host.clone(),
            port: self.port,
            open_browser: !self.no_open,
            ..Default::default()
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_threads(args.threads)?;
    let opts =
        nm_server::ServeOptions { follow: !args.no_follow, params: args.params.overrides(), ..args.server.options() };
    let server = nm_server::start(args.run, opts)?;
    println!("{}", server.url());
    server.wait()
}
