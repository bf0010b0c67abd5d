//! The training driver: data → model → per-epoch training, each epoch captured into the run
//! ([`EpochCapture`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use nm_run::{AttackInfo, EpochMetrics, Inputs, Manifest, RunWriter};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::adversarial::probe_indices;
use crate::batch::{batch_tensors, correct};
use crate::capture::{captured_dim, EpochCapture, EpochTraining, Twins};
use crate::config::{default_run_name, DataSource, Scenario, TrainConfig, OVERFIT_LABEL_NOISE, SHAPES_DEFAULT_TRAIN};
use crate::data::{ChannelStats, Dataset};
use crate::error::TrainError;
use crate::model::{ResNet, ResNetConfig, STAGE_NAMES};
use crate::observer::{DataInfo, EpochTiming, Observer};
use crate::{readers, shapes};

/// The learning rate decays along a half cosine to this fraction of its start.
pub const LR_FLOOR_FRACTION: f64 = 0.05;

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

/// What trains the network: its optimiser, the loss, the learning-rate schedule's position and
/// the order of the training images (shuffled again each epoch).
struct Trainer {
    optim: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    device: Device,
    step: usize,
    total_steps: usize,
    order: Vec<usize>,
}

impl Trainer {
    /// Trains `model` for one epoch over `train_set` in a shuffled order (seeded by the epoch), one
    /// optimiser step per batch; returns it with the epoch's mean accuracy and loss.
    fn epoch(
        &mut self,
        mut model: ResNet,
        epoch: u32,
        config: &TrainConfig,
        train_set: &Dataset,
        stats: &ChannelStats,
        observer: &mut dyn Observer,
    ) -> Result<(ResNet, EpochTraining), TrainError> {
        let t = Instant::now();
        let mut rng = Pcg64Mcg::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        self.order.shuffle(&mut rng);
        observer.epoch_started(epoch, train_set.n.div_ceil(config.batch_size));
        let (mut loss_sum, mut hits, mut seen) = (0f64, 0usize, 0usize);
        for (b, idx) in self.order.chunks(config.batch_size).enumerate() {
            if idx.len() < 2 {
                continue; // batch norm needs two images
            }
            let (x, y) = batch_tensors(train_set, idx, stats, &self.device);
            let logits = model.forward(x);
            let loss = self.loss_fn.forward(logits.clone(), y.clone());
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
            let lr = learning_rate_at(config.learning_rate, self.step, self.total_steps);
            model = self.optim.step(lr, model, grads);
            self.step += 1;
            observer.batch_finished(epoch, b, (loss_sum / seen as f64) as f32, hits as f32 / seen as f32);
        }
        let trained = EpochTraining {
            secs: t.elapsed().as_secs_f64(),
            accuracy: hits as f32 / seen.max(1) as f32,
            loss: (loss_sum / seen.max(1) as f64) as f32,
        };
        Ok((model, trained))
    }
}

/// `(layer, D)` of every captured stage of a network per `model_config` on `height × width` inputs.
fn captured_layers(
    config: &TrainConfig,
    model_config: &ResNetConfig,
    height: usize,
    width: usize,
) -> Vec<(String, usize)> {
    // Stage k (0-based) sees the input halved k times, rounding up (3×3 convs, padding 1, stride 2).
    let halve = |x: usize, k: usize| (0..k).fold(x, |x, _| x.div_ceil(2));
    STAGE_NAMES
        .iter()
        .zip(model_config.stage_channels())
        .enumerate()
        .map(|(k, (name, c))| {
            let (h, w) = (halve(height, k), halve(width, k));
            (name.to_string(), captured_dim(config.capture, c, h.max(1), w.max(1)))
        })
        .collect()
}

/// Creates the run in `out`: manifest (`classes`, the stages as layers), labels and the capture
/// set's images; with `probes` (capture-set indices), one twin row per probe after the capture set,
/// showing its clean image and linked to it in `twins.npy`.
fn create_run(
    config: &TrainConfig,
    out: &Path,
    classes: &[String],
    capture_set: &Dataset,
    probes: &[usize],
) -> Result<RunWriter, TrainError> {
    let name = config.name.clone().unwrap_or_else(|| default_run_name(config));
    let adversarial = config.adversarial.map(|a| AttackInfo {
        attack: Some(a.attack.name().to_string()),
        eps: Some(f64::from(a.eps)),
        steps: Some(a.attack.steps()),
    });
    let mut rows: Vec<usize> = (0..capture_set.n).collect();
    rows.extend_from_slice(probes);
    let all = capture_set.select(&rows);
    let manifest = Manifest {
        name: Some(name),
        adversarial,
        ..Manifest::new(
            Some(classes.to_vec()),
            Some(STAGE_NAMES.iter().map(std::string::ToString::to_string).collect()),
        )
    };
    let inputs = Inputs { n: all.n, height: all.height, width: all.width, channels: all.channels, data: all.pixels };
    let twins: Option<Vec<Option<u32>>> = config.adversarial.map(|_| {
        let mut links = vec![None; capture_set.n];
        links.extend(probes.iter().map(|&i| Some(i as u32)));
        links
    });
    Ok(RunWriter::create_with_twins(out, &manifest, &all.labels, Some(&inputs), twins.as_deref())?)
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
    let model_config = ResNetConfig {
        in_channels: train_set.channels,
        classes: train_set.classes.len(),
        width: config.width,
        blocks_per_stage: config.blocks_per_stage,
    };
    let layers = captured_layers(&config, &model_config, train_set.height, train_set.width);
    let probes = config.adversarial.map_or_else(Vec::new, |a| probe_indices(&capture_set, a.per_class));
    let writer = create_run(&config, out, &train_set.classes, &capture_set, &probes)?;
    let batches_per_epoch = train_set.n.div_ceil(config.batch_size);
    observer.data_ready(&DataInfo {
        train_images: train_set.n,
        capture_images: capture_set.n,
        batches_per_epoch,
        layers,
        classes: train_set.classes.clone(),
    });

    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let mut model = model_config.init(&device);
    let mut trainer = Trainer {
        optim: AdamConfig::new().init(),
        loss_fn: CrossEntropyLossConfig::new().init(&device),
        device,
        step: 0,
        total_steps: batches_per_epoch * config.epochs as usize,
        order: (0..train_set.n).collect(),
    };
    let mut capture = EpochCapture::new(capture_set, stats.clone(), config.capture, writer);
    if let Some(adversarial) = config.adversarial {
        capture = capture.with_twins(Twins { probes, adversarial });
    }
    capture.record(0, &model, None, observer)?;
    for epoch in 1..=config.epochs {
        let trained;
        (model, trained) = trainer.epoch(model, epoch, &config, &train_set, &stats, observer)?;
        capture.record(epoch, &model, Some(trained), observer)?;
    }
    let (metrics, timings) = capture.finish()?;
    Ok(TrainSummary { run: out.to_path_buf(), metrics, timings, data_secs })
}
