//! The training driver: data → model → per-epoch training and capture into a run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Int, Tensor, TensorData};
use nm_run::{EpochMetrics, Inputs, Manifest, RunWriter};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::data::{ChannelStats, Dataset};
use crate::error::TrainError;
use crate::model::{ResNet, ResNetConfig, STAGE_NAMES};
use crate::{readers, shapes};

/// Images per forward pass when capturing (eval mode, no gradients).
pub const CAPTURE_BATCH: usize = 250;
/// The learning rate decays along a half cosine to this fraction of its start.
pub const LR_FLOOR_FRACTION: f64 = 0.05;
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

/// Sizes known once the data is loaded.
#[derive(Clone, Debug)]
pub struct DataInfo {
    pub train_images: usize,
    pub capture_images: usize,
    pub batches_per_epoch: usize,
    /// `(layer, D)` of every captured stage.
    pub layers: Vec<(String, usize)>,
    pub classes: Vec<String>,
}

/// What one epoch took, in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochTiming {
    pub train_secs: f64,
    pub capture_secs: f64,
    pub write_secs: f64,
}

/// Hooks for progress display and live serving; every method has an empty default.
pub trait Observer {
    /// The data is loaded and the run folder created (nothing captured yet).
    fn data_ready(&mut self, _info: &DataInfo) {}
    /// Training of `epoch` (1-based) starts with `batches` steps.
    fn epoch_started(&mut self, _epoch: u32, _batches: usize) {}
    /// One step finished: the batch's mean loss and accuracy, and the running means so far
    /// this epoch.
    fn batch_finished(&mut self, _epoch: u32, _batch: usize, _running_loss: f32, _running_accuracy: f32) {}
    /// `epoch` has been written to the run (epoch 0: the untrained network).
    fn epoch_captured(&mut self, _epoch: u32, _metrics: &EpochMetrics, _timing: &EpochTiming) {}
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// The outcome of [`train`].
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub run: PathBuf,
    /// One entry per captured epoch, 0 first.
    pub metrics: Vec<EpochMetrics>,
    pub timings: Vec<EpochTiming>,
    /// Seconds spent loading or generating data.
    pub data_secs: f64,
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

/// Loads `(train, capture)` for a checked config.
pub fn load_data(config: &TrainConfig) -> Result<(Dataset, Dataset), TrainError> {
    let per_class = config.capture_per_class;
    let (mut train, capture) = match &config.data {
        DataSource::Shapes => {
            let n = config.train_size.unwrap_or(SHAPES_DEFAULT_TRAIN);
            let train = shapes::generate(config.seed, shapes::Split::Train, n);
            let capture = shapes::generate(config.seed, shapes::Split::Capture, per_class * shapes::CLASSES.len());
            (train, sort_by_class(capture))
        }
        DataSource::Cifar10(dir) | DataSource::Mnist(dir) => {
            let (train, test) = match &config.data {
                DataSource::Cifar10(_) => readers::load_cifar10(dir)?,
                _ => readers::load_mnist(dir)?,
            };
            let capture = test.select(&test.first_per_class(per_class));
            let train = match config.train_size {
                Some(n) if n < train.n => train.select(&(0..n).collect::<Vec<_>>()),
                _ => train,
            };
            (train, capture)
        }
    };
    if config.scenario == Scenario::Overfit {
        let mut rng = Pcg64Mcg::seed_from_u64(config.seed ^ 0x6f76_6572_6669_7421);
        let k = train.classes.len() as u32;
        for label in &mut train.labels {
            if rng.gen::<f32>() < OVERFIT_LABEL_NOISE {
                *label = rng.gen_range(0..k);
            }
        }
    }
    Ok((train, capture))
}

/// The same images grouped by class (stable within a class).
fn sort_by_class(d: Dataset) -> Dataset {
    let mut idx: Vec<usize> = (0..d.n).collect();
    idx.sort_by_key(|&i| d.labels[i]);
    d.select(&idx)
}

/// Learning rate at step `t` of `total`: `lr · (f + (1 − f) · ½(1 + cos(π t / total)))`,
/// f = [`LR_FLOOR_FRACTION`].
pub fn learning_rate_at(lr: f64, t: usize, total: usize) -> f64 {
    let progress = t as f64 / total.max(1) as f64;
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    lr * (LR_FLOOR_FRACTION + (1.0 - LR_FLOOR_FRACTION) * cosine)
}

/// One `[B, C, H, W]` input batch and its `[B]` targets on `device`.
fn batch_tensors(d: &Dataset, idx: &[usize], stats: &ChannelStats, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let x = d.batch_nchw(idx, stats);
    let x = Tensor::<4>::from_data(TensorData::new(x, [idx.len(), d.channels, d.height, d.width]), device);
    let y: Vec<i64> = idx.iter().map(|&i| d.labels[i] as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), device);
    (x, y)
}

fn floats(t: Tensor<2>) -> Result<Vec<f32>, TrainError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Other(format!("reading a tensor back: {e:?}")))
}

/// Number of correct argmax predictions in `logits` `[B, classes]` against `targets` `[B]`.
fn correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> usize {
    let pred = logits.argmax(1).flatten::<1>(0, 1);
    pred.equal(targets).int().sum().into_scalar::<i64>() as usize
}

/// The captured dimension of a stage with `channels` channels on an `h × w` grid.
pub fn captured_dim(capture: Capture, channels: usize, h: usize, w: usize) -> usize {
    match capture {
        Capture::Full => channels * h * w,
        Capture::Grid(g) => channels * g.min(h) * g.min(w),
    }
}

/// A stage output `[B, C, H, W]` reduced per `capture` and flattened to `[B, D]`.
fn reduce_stage(x: Tensor<4>, capture: Capture) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    let x = match capture {
        Capture::Grid(g) if g < h || g < w => adaptive_avg_pool2d(x, [g.min(h), g.min(w)]),
        _ => x,
    };
    let [_, _, h2, w2] = x.dims();
    x.reshape([b, c * h2 * w2])
}

/// Captured activations of one epoch: per stage `[N, D_k]` row-major, the predictions and
/// the accuracy on the capture set.
pub struct Captured {
    pub stages: Vec<Vec<f32>>,
    pub dims: Vec<usize>,
    pub predictions: Vec<u32>,
    pub accuracy: f32,
}

/// Runs the capture set through `model` in eval mode (batch norm on running statistics).
pub fn capture_epoch(
    model: &ResNet,
    data: &Dataset,
    stats: &ChannelStats,
    capture: Capture,
) -> Result<Captured, TrainError> {
    let eval = model.valid();
    let device = Device::flex();
    let mut stages: Vec<Vec<f32>> = vec![Vec::new(); STAGE_NAMES.len()];
    let mut dims = vec![0usize; STAGE_NAMES.len()];
    let mut predictions = Vec::with_capacity(data.n);
    let mut hits = 0usize;
    let all: Vec<usize> = (0..data.n).collect();
    for idx in all.chunks(CAPTURE_BATCH) {
        let (x, y) = batch_tensors(data, idx, stats, &device);
        let out = eval.forward_stages(x);
        for (k, s) in out.stages.into_iter().enumerate() {
            let r = reduce_stage(s, capture);
            dims[k] = r.dims()[1];
            stages[k].extend(floats(r)?);
        }
        hits += correct(out.logits.clone(), y);
        let pred = out.logits.argmax(1).into_data();
        predictions.extend(pred.iter::<i64>().map(|p| p as u32));
    }
    Ok(Captured { stages, dims, predictions, accuracy: hits as f32 / data.n.max(1) as f32 })
}

/// Trains per `config` and writes the run to `out` (created; an existing run there is
/// replaced epoch by epoch). Calls `observer` along the way.
pub fn train(config: &TrainConfig, out: &Path, observer: &mut dyn Observer) -> Result<TrainSummary, TrainError> {
    let config = config.check()?;
    let t0 = Instant::now();
    let (train_set, capture_set) = load_data(&config)?;
    let data_secs = t0.elapsed().as_secs_f64();
    if train_set.n < config.batch_size.min(2) || train_set.n < 2 {
        return Err(TrainError::Other(format!("only {} training images; need at least 2", train_set.n)));
    }
    let stats = train_set.channel_stats();
    let classes = train_set.classes.clone();

    let model_config = ResNetConfig {
        in_channels: train_set.channels,
        classes: classes.len(),
        width: config.width,
        blocks_per_stage: config.blocks_per_stage,
    };
    // Stage k (0-based) sees the input halved k times, rounding up (3×3 convs, padding 1, stride 2).
    let halve = |x: usize, k: usize| (0..k).fold(x, |x, _| x.div_ceil(2));
    let spatial = |k: usize| (halve(train_set.height, k), halve(train_set.width, k));
    let layers: Vec<(String, usize)> = STAGE_NAMES
        .iter()
        .zip(model_config.stage_channels())
        .enumerate()
        .map(|(k, (name, c))| {
            let (h, w) = spatial(k);
            (name.to_string(), captured_dim(config.capture, c, h.max(1), w.max(1)))
        })
        .collect();

    let name = config.name.clone().unwrap_or_else(|| default_run_name(&config));
    let manifest = Manifest {
        name: Some(name),
        ..Manifest::new(Some(classes.clone()), Some(STAGE_NAMES.iter().map(|s| s.to_string()).collect()))
    };
    let inputs = Inputs {
        n: capture_set.n,
        height: capture_set.height,
        width: capture_set.width,
        channels: capture_set.channels,
        data: capture_set.pixels.clone(),
    };
    let writer = RunWriter::create(out, &manifest, &capture_set.labels, Some(&inputs))?;

    let batches_per_epoch = train_set.n.div_ceil(config.batch_size);
    observer.data_ready(&DataInfo {
        train_images: train_set.n,
        capture_images: capture_set.n,
        batches_per_epoch,
        layers: layers.clone(),
        classes: classes.clone(),
    });

    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let mut model = model_config.init(&device);
    let mut optim = AdamConfig::new().init();
    let loss_fn: CrossEntropyLoss = CrossEntropyLossConfig::new().init(&device);

    let mut metrics: Vec<EpochMetrics> = Vec::new();
    let mut timings: Vec<EpochTiming> = Vec::new();
    let record = |epoch: u32,
                  model: &ResNet,
                  train_secs: f64,
                  train_acc: Option<f32>,
                  loss: Option<f32>,
                  metrics: &mut Vec<EpochMetrics>,
                  timings: &mut Vec<EpochTiming>,
                  observer: &mut dyn Observer|
     -> Result<(), TrainError> {
        let t = Instant::now();
        let cap = capture_epoch(model, &capture_set, &stats, config.capture)?;
        let capture_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let layer_refs: Vec<(&str, usize, &[f32])> =
            STAGE_NAMES.iter().zip(&cap.dims).zip(&cap.stages).map(|((n, &d), s)| (*n, d, s.as_slice())).collect();
        writer.write_epoch(epoch, &layer_refs, Some(&cap.predictions))?;
        let m = EpochMetrics { epoch, train_accuracy: train_acc, test_accuracy: Some(cap.accuracy), loss };
        metrics.push(m.clone());
        writer.write_metrics(metrics)?;
        let timing = EpochTiming { train_secs, capture_secs, write_secs: t.elapsed().as_secs_f64() };
        timings.push(timing);
        observer.epoch_captured(epoch, &m, &timing);
        Ok(())
    };

    record(0, &model, 0.0, None, None, &mut metrics, &mut timings, observer)?;

    let total_steps = batches_per_epoch * config.epochs as usize;
    let mut step = 0usize;
    let mut order: Vec<usize> = (0..train_set.n).collect();
    for epoch in 1..=config.epochs {
        let t = Instant::now();
        let mut rng = Pcg64Mcg::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        order.shuffle(&mut rng);
        observer.epoch_started(epoch, batches_per_epoch);
        let (mut loss_sum, mut hits, mut seen) = (0f64, 0usize, 0usize);
        for (b, idx) in order.chunks(config.batch_size).enumerate() {
            if idx.len() < 2 {
                continue; // batch norm needs two images
            }
            let (x, y) = batch_tensors(&train_set, idx, &stats, &device);
            let logits = model.forward(x);
            let loss = loss_fn.forward(logits.clone(), y.clone());
            let loss_value: f32 = loss.clone().into_scalar();
            if !loss_value.is_finite() {
                return Err(TrainError::Other(format!(
                    "the loss became {loss_value} at epoch {epoch}, step {b}; lower --lr (now {})",
                    config.learning_rate
                )));
            }
            hits += correct(logits.detach(), y);
            loss_sum += loss_value as f64 * idx.len() as f64;
            seen += idx.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = learning_rate_at(config.learning_rate, step, total_steps);
            model = optim.step(lr, model, grads);
            step += 1;
            observer.batch_finished(epoch, b, (loss_sum / seen as f64) as f32, hits as f32 / seen as f32);
        }
        let train_secs = t.elapsed().as_secs_f64();
        let train_acc = hits as f32 / seen.max(1) as f32;
        let loss = (loss_sum / seen.max(1) as f64) as f32;
        record(epoch, &model, train_secs, Some(train_acc), Some(loss), &mut metrics, &mut timings, observer)?;
    }
    writer.finish(&metrics.iter().map(|m| m.epoch).collect::<Vec<_>>())?;
    Ok(TrainSummary { run: out.to_path_buf(), metrics, timings, data_secs })
}
