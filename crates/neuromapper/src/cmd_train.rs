//! `neuromapper train`: trains a small ResNet (nm_train) and writes a run; with `--serve` the run
//! is also served live while it grows.

use std::path::PathBuf;

use nm_train::{DataSource, Scenario};

use crate::threads::init_threads;
use crate::training::{prepare_out_dir, train_and_serve, TrainArgs};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DatasetArg {
    /// Generated 32×32 shapes and glyphs (no download)
    Shapes,
    /// CIFAR-10, binary version (data_batch_*.bin, test_batch.bin) in --data-dir
    Cifar10,
    /// MNIST IDX files (train-images-idx3-ubyte, …, uncompressed) in --data-dir
    Mnist,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ScenarioArg {
    /// Tiny training set with 20% noisy labels: training accuracy climbs, test accuracy stalls
    Overfit,
    /// A network too narrow (width 2) trained for at most 2 epochs
    Underfit,
}

#[derive(clap::Args)]
pub struct Args {
    /// Which images to train on
    #[arg(long, value_enum, default_value = "shapes")]
    pub dataset: DatasetArg,
    /// Folder holding the CIFAR-10 or MNIST files
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The run folder to write (default: `runs/<run name>`)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the run already in --out
    #[arg(long)]
    pub force: bool,
    /// Reproduce a training pathology (paper figure 5.1)
    #[arg(long, value_enum)]
    pub scenario: Option<ScenarioArg>,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Serve the run live in the browser while it trains
    #[arg(long)]
    pub serve: bool,
    /// With --serve: port (default 8765, or a free one)
    #[arg(long, requires = "serve")]
    pub port: Option<u16>,
    /// With --serve: do not open a browser
    #[arg(long, requires = "serve")]
    pub no_open: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_threads(args.train.threads)?;
    let data = match (args.dataset, &args.data_dir) {
        (DatasetArg::Shapes, None) => DataSource::Shapes,
        (DatasetArg::Shapes, Some(_)) => {
            anyhow::bail!("--data-dir is for --dataset cifar10 or mnist; shapes are generated")
        }
        (DatasetArg::Cifar10, Some(d)) => DataSource::Cifar10(d.clone()),
        (DatasetArg::Mnist, Some(d)) => DataSource::Mnist(d.clone()),
        (_, None) => anyhow::bail!("--dataset {:?} needs --data-dir DIR (the folder with its files)", args.dataset),
    };
    let scenario = match args.scenario {
        None => Scenario::Normal,
        Some(ScenarioArg::Overfit) => Scenario::Overfit,
        Some(ScenarioArg::Underfit) => Scenario::Underfit,
    };
    let config = args.train.to_config(data, scenario).check()?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => PathBuf::from("runs").join(nm_train::default_run_name(&config)),
    };
    prepare_out_dir(&out, args.force)?;
    let live = args.serve.then(|| nm_server::ServeOptions {
        port: args.port,
        open_browser: !args.no_open,
        follow: true,
        ..Default::default()
    });
    train_and_serve(&config, &out, live)
}
