//! `neuromapper demo`: trains a small ResNet on generated shapes and shows it learning, live,
//! in the browser. The viewer opens as soon as epoch 0 (the untrained network) is captured;
//! every later epoch is embedded incrementally and pushed to the page.

use std::path::PathBuf;

use nm_train::{DataSource, Scenario};

use crate::server_flags::ServerFlags;
use crate::threads::init_threads;
use crate::training::{prepare_out_dir, train_and_serve, TrainArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (default: neuromapper-demo in the system's temp folder; a previous demo
    /// run there is replaced)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerFlags,
    #[command(flatten)]
    pub train: TrainArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_threads(args.train.threads)?;
    let config = args.train.to_config(DataSource::Shapes, Scenario::Normal).check()?;
    let (out, replace) = match &args.out {
        Some(o) => (o.clone(), false),
        None => (std::env::temp_dir().join("neuromapper-demo"), true),
    };
    prepare_out_dir(&out, replace)?;
    eprintln!(
        "neuromapper demo: training a ResNet (width {}) on generated shapes for {} epochs into {}",
        config.width,
        config.epochs,
        out.display()
    );
    let live = args.server.options(true);
    train_and_serve(&config, &out, Some(live))
}
