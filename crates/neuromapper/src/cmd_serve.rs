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
    /// Address to bind; 127.0.0.1 keeps the viewer on this machine, 0.0.0.0 exposes it to the network
    /// (then a random token is required: it is in the printed URL).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The token clients must show (in the URL as ?token=T, or `Authorization: Bearer T`); required
    /// on loopback too when given. Default: a random one beyond loopback, none on loopback.
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Do not open a browser (the URL is printed).
    #[arg(long)]
    pub no_open: bool,
}

impl ServerFlags {
    /// Serve options with the run's default parameters; `follow`: follow the run as it grows.
    pub fn options(&self, follow: bool) -> nm_server::ServeOptions {
        nm_server::ServeOptions {
            host: self.host.clone(),
            port: self.port,
            open_browser: !self.no_open,
            follow,
            token: self.token.clone(),
            ..Default::default()
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_threads(args.threads)?;
    // A followed run's view grows epoch by epoch, one layer at a time, so it cannot be aligned across
    // layers: with --align-layers a finished run is served as it is (the aligned view), and a run
    // still being written is followed unaligned (the viewer's "align layers" toggle asks for the
    // aligned view of the epochs written so far).
    let mut follow = !args.no_follow;
    if args.params.align_layers {
        let finished = nm_run::Run::open(&args.run).map(|r| r.is_finished()).unwrap_or(false);
        if finished {
            follow = false;
        } else if follow {
            eprintln!(
                "note: --align-layers: the run is not marked finished, so it is followed unaligned; \
                 the viewer's \"align layers\" toggle shows the aligned view"
            );
        }
    }
    let opts = nm_server::ServeOptions { params: args.params.overrides(), ..args.server.options(follow) };
    let server = nm_server::start(args.run, opts)?;
    println!("{}", server.url());
    server.wait()
}
