//! Writing a [`LayerEmbedding`] for other tools: `.npy` (float32 [E, n, 2], epochs ascending,
//! rows in the run's sample order) or `.csv` ([`CSV_HEADER`]). Files are written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use nm_run::{Run, RunError};

use crate::LayerEmbedding;

/// The CSV's columns: `label` is the class id and `class` its name; `predicted` is the model's
/// predicted class id at that epoch (empty when the run has no predictions for it).
pub const CSV_HEADER: &str = "epoch,sample,label,class,predicted,x,y";

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

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
/// samples, their indices (`[n]` int64, ascending) are written to [`samples_path`] too; the CSV has
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
            let names: Vec<String> = run.classes().iter().map(|c| csv_field(c)).collect();
            let predictions = emb.epochs.iter().map(|&e| run.predictions(e)).collect::<Result<Vec<_>, _>>()?;
            nm_run::write_atomic_with(out, |w| {
                writeln!(w, "{CSV_HEADER}")?;
                for (k, &epoch) in emb.epochs.iter().enumerate() {
                    let slice = emb.slice(k);
                    for (r, &s) in emb.samples.iter().enumerate() {
                        let label = labels[s as usize];
                        let name = names.get(label as usize).map_or("", |n| n.as_str());
                        let predicted = predictions[k].as_ref().map_or(String::new(), |p| p[s as usize].to_string());
                        writeln!(w, "{epoch},{s},{label},{name},{predicted},{},{}", slice[2 * r], slice[2 * r + 1])?;
                    }
                }
                Ok(())
            })?;
            Ok(vec![out.to_path_buf()])
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(super::csv_field("ship"), "ship");
        assert_eq!(super::csv_field("cat, tabby"), "\"cat, tabby\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
