//! Adversarial twins (`twins.npy`): which rows are perturbed copies of which clean samples, read
//! and checked against the labels.

use std::path::Path;

use crate::files::regular_file_meta;
use crate::{npy, RunError, TWINS_FILE};

/// Reads `RUN/twins.npy` when present: per sample `None` (a clean sample) or `Some(j)` (a twin of
/// the clean sample `j`). Every link must point at another, clean sample of the same label.
pub(crate) fn read_twins(root: &Path, labels: &[u32]) -> Result<Option<Vec<Option<u32>>>, RunError> {
    let p = root.join(TWINS_FILE);
    if regular_file_meta(&p)?.is_none() {
        return Ok(None);
    }
    let d = npy::read_header(&p)?;
    let n = labels.len();
    if !d.dtype.is_int() || d.shape != [n] {
        return Err(RunError::invalid(
            &p,
            format!(
                "expected [N={n}] integers (-1 for a clean sample, else the row of its clean twin); found {} of shape {:?}",
                d.dtype.describe(),
                d.shape
            ),
        ));
    }
    let raw = d.read_ints()?;
    check_links(&raw, labels).map_err(|m| RunError::invalid(&p, m))?;
    Ok(Some(raw.iter().map(|&j| u32::try_from(j).ok()).collect()))
}

/// Checks twin links `raw` (`-1` or a row) against `labels`; the message says which row is wrong.
pub(crate) fn check_links(raw: &[i64], labels: &[u32]) -> Result<(), String> {
    let n = labels.len();
    for (i, &j) in raw.iter().enumerate() {
        if j == -1 {
            continue;
        }
        if j < 0 || j >= n as i64 {
            return Err(format!("row {i} links to {j}, which is not a sample (expected -1 or 0..={})", n - 1));
        }
        let j = j as usize;
        if j == i {
            return Err(format!("row {i} links to itself; a twin links to its clean sample, a clean sample holds -1"));
        }
        if raw[j] != -1 {
            return Err(format!(
                "row {i} links to row {j}, which is itself a twin (of {}); link to the clean sample",
                raw[j]
            ));
        }
        if labels[i] != labels[j] {
            return Err(format!(
                "row {i} (label {}) links to row {j} (label {}); a twin has its clean sample's label",
                labels[i], labels[j]
            ));
        }
    }
    Ok(())
}
