//! Parametric Aligned UMAP's network side: a small MLP encoder (burn, on the CPU) from one epoch's
//! encoder inputs [n, p] to the plane, trained epoch by epoch on that epoch's fuzzy graph with
//! UMAP's loss. The engine side (the graph, the edge sampler with negative sampling, the loss and
//! its gradient with respect to the positions) is `nm_umap::parametric`: each step embeds the rows
//! of a sampled batch, asks `umap_loss` for ∂L/∂y and back-propagates it through the encoder (the
//! surrogate Σ y·∂L/∂y has the same gradient with respect to the weights).
//!
//! Epoch by epoch, with landmarks: every epoch comes with landmark positions of its rows (the
//! aligned view's, which Aligned UMAP already keeps near the epoch before). The first epoch's
//! encoder starts by regressing onto its landmarks, then follows the loss while pulled towards them
//! (λ = `alignment`); every later epoch's encoder is the previous one's, warm-started, regressed
//! briefly and trained the same way, pulled towards its epoch's landmarks shifted by `carry` of the
//! previous epoch's offset from its own (so a fitting error kept from one epoch to the next does
//! not show as movement). An epoch's positions are its encoder's outputs. The landmarks give the
//! loss a start it cannot find in a few hundred steps and carry the alignment between epochs; the
//! loss keeps the map a UMAP of the epoch's graph.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use nm_umap::fuzzy::Graph;
use nm_umap::parametric::{umap_loss, Anchor, EdgeSampler, LossCurve};
use nm_umap::Matrix;

use crate::batch::floats;
use crate::error::TrainError;

/// Rows per forward pass when encoding (bounds the memory of one pass).
const ENCODE_BATCH: usize = 8192;

/// An MLP: linear layers with ReLU between them (none after the last).
#[derive(Module, Debug)]
pub struct Encoder {
    layers: Vec<Linear>,
}

impl Encoder {
    /// Freshly initialised, of widths `dims` (input, hidden..., output).
    pub fn new(dims: &[usize], device: &Device) -> Encoder {
        Encoder { layers: dims.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect() }
    }

    /// `[m, dims[0]] -> [m, dims.last()]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |x, (k, l)| if k < last { relu(l.forward(x)) } else { l.forward(x) })
    }

    /// The weights as plain numbers, per layer a [d_in, d_out] matrix (row-major) then the bias.
    pub fn weights(&self) -> Result<Vec<f32>, TrainError> {
        let mut out = Vec::new();
        for l in &self.layers {
            out.extend(floats(l.weight.val())?);
            let bias = l.bias.as_ref().ok_or_else(|| TrainError::Other("an encoder layer has no bias".into()))?;
            out.extend(floats(bias.val().unsqueeze::<2>())?);
        }
        Ok(out)
    }

    /// The encoder of widths `dims` holding `params` (laid out as [`weights`](Self::weights) writes them).
    pub fn from_weights(dims: &[usize], params: &[f32], device: &Device) -> Result<Encoder, TrainError> {
        let mut layers = Vec::new();
        let mut at = 0;
        for w in dims.windows(2) {
            let (i, o) = (w[0], w[1]);
            let end = at + i * o + o;
            if end > params.len() {
                break;
            }
            let weight = Tensor::<2>::from_data(TensorData::new(params[at..at + i * o].to_vec(), [i, o]), device);
            let bias = Tensor::<1>::from_data(TensorData::new(params[at + i * o..end].to_vec(), [o]), device);
            layers.push(Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) });
            at = end;
        }
        if dims.len() < 2 || layers.len() != dims.len() - 1 || at != params.len() {
            return Err(TrainError::Other(format!(
                "an encoder of widths {dims:?} does not hold {} numbers",
                params.len()
            )));
        }
        Ok(Encoder { layers })
    }
}

/// How the encoders are trained (the defaults are what `embed --parametric` uses).
#[derive(Clone, Debug, PartialEq)]
pub struct ParametricConfig {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Positive edges per step.
    pub batch_edges: usize,
    /// Negative samples per positive edge.
    pub negative_rate: usize,
    /// Steps of regression onto the first epoch's landmarks, before its loss steps.
    pub warmup_steps: usize,
    /// Steps of regression onto a later epoch's landmarks, before its loss steps (warm-started).
    pub rewarm_steps: usize,
    /// Loss steps of the first epoch.
    pub first_steps: usize,
    /// Loss steps of every later epoch (warm-started).
    pub steps: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// λ of the pull towards the epoch's landmarks during the loss steps.
    pub alignment: f32,
    /// How much of the previous epoch's offset from its landmarks the pull keeps (0 to 1).
    pub carry: f32,
    pub min_dist: f32,
    pub spread: f32,
    pub seed: u64,
}

impl Default for ParametricConfig {
    fn default() -> Self {
        ParametricConfig {
            hidden: vec![64, 64],
            batch_edges: 128,
            negative_rate: 3,
            warmup_steps: 300,
            rewarm_steps: 50,
            first_steps: 500,
            steps: 200,
            learning_rate: 1.2e-2,
            alignment: 30.0,
            carry: 0.7,
            min_dist: 0.1,
            spread: 1.0,
            seed: 0,
        }
    }
}

impl ParametricConfig {
    /// A one-line description, for cache headers and logs.
    pub fn describe(&self) -> String {
        format!(
            "mlp {:?} edges/step {} negatives {} warmup {}+{} steps {}+{} lr {} landmarks {} carry {}",
            self.hidden,
            self.batch_edges,
            self.negative_rate,
            self.warmup_steps,
            self.rewarm_steps,
            self.first_steps,
            self.steps,
            self.learning_rate,
            self.alignment,
            self.carry
        )
    }
}

/// One epoch to train on: the encoder inputs [n, p] and the fuzzy graph over those n rows.
pub struct SliceData<'a> {
    pub inputs: &'a Matrix,
    pub graph: &'a Graph,
}

/// One epoch's trained encoder and its outputs on the epoch's rows.
#[derive(Clone, Debug)]
pub struct TrainedSlice {
    /// The encoder's widths, input first, 2 last.
    pub dims: Vec<usize>,
    /// The encoder's weights ([`Encoder::weights`]).
    pub params: Vec<f32>,
    /// [n, 2], row-major.
    pub positions: Vec<f32>,
}

fn gather(data: &[f32], width: usize, rows: &[u32]) -> Vec<f32> {
    rows.iter().flat_map(|&r| data[r as usize * width..(r as usize + 1) * width].iter().copied()).collect()
}

/// Trains the encoders of `slices` in order (all of the same n rows and width p), slice k towards
/// `landmarks[k]` ([n, 2]); `progress(k)` is called after slice k, and a `true` from `stop` ends it.
pub fn train_parametric(
    slices: &[SliceData],
    landmarks: &[Matrix],
    config: &ParametricConfig,
    progress: &dyn Fn(usize),
    stop: &dyn Fn() -> bool,
) -> Result<Vec<TrainedSlice>, TrainError> {
    let Some(first) = slices.first() else { return Ok(Vec::new()) };
    let (n, p) = (first.inputs.n_rows, first.inputs.n_cols);
    if slices.iter().any(|s| s.inputs.n_rows != n || s.inputs.n_cols != p || s.graph.n_vertices != n)
        || landmarks.len() != slices.len()
        || landmarks.iter().any(|l| l.n_rows != n || l.n_cols != 2)
    {
        return Err(TrainError::Other("the slices' rows, widths, graphs and landmarks disagree".into()));
    }
    let dims: Vec<usize> = std::iter::once(p).chain(config.hidden.iter().copied()).chain([2]).collect();
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let mut encoder = Encoder::new(&dims, &device);
    let mut optim = AdamConfig::new().init();
    let curve = LossCurve::new(config.spread, config.min_dist);
    let mut out: Vec<TrainedSlice> = Vec::with_capacity(slices.len());
    for (k, slice) in slices.iter().enumerate() {
        // Where slice k is pulled: its landmarks plus `carry` of the previous slice's own offset from
        // its landmarks, so the encoder's fitting error, kept from one epoch to the next, does not
        // show as movement.
        let target_k: Vec<f32> = match out.last() {
            Some(prev) if config.carry > 0.0 => {
                let before = &landmarks[k - 1].data;
                landmarks[k]
                    .data
                    .iter()
                    .zip(before)
                    .zip(&prev.positions)
                    .map(|((&l, &lb), &y)| l + config.carry * (y - lb))
                    .collect()
            }
            _ => landmarks[k].data.clone(),
        };
        let sampler = EdgeSampler::new(slice.graph).map_err(|e| TrainError::Other(e.to_string()))?;
        let seed = config.seed ^ (k as u64).wrapping_mul(0x9E37_79B9);
        let (warmup, steps) =
            if k == 0 { (config.warmup_steps, config.first_steps) } else { (config.rewarm_steps, config.steps) };
        for step in 0..warmup + steps {
            if stop() {
                return Err(TrainError::Other("stopped".into()));
            }
            // The regression onto the landmarks needs no negatives: the edges' rows, only the anchor.
            let negatives = if step < warmup { 0 } else { config.negative_rate };
            let mut batch = sampler.sample(seed, step as u64, config.batch_edges, negatives);
            let strength = if step < warmup {
                batch.positive.clear();
                1.0
            } else {
                config.alignment
            };
            let m = batch.rows.len();
            let x =
                Tensor::<2>::from_data(TensorData::new(gather(&slice.inputs.data, p, &batch.rows), [m, p]), &device);
            let y = encoder.forward(x);
            let yv = floats(y.clone().detach())?;
            let target = gather(&target_k, 2, &batch.rows);
            let pull = (strength > 0.0).then_some(Anchor { positions: &target, strength });
            let (loss, grad) = umap_loss(&yv, 2, &batch, &curve, pull).map_err(|e| TrainError::Other(e.to_string()))?;
            if !loss.is_finite() {
                return Err(TrainError::Other(format!(
                    "the encoder's loss became {loss} at epoch slice {k}, step {step}"
                )));
            }
            let g = Tensor::<2>::from_data(TensorData::new(grad, [m, 2]), &device);
            let surrogate = (y * g).sum();
            let grads = GradientsParams::from_grads(surrogate.backward(), &encoder);
            encoder = optim.step(config.learning_rate, encoder, grads);
        }
        let eval = encoder.valid();
        let positions = encode_with(&eval, &slice.inputs.data, p)?;
        out.push(TrainedSlice { dims: dims.clone(), params: eval.weights()?, positions });
        progress(k);
    }
    Ok(out)
}

fn encode_with(encoder: &Encoder, inputs: &[f32], p: usize) -> Result<Vec<f32>, TrainError> {
    let device = Device::flex();
    let mut out = Vec::with_capacity(inputs.len() / p.max(1) * 2);
    for chunk in inputs.chunks(ENCODE_BATCH * p.max(1)) {
        let m = chunk.len() / p.max(1);
        let x = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [m, p]), &device);
        out.extend(floats(encoder.forward(x))?);
    }
    Ok(out)
}

/// Places encoder inputs `[m, dims[0]]` with the encoder of widths `dims` and weights `params`: `[m, 2]`.
pub fn encode(dims: &[usize], params: &[f32], inputs: &Matrix) -> Result<Vec<f32>, TrainError> {
    if dims.first() != Some(&inputs.n_cols) {
        return Err(TrainError::Other(format!(
            "the encoder takes {:?} inputs per row, the rows have {}",
            dims.first(),
            inputs.n_cols
        )));
    }
    let encoder = Encoder::from_weights(dims, params, &Device::flex())?;
    encode_with(&encoder, &inputs.data, inputs.n_cols)
}
