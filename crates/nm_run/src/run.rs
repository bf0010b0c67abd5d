//! [`Run`]: an opened, validated run (manifest, labels, thumbnails, the epoch/layer layout) and
//! on-demand reading of its activations, predictions, thumbnails and metrics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::array::{self, ArrayDesc, ScalarKind};
use crate::files::{read_bounded, regular_file_meta, walk_files};
use crate::manifest::{parse_json, read_manifest};
use crate::samples::read_samples_csv;
use crate::scan::{scan_epochs, Epoch};
use crate::twins::read_twins;
use crate::{
    npy, text, EpochMetrics, EpochStorage, LayerInfo, LayerReader, Manifest, RunError, SamplesTable, CACHE_DIR,
    EPOCHS_DIR, FINISHED_FILE, INPUTS_FILE, LABELS_FILE, MAX_IMPLICIT_CLASS_ID, MAX_METRICS_BYTES, METRICS_FILE,
    SAMPLES_FILE,
};

/// Thumbnails: [N, H, W, C] u8 with C = 1 or 3.
pub struct Inputs {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

/// An opened, validated run. Opening checks the manifest, labels, the epoch/layer layout and shapes
/// (headers only); activations are read on demand.
pub struct Run {
    path: PathBuf,
    name: String,
    manifest: Manifest,
    classes: Vec<String>,
    labels: Vec<u32>,
    twins: Option<Vec<Option<u32>>>,
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
        let twins = read_twins(path, &labels)?;
        // samples.csv is read when asked for; here only its kind is checked (a regular file or none).
        regular_file_meta(&path.join(SAMPLES_FILE))?;
        let name = manifest.name.clone().unwrap_or_else(|| {
            let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            canon.file_name().map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned())
        });
        let mut run = Run {
            path: path.to_path_buf(),
            name,
            manifest,
            classes,
            labels,
            twins,
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
    /// Adversarial twins (`twins.npy`), when the run has them: per sample `None` for a clean
    /// sample, `Some(j)` for a perturbed copy of the clean sample `j` (same label; checked on open).
    pub fn twins(&self) -> Option<&[Option<u32>]> {
        self.twins.as_deref()
    }
    /// Whether sample `i` is an adversarial twin.
    pub fn is_twin(&self, i: usize) -> bool {
        self.twins.as_ref().is_some_and(|t| t.get(i).is_some_and(Option::is_some))
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
        let mtime = a.modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
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

    /// Raw prediction scores at an epoch when they are given as `[N, C]` floats (logits or
    /// probabilities): (C, the [N, C] row-major values, checked finite). None when the epoch has no
    /// predictions or they are class ids.
    pub fn prediction_scores(&self, epoch: u32) -> Result<Option<(usize, Vec<f32>)>, RunError> {
        let Some(e) = self.epochs.get(&epoch) else {
            return Err(RunError::invalid(self.path.join(EPOCHS_DIR), format!("no epoch {epoch}")));
        };
        let Some(p) = e.predictions.as_ref().filter(|p| p.dtype.is_float()) else { return Ok(None) };
        let mut r = LayerReader::open(p)?;
        let c = r.n_cols();
        Ok(Some((c, r.read_all()?)))
    }

    /// Epochs whose predictions are `[N, C]` float scores (not class ids), ascending.
    pub fn score_epochs(&self) -> Vec<u32> {
        self.epochs
            .iter()
            .filter(|(_, e)| e.predictions.as_ref().is_some_and(|p| p.dtype.is_float()))
            .map(|(&k, _)| k)
            .collect()
    }

    /// Epochs that have the per-sample value `name`, ascending.
    pub fn value_epochs(&self, name: &str) -> Vec<u32> {
        self.epochs.iter().filter(|(_, e)| e.values.contains_key(name)).map(|(&k, _)| k).collect()
    }

    /// Names of the per-sample values any epoch has (`epochs/<e>/<name>.values.npy`), sorted.
    pub fn value_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.epochs.values().flat_map(|e| e.values.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The per-sample value `name` at `epoch` (`[N]` f32, checked finite: a NaN or infinity is an error
    /// naming the file); None when that epoch does not have it.
    pub fn values(&self, name: &str, epoch: u32) -> Result<Option<Vec<f32>>, RunError> {
        let Some(e) = self.epochs.get(&epoch) else {
            return Err(RunError::invalid(self.path.join(EPOCHS_DIR), format!("no epoch {epoch}")));
        };
        let Some(d) = e.values.get(name) else { return Ok(None) };
        if d.dtype.is_int() {
            return Ok(Some(d.read_ints()?.into_iter().map(|v| v as f32).collect()));
        }
        Ok(Some(LayerReader::open(d)?.read_all()?))
    }

    /// The static per-sample table, `samples.csv` (None when the run has none), read and checked:
    /// N data rows, one cell per header column.
    pub fn samples_table(&self) -> Result<Option<SamplesTable>, RunError> {
        read_samples_csv(&self.path.join(SAMPLES_FILE), self.labels.len())
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
        let Some(bytes) = read_bounded(&p, MAX_METRICS_BYTES, "metrics.json is small JSON")? else {
            return Ok(Vec::new());
        };
        let mut m: Vec<EpochMetrics> = parse_json(&bytes).map_err(|e| {
            RunError::invalid(
                &p,
                format!("expected a JSON list of {{\"epoch\", \"train_accuracy\", \"test_accuracy\", \"loss\"}}: {e}"),
            )
        })?;
        m.sort_by_key(|e| e.epoch);
        Ok(m)
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
            std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
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
                    Ok(_) => e.metadata().map_or(0, |m| m.len()),
                    Err(_) => 0,
                })
                .sum()
        }
        let cache = walk(&self.path.join(CACHE_DIR));
        (walk(&self.path).saturating_sub(cache), cache)
    }
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
