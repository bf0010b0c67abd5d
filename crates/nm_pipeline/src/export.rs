//! Writing a [`LayerEmbedding`] for other tools: `.npy` (float32 [E, n, 2], epochs ascending,
//! rows in the run's sample order) or `.csv` (`epoch,sample,label,x,y`). Files are written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use nm_run::{Run, RunError};

use crate::LayerEmbedding;

/// Output format, from the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Csv,
}

impl Format {
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "npy" => Some(Format::Npy),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Where the chosen sample indices go next to an `.npy` export: `FILE.samples.npy`.
pub fn samples_path(out: &Path) -> PathBuf {
    out.with_extension("samples.npy")
}

/// Writes `emb` to `out` (format by extension). For `.npy`, when the embedding covers only some
/// samples, their indices ([n] int64, ascending) are written to [`samples_path`] too; the CSV has
/// them in its `sample` column. Returns the files written.
pub fn write(run: &Run, emb: &LayerEmbedding, out: &Path) -> Result<Vec<PathBuf>, RunError> {
    let format = Format::from_path(out)
        .ok_or_else(|| RunError::invalid(out, "unknown output format: the file name must end in .npy or .csv"))?;
    let n = emb.samples.len();
    let e = emb.epochs.len();
    match format {
        Format::Npy => {
            nm_run::npy::write(out, &[e, n, 2], &emb.positions)?;
            let mut written = vec![out.to_path_buf()];
            if n != run.n_samples() {
                let idx: Vec<i64> = emb.samples.iter().map(|&s| s as i64).collect();
                let p = samples_path(out);
                nm_run::npy::write(&p, &[n], &idx)?;
                written.push(p);
            }
            Ok(written)
        }
        Format::Csv => {
            let labels = run.labels();
            nm_run::write_atomic_with(out, |w| {
                writeln!(w, "epoch,sample,label,x,y")?;
                for (k, &epoch) in emb.epochs.iter().enumerate() {
                    let slice = emb.slice(k);
                    for (r, &s) in emb.samples.iter().enumerate() {
                        writeln!(w, "{epoch},{s},{},{},{}", labels[s as usize], slice[2 * r], slice[2 * r + 1])?;
                    }
                }
                Ok(())
            })?;
            Ok(vec![out.to_path_buf()])
        }
    }
}
