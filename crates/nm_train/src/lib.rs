//! Trains a small ResNet on the CPU (burn 0.22, `flex` backend) and captures its four stages
//! into a neuromapper run after every epoch, so the run can be watched while it grows.
//!
//! - [`shapes`]: the demo's generated dataset (10 classes of shapes and glyphs, 32×32 RGB).
//! - [`readers`]: CIFAR-10 (binary version) and MNIST (IDX) from disk.
//! - [`model`]: stem, four stages of basic residual blocks (batch norm + ReLU), pooling, head.
//! - [`config`]: [`TrainConfig`] and its one validation step, the scenarios, the run's name.
//! - [`train()`]: the loop; after each epoch (0 = untrained) [`capture`]'s [`EpochCapture`] writes
//!   `epochs/<e>/stage1..4.npy` (`[N, D]`, each stage average-pooled to at most G×G cells),
//!   `predictions.npy` and `metrics.json` through [`nm_run::RunWriter`], then tells the
//!   [`Observer`] ([`observer`]: the hooks a caller implements).
//! - [`adversarial`]: with [`TrainConfig::adversarial`], FGSM or PGD twins of a few capture images
//!   per class, crafted against each epoch's network and captured as rows of their own
//!   (`twins.npy` links them to their clean images; metrics.json gains `adv_success`).
//! - [`parametric`]: the encoders of `embed --parametric` (an MLP per layer trained epoch by epoch
//!   with `nm_umap::parametric`'s loss on each epoch's fuzzy graph), and placing new rows with them.
//!
//! ```no_run
//! # fn main() -> Result<(), nm_train::TrainError> {
//! let config = nm_train::TrainConfig { epochs: 2, ..Default::default() };
//! let summary = nm_train::train(&config, std::path::Path::new("runs/demo"), &mut nm_train::Silent)?;
//! assert_eq!(summary.metrics.len(), 3); // epochs 0, 1, 2
//! # Ok(()) }
//! ```

pub mod adversarial;
mod batch;
pub mod capture;
pub mod config;
pub mod data;
pub mod error;
pub mod model;
pub mod observer;
pub mod parametric;
pub mod readers;
pub mod shapes;
pub mod train;

pub use adversarial::{Adversarial, Attack};
pub use capture::{captured_dim, EpochCapture};
pub use config::{default_run_name, Capture, DataSource, Scenario, TrainConfig};
pub use data::Dataset;
pub use error::TrainError;
pub use observer::{DataInfo, EpochTiming, Observer, Silent};
pub use train::{train, TrainSummary};
