//! `neuromapper serve RUN`: the browser viewer for a run.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (with neuromapper.json).
    pub run: PathBuf,
    #[command(flatten)]
    pub server: ServerFlags,
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
    pub fn options(&self, live: bool) -> nm_server::ServeOptions {
        nm_server::ServeOptions {
            host: self.host.clone(),
            port: self.port,
            open_browser: !self.no_open,
            live,
            token: self.token.clone(),
            ..Default::default()
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let server = nm_server::start(args.run, args.server.options(false))?;
    println!("{}", server.url());
    server.wait()
}
