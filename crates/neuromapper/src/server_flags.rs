//! Where and how to serve the viewer (`ServerFlags`: port, host, token, browser), shared by
//! `serve` and `demo`.

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
