//! [`RunWriter`]: writes a run atomically, so a reader following it never sees half a file or half
//! an epoch.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::files::{temp_sibling, write_atomic, write_atomic_with};
use crate::samples::column_len;
use crate::twins::check_links;
use crate::SamplesTable;
use crate::{
    npy, EpochMetrics, Inputs, Manifest, RunError, EPOCHS_DIR, FINISHED_FILE, FORMAT_V1, INPUTS_FILE, LABELS_FILE,
    MANIFEST_FILE, METRICS_FILE, PREDICTIONS, SAMPLES_FILE, TWINS_FILE, VALUES_SUFFIX,
};

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
        RunWriter::create_with_twins(path, manifest, labels, inputs, None)
    }

    /// [`RunWriter::create`], plus adversarial twins (`twins.npy`) when given: per sample `None`
    /// (clean) or `Some(j)`, a perturbed copy of the clean sample `j` with the same label.
    pub fn create_with_twins(
        path: &Path,
        manifest: &Manifest,
        labels: &[u32],
        inputs: Option<&Inputs>,
        twins: Option<&[Option<u32>]>,
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
        let twin_rows: Option<Vec<i64>> = twins.map(|t| t.iter().map(|j| j.map_or(-1, i64::from)).collect());
        if let Some(raw) = &twin_rows {
            let p = path.join(TWINS_FILE);
            if raw.len() != n {
                return Err(RunError::invalid(
                    &p,
                    format!("expected {n} twin links, one per sample, got {}", raw.len()),
                ));
            }
            check_links(raw, labels).map_err(|m| RunError::invalid(&p, m))?;
        }
        std::fs::create_dir_all(path.join(EPOCHS_DIR)).map_err(|e| RunError::io(path, e))?;
        npy::write(&path.join(LABELS_FILE), &[n], labels)?;
        if let Some(raw) = &twin_rows {
            npy::write(&path.join(TWINS_FILE), &[n], raw)?;
        }
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
        // The manifest last: it is what makes the folder a run.
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| RunError::invalid(path, e.to_string()))?;
        write_atomic(&path.join(MANIFEST_FILE), &json)?;
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
        self.write_epoch_with_values(epoch, layers, predictions, &[])
    }

    /// [`RunWriter::write_epoch`], plus per-sample values: `epochs/<epoch>/<name>.values.npy`
    /// (float32 `[N]`, finite) for each (name, values), in the same atomic folder.
    pub fn write_epoch_with_values(
        &self,
        epoch: u32,
        layers: &[(&str, usize, &[f32])],
        predictions: Option<&[u32]>,
        values: &[(&str, &[f32])],
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
        for (i, &(name, v)) in values.iter().enumerate() {
            let file = final_dir.join(format!("{name}{VALUES_SUFFIX}.npy"));
            let bad_name = name.is_empty()
                || name.starts_with('.')
                || name.contains(['/', '\\'])
                || name == PREDICTIONS
                || values[..i].iter().any(|(n, _)| *n == name);
            if bad_name {
                return Err(RunError::invalid(
                    &final_dir,
                    format!("value name \"{name}\" cannot be a file name (or is given twice)"),
                ));
            }
            if v.len() != self.n {
                return Err(RunError::invalid(
                    file,
                    format!("expected {} values, one per sample, got {}", self.n, v.len()),
                ));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(RunError::invalid(file, format!("value {} of sample {i} is not finite", v[i])));
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
            for &(name, v) in values {
                npy::write(&tmp.join(format!("{name}{VALUES_SUFFIX}.npy")), &[self.n], v)?;
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

    /// Writes (replaces) `samples.csv`, the static per-sample table; every column must have N cells.
    pub fn write_samples(&self, table: &SamplesTable) -> Result<(), RunError> {
        let p = self.path.join(SAMPLES_FILE);
        for (i, (name, col)) in table.columns.iter().enumerate() {
            if name.trim().is_empty() || table.columns[..i].iter().any(|(n, _)| n == name) {
                return Err(RunError::invalid(&p, format!("column name \"{name}\" is empty or given twice")));
            }
            if column_len(col) != self.n {
                return Err(RunError::invalid(
                    &p,
                    format!("column \"{name}\" has {} cells; expected {}, one per sample", column_len(col), self.n),
                ));
            }
        }
        write_atomic(&p, table.to_csv().as_bytes())
    }

    /// Writes (replaces) metrics.json.
    pub fn write_metrics(&self, metrics: &[EpochMetrics]) -> Result<(), RunError> {
        let p = self.path.join(METRICS_FILE);
        let json = serde_json::to_vec_pretty(metrics).map_err(|e| RunError::invalid(&p, e.to_string()))?;
        write_atomic(&p, &json)
    }
}
