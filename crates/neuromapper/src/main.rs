//! The `neuromapper` binary: glue. Each subcommand lives in its own module with its own `Args`.
//! Exit codes: 0 success, 1 user error (message on stderr), 2 usage error (clap), 130 stopped by
//! Ctrl-C (`embed`, `export`).

use clap::{Parser, Subcommand};

mod cmd_cache;
#[cfg(feature = "train")]
mod cmd_demo;
mod cmd_embed;
mod cmd_export;
mod cmd_info;
mod cmd_plot;
mod cmd_quality;
mod cmd_serve;
mod cmd_site;
#[cfg(feature = "train")]
mod cmd_train;
#[cfg(feature = "train")]
mod cmd_transform;
mod embedding;
#[cfg(feature = "train")]
mod parametric;
mod params;
mod server_flags;
mod sizes;
mod threads;
#[cfg(feature = "train")]
mod train_progress;
#[cfg(feature = "train")]
mod training;

#[derive(Parser)]
#[command(name = "neuromapper", version, about = "See how a neural network's representations change while it trains")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small ResNet on generated images and watch it learn, live, in the browser.
    #[cfg(feature = "train")]
    Demo(cmd_demo::Args),
    /// Summarise a run: samples, classes, layers, epochs, size, cached embeddings.
    Info(cmd_info::Args),
    /// Compute (or load from the cache) aligned embeddings of a run's layers.
    Embed(cmd_embed::Args),
    /// Write one layer's embeddings to .npy or .csv.
    Export(cmd_export::Args),
    /// Draw a figure (PNG or SVG) of layers × epochs, coloured by class, without a browser.
    Plot(cmd_plot::Args),
    /// How far to trust each plot: neighbour preservation, neighbour change and CKA per layer and epoch.
    Quality(cmd_quality::Args),
    /// Serve the viewer for a run, or for several side by side.
    Serve(cmd_serve::Args),
    /// Write a static viewer (a folder for any static host, or one HTML file) with a grid of views precomputed.
    Site(cmd_site::Args),
    /// List a run's cached embeddings and pre-embeds (size, current or stale), or clear them.
    Cache(cmd_cache::Args),
    /// Train a small ResNet and write a run (optionally serving it live).
    #[cfg(feature = "train")]
    Train(cmd_train::Args),
    /// Place new activations of a layer into an epoch's parametric view (`embed --parametric`).
    #[cfg(feature = "train")]
    Transform(cmd_transform::Args),
}

/// A command stopped by Ctrl-C before it finished (exit code 130); the message says what was kept.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// `info`, `embed`, `export` and `cache` print results meant for pipes (`neuromapper info RUN |
/// head -1`); when the reader goes away they end quietly, as Unix filters do, by SIGPIPE's default
/// action. Rust starts programs with SIGPIPE ignored, so a write to a closed pipe fails with EPIPE
/// and `println!` panics on it. Restoring the default covers stdout and stderr, every print, warning
/// and progress line, with no wrapper around each; nothing is lost, as every file we write is
/// atomic (a temp file left by the kill is removed by the next cache write). `serve`, `train` and
/// `demo` keep Rust's setting: they hold sockets, and a client hanging up must never kill them.
fn end_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Info(_) | Command::Embed(_) | Command::Export(_) | Command::Cache(_) | Command::Quality(_)
    ) {
        end_quietly_on_broken_pipe();
    }
    let result = match cli.command {
        #[cfg(feature = "train")]
        Command::Demo(a) => cmd_demo::run(a),
        Command::Info(a) => cmd_info::run(a),
        Command::Embed(a) => cmd_embed::run(a),
        Command::Export(a) => cmd_export::run(a),
        Command::Plot(a) => cmd_plot::run(a),
        Command::Quality(a) => cmd_quality::run(a),
        Command::Serve(a) => cmd_serve::run(a),
        Command::Site(a) => cmd_site::run(a),
        Command::Cache(a) => cmd_cache::run(a),
        #[cfg(feature = "train")]
        Command::Train(a) => cmd_train::run(a),
        #[cfg(feature = "train")]
        Command::Transform(a) => cmd_transform::run(a),
    };
    if let Err(e) = result {
        // Names in messages come from files (layer, class, run names): never print them raw.
        let text = format!("{e:#}");
        let lines: Vec<String> = text.lines().map(nm_run::text::escape).collect();
        eprintln!("error: {}", lines.join("\n"));
        std::process::exit(if e.downcast_ref::<Interrupted>().is_some() { 130 } else { 1 });
    }
}
