//! Runs side by side: serving several runs that share their probe set from one server
//! ([`start_runs`]), the probe-set check they must pass, their list (`GET /api/runs`), and run i's
//! views turned rigidly onto run 0's so the plots of a column compare fairly.
//!
//! Each run keeps a state of its own (`AppState`: views, tasks, live worker, watcher); this module
//! only ties them together. The rigid turn is the pipeline's `align_rigidly` (`nm_umap::Rigid`,
//! one rotation or reflection plus a shift for all of a view's epochs, fitted on the epochs and
//! samples both views have), applied when a view is asked for and kept until either view changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use nm_run::Run;
use serde_json::json;

use crate::state::AppState;
use crate::sync::lock;
use crate::{ServeOptions, ServerHandle};

/// Most runs served side by side (a grid of six rows is already small on a laptop's screen).
pub const MAX_RUNS: usize = 6;

/// The probe set (number of samples and their labels) of the first run seen; every later run
/// served beside it must have the same.
pub struct ProbeSet {
    first: Mutex<Option<FirstRun>>,
}

/// The first run checked: its folder, labels and class names.
type FirstRun = (PathBuf, Vec<u32>, Vec<String>);

impl ProbeSet {
    pub fn new() -> Arc<ProbeSet> {
        Arc::new(ProbeSet { first: Mutex::new(None) })
    }

    /// Ok when `run` (at `path`) has the probe set of the first run checked (the first run checked
    /// sets it). Differing class names only warn: the classes are the same numbers.
    pub fn check(&self, path: &Path, run: &Run) -> Result<(), String> {
        let mut first = lock(&self.first);
        let Some((ref_path, labels, classes)) = first.as_ref() else {
            *first = Some((path.to_path_buf(), run.labels().to_vec(), run.classes().to_vec()));
            return Ok(());
        };
        if ref_path == path {
            return Ok(());
        }
        let (a, b) = (ref_path.display(), path.display());
        let mismatch = |what: String| {
            Err(format!(
                "the runs {a} and {b} do not share their probe set ({what}); runs are compared side by side \
                 only when they record the same samples in the same order"
            ))
        };
        if labels.len() != run.labels().len() {
            return mismatch(format!("{a} has {} samples, {b} has {}", labels.len(), run.labels().len()));
        }
        if let Some(k) = labels.iter().zip(run.labels()).position(|(x, y)| x != y) {
            return mismatch(format!("sample {k} has label {} in {a} but {} in {b}", labels[k], run.labels()[k]));
        }
        if classes.as_slice() != run.classes() {
            eprintln!(
                "neuromapper: warning: the runs {a} and {b} name their classes differently ({} vs {}); \
                 the viewer uses the names of the first",
                classes.join(", "),
                run.classes().join(", ")
            );
        }
        Ok(())
    }
}

/// Serves `runs` side by side (at most [`MAX_RUNS`]; one is the same as [`crate::start`]): one
/// viewer with a row per run. Every run that can be opened now must share the first's probe set,
/// else an error names both runs and the first differing sample. Following (`opts.follow`), runs
/// not written yet are served too when `opts.wait_for_missing`, and checked when they appear.
pub fn start_runs(runs: Vec<PathBuf>, opts: ServeOptions) -> anyhow::Result<ServerHandle> {
    anyhow::ensure!(!runs.is_empty(), "no run to serve");
    anyhow::ensure!(runs.len() <= MAX_RUNS, "at most {MAX_RUNS} runs can be served side by side, not {}", runs.len());
    let mut opened = Vec::with_capacity(runs.len());
    for path in runs {
        let run = crate::open_run(&path, &opts)?;
        opened.push((path, run));
    }
    // start_inner checks the probe sets, run by run, before serving.
    crate::start_inner(opened, opts, None)
}

/// Short names for the runs, without their folders: each folder's name, with its parent's name
/// in front when two runs share it, and the run's number after when that is still not unique.
pub fn labels(paths: &[&Path]) -> Vec<String> {
    let name = |p: Option<&Path>| p.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
    let unique = |v: &[String], x: &String| v.iter().filter(|m| *m == x).count() == 1;
    let short: Vec<String> = paths.iter().map(|p| name(Some(p)).unwrap_or_else(|| p.display().to_string())).collect();
    let long: Vec<String> = paths
        .iter()
        .zip(&short)
        .map(|(p, n)| name(p.parent()).map_or_else(|| n.clone(), |parent| format!("{parent}/{n}")))
        .collect();
    (0..paths.len())
        .map(|i| {
            if unique(&short, &short[i]) {
                short[i].clone()
            } else if unique(&long, &long[i]) {
                long[i].clone()
            } else {
                format!("{} ({})", short[i], i + 1)
            }
        })
        .collect()
}

/// `GET /api/runs`: per run its index, name (the run's own, or its label before it exists), label,
/// layers and epochs.
pub fn runs_json(states: &[Arc<AppState>]) -> serde_json::Value {
    let paths: Vec<&Path> = states.iter().map(|s| s.run_path()).collect();
    let labels = labels(&paths);
    let runs: Vec<_> = states
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (st, label))| {
            let run = st.run();
            json!({
                "index": i,
                "name": run.as_ref().map_or_else(|| label.clone(), |r| r.name().to_string()),
                "label": label,
                "layers": st.layer_names(),
                "epochs": run.as_ref().map(|r| r.epochs().to_vec()).unwrap_or_default(),
            })
        })
        .collect();
    json!({ "runs": runs })
}

/// View `key` of `layer` of this run turned rigidly onto run 0's same view, encoded; None when
/// this is run 0 or a single run, when either view is missing, or when they share no epoch or
/// samples (then the view is served as it is). Kept until either view changes.
pub fn aligned_view(st: &AppState, layer: &str, key: &str) -> Option<Bytes> {
    let reference = st.reference()?;
    let (base, base_seq) = reference.raw_view(layer, key)?;
    let (own, own_seq) = st.raw_view(layer, key)?;
    let id = (layer.to_string(), key.to_string());
    if let Some((a, b, bytes)) = lock(&st.aligned).get(&id) {
        if (*a, *b) == (own_seq, base_seq) {
            return Some(bytes.clone());
        }
    }
    let mut emb = (*own).clone();
    if !nm_pipeline::align_rigidly(&mut emb, &base) {
        return None;
    }
    let bytes = st.encode_view(key, &emb).ok()?;
    let mut aligned = lock(&st.aligned);
    // Views dropped from the store take their turned copies with them.
    aligned.retain(|(l, k), _| st.has_view(l, k));
    aligned.insert(id, (own_seq, base_seq, bytes.clone()));
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::labels;

    #[test]
    fn labels_are_folder_names_made_unique() {
        let ps = [Path::new("/r/a/run"), Path::new("/r/b/run"), Path::new("/r/c")];
        assert_eq!(labels(&ps), ["a/run", "b/run", "c"]);
        let same = [Path::new("/x/run"), Path::new("/x/run")];
        assert_eq!(labels(&same), ["run (1)", "run (2)"]);
    }
}
