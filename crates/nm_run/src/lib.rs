//! Runs on disk: read, validate and write the neuromapper run format
//! (`docs/run-format.md`, version 1).
//!
//! A run is a folder: `neuromapper.json` (the manifest), `labels.npy` (`[N]` class ids),
//! optionally `inputs.npy` (`[N,H,W]` or `[N,H,W,C]` u8 thumbnails), `metrics.json` and the
//! finished marker `finished.json`, and `epochs/`, holding per epoch either a folder of
//! `<layer>.npy` files (`[N, ...]` float, each row flattened to `[N, D]`) or one
//! `<epoch>.safetensors` file with one tensor per layer; either may add `predictions` (`[N]` int
//! or `[N, C]` float).
//!
//! [`Run::open`] validates everything that headers tell (shapes, dtypes, the epoch/layer
//! layout, labels against classes) without reading activations; activations are streamed on
//! demand by [`LayerReader`] (row blocks, any dtype/order/endianness, checked finite), so layers
//! far larger than memory can be fed to a streaming PCA. [`RunWriter`] writes runs atomically.
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

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod array;
pub mod npy;
mod st;
pub mod text;

pub use array::LayerReader;
use array::{ArrayDesc, ScalarKind};

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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Every variant names the file and what was expected versus found. Shown with control
    /// characters escaped ([`text::escape`]): paths and messages may quote names from the files.
    #[error("{}: {}", text::escape(&.path.display().to_string()), text::escape(.message))]
    Invalid { path: PathBuf, message: String },
    #[error("{}: {}", text::escape(&.path.display().to_string()), .source)]
    Io { path: PathBuf, source: std::io::Error },
}

impl RunError {
    pub fn invalid(path: impl AsRef<Path>, message: impl Into<String>) -> RunError {
        RunError::Invalid { path: path.as_ref().to_path_buf(), message: message.into() }
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> RunError {
        RunError::Io { path: path.as_ref().to_path_buf(), source }
    }
}

/// Largest manifest (`neuromapper.json`) read: a manifest is a little JSON, even with many classes.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Largest `metrics.json` read (a few hundred bytes per epoch).
pub const MAX_METRICS_BYTES: u64 = 64 << 20;
/// Without `classes` in the manifest, class ids name themselves; beyond this id that is refused
/// (one label of 30,000,000 would otherwise mean 30 million classes).
pub const MAX_IMPLICIT_CLASS_ID: i64 = 100_000;

/// What a path is when it is not a regular file, in words ("a FIFO (named pipe)", "a folder", ...).
fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Whether `path` is a regular file (symlinks followed), with the refusal when it exists as
/// something else; `Ok(None)` when nothing is there.
pub(crate) fn regular_file_meta(path: &Path) -> Result<Option<std::fs::Metadata>, RunError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(m) => Err(RunError::invalid(
            path,
            format!(
                "is {}, not a regular file; a run holds regular files only (symbolic links to files are fine)",
                file_kind(m.file_type())
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RunError::io(path, e)),
    }
}

/// Opens a file of the run for reading, refusing anything but a regular file: a FIFO would block
/// the reader forever and a device never ends. The type is checked before opening (symlinks are
/// followed) and again on the open handle, in case the path was swapped in between.
pub(crate) fn open_regular(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), RunError> {
    if regular_file_meta(path)?.is_none() {
        return Err(RunError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    let file = std::fs::File::open(path).map_err(|e| RunError::io(path, e))?;
    let meta = file.metadata().map_err(|e| RunError::io(path, e))?;
    if !meta.is_file() {
        return Err(RunError::invalid(path, format!("is {}, not a regular file", file_kind(meta.file_type()))));
    }
    Ok((file, meta))
}

/// The whole of a small regular file (`None` when absent), refusing one larger than `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Option<Vec<u8>>, RunError> {
    if regular_file_meta(path)?.is_none() {
        return Ok(None);
    }
    let (file, meta) = open_regular(path)?;
    if meta.len() > max {
        return Err(RunError::invalid(
            path,
            format!("is {} bytes; {what} is small JSON (at most {max} bytes): is this the right file?", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Read at most max + 1 bytes, in case the file grew since.
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max + 1), &mut bytes)
        .map_err(|e| RunError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(RunError::invalid(path, format!("is more than {max} bytes; {what} is small JSON")));
    }
    Ok(Some(bytes))
}

/// Parses a small JSON file's bytes; the parser's complaint comes back clipped and escaped.
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not utf-8 text (an invalid byte at offset {})", e.valid_up_to()))?;
    serde_json::from_str(text).map_err(|e| text::clip(&e.to_string()))
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

impl Manifest {
    /// A version 1 manifest with the given classes and layer order (name: the folder's).
    pub fn new(classes: Option<Vec<String>>, layers: Option<Vec<String>>) -> Manifest {
        Manifest { format: FORMAT_V1.to_string(), name: None, classes, layers }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerInfo {
    pub name: String,
    pub dim: usize,
}

/// Per-epoch training metrics (optional file `metrics.json` at the run's root). Other keys in the
/// file are allowed and ignored here.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(from = "MetricsRecord")]
pub struct EpochMetrics {
    pub epoch: u32,
    pub train_accuracy: Option<f32>,
    pub test_accuracy: Option<f32>,
    /// The epoch's mean training loss: the key `loss`, else `train_loss`.
    pub loss: Option<f32>,
}

/// One record of metrics.json as written (`loss` and `train_loss` may both be there).
#[derive(serde::Deserialize)]
struct MetricsRecord {
    epoch: u32,
    #[serde(default)]
    train_accuracy: Option<f32>,
    #[serde(default)]
    test_accuracy: Option<f32>,
    #[serde(default)]
    loss: Option<f32>,
    #[serde(default)]
    train_loss: Option<f32>,
}

impl From<MetricsRecord> for EpochMetrics {
    fn from(r: MetricsRecord) -> EpochMetrics {
        EpochMetrics {
            epoch: r.epoch,
            train_accuracy: r.train_accuracy,
            test_accuracy: r.test_accuracy,
            loss: r.loss.or(r.train_loss),
        }
    }
}

/// Thumbnails: [N, H, W, C] u8 with C = 1 or 3.
pub struct Inputs {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

/// How an epoch is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum EpochStorage {
    /// `epochs/<epoch>/<layer>.npy`
    NpyFolder,
    /// `epochs/<epoch>.safetensors`
    Safetensors,
}

#[derive(Clone, Debug)]
struct Epoch {
    storage: EpochStorage,
    arrays: BTreeMap<String, ArrayDesc>,
    predictions: Option<ArrayDesc>,
}

/// An opened, validated run. Opening checks the manifest, labels, the epoch/layer layout and shapes
/// (headers only); activations are read on demand.
pub struct Run {
    path: PathBuf,
    name: String,
    manifest: Manifest,
    classes: Vec<String>,
    labels: Vec<u32>,
    inputs: Option<ArrayDesc>,
    layers: Vec<LayerInfo>,
    epoch_numbers: Vec<u32>,
    epochs: BTreeMap<u32, Epoch>,
}

impl Run {
    pub fn open(path: &Path) -> Result<Run, RunError> {
        if !path.is_dir() {
            return Err(RunError::invalid(
                path,
                "not a folder; a run is a folder holding neuromapper.json, labels.npy and epochs/",
            ));
        }
        let manifest = read_manifest(path)?;
        let labels_path = path.join(LABELS_FILE);
        if regular_file_meta(&labels_path)?.is_none() {
            return Err(RunError::invalid(
                &labels_path,
                "not found; a run needs labels.npy: the [N] integer class id of every sample",
            ));
        }
        let labels_desc = npy::read_header(&labels_path)?;
        if !labels_desc.dtype.is_int() {
            return Err(RunError::invalid(
                &labels_path,
                format!("labels must be integers (any int or uint dtype); found {}", labels_desc.dtype.describe()),
            ));
        }
        if labels_desc.shape.len() != 1 {
            return Err(RunError::invalid(
                &labels_path,
                format!("labels must be 1-D [N]; found shape {:?}", labels_desc.shape),
            ));
        }
        let raw = labels_desc.read_ints()?;
        if raw.is_empty() {
            return Err(RunError::invalid(&labels_path, "no samples: labels.npy is empty"));
        }
        let classes = match &manifest.classes {
            Some(c) => c.clone(),
            None => {
                let (i, max) = raw.iter().copied().enumerate().max_by_key(|&(_, l)| l).unwrap_or((0, 0));
                if max > MAX_IMPLICIT_CLASS_ID {
                    return Err(RunError::invalid(
                        &labels_path,
                        format!(
                            "label {max} of sample {i} is a class id above {MAX_IMPLICIT_CLASS_ID}, and neuromapper.json \
                             has no \"classes\" to say there are that many; labels are class ids 0, 1, 2, ... \
                             (is labels.npy damaged?), or list every class in neuromapper.json's \"classes\""
                        ),
                    ));
                }
                (0..=max.max(0)).map(|c| c.to_string()).collect()
            }
        };
        let mut labels = Vec::with_capacity(raw.len());
        for (i, &l) in raw.iter().enumerate() {
            if l < 0 || l >= classes.len() as i64 {
                return Err(RunError::invalid(
                    &labels_path,
                    format!(
                        "label {l} of sample {i} is outside the {} classes (expected 0..={}); fix the labels or list every class in neuromapper.json's \"classes\"",
                        classes.len(),
                        classes.len() as i64 - 1
                    ),
                ));
            }
            labels.push(l as u32);
        }
        let n = labels.len();
        let inputs_path = path.join(INPUTS_FILE);
        let inputs = if regular_file_meta(&inputs_path)?.is_some() {
            let d = npy::read_header(&inputs_path)?;
            check_inputs(&d, n, &labels_path)?;
            Some(d)
        } else {
            None
        };
        let name = manifest.name.clone().unwrap_or_else(|| {
            let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            canon.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into())
        });
        let mut run = Run {
            path: path.to_path_buf(),
            name,
            manifest,
            classes,
            labels,
            inputs,
            layers: Vec::new(),
            epoch_numbers: Vec::new(),
            epochs: BTreeMap::new(),
        };
        run.refresh()?;
        Ok(run)
    }

    /// Re-scan epochs (a live run gains epochs while training). On error the run is unchanged.
    pub fn refresh(&mut self) -> Result<(), RunError> {
        let (epochs, layers) = scan_epochs(&self.path, self.labels.len(), self.manifest.layers.as_deref())?;
        self.epoch_numbers = epochs.keys().copied().collect();
        self.epochs = epochs;
        self.layers = layers;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    pub fn n_samples(&self) -> usize {
        self.labels.len()
    }
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }
    /// Samples per class, indexed by class id.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
    /// In manifest order (or sorted when the manifest gives none).
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }
    pub fn layer(&self, name: &str) -> Option<&LayerInfo> {
        self.layers.iter().find(|l| l.name == name)
    }
    /// Epoch numbers, ascending.
    pub fn epochs(&self) -> &[u32] {
        &self.epoch_numbers
    }
    /// How the given epoch is stored.
    pub fn epoch_storage(&self, epoch: u32) -> Option<EpochStorage> {
        self.epochs.get(&epoch).map(|e| e.storage)
    }

    fn array(&self, layer: &str, epoch: u32) -> Result<&ArrayDesc, RunError> {
        let e = self.epochs.get(&epoch).ok_or_else(|| {
            RunError::invalid(
                self.path.join(EPOCHS_DIR),
                format!("no epoch {epoch}; the run has epochs {:?}", self.epoch_numbers),
            )
        })?;
        if self.layer(layer).is_none() {
            let known: Vec<&str> = self.layers.iter().map(|l| l.name.as_str()).collect();
            return Err(RunError::invalid(
                &self.path,
                format!("no layer `{}`; the run has: {}", text::clip(layer), text::clip(&known.join(", "))),
            ));
        }
        e.arrays.get(layer).ok_or_else(|| {
            RunError::invalid(self.path.join(EPOCHS_DIR), format!("epoch {epoch} has no layer `{}`", text::clip(layer)))
        })
    }

    /// A streaming reader of one layer at one epoch ([N, D] f32 rows, checked finite).
    pub fn layer_reader(&self, layer: &str, epoch: u32) -> Result<LayerReader, RunError> {
        LayerReader::open(self.array(layer, epoch)?)
    }

    /// Activations of one layer at one epoch as [N, D] row-major f32 (validated: finite).
    pub fn read_layer(&self, layer: &str, epoch: u32) -> Result<(usize, Vec<f32>), RunError> {
        let mut r = self.layer_reader(layer, epoch)?;
        let d = r.n_cols();
        Ok((d, r.read_all()?))
    }

    /// Identity of the data behind one layer at one epoch: (file, data offset, file length,
    /// modification time in ns since the epoch). Caches key on it: when any part changes, the
    /// data is taken to have changed.
    pub fn layer_stamp(&self, layer: &str, epoch: u32) -> Result<(PathBuf, u64, u64, u128), RunError> {
        let a = self.array(layer, epoch)?;
        let mtime =
            a.modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        let rel = a.path.strip_prefix(&self.path).unwrap_or(&a.path).to_path_buf();
        Ok((rel, a.data_offset, a.file_len, mtime))
    }

    /// Predicted class per sample at an epoch (argmax of logits when given as [N, C]); None when absent.
    pub fn predictions(&self, epoch: u32) -> Result<Option<Vec<u32>>, RunError> {
        let Some(e) = self.epochs.get(&epoch) else {
            return Err(RunError::invalid(self.path.join(EPOCHS_DIR), format!("no epoch {epoch}")));
        };
        let Some(p) = &e.predictions else { return Ok(None) };
        let n_classes = self.classes.len();
        let out: Vec<u32> = if p.dtype.is_int() {
            let raw = p.read_ints()?;
            let mut out = Vec::with_capacity(raw.len());
            for (i, &v) in raw.iter().enumerate() {
                if v < 0 || v >= n_classes as i64 {
                    return Err(RunError::invalid(
                        &p.path,
                        format!(
                            "prediction {v} of sample {i} is outside the {n_classes} classes (expected 0..={})",
                            n_classes - 1
                        ),
                    ));
                }
                out.push(v as u32);
            }
            out
        } else {
            let mut r = LayerReader::open(p)?;
            let c = r.n_cols();
            let logits = r.read_all()?;
            logits
                .chunks_exact(c)
                .map(|row| {
                    let mut best = 0;
                    for (k, &v) in row.iter().enumerate() {
                        if v > row[best] {
                            best = k;
                        }
                    }
                    best as u32
                })
                .collect()
        };
        if let Some(i) = out.iter().position(|&v| v as usize >= n_classes) {
            return Err(RunError::invalid(
                &p.path,
                format!("predicted class {} of sample {i} is outside the {n_classes} classes", out[i]),
            ));
        }
        Ok(Some(out))
    }

    /// Whether the run has thumbnails (inputs.npy).
    pub fn has_inputs(&self) -> bool {
        self.inputs.is_some()
    }

    /// Shape of the thumbnails as (N, H, W, C), without reading them.
    pub fn inputs_shape(&self) -> Option<(usize, usize, usize, usize)> {
        self.inputs.as_ref().map(|d| (d.shape[0], d.shape[1], d.shape[2], d.shape.get(3).copied().unwrap_or(1)))
    }

    pub fn inputs(&self) -> Result<Option<Inputs>, RunError> {
        let Some(d) = &self.inputs else { return Ok(None) };
        let mut data = d.read_all_bytes()?;
        if d.fortran {
            data = array::fortran_to_c(&data, &d.shape);
        }
        let channels = d.shape.get(3).copied().unwrap_or(1);
        Ok(Some(Inputs { n: d.shape[0], height: d.shape[1], width: d.shape[2], channels, data }))
    }

    /// Whether the trainer marked the run finished ([`FINISHED_FILE`], a regular file).
    pub fn is_finished(&self) -> bool {
        std::fs::metadata(self.path.join(FINISHED_FILE)).is_ok_and(|m| m.is_file())
    }

    /// Per-epoch metrics from `metrics.json` (empty when the file is absent), sorted by epoch.
    pub fn metrics(&self) -> Result<Vec<EpochMetrics>, RunError> {
        let p = self.path.join(METRICS_FILE);
        let Some(bytes) = read_bounded(&p, MAX_METRICS_BYTES, "metrics.json")? else { return Ok(Vec::new()) };
        let mut m: Vec<EpochMetrics> = parse_json(&bytes).map_err(|e| {
            RunError::invalid(
                &p,
                format!("expected a JSON list of {{\"epoch\", \"train_accuracy\", \"test_accuracy\", \"loss\"}}: {e}"),
            )
        })?;
        m.sort_by_key(|e| e.epoch);
        Ok(m)
    }

    /// `RUN/.neuromapper/`, created on demand; an error when it is not a real folder inside the
    /// run (a symbolic link there is never written through).
    pub fn cache_dir(&self) -> Result<PathBuf, RunError> {
        writable_cache_dir(&self.path)
    }

    /// Whether writing to `path` would touch one of the run's files: `path` (or the folder it
    /// would be created in) lies inside the run's folder once links are resolved, or it is one of
    /// the run's files under another name (a hard or symbolic link).
    pub fn owns_path(&self, path: &Path) -> bool {
        let Ok(root) = self.path.canonicalize() else { return false };
        // Not there yet: where it would be, from its nearest existing ancestor.
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
        };
        let resolved = absolute.ancestors().find_map(|a| {
            let canon = a.canonicalize().ok()?;
            let rest = absolute.strip_prefix(a).ok()?;
            Some(canon.join(rest))
        });
        if resolved.as_deref().is_some_and(|p| p.starts_with(&root)) {
            return true;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Ok(m) = std::fs::metadata(path) {
                let id = (m.dev(), m.ino());
                let mut found = false;
                walk_files(&self.path, 4, &mut |p| {
                    if std::fs::metadata(p).is_ok_and(|o| (o.dev(), o.ino()) == id) {
                        found = true;
                    }
                });
                return found;
            }
        }
        false
    }

    /// Bytes on disk: (the run's own files, neuromapper's cache under `.neuromapper/`).
    pub fn disk_usage(&self) -> (u64, u64) {
        fn walk(p: &Path) -> u64 {
            let Ok(rd) = std::fs::read_dir(p) else { return 0 };
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
                    Err(_) => 0,
                })
                .sum()
        }
        let cache = walk(&self.path.join(CACHE_DIR));
        (walk(&self.path).saturating_sub(cache), cache)
    }
}

/// `RUN/.neuromapper/`, created when absent; refused unless it is a real folder (not a symbolic
/// link) directly inside the run, so nothing of ours is ever written elsewhere through a link.
pub fn writable_cache_dir(run_root: &Path) -> Result<PathBuf, RunError> {
    let p = run_root.join(CACHE_DIR);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_dir() => Ok(p),
        Ok(m) => Err(RunError::invalid(
            &p,
            format!(
                "is {}; neuromapper writes its cache only into a real folder inside the run \
                 (remove it and neuromapper makes the folder)",
                if m.file_type().is_symlink() { "a symbolic link" } else { file_kind(m.file_type()) }
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::create_dir(&p) {
            Ok(()) => Ok(p),
            // Made by another process in between: check what it is.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => Ok(p),
                _ => Err(RunError::invalid(&p, "is not a real folder; neuromapper writes its cache only into one")),
            },
            Err(e) => Err(RunError::io(&p, e)),
        },
        Err(e) => Err(RunError::io(&p, e)),
    }
}

/// Calls `f` on every regular file under `dir` (not following symbolic links to folders), down to
/// `depth` levels of folders.
fn walk_files(dir: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                if depth > 0 {
                    walk_files(&e.path(), depth - 1, f)
                }
            }
            Ok(_) => f(&e.path()),
            Err(_) => {}
        }
    }
}

fn read_manifest(root: &Path) -> Result<Manifest, RunError> {
    let p = root.join(MANIFEST_FILE);
    let Some(bytes) = read_bounded(&p, MAX_MANIFEST_BYTES, "a manifest")? else {
        return Err(RunError::invalid(
            &p,
            format!(
                "not found; a run folder needs a manifest such as {{\"format\": \"{FORMAT_V1}\"}} (see the run format)"
            ),
        ));
    };
    let m: Manifest = parse_json(&bytes).map_err(|e| {
        RunError::invalid(&p, format!("not a valid manifest ({e}); expected at least {{\"format\": \"{FORMAT_V1}\"}}"))
    })?;
    if m.format != FORMAT_V1 {
        return Err(RunError::invalid(
            &p,
            format!(
                "unknown format \"{}\"; this neuromapper reads \"{FORMAT_V1}\" (a newer run needs a newer neuromapper)",
                text::clip(&m.format)
            ),
        ));
    }
    if let Some(layers) = &m.layers {
        let mut seen = BTreeSet::new();
        for l in layers {
            if l.is_empty() || l == PREDICTIONS || !seen.insert(l) {
                return Err(RunError::invalid(
                    &p,
                    format!("\"layers\" has an empty, reserved or repeated name: \"{}\"", text::clip(l)),
                ));
            }
        }
        if layers.is_empty() {
            return Err(RunError::invalid(&p, "\"layers\" is empty; list at least one layer or leave it out"));
        }
    }
    Ok(m)
}

fn check_inputs(d: &ArrayDesc, n: usize, labels_path: &Path) -> Result<(), RunError> {
    if d.dtype.kind != ScalarKind::UInt || d.dtype.size != 1 {
        return Err(RunError::invalid(&d.path, format!("inputs must be uint8; found {}", d.dtype.describe())));
    }
    let ok_shape = match d.shape.len() {
        3 => true,
        4 => matches!(d.shape[3], 1 | 3),
        _ => false,
    };
    if !ok_shape {
        return Err(RunError::invalid(
            &d.path,
            format!("inputs must be [N, H, W] or [N, H, W, C] with C = 1 or 3; found shape {:?}", d.shape),
        ));
    }
    d.check_rows(n, labels_path)
}

/// Parses an epoch name: decimal digits only (leading zeros allowed).
fn parse_epoch(name: &str) -> Option<u32> {
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

fn scan_epochs(
    root: &Path,
    n: usize,
    manifest_layers: Option<&[String]>,
) -> Result<(BTreeMap<u32, Epoch>, Vec<LayerInfo>), RunError> {
    let dir = root.join(EPOCHS_DIR);
    let labels_path = root.join(LABELS_FILE);
    let rd = std::fs::read_dir(&dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            RunError::invalid(
                &dir,
                "not found: an empty run; expected epochs/<epoch>/<layer>.npy or epochs/<epoch>.safetensors",
            )
        } else {
            RunError::io(&dir, e)
        }
    })?;
    let mut entries: Vec<_> = rd.collect::<Result<_, _>>().map_err(|e| RunError::io(&dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    let mut epochs: BTreeMap<u32, Epoch> = BTreeMap::new();
    let mut first_seen: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for entry in entries {
        let fname = entry.file_name().to_string_lossy().into_owned();
        // Hidden names: temp folders of a writer in progress, .DS_Store and the like.
        if fname.starts_with('.') {
            continue;
        }
        let p = entry.path();
        let is_dir = p.is_dir();
        let (stem, storage) = if is_dir {
            (fname.as_str(), EpochStorage::NpyFolder)
        } else if let Some(s) = fname.strip_suffix(".safetensors") {
            (s, EpochStorage::Safetensors)
        } else {
            continue; // stray files (a README, say) are not epochs
        };
        let Some(epoch) = parse_epoch(stem) else {
            return Err(RunError::invalid(
                &p,
                format!(
                    "epoch name \"{}\" is not a number; epochs are named by their number in decimal (\"5\", \"005\")",
                    text::clip(stem)
                ),
            ));
        };
        if let Some(prev) = first_seen.get(&epoch) {
            return Err(RunError::invalid(&p, format!("epoch {epoch} is given twice (also as {})", prev.display())));
        }
        first_seen.insert(epoch, p.clone());
        let mut arrays = match storage {
            EpochStorage::NpyFolder => {
                let mut arrays = BTreeMap::new();
                let rd = std::fs::read_dir(&p).map_err(|e| RunError::io(&p, e))?;
                for f in rd {
                    let f = f.map_err(|e| RunError::io(&p, e))?;
                    let name = f.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    if let Some(layer) = name.strip_suffix(".npy") {
                        arrays.insert(layer.to_string(), npy::read_header(&f.path())?);
                    }
                }
                arrays
            }
            EpochStorage::Safetensors => st::read_tensors(&p)?,
        };
        let predictions = arrays.remove(PREDICTIONS);
        if let Some(pr) = &predictions {
            pr.check_rows(n, &labels_path)?;
            let ok = (pr.dtype.is_int() && pr.shape.len() == 1)
                || (pr.dtype.is_float() && pr.shape.len() == 2 && pr.shape[1] > 0);
            if !ok {
                return Err(RunError::invalid(
                    &pr.path,
                    format!(
                        "predictions must be [N] integer classes or [N, C] float logits; found {:?} of {}",
                        pr.shape,
                        pr.dtype.describe()
                    ),
                ));
            }
        }
        epochs.insert(epoch, Epoch { storage, arrays, predictions });
    }
    if epochs.is_empty() {
        return Err(RunError::invalid(
            &dir,
            "an empty run: no epochs; expected epochs/<epoch>/<layer>.npy or epochs/<epoch>.safetensors",
        ));
    }
    let names: Vec<String> = match manifest_layers {
        Some(l) => l.to_vec(),
        None => {
            let all: BTreeSet<&String> = epochs.values().flat_map(|e| e.arrays.keys()).collect();
            all.into_iter().cloned().collect()
        }
    };
    if names.is_empty() {
        return Err(RunError::invalid(
            &dir,
            "an empty run: no layers in any epoch (expected <layer>.npy files or tensors)",
        ));
    }
    let mut layers = Vec::with_capacity(names.len());
    for name in names {
        let mut dim: Option<(usize, &Path)> = None;
        for (&epoch, e) in &epochs {
            let Some(a) = e.arrays.get(&name) else {
                let place = match e.storage {
                    EpochStorage::NpyFolder => {
                        dir.join(epoch_dir_name(&first_seen[&epoch])).join(format!("{name}.npy"))
                    }
                    EpochStorage::Safetensors => first_seen[&epoch].clone(),
                };
                let have: Vec<&str> = e.arrays.keys().map(|s| s.as_str()).collect();
                return Err(RunError::invalid(
                    place,
                    format!(
                        "layer `{}` is missing in epoch {epoch} (that epoch has: {}); every epoch needs every layer",
                        text::clip(&name),
                        text::clip(&have.join(", "))
                    ),
                ));
            };
            let d = a.check_layer(n, &labels_path)?;
            match dim {
                None => dim = Some((d, &a.path)),
                Some((d0, p0)) if d0 != d => {
                    return Err(RunError::invalid(
                        &a.path,
                        format!(
                            "layer `{}` has D = {d} (shape {:?}) but D = {d0} in {}; D may not change across epochs",
                            text::clip(&name),
                            a.shape,
                            p0.display()
                        ),
                    ))
                }
                _ => {}
            }
        }
        layers.push(LayerInfo { name, dim: dim.map(|d| d.0).unwrap_or(0) });
    }
    Ok((epochs, layers))
}

fn epoch_dir_name(p: &Path) -> String {
    p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden, unique sibling name for building `path` before renaming it into place.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let k = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{k}", std::process::id()))
}

/// Writes `path` atomically: the bytes go to a temp file beside it, which is then renamed over it,
/// so readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], streaming: `fill` writes the content to a buffered writer.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), RunError> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(RunError::io(path, e));
    }
    Ok(())
}

/// Writes a run atomically: each file via temp + rename, each epoch folder built under a temp name
/// and renamed into `epochs/<epoch>` so a reader (a live server) never sees half an epoch.
pub struct RunWriter {
    path: PathBuf,
    n: usize,
}

impl RunWriter {
    /// Creates RUN/ with neuromapper.json, labels.npy and (optionally) inputs.npy.
    pub fn create(
        path: &Path,
        manifest: &Manifest,
        labels: &[u32],
        inputs: Option<&Inputs>,
    ) -> Result<RunWriter, RunError> {
        let n = labels.len();
        if manifest.format != FORMAT_V1 {
            return Err(RunError::invalid(
                path,
                format!("manifest format must be \"{FORMAT_V1}\", not \"{}\"", manifest.format),
            ));
        }
        if n == 0 {
            return Err(RunError::invalid(path, "a run needs at least one sample (labels is empty)"));
        }
        if let Some(c) = &manifest.classes {
            if let Some(&l) = labels.iter().find(|&&l| l as usize >= c.len()) {
                return Err(RunError::invalid(path, format!("label {l} is outside the {} classes", c.len())));
            }
        }
        std::fs::create_dir_all(path.join(EPOCHS_DIR)).map_err(|e| RunError::io(path, e))?;
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| RunError::invalid(path, e.to_string()))?;
        write_atomic(&path.join(MANIFEST_FILE), &json)?;
        npy::write(&path.join(LABELS_FILE), &[n], labels)?;
        if let Some(i) = inputs {
            let p = path.join(INPUTS_FILE);
            if i.n != n || !matches!(i.channels, 1 | 3) || i.data.len() != n * i.height * i.width * i.channels {
                return Err(RunError::invalid(
                    &p,
                    format!(
                        "inputs must be [N={n}, H, W, C in 1|3] u8; got n={} {}x{}x{} with {} bytes",
                        i.n,
                        i.height,
                        i.width,
                        i.channels,
                        i.data.len()
                    ),
                ));
            }
            npy::write(&p, &[n, i.height, i.width, i.channels], &i.data)?;
        }
        Ok(RunWriter { path: path.to_path_buf(), n })
    }

    /// The run's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `epochs/<epoch>/<layer>.npy` as float32 `[N, dim]` for each (layer, dim, data) and
    /// `predictions.npy` (`[N]` int) when given. An existing epoch of that number is replaced.
    pub fn write_epoch(
        &self,
        epoch: u32,
        layers: &[(&str, usize, &[f32])],
        predictions: Option<&[u32]>,
    ) -> Result<(), RunError> {
        let epochs_dir = self.path.join(EPOCHS_DIR);
        let final_dir = epochs_dir.join(epoch.to_string());
        for &(name, dim, data) in layers {
            let bad_name =
                name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) || name == PREDICTIONS;
            if bad_name {
                return Err(RunError::invalid(&final_dir, format!("layer name \"{name}\" cannot be a file name")));
            }
            if data.len() != self.n * dim || dim == 0 {
                return Err(RunError::invalid(
                    final_dir.join(format!("{name}.npy")),
                    format!("expected [N={}, D={dim}] = {} values, got {}", self.n, self.n * dim, data.len()),
                ));
            }
        }
        if let Some(p) = predictions {
            if p.len() != self.n {
                return Err(RunError::invalid(
                    final_dir.join("predictions.npy"),
                    format!("expected {} predictions, got {}", self.n, p.len()),
                ));
            }
        }
        let tmp = temp_sibling(&final_dir);
        std::fs::create_dir_all(&tmp).map_err(|e| RunError::io(&tmp, e))?;
        let built = (|| {
            for &(name, dim, data) in layers {
                let p = tmp.join(format!("{name}.npy"));
                write_atomic_with(&p, |w| {
                    w.write_all(&npy::header_bytes("<f4", &[self.n, dim]))?;
                    for chunk in data.chunks(1 << 16) {
                        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                        w.write_all(&bytes)?;
                    }
                    Ok(())
                })?;
            }
            if let Some(p) = predictions {
                npy::write(&tmp.join("predictions.npy"), &[self.n], p)?;
            }
            Ok::<(), RunError>(())
        })();
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let mut old = None;
        if final_dir.exists() {
            let o = temp_sibling(&final_dir);
            std::fs::rename(&final_dir, &o).map_err(|e| RunError::io(&final_dir, e))?;
            old = Some(o);
        }
        std::fs::rename(&tmp, &final_dir).map_err(|e| RunError::io(&final_dir, e))?;
        if let Some(o) = old {
            let _ = std::fs::remove_dir_all(o);
        }
        Ok(())
    }

    /// Marks the run finished ([`FINISHED_FILE`], listing the epochs written), so a viewer that
    /// follows the run refines its views and caches them.
    pub fn finish(&self, epochs: &[u32]) -> Result<(), RunError> {
        let json = serde_json::json!({"format": FORMAT_V1, "epochs": epochs});
        write_atomic(&self.path.join(FINISHED_FILE), json.to_string().as_bytes())
    }

    /// Writes (replaces) metrics.json.
    pub fn write_metrics(&self, metrics: &[EpochMetrics]) -> Result<(), RunError> {
        let p = self.path.join(METRICS_FILE);
        let json = serde_json::to_vec_pretty(metrics).map_err(|e| RunError::invalid(&p, e.to_string()))?;
        write_atomic(&p, &json)
    }
}
