//! The capture of one epoch: the fixed capture set through the network in eval mode, each stage
//! pooled per `Capture` and written into the run with the predictions and the metrics so far
//! (`EpochCapture`); with adversarial twins, the twins crafted against the same network are
//! captured the same way and appended as rows of their own.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use nm_run::{EpochMetrics, RunWriter};

use crate::adversarial::{craft, standardise, success_rate, Adversarial};
use crate::batch::{batch_tensors, correct, floats};
use crate::config::Capture;
use crate::data::{ChannelStats, Dataset};
use crate::error::TrainError;
use crate::model::{ResNet, STAGE_NAMES};
use crate::observer::{EpochTiming, Observer};

/// Images per forward pass when capturing (eval mode, no gradients).
pub const CAPTURE_BATCH: usize = 250;

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

/// Runs `[B, C, H, W]` pixels (0..1) of `like`'s shape through `model` in eval mode: per stage
/// `[B, D_k]` row-major and the predictions.
fn capture_pixels(
    model: &ResNet,
    pixels: &[f32],
    like: &Dataset,
    stats: &ChannelStats,
    capture: Capture,
) -> Result<(Vec<Vec<f32>>, Vec<u32>), TrainError> {
    let eval = model.valid();
    let device = Device::flex();
    let (c, h, w) = (like.channels, like.height, like.width);
    let image = c * h * w;
    let mut stages: Vec<Vec<f32>> = vec![Vec::new(); STAGE_NAMES.len()];
    let mut predictions = Vec::new();
    for chunk in pixels.chunks(CAPTURE_BATCH * image) {
        let b = chunk.len() / image;
        let x = standardise(chunk, c, h * w, stats);
        let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(x, [b, c, h, w]), &device);
        let out = eval.forward_stages(x);
        for (k, s) in out.stages.into_iter().enumerate() {
            stages[k].extend(floats(reduce_stage(s, capture))?);
        }
        predictions.extend(out.logits.argmax(1).into_data().iter::<i64>().map(|p| p as u32));
    }
    Ok((stages, predictions))
}

/// The adversarial twins of a run: which capture-set images are probes, and the attack.
pub struct Twins {
    /// Capture-set index of each twin's clean image; twin `t` is run row `N_capture + t`.
    pub probes: Vec<usize>,
    pub adversarial: Adversarial,
}

/// What training an epoch measured, for its metrics (epoch 0, the untrained network, has none).
#[derive(Clone, Copy, Debug)]
pub struct EpochTraining {
    pub secs: f64,
    pub accuracy: f32,
    pub loss: f32,
}

/// Captures every epoch of one run: owns the capture set (with the training set's channel
/// statistics), the pooling, the run being written and the metrics and timings so far.
pub struct EpochCapture {
    set: Dataset,
    stats: ChannelStats,
    capture: Capture,
    writer: RunWriter,
    twins: Option<Twins>,
    metrics: Vec<EpochMetrics>,
    timings: Vec<EpochTiming>,
}

impl EpochCapture {
    pub fn new(set: Dataset, stats: ChannelStats, capture: Capture, writer: RunWriter) -> EpochCapture {
        EpochCapture { set, stats, capture, writer, twins: None, metrics: Vec::new(), timings: Vec::new() }
    }

    /// Also crafts and captures adversarial twins each epoch (the run must have been created
    /// with their rows and links: [`nm_run::RunWriter::create_with_twins`]).
    pub fn with_twins(mut self, twins: Twins) -> EpochCapture {
        self.twins = Some(twins);
        self
    }

    /// Puts the capture set through `model`, writes `epoch` (every stage and the predictions)
    /// and the metrics so far into the run, then tells `observer`.
    pub fn record(
        &mut self,
        epoch: u32,
        model: &ResNet,
        trained: Option<EpochTraining>,
        observer: &mut dyn Observer,
    ) -> Result<(), TrainError> {
        let t = Instant::now();
        let mut cap = capture_epoch(model, &self.set, &self.stats, self.capture)?;
        let mut adv_success = None;
        if let Some(twins) = &self.twins {
            let pixels = craft(model, &self.set, &twins.probes, &self.stats, twins.adversarial)?;
            let (stages, predictions) = capture_pixels(model, &pixels, &self.set, &self.stats, self.capture)?;
            let labels: Vec<u32> = twins.probes.iter().map(|&i| self.set.labels[i]).collect();
            let clean: Vec<u32> = twins.probes.iter().map(|&i| cap.predictions[i]).collect();
            adv_success = success_rate(&labels, &clean, &predictions);
            for (all, rows) in cap.stages.iter_mut().zip(stages) {
                all.extend(rows);
            }
            cap.predictions.extend(predictions);
        }
        let capture_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let layer_refs: Vec<(&str, usize, &[f32])> =
            STAGE_NAMES.iter().zip(&cap.dims).zip(&cap.stages).map(|((n, &d), s)| (*n, d, s.as_slice())).collect();
        self.writer.write_epoch(epoch, &layer_refs, Some(&cap.predictions))?;
        let m = EpochMetrics {
            epoch,
            train_accuracy: trained.map(|t| t.accuracy),
            test_accuracy: Some(cap.accuracy),
            loss: trained.map(|t| t.loss),
            adv_success,
        };
        self.metrics.push(m.clone());
        self.writer.write_metrics(&self.metrics)?;
        let train_secs = trained.map_or(0.0, |t| t.secs);
        let timing = EpochTiming { train_secs, capture_secs, write_secs: t.elapsed().as_secs_f64() };
        self.timings.push(timing);
        observer.epoch_captured(epoch, &m, &timing);
        Ok(())
    }

    /// Marks the run finished; returns the metrics and timings of every epoch, 0 first.
    pub fn finish(self) -> Result<(Vec<EpochMetrics>, Vec<EpochTiming>), TrainError> {
        self.writer.finish(&self.metrics.iter().map(|m| m.epoch).collect::<Vec<_>>())?;
        Ok((self.metrics, self.timings))
    }
}
