//! Rigid alignment of a whole embedding onto a reference view (one rotation or reflection plus a
//! shift for all epochs), so a recomputed view replaces a shown one without turning over. The
//! motion itself is the engine's orthogonal Procrustes ([`nm_umap::Rigid`]); this module chooses
//! the points it is fitted on (the epochs both views have) and applies it to a whole view.

use nm_umap::{Matrix, Rigid};

use crate::LayerEmbedding;

/// The motion that brings `emb` as close as possible to `reference` over the epochs and samples
/// both have ([`Rigid::fit`] on all those points at once). None when they share no epoch or hold
/// different samples.
pub(crate) fn fit_frame(emb: &LayerEmbedding, reference: &LayerEmbedding) -> Option<Rigid> {
    if emb.samples.is_empty() || emb.samples != reference.samples {
        return None;
    }
    let pairs: Vec<(usize, usize)> = emb
        .epochs
        .iter()
        .enumerate()
        .filter_map(|(i, e)| reference.epochs.iter().position(|r| r == e).map(|j| (i, j)))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let rows = pairs.len() * emb.samples.len();
    let moving: Vec<f32> = pairs.iter().flat_map(|&(i, _)| emb.slice(i).iter().copied()).collect();
    let base: Vec<f32> = pairs.iter().flat_map(|&(_, j)| reference.slice(j).iter().copied()).collect();
    Rigid::fit(&Matrix::new(rows, 2, base).ok()?, &Matrix::new(rows, 2, moving).ok()?).ok()
}

/// Moves `emb` rigidly (one rotation or reflection plus one translation for all its epochs, so
/// distances and trajectories are unchanged) to lie as close as possible to `reference`
/// ([`Rigid::fit`]). Used when a recomputed embedding replaces one the user has been looking at, so
/// the view does not turn over. Returns false, leaving `emb` as it is, when they share no epoch or
/// hold different samples.
pub fn align_rigidly(emb: &mut LayerEmbedding, reference: &LayerEmbedding) -> bool {
    match fit_frame(emb, reference) {
        Some(m) => m.apply(&mut emb.positions).is_ok(),
        None => false,
    }
}
