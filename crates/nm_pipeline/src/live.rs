//! Live embeddings of a run that grows while it trains: each layer's new epochs are added with the
//! engine's incremental update, earlier epochs never move, and when the trainer marks the run
//! finished all epochs are refined together and cached as the run's default view. One mechanism for
//! `serve` following a user's run and for `demo` / `train --serve`; the server only routes and pushes.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;

use nm_run::Run;
use nm_umap::{AlignedEmbedding, AlignedParams, Control, Rigid, Stage};
use rayon::prelude::*;

use crate::align::fit_frame;
use crate::cache::Fnv;
use crate::params::EmbedParams;
use crate::sampling::choose_samples;
use crate::{
    cached, cancelled, find_layer, from_umap, from_umap_at, invalid, load_slice, load_slices, store_embedding,
    LayerEmbedding, PipelineError,
};

/// What a [`LiveRun`] step produced for one layer: the view to show, or why there is none.
pub type LayerOutcome<'a> = Result<&'a LayerEmbedding, String>;

/// The live views of every layer of one run under one set of parameters.
///
/// Per layer, every view it hands out is `frame` applied to the engine's raw layout: when the layout
/// is recomputed from scratch (after a view taken from the cache, or the refinement at the end), the
/// frame is refitted so that the new layout lies where the shown one lay (a rigid motion: distances
/// and trajectories are unchanged).
pub struct LiveRun {
    params: EmbedParams,
    layers: BTreeMap<String, LiveState>,
    /// (N, hash of the labels) of the run first seen: the probe set must not change under a view.
    samples_id: Option<(usize, u64)>,
}

struct LiveState {
    live: LiveLayer,
    /// What browsers show now (frame applied).
    shown: Option<LayerEmbedding>,
    frame: Option<Rigid>,
    /// Epochs were added incrementally since the last joint fit or refinement.
    extended: bool,
}

impl LiveRun {
    /// `params` must be validated and normalised ([`EmbedParams::checked`]). A followed run grows
    /// one layer at a time, epoch by epoch, so its view is never aligned across layers: `align_layers`
    /// is dropped here (the aligned view is asked for separately, over the epochs written).
    pub fn new(params: EmbedParams) -> LiveRun {
        let params = EmbedParams { align_layers: false, ..params };
        LiveRun { params, layers: BTreeMap::new(), samples_id: None }
    }

    pub fn params(&self) -> &EmbedParams {
        &self.params
    }

    /// Whether some layer grew incrementally since its last joint fit (else [`LiveRun::finish`]
    /// has nothing to do: every view is already a joint fit of all its epochs).
    pub fn needs_refine(&self) -> bool {
        self.layers.values().any(|s| s.extended)
    }

    /// Brings every layer up to the run's epochs, layers in parallel: a layer seen for the first time
    /// comes from the cache when it holds these parameters at these epochs, else from a joint fit of
    /// all epochs (stored in the cache); later epochs are added incrementally. `on_layer` is called as
    /// each layer is ready, from the worker threads. Errors that concern the whole run (its samples
    /// changed) are returned and no layer is touched.
    pub fn update(
        &mut self,
        run: &Run,
        progress: &(dyn Fn(&str, Stage, f32) + Sync),
        on_layer: &(dyn Fn(&str, LayerOutcome) + Sync),
        cancel: Option<&AtomicBool>,
    ) -> Result<(), PipelineError> {
        self.check_samples(run)?;
        if run.epochs().is_empty() {
            return Ok(());
        }
        self.layers.retain(|name, _| run.layer(name).is_some());
        for l in run.layers() {
            self.layers.entry(l.name.clone()).or_insert_with(|| LiveState {
                live: LiveLayer::new(&l.name, self.params.clone()),
                shown: None,
                frame: None,
                extended: false,
            });
        }
        let behind = |st: &LiveState| st.shown.as_ref().is_none_or(|s| s.epochs != run.epochs());
        self.each_layer(behind, |st, params, ctl| st.step(run, params, ctl), progress, on_layer, cancel);
        Ok(())
    }

    /// Training has ended: every layer that grew incrementally is re-optimised over all its epochs
    /// jointly (`AlignedEmbedding::refine`: smoother trajectories, same arrangement), turned rigidly
    /// onto what was shown, and stored in the run's cache as the embedding of these parameters, so
    /// `serve`, `embed` and `export` on the finished run show this very view. Layers that are already
    /// a joint fit of every epoch are reported as they are. Returns false when there is nothing to do
    /// ([`LiveRun::needs_refine`] is false).
    pub fn finish(
        &mut self,
        run: &Run,
        progress: &(dyn Fn(&str, Stage, f32) + Sync),
        on_layer: &(dyn Fn(&str, LayerOutcome) + Sync),
        cancel: Option<&AtomicBool>,
    ) -> Result<bool, PipelineError> {
        self.check_samples(run)?;
        if !self.needs_refine() {
            return Ok(false);
        }
        let shown = |st: &LiveState| st.shown.is_some();
        self.each_layer(shown, |st, params, ctl| st.refine(run, params, ctl), progress, on_layer, cancel);
        Ok(true)
    }

    /// Runs `work` on every layer that is `wanted`, layers in parallel, each with its own progress,
    /// and reports each outcome as it comes ([`finish_step`]).
    fn each_layer(
        &mut self,
        wanted: impl Fn(&LiveState) -> bool + Sync,
        work: impl Fn(&mut LiveState, &EmbedParams, &Control) -> Result<(), PipelineError> + Sync,
        progress: &(dyn Fn(&str, Stage, f32) + Sync),
        on_layer: &(dyn Fn(&str, LayerOutcome) + Sync),
        cancel: Option<&AtomicBool>,
    ) {
        let params = &self.params;
        self.layers.par_iter_mut().filter(|(_, st)| wanted(st)).for_each(|(name, st)| {
            let report = |stage: Stage, f: f32| progress(name, stage, f);
            let ctl = Control { progress: Some(&report), cancel };
            let outcome = guarded(|| work(st, params, &ctl));
            finish_step(name, st, outcome, on_layer);
        });
    }

    /// Errors when `run`'s samples (N, labels) differ from those of the run first seen: views
    /// cannot follow a different probe set. [`LiveRun::update`] checks this first.
    pub fn check_samples(&mut self, run: &Run) -> Result<(), PipelineError> {
        let id = (run.n_samples(), run.labels().iter().fold(Fnv::new(), |h, &l| h.u64(l as u64)).finish());
        match self.samples_id {
            None => self.samples_id = Some(id),
            Some(old) if old != id => {
                return Err(invalid(
                    "samples",
                    format!(
                        "the run's samples changed under the viewer ({} samples before, {} now, labels {}): the views \
                         cannot follow a different probe set; restart the viewer",
                        old.0,
                        id.0,
                        if old.1 == id.1 { "the same" } else { "different" }
                    ),
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// Runs `f`, turning a panic (a bug deeper down) into an error message instead of a dead worker.
fn guarded<T>(f: impl FnOnce() -> Result<T, PipelineError>) -> Result<T, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(std::string::ToString::to_string)
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("internal error: {msg}"))
        }
    }
}

/// Reports one layer's outcome; a layer whose step failed starts afresh next time (its state is
/// unknown after a panic, and a fresh joint fit is the safe way back).
fn finish_step(
    name: &str,
    st: &mut LiveState,
    outcome: Result<(), String>,
    on_layer: &(dyn Fn(&str, LayerOutcome) + Sync),
) {
    match outcome {
        Ok(()) => on_layer(name, st.shown.as_ref().ok_or_else(|| "no view".to_string())),
        Err(e) => {
            st.live = LiveLayer::new(name, st.live.params.clone());
            st.extended = false;
            on_layer(name, Err(e));
        }
    }
}

impl LiveState {
    fn step(&mut self, run: &Run, params: &EmbedParams, ctl: &Control) -> Result<(), PipelineError> {
        if self.shown.is_none() {
            if let Some(hit) = cached(run, &self.live.layer, params) {
                self.shown = Some(hit);
                return Ok(());
            }
        }
        let fresh = self.live.aligned.is_none() || self.live.would_refit(run);
        let mut emb = self.live.update(run, ctl)?;
        if fresh {
            // A joint fit from scratch: where the shown view came from elsewhere (the cache, or a
            // state dropped after an error), turn the new layout onto it.
            self.frame = self.shown.as_ref().and_then(|shown| fit_frame(&emb, shown));
            self.extended = false;
        } else {
            self.extended = true;
        }
        if let Some(f) = &self.frame {
            f.apply(&mut emb.positions)?;
        }
        if fresh && emb.epochs == run.epochs() {
            store_embedding(run, params, &emb)?;
        }
        self.shown = Some(emb);
        Ok(())
    }

    fn refine(&mut self, run: &Run, params: &EmbedParams, ctl: &Control) -> Result<(), PipelineError> {
        if !self.extended {
            return Ok(());
        }
        let shown = self.shown.as_ref().ok_or_else(|| invalid("layer", "no view to refine"))?;
        let mut emb = self.live.refine(run, ctl)?;
        self.frame = fit_frame(&emb, shown);
        if let Some(f) = &self.frame {
            f.apply(&mut emb.positions)?;
        }
        if emb.epochs == run.epochs() {
            store_embedding(run, params, &emb)?;
        }
        self.extended = false;
        self.shown = Some(emb);
        Ok(())
    }
}

/// Live (growing) embedding of one layer: each new epoch is added with the engine's incremental
/// update (`AlignedEmbedding::extend`) instead of a full refit. [`LiveRun`] holds one per layer.
pub struct LiveLayer {
    layer: String,
    params: EmbedParams,
    samples: Vec<u32>,
    epochs: Vec<u32>,
    aligned: Option<AlignedEmbedding>,
}

impl LiveLayer {
    pub fn new(layer: &str, params: EmbedParams) -> LiveLayer {
        LiveLayer { layer: layer.to_string(), params, samples: Vec::new(), epochs: Vec::new(), aligned: None }
    }

    /// The epochs embedded so far.
    pub fn epochs(&self) -> &[u32] {
        &self.epochs
    }

    /// Re-optimises all epochs embedded so far jointly, from the incremental layout
    /// (`AlignedEmbedding::refine`): for when training has ended. Returns the refined embedding.
    pub fn refine(&mut self, run: &Run, ctl: &Control) -> Result<LayerEmbedding, PipelineError> {
        let ap = self.aligned_params(run)?;
        let aligned = self
            .aligned
            .as_mut()
            .ok_or_else(|| invalid("layer", format!("`{}` has no live embedding to refine yet", self.layer)))?;
        aligned.refine(&ap, ctl).map_err(from_umap_at(run, &self.layer, &self.epochs))?;
        Ok(self.embedding().expect("refined above"))
    }

    /// The engine's parameters for this layer's slices (PCA-embedded or as they are) and samples.
    fn aligned_params(&self, run: &Run) -> Result<AlignedParams, PipelineError> {
        let li = find_layer(run, &self.layer)?;
        Ok(self.params.aligned_params(self.params.uses_pca(run.layers()[li].dim, self.samples.len())))
    }

    /// The embedding so far (None before the first update).
    pub fn embedding(&self) -> Option<LayerEmbedding> {
        let aligned = self.aligned.as_ref()?;
        Some(LayerEmbedding {
            layer: self.layer.clone(),
            epochs: self.epochs.clone(),
            samples: self.samples.clone(),
            positions: aligned.embeddings().iter().flat_map(|m| m.data.iter().copied()).collect(),
        })
    }

    /// Whether the next [`LiveLayer::update`] fits all epochs afresh: nothing embedded yet, or an
    /// epoch appeared before the last one embedded.
    pub fn would_refit(&self, run: &Run) -> bool {
        let last = self.epochs.last().copied();
        self.aligned.is_none() || run.epochs().iter().any(|e| !self.epochs.contains(e) && last.is_some_and(|l| *e < l))
    }

    /// Adds every epoch of `run` not yet embedded (in ascending order) and returns the embedding so far.
    /// The first call fits all current epochs jointly; an epoch that appears before the last one
    /// embedded (out of order) triggers a full refit.
    pub fn update(&mut self, run: &Run, ctl: &Control) -> Result<LayerEmbedding, PipelineError> {
        // For the samples chosen so far (the extend branch); a first fit chooses them below.
        let ap = self.aligned_params(run)?;
        let last = self.epochs.last().copied();
        let new: Vec<u32> = run.epochs().iter().copied().filter(|e| !self.epochs.contains(e)).collect();
        let out_of_order = matches!((last, new.first()), (Some(l), Some(&f)) if f < l);
        match self.aligned.as_mut() {
            Some(aligned) if !out_of_order => {
                for e in new {
                    if cancelled(ctl) {
                        return Err(PipelineError::Cancelled);
                    }
                    let slice = load_slice(run, &self.layer, e, &self.samples, &self.params, ctl)?;
                    aligned.extend(&slice, &ap, ctl).map_err(|err| match err {
                        nm_umap::UmapError::InvalidSlice { message, .. } => {
                            from_umap_at(run, &self.layer, &[e])(nm_umap::UmapError::InvalidSlice { slice: 0, message })
                        }
                        other => from_umap(other),
                    })?;
                    self.epochs.push(e);
                }
            }
            _ => {
                self.params.validate(run)?;
                self.samples = choose_samples(run, &self.params);
                let epochs = run.epochs().to_vec();
                let slices = load_slices(run, &self.layer, &epochs, &self.samples, &self.params, ctl)?;
                let ap = self.aligned_params(run)?;
                let fitted =
                    AlignedEmbedding::fit(&slices, &ap, ctl).map_err(from_umap_at(run, &self.layer, &epochs))?;
                self.aligned = Some(fitted);
                self.epochs = epochs;
            }
        }
        Ok(self.embedding().expect("fitted above"))
    }
}
