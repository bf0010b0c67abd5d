//! Rigid alignment of a whole embedding onto a reference view (one rotation or reflection plus a
//! shift for all epochs), so a recomputed view replaces a shown one without turning over.

use crate::LayerEmbedding;

/// A rigid motion of the plane: `p ↦ (p − from) · R + to`, R a rotation or a reflection
/// (row vectors; `r` = [R00, R01, R10, R11]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rigid {
    from: [f64; 2],
    r: [f64; 4],
    to: [f64; 2],
}

impl Rigid {
    /// Applies the motion to every position of `emb` (all epochs).
    pub fn apply(&self, emb: &mut LayerEmbedding) {
        let Rigid { from, r, to } = *self;
        for p in emb.positions.chunks_mut(2) {
            let (x, y) = (p[0] as f64 - from[0], p[1] as f64 - from[1]);
            p[0] = (x * r[0] + y * r[2] + to[0]) as f32;
            p[1] = (x * r[1] + y * r[3] + to[1]) as f32;
        }
    }

    /// The motion that brings `emb` as close as possible to `reference` over the epochs and samples
    /// both have (orthogonal Procrustes on all those points at once). None when they share no epoch
    /// or hold different samples.
    pub fn fit(emb: &LayerEmbedding, reference: &LayerEmbedding) -> Option<Rigid> {
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
        let mean = |v: &[f32]| -> [f64; 2] {
            let k = (v.len() / 2) as f64;
            let (sx, sy) = v.chunks(2).fold((0f64, 0f64), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
            [sx / k, sy / k]
        };
        let moving: Vec<f32> = pairs.iter().flat_map(|&(i, _)| emb.slice(i).iter().copied()).collect();
        let base: Vec<f32> = pairs.iter().flat_map(|&(_, j)| reference.slice(j).iter().copied()).collect();
        let (mm, mb) = (mean(&moving), mean(&base));
        // M = Σ pᵀq over the centred pairs; with row vectors (p · R), the best rotation and the best
        // reflection in 2-D have closed forms: trace(RᵀM) = c·(M00 ± M11) + s·(M01 ∓ M10).
        let mut m = [0f64; 4];
        for (p, q) in moving.chunks(2).zip(base.chunks(2)) {
            let (px, py) = (p[0] as f64 - mm[0], p[1] as f64 - mm[1]);
            let (qx, qy) = (q[0] as f64 - mb[0], q[1] as f64 - mb[1]);
            m[0] += px * qx;
            m[1] += px * qy;
            m[2] += py * qx;
            m[3] += py * qy;
        }
        let (rot_c, rot_s) = (m[0] + m[3], m[1] - m[2]);
        let (ref_c, ref_s) = (m[0] - m[3], m[1] + m[2]);
        let r = if rot_c.hypot(rot_s) >= ref_c.hypot(ref_s) {
            let t = rot_s.atan2(rot_c);
            [t.cos(), t.sin(), -t.sin(), t.cos()]
        } else {
            let t = ref_s.atan2(ref_c);
            [t.cos(), t.sin(), t.sin(), -t.cos()]
        };
        Some(Rigid { from: mm, r, to: mb })
    }
}

/// Moves `emb` rigidly (one rotation or reflection plus one translation for all its epochs, so
/// distances and trajectories are unchanged) to lie as close as possible to `reference`
/// ([`Rigid::fit`]). Used when a recomputed embedding replaces one the user has been looking at, so
/// the view does not turn over. Returns false, leaving `emb` as it is, when they share no epoch or
/// hold different samples.
pub fn align_rigidly(emb: &mut LayerEmbedding, reference: &LayerEmbedding) -> bool {
    match Rigid::fit(emb, reference) {
        Some(m) => {
            m.apply(emb);
            true
        }
        None => false,
    }
}
