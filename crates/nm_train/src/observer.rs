//! How a training talks to its caller: the `Observer` hooks (data loaded, steps, epochs written)
//! with what they report (`DataInfo`, `EpochTiming`), and `Silent`, which ignores them.

use nm_run::EpochMetrics;

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
