//! Runs on disk: read, validate and write the neuromapper run format
//! (`docs/run-format.md`, version 1).
//!
//! A run is a folder: `neuromapper.json` (the manifest), `labels.npy` (`[N]` class ids),
//! optionally `inputs.npy` (`[N,H,W]` or `[N,H,W,C]` u8 thumbnails), `metrics.json` and the
//! finished marker `finished.json`, and `epochs/`, holding per epoch either a folder of
//! `<layer>.npy` files (`[N, ...]` float, each row flattened to `[N, D]`) or one
//! `<epoch>.safetensors` file with one tensor per layer; either may add `predictions` (`[N]` int
//! or `[N, C]` float) and per-sample values (`<name>.values`, `[N]`); a static `samples.csv` may
//! hold more per-sample columns; an optional `twins.npy` links adversarial twins (rows of their own)
//! to their clean samples.
//!
//! [`Run::open`] validates everything that headers tell (shapes, dtypes, the epoch/layer
//! layout, labels against classes) without reading activations; activations are streamed on
//! demand by [`LayerReader`] (row blocks, any dtype/order/endianness, checked finite), so layers
//! far larger than memory can be fed to a streaming PCA. [`RunWriter`] writes runs atomically.
//!
//! One module per job: `run` ([`Run::open`] and reading), `scan` (listing the epochs), `manifest`
//! (the small JSON files), `samples` (`samples.csv`), `twins` (`twins.npy`), `writer` ([`RunWriter`]), `files` (regular files only, bounded reads,
//! atomic writes), `array` (array descriptions and streamed rows), [`npy`] and `st` (the two file
//! formats' headers, each built on `array`), `error` ([`RunError`]) and [`text`] (quoting names
//! from files safely).
//!
//! ```
//! # fn main() -> Result<(), nm_run::RunError> {
//! use nm_run::{Manifest, Run, RunWriter};
//! let dir = std::env::temp_dir().join(format!("nm_run_doc_{}", std::process::id()));
//! let manifest = Manifest::new(Some(vec!["cat".into(), "dog".into()]), Some(vec!["fc".into()]));
//! let writer = RunWriter::create(&dir, &manifest, &[0, 1, 1], None)?;
//! writer.write_epoch(1, &[("fc", 2, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])], None)?;
//! let run = Run::open(&dir)?;
//! assert_eq!((run.n_samples(), run.epochs(), run.layers()[0].dim), (3, &[1][..], 2));
//! assert_eq!(run.read_layer("fc", 1)?.1[4], 4.0);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```

mod array;
mod error;
mod files;
mod manifest;
pub mod npy;
mod run;
mod samples;
mod scan;
mod st;
pub mod text;
mod twins;
mod writer;

pub use array::LayerReader;
pub use error::RunError;
pub use files::{temp_sibling, writable_cache_dir, write_atomic, write_atomic_with};
pub use manifest::{AttackInfo, EpochMetrics, Manifest};
pub use run::{Inputs, Run};
pub use samples::{SampleColumn, SamplesTable};
pub use scan::{EpochStorage, LayerInfo};
pub use writer::RunWriter;

/// The `format` value of version 1 manifests.
pub const FORMAT_V1: &str = "neuromapper-run/1";
pub const MANIFEST_FILE: &str = "neuromapper.json";
pub const LABELS_FILE: &str = "labels.npy";
pub const INPUTS_FILE: &str = "inputs.npy";
pub const METRICS_FILE: &str = "metrics.json";
pub const EPOCHS_DIR: &str = "epochs";
/// The finished marker: a regular file of this name says the trainer wrote its last epoch (its
/// content is informational; an empty file counts). A viewer following the run then refines.
pub const FINISHED_FILE: &str = "finished.json";
/// Where neuromapper keeps what it computes (deletable at any time).
pub const CACHE_DIR: &str = ".neuromapper";
/// The reserved array name for per-sample predictions.
pub const PREDICTIONS: &str = "predictions";
/// An epoch's array named `<name>.values` (file `<name>.values.npy`, or a tensor of that name) is
/// not a layer but one number per sample, `[N]`: a per-sample value called `<name>`.
pub const VALUES_SUFFIX: &str = ".values";
/// The optional adversarial twins at the run's root: `[N]` integers, `-1` for a clean sample, else
/// the row of the clean sample this row is a perturbed copy of.
pub const TWINS_FILE: &str = "twins.npy";
/// The optional static per-sample table at the run's root (one header row, then one row per sample).
pub const SAMPLES_FILE: &str = "samples.csv";
/// Largest `samples.csv` read.
pub const MAX_SAMPLES_CSV_BYTES: u64 = 256 << 20;

/// Largest manifest (`neuromapper.json`) read: a manifest is a little JSON, even with many classes.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Largest `metrics.json` read (a few hundred bytes per epoch).
pub const MAX_METRICS_BYTES: u64 = 64 << 20;
/// Without `classes` in the manifest, class ids name themselves; beyond this id that is refused
/// (one label of 30,000,000 would otherwise mean 30 million classes).
pub const MAX_IMPLICIT_CLASS_ID: i64 = 100_000;
