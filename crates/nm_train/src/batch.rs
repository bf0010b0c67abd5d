//! Between datasets and tensors: a batch of images as a standardised `[B, C, H, W]` tensor with
//! its targets, logits' correct predictions, and a tensor read back as floats.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{ChannelStats, Dataset};
use crate::error::TrainError;

/// One `[B, C, H, W]` input batch and its `[B]` targets on `device`.
pub(crate) fn batch_tensors(
    d: &Dataset,
    idx: &[usize],
    stats: &ChannelStats,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let x = d.batch_nchw(idx, stats);
    let x = Tensor::<4>::from_data(TensorData::new(x, [idx.len(), d.channels, d.height, d.width]), device);
    let y: Vec<i64> = idx.iter().map(|&i| d.labels[i] as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), device);
    (x, y)
}

pub(crate) fn floats(t: Tensor<2>) -> Result<Vec<f32>, TrainError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Other(format!("reading a tensor back: {e:?}")))
}

/// Number of correct argmax predictions in `logits` `[B, classes]` against `targets` `[B]`.
pub(crate) fn correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> usize {
    let pred = logits.argmax(1).flatten::<1>(0, 1);
    pred.equal(targets).int().sum().into_scalar::<i64>() as usize
}
