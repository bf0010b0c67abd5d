//! `neuromapper train`: trains a small ResNet (nm_train) and writes a run; with `--serve` the run
//! is also served live while it grows. Also holds what `demo` shares: the progress display and
//! the live-serving observer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nm_run::EpochMetrics;
use nm_train::train::{Capture, DataInfo, DataSource, EpochTiming, Observer, Scenario, TrainConfig};

use crate::params::init_threads;

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

/// Training options shared by `train` and `demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    /// Epochs to train (epoch 0, the untrained network, is captured too)
    #[arg(long, default_value_t = 8)]
    pub epochs: u32,
    /// Images per class in the capture set (never trained on)
    #[arg(long, value_name = "K", default_value_t = 200)]
    pub capture_per_class: usize,
    /// Training images (shapes: how many to generate, default 6000; others: the first N)
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
    /// Network width: the four stages have W, 2W, 4W, 8W channels
    #[arg(long, value_name = "W", default_value_t = 16)]
    pub width: usize,
    /// Residual blocks per stage
    #[arg(long, default_value_t = 1)]
    pub blocks: usize,
    /// Adam's initial learning rate (decays along a half cosine)
    #[arg(long, default_value_t = 0.002)]
    pub lr: f64,
    /// Images per training step
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of the data, the initial weights and the shuffling
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Capture each stage globally average-pooled (D = channels) instead of on a grid
    #[arg(long, conflicts_with = "grid")]
    pub pool: bool,
    /// Capture each stage average-pooled to at most G×G cells (D = channels·G²); 0: unpooled
    /// (large: stage 1 has 32·32·W values per image)
    #[arg(long, value_name = "G", default_value_t = 2)]
    pub grid: usize,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
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

impl TrainArgs {
    pub fn to_config(&self, data: DataSource, scenario: Scenario) -> TrainConfig {
        TrainConfig {
            data,
            train_size: self.train_size,
            epochs: self.epochs,
            capture_per_class: self.capture_per_class,
            width: self.width,
            blocks_per_stage: self.blocks,
            learning_rate: self.lr,
            batch_size: self.batch_size,
            seed: self.seed,
            capture: match (self.pool, self.grid) {
                (true, _) => Capture::Grid(1),
                (false, 0) => Capture::Full,
                (false, g) => Capture::Grid(g),
            },
            scenario,
            name: None,
        }
    }
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
        None => PathBuf::from("runs").join(nm_train::train::default_run_name(&config)),
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

/// Makes `out` ready for a new run: absent or empty is fine; a folder holding a run is
/// emptied of the run's files when `replace` (never anything else); any other folder is refused.
pub fn prepare_out_dir(out: &Path, replace: bool) -> anyhow::Result<()> {
    if !out.exists() {
        return Ok(());
    }
    anyhow::ensure!(out.is_dir(), "{} exists and is not a folder; choose another --out", out.display());
    let mut entries = std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let is_run = out.join(nm_run::MANIFEST_FILE).is_file();
    anyhow::ensure!(
        is_run,
        "{} is not empty and holds no run (no {}); choose another --out",
        out.display(),
        nm_run::MANIFEST_FILE
    );
    anyhow::ensure!(
        replace,
        "{} already holds a run; pass --force to replace it, or choose another --out",
        out.display()
    );
    for name in [nm_run::EPOCHS_DIR, nm_run::CACHE_DIR] {
        let p = out.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    for name in
        [nm_run::MANIFEST_FILE, nm_run::LABELS_FILE, nm_run::INPUTS_FILE, nm_run::METRICS_FILE, nm_run::FINISHED_FILE]
    {
        let p = out.join(name);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    Ok(())
}

/// Trains `config` into `out`; with `live`, the viewer starts as soon as epoch 0 is written
/// and gets every later epoch as it is written, then serves until Ctrl-C.
pub fn train_and_serve(config: &TrainConfig, out: &Path, live: Option<nm_server::ServeOptions>) -> anyhow::Result<()> {
    let mut progress = Progress::new(config.epochs, live, out.to_path_buf());
    let summary = nm_train::train(config, out, &mut progress)
        .with_context(|| format!("training into {} failed", out.display()))?;
    let train_secs: f64 = summary.timings.iter().map(|t| t.train_secs).sum();
    let capture_secs: f64 = summary.timings.iter().map(|t| t.capture_secs + t.write_secs).sum();
    eprintln!(
        "trained {} epochs in {:.1} s: data {:.1} s, training {:.1} s, capture + write {:.1} s",
        config.epochs,
        progress.start.elapsed().as_secs_f64(),
        summary.data_secs,
        train_secs,
        capture_secs
    );
    println!("{}", out.display());
    if let Some(err) = progress.server_error.take() {
        return Err(err);
    }
    match progress.server.take() {
        Some(server) => {
            server.training_finished();
            eprintln!("training finished; the viewer stays at {} (Ctrl-C to stop)", server.url());
            server.wait()
        }
        None => Ok(()),
    }
}

/// Progress bars on stderr, a summary line per epoch, and (live mode) the server.
pub struct Progress {
    epochs: u32,
    bar: Option<ProgressBar>,
    pub start: Instant,
    live: Option<nm_server::ServeOptions>,
    run: PathBuf,
    pub server: Option<nm_server::ServerHandle>,
    pub server_error: Option<anyhow::Error>,
}

impl Progress {
    pub fn new(epochs: u32, live: Option<nm_server::ServeOptions>, run: PathBuf) -> Progress {
        Progress { epochs, bar: None, start: Instant::now(), live, run, server: None, server_error: None }
    }
}

fn percent(x: Option<f32>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

impl Observer for Progress {
    fn data_ready(&mut self, info: &DataInfo) {
        let dims: Vec<String> = info.layers.iter().map(|(n, d)| format!("{n} {d}")).collect();
        eprintln!(
            "{} training images, {} captured ({} classes); captured dims: {} ({:.1} s)",
            info.train_images,
            info.capture_images,
            info.classes.len(),
            dims.join(", "),
            self.start.elapsed().as_secs_f64()
        );
    }

    fn epoch_started(&mut self, epoch: u32, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    fn batch_finished(&mut self, _epoch: u32, _batch: usize, loss: f32, accuracy: f32) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {loss:.3} acc {:.1}%", 100.0 * accuracy));
            bar.inc(1);
        }
    }

    fn epoch_captured(&mut self, epoch: u32, m: &EpochMetrics, t: &EpochTiming) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {epoch}/{}: loss {} train acc {} test acc {} (train {:.1} s, capture {:.1} s, write {:.2} s; {:.1} s since start)",
            self.epochs,
            m.loss.map_or("-".into(), |l| format!("{l:.3}")),
            percent(m.train_accuracy),
            percent(m.test_accuracy),
            t.train_secs,
            t.capture_secs,
            t.write_secs,
            self.start.elapsed().as_secs_f64()
        );
        if let Some(server) = &self.server {
            server.epoch_added(epoch);
        } else if let Some(opts) = self.live.take() {
            match nm_server::start(self.run.clone(), opts) {
                Ok(server) => {
                    server.epoch_added(epoch);
                    eprintln!("viewer at {} ({:.1} s since start)", server.url(), self.start.elapsed().as_secs_f64());
                    self.server = Some(server);
                }
                Err(e) => self.server_error = Some(e.context("could not start the viewer")),
            }
        }
    }
}
