//! `neuromapper serve RUN`: the browser viewer for a run.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (with neuromapper.json).
    pub run: PathBuf,
    /// Port to listen on (default 8765; a free one is picked, and said, when it is taken; 0: any).
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to bind; 127.0.0.1 keeps the viewer on this machine, 0.0.0.0 exposes it to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Do not open a browser.
    #[arg(long)]
    pub no_open: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = nm_server::ServeOptions { host: args.host, port: args.port, open_browser: !args.no_open, live: false };
    let server = nm_server::start(args.run, opts)?;
    println!("{}", server.url());
    server.wait()
}
