//! Training from the command line, shared by `train` and `demo`: the training flags (`TrainArgs` ↦
//! `TrainConfig`), making the output folder ready, and the training itself, served live or not.

use std::path::Path;

use anyhow::Context;
use nm_train::{Capture, DataSource, Scenario, TrainConfig};

use crate::train_progress::Progress;

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
    /// Adversarial twins: after every epoch, perturb the first K capture images of each class
    /// against the current network and capture them as rows of their own
    #[arg(long, value_name = "K")]
    pub adversarial: Option<usize>,
    /// With --adversarial: the attack (fgsm: one step; pgd: 10 projected steps)
    #[arg(long, value_enum, default_value = "fgsm", requires = "adversarial")]
    pub attack: AttackArg,
    /// With --adversarial: the L∞ budget in pixel units (0..1 scale), e.g. 0.0314 or 8/255
    #[arg(long, value_name = "E", default_value = "8/255", value_parser = parse_eps, requires = "adversarial")]
    pub eps: f32,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AttackArg {
    /// Fast gradient sign method: one step of ε along the sign of the loss gradient
    Fgsm,
    /// Projected gradient descent: 10 steps of 2.5·ε/10, projected into the ε-ball
    Pgd,
}

/// `--eps`: a number (`0.0314`) or a fraction (`8/255`).
fn parse_eps(s: &str) -> Result<f32, String> {
    let bad = || format!("expected a number such as 0.0314 or a fraction such as 8/255; got `{s}`");
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse::<f32>().map_err(|_| bad())?, b.trim().parse::<f32>().map_err(|_| bad())?);
            if b == 0.0 {
                return Err(bad());
            }
            a / b
        }
        None => s.trim().parse::<f32>().map_err(|_| bad())?,
    };
    if !(v.is_finite() && v > 0.0 && v <= 1.0) {
        return Err(format!("must be in (0, 1] (pixel units); got {v}"));
    }
    Ok(v)
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
            adversarial: self.adversarial.map(|per_class| nm_train::Adversarial {
                per_class,
                attack: match self.attack {
                    AttackArg::Fgsm => nm_train::Attack::Fgsm,
                    AttackArg::Pgd => nm_train::Attack::Pgd,
                },
                eps: self.eps,
            }),
        }
    }
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
