//! Stage 6: Aligned UMAP, composed from the single-UMAP stages.
//!
//! For slices X_0..X_{S-1} of the same N samples (identity relations: row i is sample i everywhere):
//! 1. per slice: k-NN ([`crate::knn`]) and fuzzy graph ([`crate::fuzzy`]);
//! 2. alignment weights: for each slice s and offset o with 0 < |o| <= w (both signs: unlike
//!    umap-learn, which skips +w, the window is symmetric), point i is pulled towards its position
//!    in slice s+o with weight `λ e^{-(|o|-1)} J_i(s, s+o)`, J the Jaccard overlap of i's neighbour
//!    sets in the two graphs (umap-learn's `build_neighborhood_similarities`);
//! 3. init: slice 0 by the chosen init scaled to max |coord| = 10; each later slice likewise, then
//!    rotated onto the previous one by orthogonal Procrustes ([`Rigid::fit_about_origin`]);
//! 4. one joint SGD over all slices ([`crate::layout::optimize`]) with the user's min_dist, spread,
//!    negative_sample_rate, learning_rate and n_epochs (umap-learn's aligned optimiser ignores them).
//!
//! [`AlignedEmbedding::extend`] adds one slice: its graph, its alignment weights towards the last w
//! slices, an init copied from the last slice's layout, and an SGD of that slice alone against the
//! frozen earlier ones.

use crate::fuzzy::{fuzzy_simplicial_set, Graph};
use crate::init::initial_layout;
use crate::knn::nearest_neighbors;
use crate::layout::{optimize, RegTerm, SliceSpec};
use crate::params::{check_input, AlignedParams, ValidParams, LARGE_DATA_EPOCHS};
use crate::procrustes::Rigid;
use crate::{Control, Matrix, Stage, UmapError};
use rayon::prelude::*;

/// Aligned UMAP over slices (identity relations: row i is the same sample in every slice).
pub struct AlignedEmbedding {
    /// Unpruned fuzzy graph of every slice (kept for the alignment weights of later slices).
    graphs: Vec<Graph>,
    embeddings: Vec<Matrix>,
}

/// |A ∩ B| / |A ∪ B| of two ascending index lists; 1 when both are empty.
fn jaccard(a: &[u32], b: &[u32]) -> f32 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f32 / union as f32
    }
}

/// Alignment weights of `g` towards `other` at slice offset `offset` (!= 0): λ e^{-(|o|-1)} J_i.
pub fn alignment_weights(g: &Graph, other: &Graph, offset: isize, lambda: f32) -> Vec<f32> {
    let scale = lambda * (-((offset.unsigned_abs() as f32) - 1.0)).exp();
    (0..g.n_vertices).into_par_iter().map(|i| scale * jaccard(g.neighbors(i), other.neighbors(i))).collect()
}

pub(crate) fn slice_graph(x: &Matrix, p: &ValidParams, s: usize) -> Graph {
    let knn = nearest_neighbors(x, p.n_neighbors, p.metric, p.seed ^ (0x5EED_0000 + s as u64));
    fuzzy_simplicial_set(&knn, p.local_connectivity, p.set_op_mix_ratio)
}

/// The alignment terms of every slice: its neighbours within the window, on both sides.
pub(crate) fn window_terms(graphs: &[Graph], params: &AlignedParams) -> Vec<Vec<RegTerm>> {
    let ns = graphs.len() as isize;
    let w = params.alignment_window_size as isize;
    (0..ns)
        .map(|s| {
            (-w..=w)
                .filter(|&o| o != 0 && (0..ns).contains(&(s + o)))
                .map(|o| {
                    let t = (s + o) as usize;
                    RegTerm {
                        other: t,
                        coef: alignment_weights(&graphs[s as usize], &graphs[t], o, params.alignment_regularisation),
                    }
                })
                .collect()
        })
        .collect()
}

/// Optimises every slice's layout at once, each aligned with its neighbours on both sides within the
/// window: the layout stage of a full fit, and all of [`AlignedEmbedding::refine`].
fn optimize_jointly(
    positions: &mut [Matrix],
    graphs: &[Graph],
    params: &AlignedParams,
    p: &ValidParams,
    seed: u64,
    ctl: &Control,
) -> Result<(), UmapError> {
    let pruned_graphs: Vec<Graph> = graphs.iter().map(|g| pruned(g, p)).collect();
    let specs: Vec<SliceSpec> = window_terms(graphs, params)
        .into_iter()
        .enumerate()
        .map(|(s, reg)| SliceSpec { graph: &pruned_graphs[s], slot: s, reg })
        .collect();
    optimize(positions, &specs, p, seed, ctl)
}

pub(crate) fn pruned(g: &Graph, p: &ValidParams) -> Graph {
    let mut g = g.clone();
    g.prune(p.n_epochs, LARGE_DATA_EPOCHS);
    g
}

/// Scale so that max |coord| = 10 (umap-learn's aligned init).
pub(crate) fn scale_to_10(m: &mut Matrix) {
    let big = m.data.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    if big > 0.0 {
        m.data.iter_mut().for_each(|v| *v *= 10.0 / big);
    }
}

pub(crate) fn check_slices(slices: &[&Matrix], n0: Option<usize>, first_index: usize) -> Result<usize, UmapError> {
    let n = n0.unwrap_or(slices.first().map_or(0, |m| m.n_rows));
    for (t, m) in slices.iter().enumerate() {
        let s = first_index + t;
        check_input(m, "the slice").map_err(|e| match e {
            UmapError::InvalidInput(message) => UmapError::InvalidSlice { slice: s, message },
            other => other,
        })?;
        if m.n_rows != n {
            return Err(UmapError::InvalidSlice {
                slice: s,
                message: format!(
                    "{} rows, but slice 0 has {n}; with identity relations every slice must hold the same samples in the same order",
                    m.n_rows
                ),
            });
        }
    }
    Ok(n)
}

fn report(ctl: &Control, stage: Stage, frac: f32) {
    ctl.report(stage, frac);
}

impl AlignedEmbedding {
    /// Fit all slices jointly. Errors on no slices, an empty or invalid slice, slices of different N,
    /// or invalid parameters; `UmapError::Cancelled` if `ctl.cancel` is set.
    pub fn fit(slices: &[Matrix], params: &AlignedParams, ctl: &Control) -> Result<Self, UmapError> {
        if slices.is_empty() {
            return Err(UmapError::InvalidInput("no slices given; Aligned UMAP needs at least one".into()));
        }
        let refs: Vec<&Matrix> = slices.iter().collect();
        let n = check_slices(&refs, None, 0)?;
        let p = params.validate(n)?;
        let ns = slices.len();
        let mut graphs = Vec::with_capacity(ns);
        for (s, x) in slices.iter().enumerate() {
            if ctl.cancelled() {
                return Err(UmapError::Cancelled);
            }
            graphs.push(slice_graph(x, &p, s));
            report(ctl, Stage::Neighbors, (s + 1) as f32 / ns as f32);
        }
        report(ctl, Stage::FuzzyGraph, 1.0);
        let mut positions: Vec<Matrix> = Vec::with_capacity(ns);
        for (s, x) in slices.iter().enumerate() {
            let mut y = initial_layout(x, &graphs[s], p.n_components, p.init, p.seed ^ (0x1417_0000 + s as u64));
            scale_to_10(&mut y);
            if let Some(prev) = positions.last() {
                Rigid::fit_about_origin(prev, &y)?.apply(&mut y.data)?;
            }
            positions.push(y);
            report(ctl, Stage::Init, (s + 1) as f32 / ns as f32);
        }
        optimize_jointly(&mut positions, &graphs, params, &p, p.seed, ctl)?;
        Ok(AlignedEmbedding { graphs, embeddings: positions })
    }

    /// Re-optimises every slice jointly, starting from the current layout, with the symmetric
    /// alignment window of a full fit: after a series of [`AlignedEmbedding::extend`]s, which never
    /// revisit an earlier slice, this lets each slice settle against its neighbours on both sides
    /// while keeping the arrangement the incremental layout already has (a full fit starts over and
    /// may arrange the clusters differently). The graphs are reused, so it costs the layout only.
    pub fn refine(&mut self, params: &AlignedParams, ctl: &Control) -> Result<(), UmapError> {
        let n = self.embeddings[0].n_rows;
        let p = self.validate_like_fit(params, n, "refine")?;
        report(ctl, Stage::Init, 1.0);
        optimize_jointly(&mut self.embeddings, &self.graphs, params, &p, p.seed ^ 0x5EF1_0E00, ctl)
    }

    /// Incremental update: add one slice (a new epoch), optimising only it against the frozen
    /// earlier ones, starting from the previous slice's layout. Costs about one slice of a full fit.
    pub fn extend(&mut self, slice: &Matrix, params: &AlignedParams, ctl: &Control) -> Result<(), UmapError> {
        let ns = self.embeddings.len();
        let n = check_slices(&[slice], Some(self.embeddings[0].n_rows), ns)?;
        let p = self.validate_like_fit(params, n, "extend")?;
        let g = slice_graph(slice, &p, ns);
        report(ctl, Stage::Neighbors, 1.0);
        report(ctl, Stage::FuzzyGraph, 1.0);
        let w = params.alignment_window_size;
        let mut reg = Vec::new();
        for o in 1..=w.min(ns) {
            let t = ns - o;
            reg.push(RegTerm {
                other: t,
                coef: alignment_weights(&g, &self.graphs[t], -(o as isize), params.alignment_regularisation),
            });
        }
        let mut positions = self.embeddings.clone();
        positions.push(self.embeddings[ns - 1].clone());
        report(ctl, Stage::Init, 1.0);
        let pg = pruned(&g, &p);
        let specs = [SliceSpec { graph: &pg, slot: ns, reg }];
        optimize(&mut positions, &specs, &p, p.seed, ctl)?;
        self.embeddings.push(positions.pop().expect("pushed above"));
        self.graphs.push(g);
        Ok(())
    }

    /// `params` validated for N = `n`, with the fit's n_components (`what` names the caller).
    fn validate_like_fit(&self, params: &AlignedParams, n: usize, what: &str) -> Result<ValidParams, UmapError> {
        let p = params.validate(n)?;
        let fitted = self.embeddings[0].n_cols;
        if p.n_components != fitted {
            return Err(crate::error::param(
                "n_components",
                format!("{what} needs the n_components of the fit ({fitted}), found {}", p.n_components),
            ));
        }
        Ok(p)
    }

    /// One [N, n_components] embedding per slice, in slice order.
    pub fn embeddings(&self) -> &[Matrix] {
        &self.embeddings
    }
}
