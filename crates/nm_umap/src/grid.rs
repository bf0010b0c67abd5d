//! Aligned UMAP over a grid of slices, layer × epoch: every layer's epochs aligned along time as in
//! [`crate::aligned`], and every epoch's layers aligned to each other, so that a sample sits in
//! comparable places in adjacent layers while each plot stays faithful to its own layer.
//!
//! For slice (l, e) (layer l at epoch e, row i the same sample everywhere), the SGD's alignment
//! terms are those of an aligned fit of layer l alone (the epochs within the window, weighted
//! `λ e^{-(|o|-1)} J_i`), plus a pull towards the same sample in layers l − 1 and l + 1 at epoch e,
//! weighted `λ_layer J_i(l, l±1)`: J is again the Jaccard overlap of the sample's neighbour sets in
//! the two slices' graphs, so a sample whose neighbourhood the next layer rearranges is pulled
//! weakly, and one whose neighbourhood both layers share strongly.
//!
//! Init: each layer as an aligned fit inits it (Procrustes-chained along epochs), then each layer
//! after the first turned rigidly, all its epochs at once, onto the one before it
//! ([`crate::Rigid::fit_about_origin`] on the stacked epochs), so the SGD starts from layers that
//! already face the same way. One joint SGD then optimises all L × E slices with the usual kernel.

use crate::aligned::{alignment_weights, check_slices, pruned, scale_to_10, slice_graph, window_terms};
use crate::fuzzy::Graph;
use crate::init::initial_layout;
use crate::layout::{optimize, RegTerm, SliceSpec};
use crate::params::AlignedParams;
use crate::procrustes::Rigid;
use crate::{Control, Matrix, Stage, UmapError};

/// Fits every layer's epochs jointly, aligned along both axes. `slices[l][e]` is layer l at epoch
/// e ([N, D_l]; every slice has the same N, layers may differ in D, every layer has the same
/// number of epochs). `layer_regularisation` is λ_layer (0 leaves the layers independent but for
/// their rigid init). Returns `[l][e]` embeddings [N, n_components].
pub fn fit_grid(
    slices: &[Vec<Matrix>],
    params: &AlignedParams,
    layer_regularisation: f32,
    ctl: &Control,
) -> Result<Vec<Vec<Matrix>>, UmapError> {
    let n_layers = slices.len();
    let n_epochs = slices.first().map_or(0, Vec::len);
    if n_layers == 0 || n_epochs == 0 {
        return Err(UmapError::InvalidInput(
            "no slices given; a grid fit needs at least one layer and one epoch".into(),
        ));
    }
    if let Some(l) = slices.iter().position(|s| s.len() != n_epochs) {
        return Err(UmapError::InvalidInput(format!(
            "layer {l} has {} epochs, layer 0 has {n_epochs}; every layer needs the same epochs",
            slices[l].len()
        )));
    }
    if !(layer_regularisation.is_finite() && layer_regularisation >= 0.0) {
        return Err(crate::error::param(
            "layer_regularisation",
            format!("must be finite and >= 0, found {layer_regularisation}"),
        ));
    }
    let flat: Vec<&Matrix> = slices.iter().flatten().collect();
    let n = check_slices(&flat, None, 0)?;
    let p = params.validate(n)?;
    let slot = |l: usize, e: usize| l * n_epochs + e;
    let total = flat.len() as f32;

    let mut graphs: Vec<Graph> = Vec::with_capacity(flat.len());
    for (l, layer) in slices.iter().enumerate() {
        for (e, x) in layer.iter().enumerate() {
            if ctl.cancelled() {
                return Err(UmapError::Cancelled);
            }
            // Seeded by the epoch index as an aligned fit of this layer alone would be.
            graphs.push(slice_graph(x, &p, e));
            ctl.report(Stage::Neighbors, (slot(l, e) + 1) as f32 / total);
        }
    }
    ctl.report(Stage::FuzzyGraph, 1.0);

    let mut positions: Vec<Matrix> = Vec::with_capacity(flat.len());
    for (l, layer) in slices.iter().enumerate() {
        let first = positions.len();
        for (e, x) in layer.iter().enumerate() {
            let mut y =
                initial_layout(x, &graphs[slot(l, e)], p.n_components, p.init, p.seed ^ (0x1417_0000 + e as u64));
            scale_to_10(&mut y);
            if e > 0 {
                Rigid::fit_about_origin(&positions[first + e - 1], &y)?.apply(&mut y.data)?;
            }
            positions.push(y);
            ctl.report(Stage::Init, (slot(l, e) + 1) as f32 / total);
        }
        if l > 0 {
            let (done, this) = positions.split_at_mut(first);
            turn_onto(&mut this[..n_epochs], &done[first - n_epochs..])?;
        }
    }

    let mut specs_reg: Vec<Vec<RegTerm>> = Vec::with_capacity(flat.len());
    for l in 0..n_layers {
        let layer_graphs = &graphs[slot(l, 0)..slot(l, 0) + n_epochs];
        for (e, mut reg) in window_terms(layer_graphs, params).into_iter().enumerate() {
            reg.iter_mut().for_each(|t| t.other = slot(l, t.other));
            for m in [l.wrapping_sub(1), l + 1] {
                if m < n_layers && layer_regularisation > 0.0 {
                    // Offset 1: the weight is λ_layer J_i, with no decay.
                    let coef = alignment_weights(&graphs[slot(l, e)], &graphs[slot(m, e)], 1, layer_regularisation);
                    reg.push(RegTerm { other: slot(m, e), coef });
                }
            }
            specs_reg.push(reg);
        }
    }
    let pruned_graphs: Vec<Graph> = graphs.iter().map(|g| pruned(g, &p)).collect();
    let specs: Vec<SliceSpec> = specs_reg
        .into_iter()
        .enumerate()
        .map(|(s, reg)| SliceSpec { graph: &pruned_graphs[s], slot: s, reg })
        .collect();
    optimize(&mut positions, &specs, &p, p.seed, ctl)?;

    let mut out: Vec<Vec<Matrix>> = Vec::with_capacity(n_layers);
    let mut it = positions.into_iter();
    for _ in 0..n_layers {
        out.push(it.by_ref().take(n_epochs).collect());
    }
    Ok(out)
}

/// Turns `moving`'s epochs, all by one rotation (orthogonal Procrustes on the stacked epochs, about
/// the origin: inits are centred by construction), onto `base`'s.
fn turn_onto(moving: &mut [Matrix], base: &[Matrix]) -> Result<(), UmapError> {
    let stack = |ms: &[Matrix]| Matrix {
        n_rows: ms.iter().map(|m| m.n_rows).sum(),
        n_cols: ms[0].n_cols,
        data: ms.iter().flat_map(|m| m.data.iter().copied()).collect(),
    };
    let turn = Rigid::fit_about_origin(&stack(base), &stack(moving))?;
    for m in moving.iter_mut() {
        turn.apply(&mut m.data)?;
    }
    Ok(())
}
