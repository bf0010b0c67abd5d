//! What a training run is asked to do: `TrainConfig` (data, sizes, optimiser, capture pooling,
//! scenario) and its one validation step `check`, the training pathologies, the default run name.

use std::path::PathBuf;

use crate::adversarial::Adversarial;
use crate::error::TrainError;

/// `--scenario overfit`: training images per class.
pub const OVERFIT_PER_CLASS: usize = 30;
/// `--scenario overfit`: fraction of training labels replaced by a random class.
pub const OVERFIT_LABEL_NOISE: f32 = 0.2;
/// `--scenario underfit`: the width used (the stages have 2, 4, 8, 16 channels).
pub const UNDERFIT_WIDTH: usize = 2;
/// `--scenario underfit`: at most this many epochs.
pub const UNDERFIT_MAX_EPOCHS: u32 = 2;

/// Where the images come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// The generated shapes ([`crate::shapes`]); `train_size` images to train on.
    Shapes,
    /// CIFAR-10, binary version, in this folder.
    Cifar10(PathBuf),
    /// MNIST IDX files in this folder.
    Mnist(PathBuf),
}

/// How each stage's `[N, C, H, W]` output is reduced before it is flattened into the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// Flattened as is: D = C·H·W (large: stage 1 of width 16 on 32×32 is 16,384).
    Full,
    /// Average-pooled to at most `g × g` cells, then flattened: D = C·min(g,H)·min(g,W).
    Grid(usize),
}

/// Paper figure 5.1's training pathologies, for comparison with a normal run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Normal,
    /// A tiny training set ([`OVERFIT_PER_CLASS`] per class) with [`OVERFIT_LABEL_NOISE`] of
    /// the labels randomised: training accuracy climbs, test accuracy does not.
    Overfit,
    /// A too-narrow network ([`UNDERFIT_WIDTH`]) trained for at most [`UNDERFIT_MAX_EPOCHS`]
    /// epochs: classes never separate.
    Underfit,
}

/// Everything a training run needs; [`TrainConfig::default`] is the demo's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub data: DataSource,
    /// Training images: generated count for shapes (default 6,000); for CIFAR-10/MNIST the
    /// first this many of the training split (None: all).
    pub train_size: Option<usize>,
    /// Epochs to train (default 8). Epoch 0, the untrained network, is captured too.
    pub epochs: u32,
    /// Capture-set images per class (default 200), never trained on: generated apart for
    /// shapes, the first of each class of the test split otherwise.
    pub capture_per_class: usize,
    /// Network width (default 16): stage k has `width · 2^(k-1)` channels.
    pub width: usize,
    /// Basic blocks per stage (default 1).
    pub blocks_per_stage: usize,
    /// Adam's initial learning rate (default 0.002), decayed along a half cosine.
    pub learning_rate: f64,
    /// Images per training step (default 64).
    pub batch_size: usize,
    pub seed: u64,
    /// Stage reduction before capture (default `Grid(2)`).
    pub capture: Capture,
    pub scenario: Scenario,
    /// Run name in the manifest (None: derived from the data and width).
    pub name: Option<String>,
    /// Adversarial twins of a few capture images per class, crafted after every epoch (None: none).
    pub adversarial: Option<Adversarial>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: DataSource::Shapes,
            train_size: None,
            epochs: 8,
            capture_per_class: 200,
            width: 16,
            blocks_per_stage: 1,
            learning_rate: 0.002,
            batch_size: 64,
            seed: 0,
            capture: Capture::Grid(2),
            scenario: Scenario::Normal,
            name: None,
            adversarial: None,
        }
    }
}

/// Default number of generated training images for the shapes dataset.
pub const SHAPES_DEFAULT_TRAIN: usize = 6_000;

impl TrainConfig {
    /// Checks every option and applies the scenario; the driver only sees checked configs.
    pub fn check(&self) -> Result<TrainConfig, TrainError> {
        let bad = |name: &'static str, value: String, message: &str| {
            Err(TrainError::Config { name, value, message: message.to_string() })
        };
        if self.epochs == 0 {
            return bad("epochs", "0".into(), "train at least one epoch");
        }
        if self.capture_per_class == 0 {
            return bad("capture-per-class", "0".into(), "capture at least one image per class");
        }
        if !(1..=256).contains(&self.width) {
            return bad("width", self.width.to_string(), "must be in 1..=256 (16 is the default)");
        }
        if !(1..=8).contains(&self.blocks_per_stage) {
            return bad("blocks-per-stage", self.blocks_per_stage.to_string(), "must be in 1..=8");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 10.0) {
            return bad(
                "lr",
                self.learning_rate.to_string(),
                "must be a positive number below 10 (0.002 is the default)",
            );
        }
        if self.batch_size < 2 || self.batch_size > 4096 {
            return bad("batch-size", self.batch_size.to_string(), "must be in 2..=4096 (batch norm needs two images)");
        }
        if let Some(n) = self.train_size {
            if n < 10 {
                return bad("train-size", n.to_string(), "train on at least 10 images");
            }
        }
        if self.capture == Capture::Grid(0) {
            return bad("capture-grid", "0".into(), "use Capture::Full for no pooling");
        }
        if let Some(a) = &self.adversarial {
            if a.per_class == 0 || a.per_class > self.capture_per_class {
                return bad(
                    "adversarial",
                    a.per_class.to_string(),
                    &format!("twins per class must be in 1..={} (--capture-per-class)", self.capture_per_class),
                );
            }
            if !(a.eps.is_finite() && a.eps > 0.0 && a.eps <= 1.0) {
                return bad(
                    "eps",
                    a.eps.to_string(),
                    "must be in (0, 1], in pixel units (8/255 = 0.0314 is the default)",
                );
            }
        }
        let mut c = self.clone();
        match self.scenario {
            Scenario::Normal => {}
            Scenario::Overfit => c.train_size = Some(OVERFIT_PER_CLASS * 10),
            Scenario::Underfit => {
                c.width = UNDERFIT_WIDTH;
                c.epochs = c.epochs.min(UNDERFIT_MAX_EPOCHS);
            }
        }
        Ok(c)
    }
}

/// `resnet-w<width>-<data>[-<scenario>]`, e.g. `resnet-w16-shapes`.
pub fn default_run_name(config: &TrainConfig) -> String {
    let data = match &config.data {
        DataSource::Shapes => "shapes",
        DataSource::Cifar10(_) => "cifar10",
        DataSource::Mnist(_) => "mnist",
    };
    let scenario = match config.scenario {
        Scenario::Normal => "",
        Scenario::Overfit => "-overfit",
        Scenario::Underfit => "-underfit",
    };
    format!("resnet-w{}-{data}{scenario}", config.width)
}
