//! Listing a run's epochs: `epochs/<epoch>/<layer>.npy` folders and `epochs/<epoch>.safetensors`
//! files, read by header only, checked for one layout (every epoch has every layer, with one D),
//! and the epochs' optional per-sample values (`<name>.values.npy`, or a tensor `<name>.values`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::array::ArrayDesc;
use crate::{npy, st, text, RunError, EPOCHS_DIR, LABELS_FILE, PREDICTIONS, VALUES_SUFFIX};

#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerInfo {
    pub name: String,
    pub dim: usize,
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
pub(crate) struct Epoch {
    pub storage: EpochStorage,
    pub arrays: BTreeMap<String, ArrayDesc>,
    pub predictions: Option<ArrayDesc>,
    /// Per-sample values by name (the array name without [`VALUES_SUFFIX`]): `[N]` numbers.
    pub values: BTreeMap<String, ArrayDesc>,
}

/// Parses an epoch name: decimal digits only (leading zeros allowed).
fn parse_epoch(name: &str) -> Option<u32> {
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

pub(crate) fn scan_epochs(
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
    entries.sort_by_key(std::fs::DirEntry::file_name);
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
        let values = take_values(&mut arrays, n, &labels_path, manifest_layers)?;
        epochs.insert(epoch, Epoch { storage, arrays, predictions, values });
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
                let have: Vec<&str> = e.arrays.keys().map(std::string::String::as_str).collect();
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
        layers.push(LayerInfo { name, dim: dim.map_or(0, |d| d.0) });
    }
    Ok((epochs, layers))
}

/// Moves the per-sample values out of an epoch's arrays: every array whose name ends in
/// [`VALUES_SUFFIX`], unless the manifest lists that name as a layer (so a run written before values
/// existed, with a layer of such a name, reads as before). Each must be `[N]` (or `[N, 1]`) numbers.
fn take_values(
    arrays: &mut BTreeMap<String, ArrayDesc>,
    n: usize,
    labels_path: &Path,
    manifest_layers: Option<&[String]>,
) -> Result<BTreeMap<String, ArrayDesc>, RunError> {
    let names: Vec<String> = arrays
        .keys()
        .filter(|k| k.ends_with(VALUES_SUFFIX) && !manifest_layers.is_some_and(|l| l.contains(k)))
        .cloned()
        .collect();
    let mut values = BTreeMap::new();
    for key in names {
        let Some(desc) = arrays.remove(&key) else { continue };
        let name = key.strip_suffix(VALUES_SUFFIX).unwrap_or(&key).to_string();
        if name.is_empty() || name == PREDICTIONS {
            return Err(RunError::invalid(
                &desc.path,
                format!("per-sample values need a name before \"{VALUES_SUFFIX}\" (and not \"{PREDICTIONS}\")"),
            ));
        }
        desc.check_rows(n, labels_path)?;
        let one_column = desc.shape.len() == 1 || (desc.shape.len() == 2 && desc.shape[1] == 1);
        if !one_column || !(desc.dtype.is_float() || desc.dtype.is_int()) {
            return Err(RunError::invalid(
                &desc.path,
                format!(
                    "per-sample values `{}` must be [N] numbers (float or int), one per sample; found {:?} of {}",
                    text::clip(&name),
                    desc.shape,
                    desc.dtype.describe()
                ),
            ));
        }
        values.insert(name, desc);
    }
    Ok(values)
}

fn epoch_dir_name(p: &Path) -> String {
    p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
