//! Adversarial twins: FGSM or PGD perturbations of a few probe images per class, crafted against
//! the current network after every epoch (the gradient of the loss with respect to the input, by
//! burn's autodiff), and the twins' success rate.
//!
//! Perturbations live in pixel units (images scaled to 0..1): FGSM moves every pixel by ε in the
//! direction of the loss gradient's sign; PGD takes [`PGD_STEPS`] such steps of 2.5·ε/steps,
//! each projected back into the ε-ball around the clean image. Both clip to 0..1. The network is
//! attacked as it is captured: in eval mode (batch norm on its running statistics, frozen, so the
//! attack changes nothing in the model).

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batch::floats;
use crate::data::{ChannelStats, Dataset};
use crate::error::TrainError;
use crate::model::ResNet;

/// Gradient steps of `--attack pgd`.
pub const PGD_STEPS: u32 = 10;
/// The default L∞ budget, in pixel units: 8/255.
pub const DEFAULT_EPS: f32 = 8.0 / 255.0;
/// Images per attacked batch.
const ATTACK_BATCH: usize = 250;

/// Which attack crafts the twins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Fast gradient sign method (Goodfellow et al. 2015): one step of ε.
    Fgsm,
    /// Projected gradient descent (Madry et al. 2018): [`PGD_STEPS`] steps in the ε-ball.
    Pgd,
}

impl Attack {
    /// The name written into the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Attack::Fgsm => "fgsm",
            Attack::Pgd => "pgd",
        }
    }
    /// Gradient steps per crafting.
    pub fn steps(self) -> u32 {
        match self {
            Attack::Fgsm => 1,
            Attack::Pgd => PGD_STEPS,
        }
    }
}

/// `--adversarial K`: twins of `per_class` probe images per class, made by `attack` within `eps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adversarial {
    pub per_class: usize,
    pub attack: Attack,
    /// L∞ budget in pixel units (0..1 scale), e.g. 8/255.
    pub eps: f32,
}

/// The probes: the first `per_class` images of each class of the capture set, as capture-set
/// indices in the set's order.
pub fn probe_indices(set: &Dataset, per_class: usize) -> Vec<usize> {
    let mut taken = vec![0usize; set.classes.len()];
    let mut out = Vec::new();
    for (i, &l) in set.labels.iter().enumerate() {
        if taken[l as usize] < per_class {
            taken[l as usize] += 1;
            out.push(i);
        }
    }
    out
}

/// Images `idx` of `set` as `[B, C, H, W]` pixels in 0..1 (channels first).
pub fn pixels_nchw(set: &Dataset, idx: &[usize]) -> Vec<f32> {
    let unit = ChannelStats { mean: vec![0.0; set.channels], std: vec![1.0; set.channels] };
    set.batch_nchw(idx, &unit)
}

/// `[B, C, H, W]` pixels (0..1) standardised per channel as training saw them; `plane` = H·W.
pub fn standardise(x: &[f32], channels: usize, plane: usize, stats: &ChannelStats) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(k, &v)| {
            let c = (k / plane) % channels;
            (v - stats.mean[c]) / stats.std[c]
        })
        .collect()
}

/// Crafts the twins of `idx` (images of `set`) against `model` (on an autodiff device) per
/// `adv`: `[B, C, H, W]` perturbed pixels in 0..1, each within `eps` of its clean image.
pub fn craft(
    model: &ResNet,
    set: &Dataset,
    idx: &[usize],
    stats: &ChannelStats,
    adv: Adversarial,
) -> Result<Vec<f32>, TrainError> {
    let device = Device::flex().autodiff();
    let frozen = model.clone().freeze();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let (c, h, w) = (set.channels, set.height, set.width);
    let image = c * h * w;
    let mut out = Vec::with_capacity(idx.len() * image);
    let step = match adv.attack {
        Attack::Fgsm => adv.eps,
        Attack::Pgd => 2.5 * adv.eps / PGD_STEPS as f32,
    };
    for chunk in idx.chunks(ATTACK_BATCH) {
        let clean = pixels_nchw(set, chunk);
        let y: Vec<i64> = chunk.iter().map(|&i| set.labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), &device);
        let mut x = clean.clone();
        for _ in 0..adv.attack.steps() {
            let xs = standardise(&x, c, h * w, stats);
            let input = Tensor::<4>::from_data(TensorData::new(xs, [chunk.len(), c, h, w]), &device).require_grad();
            let loss = loss_fn.forward(frozen.forward(input.clone()), y.clone());
            let grads = loss.backward();
            let g = input
                .grad(&grads)
                .ok_or_else(|| TrainError::Other("the attack found no gradient for its input".into()))?;
            let g = floats(g.reshape([chunk.len(), image]))?;
            // d loss / d pixel = d loss / d standardised · 1/std: the same sign.
            for ((xv, &gv), &x0) in x.iter_mut().zip(&g).zip(&clean) {
                let moved = *xv + step * sign(gv);
                *xv = moved.clamp(x0 - adv.eps, x0 + adv.eps).clamp(0.0, 1.0);
            }
        }
        out.extend(x);
    }
    Ok(out)
}

fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The attack success rate: among twins whose clean image the network classifies correctly,
/// the share it misclassifies. None when it classifies no clean probe correctly.
pub fn success_rate(labels: &[u32], clean_pred: &[u32], twin_pred: &[u32]) -> Option<f32> {
    let (mut attacked, mut flipped) = (0usize, 0usize);
    for ((&l, &c), &t) in labels.iter().zip(clean_pred).zip(twin_pred) {
        if c == l {
            attacked += 1;
            flipped += usize::from(t != l);
        }
    }
    (attacked > 0).then(|| flipped as f32 / attacked as f32)
}
