//! Stage 5: the layout SGD, with umap-learn's schedule, for one or many (aligned) slices.
//!
//! Forces, for embedded points y_i, y_j at squared distance d² (a, b from [`crate::curve`]):
//! * attraction along each sampled edge: `-2ab d^{2(b-1)} / (1 + a d^{2b}) · (y_i - y_j)`;
//! * repulsion from each negative sample: `2γb / ((0.001 + d²)(1 + a d^{2b})) · (y_i - y_j)`;
//! * alignment (Aligned UMAP only), for every nearby slice s' at offset o (|o| <= window):
//!   `-λ e^{-(|o|-1)} J_i(s, s') · (y_i - y'_i)` where J is the Jaccard overlap of i's neighbourhoods.
//!
//! Every term is clipped to [-4, 4] per coordinate; the step is `α·force` with α decaying
//! linearly from learning_rate to 0 over n_epochs. Edge e of weight w is sampled every
//! `max(w)/w` epochs, and each sample draws `negative_sample_rate` negatives (umap-learn's
//! epochs_per_sample / epochs_per_negative_sample bookkeeping).
//!
//! # Determinism and parallelism
//! Two schedules, both giving output that depends only on the seed, never on how the work is split
//! between threads (byte-identical for 1, 2 or 64 threads):
//! * **Several slices (Aligned UMAP): one task per slice** ([`EpochReads::LivePerSlice`]), the
//!   slices in parallel. Within its slice a task visits the vertices in order, as umap-learn's
//!   optimiser does: it reads its own slice's positions live and moves *both* ends of every sampled
//!   edge (one attractive step each, the tail's taken from the head's new position). The alignment
//!   pull reads the other slices from a snapshot taken at the start of the epoch.
//! * **One slice: vertex blocks in parallel** ([`EpochReads::Snapshot`]). Each vertex is updated
//!   only by the pass over its own edges ("head-only"); since the graph is symmetric, edge (i, j) is
//!   listed under both i and j, so the attractive step is applied twice ([`ATTRACTION_STEPS`]) to
//!   keep umap-learn's balance of forces. Every vertex reads the *other* points from the snapshot,
//!   and its own position live.
//!
//! Why aligned fits do not use the blocks: measured on real training runs (`bench_engine` against
//! umap-learn's AlignedUMAP, scored by shared/bench/score.py), a layout whose attraction lands on
//! the head alone, twice as large, and one that reads its own slice from a snapshot each end up
//! noisier after the same 200 epochs: rebuilt in umap-learn's own optimiser, either change alone
//! raised its epoch-to-epoch movement on a digits CNN layer from 0.054 to 0.095 (head-only) or
//! 0.083 (snapshot), at equal trustworthiness. For a single slice that noise is invisible (there is
//! no next epoch to move to) and the blocks keep every core busy.
//!
//! Negative samples come from a random stream keyed by (seed, slice, epoch, vertex); the forces of
//! one positive sample's negatives are computed from the same position and applied together
//! (their long dependency chains then overlap); a vertex never repels itself.
//!
//! Cost of determinism (this crate's `determinism_cost` example): see the crate docs, section
//! "Determinism".

use crate::fuzzy::Graph;
use crate::params::ValidParams;
use crate::rng::Rng;
use crate::{Control, Matrix, Stage, UmapError};
use rayon::prelude::*;
use std::sync::atomic::Ordering;

/// Gradient clip per coordinate (umap-learn's `clip`).
pub const GRAD_CLIP: f32 = 4.0;
/// Attractive steps per positive sample of a head in the single-slice schedule: 2, standing for
/// umap-learn's move of the head and of the tail (that schedule moves heads only; see the module
/// docs). Also the alignment pull's weight for those two moves, in both schedules.
pub const ATTRACTION_STEPS: f32 = 2.0;
/// Vertices per parallel work unit.
const LAYOUT_BLOCK: usize = 256;
/// Negative samples whose forces are computed together (from the same position).
const NEG_BATCH: usize = 8;
/// Output dimensions up to which a batch's repulsive steps are summed before being applied.
const MAX_FAST_DIM: usize = 8;
/// Added to d² in the repulsive force (umap-learn's constant).
const REPULSION_EPS: f32 = 0.001;

#[inline(always)]
fn clip(x: f32) -> f32 {
    x.clamp(-GRAD_CLIP, GRAD_CLIP)
}

#[cfg(test)]
mod tests {
    #[test]
    fn force_table_matches_the_formulas() {
        let (a, b, g) = (1.576_943_5_f32, 0.895_060_9_f32, 1.0f32);
        let t = super::ForceTable::new(a, b, g);
        for i in 0..4000 {
            let d2 = 1e-7f32 * 1.011f32.powi(i);
            let pb = (d2 as f64).powf(b as f64);
            let att = -2.0 * (a * b) as f64 * pb / d2 as f64 / (a as f64 * pb + 1.0);
            let rep = 2.0 * (g * b) as f64 / ((0.001 + d2 as f64) * (a as f64 * pb + 1.0));
            assert!(((t.attraction(d2) as f64 - att) / att).abs() < 1e-4, "att at {d2}");
            assert!(((t.repulsion(d2) as f64 - rep) / rep).abs() < 1e-4, "rep at {d2}");
        }
    }

    #[test]
    fn fast_pow_is_accurate() {
        for &p in &[0.895_060_9_f32, 1.803, 0.5, 1.0] {
            for i in 0..2000 {
                let x = 1e-6f32 * 1.013f32.powi(i);
                let (f, r) = (super::fast_pow(x, p), x.powf(p));
                assert!(((f - r) / r).abs() < 1e-5, "{x}^{p}: {f} vs {r}");
            }
        }
    }
}

/// Alignment pull of one slice towards another (same point indices, identity relations).
#[derive(Clone, Debug)]
pub struct RegTerm {
    /// Index, in the positions array, of the slice pulled towards.
    pub other: usize,
    /// Per vertex: λ e^{-(|offset|-1)} J_i.
    pub coef: Vec<f32>,
}

/// One slice to optimise: its graph (pruned), its index in the positions array, its alignment terms.
pub struct SliceSpec<'g> {
    pub graph: &'g Graph,
    pub slot: usize,
    pub reg: Vec<RegTerm>,
}

/// A block of consecutive vertices of one slice and the sampling state of their edges.
struct Block {
    spec: usize,
    v0: usize,
    v1: usize,
    /// Edge range of each vertex, local: edges of v are offs[v-v0]..offs[v-v0+1].
    offs: Vec<u32>,
    tails: Vec<u32>,
    eps: Vec<f32>,
    next: Vec<f32>,
    eps_neg: Vec<f32>,
    next_neg: Vec<f32>,
}

impl Block {
    /// How many negative samples edge `e` is owed at `epoch` (umap-learn's schedule; capped so a
    /// degenerate rate cannot ask for billions).
    #[inline(always)]
    fn negatives_due(&self, e: usize, epoch: f32) -> usize {
        let n = ((epoch - self.next_neg[e]) / self.eps_neg[e]).min(1e9);
        if n > 0.0 {
            n as usize
        } else {
            0
        }
    }
}

fn build_blocks(specs: &[SliceSpec], neg_rate: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    for (s, spec) in specs.iter().enumerate() {
        let g = spec.graph;
        let wmax = g.max_weight();
        let n = g.n_vertices;
        let mut v0 = 0;
        while v0 < n {
            let v1 = (v0 + LAYOUT_BLOCK).min(n);
            let (e0, e1) = (g.indptr[v0], g.indptr[v1]);
            let offs = (v0..=v1).map(|v| (g.indptr[v] - e0) as u32).collect();
            let tails = g.indices[e0..e1].to_vec();
            let eps: Vec<f32> =
                g.weights[e0..e1].iter().map(|&w| if w > 0.0 { wmax / w } else { f32::INFINITY }).collect();
            let eps_neg: Vec<f32> =
                eps.iter().map(|&e| if neg_rate > 0 { e / neg_rate as f32 } else { f32::INFINITY }).collect();
            blocks.push(Block {
                spec: s,
                v0,
                v1,
                offs,
                tails,
                next: eps.clone(),
                next_neg: eps_neg.clone(),
                eps,
                eps_neg,
            });
            v0 = v1;
        }
    }
    blocks
}

/// Constants of one epoch.
struct EpochCtx<'a> {
    forces: &'a ForceTable,
    alpha: f32,
    epoch: usize,
    seed: u64,
    dim: usize,
    snap: &'a [Matrix],
}

/// `x^p` for x > 0 as `2^(p·log2 x)`, with log2 by the atanh series around the mantissa and 2^f by
/// a degree-6 polynomial: relative error below 1e-5, several times faster than `powf`.
#[inline(always)]
pub(crate) fn fast_pow(x: f32, p: f32) -> f32 {
    let x = x.max(1e-30);
    let bits = x.to_bits();
    // x = 2^e · m with m in [sqrt(1/2), sqrt(2)).
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = ((bits >> 23) & 0xff) as i32 - 127 + big as i32;
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    // ln m = 2 atanh t = 2t (1 + t²/3 + t⁴/5 + t⁶/7 + t⁸/9)
    let ln_m = 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0)))));
    let y = p * (e as f32 + ln_m * std::f32::consts::LOG2_E);
    let y = y.clamp(-126.0, 126.0);
    let yi = floor_i32(y);
    let f = (y - yi as f32) * std::f32::consts::LN_2; // 2^(y - yi) = e^f, f in [0, ln 2)
    let ef = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f * (1.0 / 5040.0)))))));
    ef * f32::from_bits(((yi + 127) as u32) << 23)
}

/// floor(x) for |x| < 2^31 without a libm call (baseline x86-64 has no rounding instruction).
#[inline(always)]
fn floor_i32(x: f32) -> i32 {
    let t = x as i32;
    t - ((t as f32) > x) as i32
}

/// log2 of the smallest and (exclusive) largest d² held in the force tables.
const TABLE_MIN_LOG2: i32 = -20;
const TABLE_MAX_LOG2: i32 = 20;
/// Table nodes per octave of d² (2^7): linear interpolation error ~1e-5 relative.
const TABLE_STEPS_LOG2: u32 = 7;

/// The two force coefficients tabulated against d² (nodes evenly spaced in each octave, linear
/// interpolation between them), built once per optimisation from a, b and γ:
/// attraction `-2ab d^{2(b-1)} / (1 + a d^{2b})`, repulsion `2γb / ((0.001 + d²)(1 + a d^{2b}))`.
/// Outside [2^-20, 2^20) they are computed directly. A lookup is a few instructions where a `powf`
/// is a chain of ~100 cycles; the SGD spends most of its time here.
pub(crate) struct ForceTable {
    a: f32,
    b: f32,
    gamma: f32,
    base_top: u32,
    att: Vec<f32>,
    rep: Vec<f32>,
}

impl ForceTable {
    pub(crate) fn new(a: f32, b: f32, gamma: f32) -> Self {
        let base = 2f32.powi(TABLE_MIN_LOG2);
        let base_top = base.to_bits() >> (23 - TABLE_STEPS_LOG2);
        let n = ((TABLE_MAX_LOG2 - TABLE_MIN_LOG2) as usize) << TABLE_STEPS_LOG2;
        let (mut att, mut rep) = (Vec::with_capacity(n + 1), Vec::with_capacity(n + 1));
        for i in 0..=n as u32 {
            let d2 = f32::from_bits((base_top + i) << (23 - TABLE_STEPS_LOG2)) as f64;
            let (a, b, g) = (a as f64, b as f64, gamma as f64);
            let pb = d2.powf(b);
            att.push((-2.0 * a * b * pb / d2 / (a * pb + 1.0)) as f32);
            rep.push((2.0 * g * b / ((REPULSION_EPS as f64 + d2) * (a * pb + 1.0))) as f32);
        }
        ForceTable { a, b, gamma, base_top, att, rep }
    }

    /// (index, fraction) of d² in the tables, or None outside their range.
    #[inline(always)]
    fn locate(&self, d2: f32) -> Option<(usize, f32)> {
        let bits = d2.to_bits();
        let idx = (bits >> (23 - TABLE_STEPS_LOG2)).wrapping_sub(self.base_top) as usize;
        if idx < self.att.len() - 1 {
            let frac =
                (bits & ((1 << (23 - TABLE_STEPS_LOG2)) - 1)) as f32 * (1.0 / (1u32 << (23 - TABLE_STEPS_LOG2)) as f32);
            Some((idx, frac))
        } else {
            None
        }
    }

    /// Attraction coefficient for d² > 0.
    #[inline(always)]
    pub(crate) fn attraction(&self, d2: f32) -> f32 {
        match self.locate(d2) {
            Some((i, f)) => self.att[i] + f * (self.att[i + 1] - self.att[i]),
            None => {
                let pb = fast_pow(d2, self.b);
                -2.0 * self.a * self.b * (pb / d2) / (self.a * pb + 1.0)
            }
        }
    }

    /// Repulsion coefficient for d² > 0.
    #[inline(always)]
    pub(crate) fn repulsion(&self, d2: f32) -> f32 {
        match self.locate(d2) {
            Some((i, f)) => self.rep[i] + f * (self.rep[i + 1] - self.rep[i]),
            None => 2.0 * self.gamma * self.b / ((REPULSION_EPS + d2) * (self.a * fast_pow(d2, self.b) + 1.0)),
        }
    }
}

/// Vertex v's alignment targets: (coefficient, v's position in the other slice, from the epoch's
/// snapshot) for every term with a pull.
#[inline(always)]
fn pull_targets<'a>(spec: &SliceSpec, v: usize, snap: &'a [Matrix], out: &mut Vec<(f32, &'a [f32])>) {
    out.clear();
    for t in &spec.reg {
        let c = t.coef[v];
        if c > 0.0 {
            out.push((c, snap[t.other].row(v)));
        }
    }
}

/// The alignment pull on `cur` ([dim]) towards `targets`, as `steps` clipped steps at once.
#[inline(always)]
fn apply_pull(cur: &mut [f32], targets: &[(f32, &[f32])], steps: f32, dim: usize) {
    for d in 0..dim {
        let g: f32 = targets.iter().map(|&(c, y)| clip(c * (cur[d] - y[d]))).sum();
        cur[d] -= steps * g;
    }
}

/// One epoch for one block: rows `out` ([v1-v0, dim], holding the start-of-epoch positions) are
/// updated in place; every other position is read from the snapshot.
///
/// The alignment pull, which umap-learn adds to every attractive and repulsive step of a head, is
/// applied once per positive sample with the weight of all those steps (ATTRACTION_STEPS + number
/// of negative samples): λ ≤ 0.01 makes the pull far too weak for the order to matter, and it
/// saves most of the alignment cost.
#[inline(always)]
fn block_epoch_dim(blk: &mut Block, spec: &SliceSpec, out: &mut [f32], cx: &EpochCtx, dim: usize) {
    let me = &cx.snap[spec.slot];
    let n = me.n_rows;
    let epoch = cx.epoch as f32;
    let mut reg: Vec<(f32, &[f32])> = Vec::with_capacity(spec.reg.len());
    for v in blk.v0..blk.v1 {
        let cur = &mut out[(v - blk.v0) * dim..(v - blk.v0 + 1) * dim];
        pull_targets(spec, v, cx.snap, &mut reg);
        let mut rng = Rng::keyed(cx.seed, &[spec.slot as u64, cx.epoch as u64, v as u64]);
        let (e0, e1) = (blk.offs[v - blk.v0] as usize, blk.offs[v - blk.v0 + 1] as usize);
        for e in e0..e1 {
            if blk.next[e] > epoch {
                continue;
            }
            let other = me.row(blk.tails[e] as usize);
            let mut d2 = 0.0;
            for d in 0..dim {
                d2 += (cur[d] - other[d]) * (cur[d] - other[d]);
            }
            let coef = if d2 > 0.0 { cx.forces.attraction(d2) } else { 0.0 };
            for d in 0..dim {
                cur[d] += ATTRACTION_STEPS * clip(coef * (cur[d] - other[d])) * cx.alpha;
            }
            blk.next[e] += blk.eps[e];
            let n_neg = blk.negatives_due(e, epoch);
            // Negative samples in batches: the forces of a batch are computed from the same
            // position, so their (long) dependency chains overlap instead of queueing.
            let mut left = n_neg;
            while left > 0 {
                let cnt = left.min(NEG_BATCH);
                left -= cnt;
                let mut ks = [0usize; NEG_BATCH];
                let mut d2s = [0f32; NEG_BATCH];
                for t in 0..cnt {
                    ks[t] = rng.below(n);
                    let other = me.row(ks[t]);
                    let mut d2 = 0.0;
                    for d in 0..dim {
                        d2 += (cur[d] - other[d]) * (cur[d] - other[d]);
                    }
                    d2s[t] = d2;
                }
                let mut coefs = [0f32; NEG_BATCH];
                for t in 0..NEG_BATCH {
                    let d2 = d2s[t];
                    coefs[t] = if d2 > 0.0 { cx.forces.repulsion(d2) } else { 0.0 };
                }
                let mut step = [0f32; MAX_FAST_DIM];
                for t in 0..cnt {
                    let other = me.row(ks[t]);
                    for d in 0..dim.min(MAX_FAST_DIM) {
                        step[d] += clip(coefs[t] * (cur[d] - other[d]));
                    }
                    for d in MAX_FAST_DIM..dim {
                        cur[d] += clip(coefs[t] * (cur[d] - other[d])) * cx.alpha;
                    }
                }
                for d in 0..dim.min(MAX_FAST_DIM) {
                    cur[d] += step[d] * cx.alpha;
                }
            }
            blk.next_neg[e] += n_neg as f32 * blk.eps_neg[e];
            if !reg.is_empty() {
                apply_pull(cur, &reg, (ATTRACTION_STEPS + n_neg as f32) * cx.alpha, dim);
            }
        }
    }
}

/// [`block_epoch_dim`] with the common output dimensions as constants (so the loops unroll).
#[inline(always)]
fn block_epoch_generic(blk: &mut Block, spec: &SliceSpec, out: &mut [f32], cx: &EpochCtx) {
    match cx.dim {
        2 => block_epoch_dim(blk, spec, out, cx, 2),
        3 => block_epoch_dim(blk, spec, out, cx, 3),
        d => block_epoch_dim(blk, spec, out, cx, d),
    }
}

/// The kernel compiled for AVX2 (no fused multiply-adds are written, so the results are
/// bit-identical to the portable build).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_epoch_avx2(blk: &mut Block, spec: &SliceSpec, out: &mut [f32], cx: &EpochCtx) {
    block_epoch_generic(blk, spec, out, cx);
}

fn block_epoch(blk: &mut Block, spec: &SliceSpec, out: &mut [f32], cx: &EpochCtx) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked at run time just above).
        unsafe { block_epoch_avx2(blk, spec, out, cx) };
        return;
    }
    block_epoch_generic(blk, spec, out, cx);
}

fn refresh(snap: &mut [Matrix], slot: usize, v0: usize, v1: usize, dim: usize, rows: &[f32]) {
    snap[slot].data[v0 * dim..v1 * dim].copy_from_slice(rows);
}

/// One epoch of one whole slice on one thread, umap-learn's way ([`EpochReads::LivePerSlice`]): its
/// vertices in order, each reading its own slice's positions live and moving both ends of every
/// sampled edge (one attractive step each, the tail's from the head's new position); other slices
/// are read from the epoch's snapshot. `pos` is the slice's [n, dim] positions.
#[inline(always)]
fn slice_epoch_dim(blocks: &mut [Block], spec: &SliceSpec, pos: &mut [f32], cx: &EpochCtx, dim: usize) {
    let n = pos.len() / dim;
    let epoch = cx.epoch as f32;
    let mut reg: Vec<(f32, &[f32])> = Vec::with_capacity(spec.reg.len());
    let mut cur = vec![0f32; dim];
    let mut step = vec![0f32; dim];
    for blk in blocks.iter_mut() {
        for v in blk.v0..blk.v1 {
            pull_targets(spec, v, cx.snap, &mut reg);
            cur.copy_from_slice(&pos[v * dim..(v + 1) * dim]);
            let mut rng = Rng::keyed(cx.seed, &[spec.slot as u64, cx.epoch as u64, v as u64]);
            let (e0, e1) = (blk.offs[v - blk.v0] as usize, blk.offs[v - blk.v0 + 1] as usize);
            for e in e0..e1 {
                if blk.next[e] > epoch {
                    continue;
                }
                let k = blk.tails[e] as usize;
                if k != v {
                    let other = &mut pos[k * dim..(k + 1) * dim];
                    let mut d2 = 0.0;
                    for d in 0..dim {
                        d2 += (cur[d] - other[d]) * (cur[d] - other[d]);
                    }
                    let coef = if d2 > 0.0 { cx.forces.attraction(d2) } else { 0.0 };
                    for d in 0..dim {
                        cur[d] += clip(coef * (cur[d] - other[d])) * cx.alpha;
                    }
                    for d in 0..dim {
                        other[d] += clip(coef * (other[d] - cur[d])) * cx.alpha;
                    }
                }
                blk.next[e] += blk.eps[e];
                let n_neg = blk.negatives_due(e, epoch);
                let mut left = n_neg;
                while left > 0 {
                    let cnt = left.min(NEG_BATCH);
                    left -= cnt;
                    let mut ks = [0usize; NEG_BATCH];
                    let mut coefs = [0f32; NEG_BATCH];
                    for t in 0..cnt {
                        ks[t] = rng.below(n);
                        // The vertex's own row in `pos` is stale while it is in `cur`: it never repels itself.
                        if ks[t] == v {
                            continue;
                        }
                        let other = &pos[ks[t] * dim..(ks[t] + 1) * dim];
                        let mut d2 = 0.0;
                        for d in 0..dim {
                            d2 += (cur[d] - other[d]) * (cur[d] - other[d]);
                        }
                        coefs[t] = if d2 > 0.0 { cx.forces.repulsion(d2) } else { 0.0 };
                    }
                    step.iter_mut().for_each(|x| *x = 0.0);
                    for t in 0..cnt {
                        if coefs[t] == 0.0 {
                            continue;
                        }
                        let other = &pos[ks[t] * dim..(ks[t] + 1) * dim];
                        for d in 0..dim {
                            step[d] += clip(coefs[t] * (cur[d] - other[d]));
                        }
                    }
                    for d in 0..dim {
                        cur[d] += step[d] * cx.alpha;
                    }
                }
                blk.next_neg[e] += n_neg as f32 * blk.eps_neg[e];
                if !reg.is_empty() {
                    apply_pull(&mut cur, &reg, (ATTRACTION_STEPS + n_neg as f32) * cx.alpha, dim);
                }
            }
            pos[v * dim..(v + 1) * dim].copy_from_slice(&cur);
        }
    }
}

/// [`slice_epoch_dim`] with the common output dimensions as constants.
#[inline(always)]
fn slice_epoch_generic(blocks: &mut [Block], spec: &SliceSpec, pos: &mut [f32], cx: &EpochCtx) {
    match cx.dim {
        2 => slice_epoch_dim(blocks, spec, pos, cx, 2),
        3 => slice_epoch_dim(blocks, spec, pos, cx, 3),
        d => slice_epoch_dim(blocks, spec, pos, cx, d),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn slice_epoch_avx2(blocks: &mut [Block], spec: &SliceSpec, pos: &mut [f32], cx: &EpochCtx) {
    slice_epoch_generic(blocks, spec, pos, cx);
}

fn slice_epoch(blocks: &mut [Block], spec: &SliceSpec, pos: &mut [f32], cx: &EpochCtx) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked at run time just above).
        unsafe { slice_epoch_avx2(blocks, spec, pos, cx) };
        return;
    }
    slice_epoch_generic(blocks, spec, pos, cx);
}

/// Where a vertex reads the other points from during an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpochReads {
    /// From a snapshot taken at the start of the epoch; blocks run in parallel. Deterministic
    /// for any number of threads (the engine's mode).
    #[default]
    Snapshot,
    /// Live positions, as umap-learn's sequential optimiser: blocks run one after another on one
    /// thread and each block sees the blocks before it. Only for measuring what the snapshot costs.
    LiveSequential,
    /// One task per slice, the slices in parallel: within a slice, live reads and both ends of each
    /// sampled edge moved, as umap-learn's optimiser does; other slices read from the snapshot.
    /// Deterministic for any number of threads; as parallel as there are slices.
    LivePerSlice,
}

/// Run the SGD on the slices in `specs`; `positions` holds every slice (optimised or frozen),
/// [N, dim] each, and is updated in place. Two or more slices are optimised
/// [`EpochReads::LivePerSlice`], one slice [`EpochReads::Snapshot`] (see the module docs). Honours `ctl.cancel` before every epoch and reports
/// `Stage::Layout` progress after every epoch.
pub fn optimize(
    positions: &mut [Matrix],
    specs: &[SliceSpec],
    p: &ValidParams,
    seed: u64,
    ctl: &Control,
) -> Result<(), UmapError> {
    let reads = if specs.len() >= 2 { EpochReads::LivePerSlice } else { EpochReads::Snapshot };
    optimize_with(positions, specs, p, seed, ctl, reads)
}

/// [`optimize`] with a choice of [`EpochReads`].
pub fn optimize_with(
    positions: &mut [Matrix],
    specs: &[SliceSpec],
    p: &ValidParams,
    seed: u64,
    ctl: &Control,
    reads: EpochReads,
) -> Result<(), UmapError> {
    let n_epochs = p.n_epochs;
    let mut blocks = build_blocks(specs, p.negative_sample_rate);
    let mut snap: Vec<Matrix> = positions.to_vec();
    let forces = ForceTable::new(p.a, p.b, p.repulsion_strength);
    let positions_dim = positions[0].n_cols;
    for epoch in 0..n_epochs {
        if ctl.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(UmapError::Cancelled);
        }
        for spec in specs {
            snap[spec.slot].data.copy_from_slice(&positions[spec.slot].data);
        }
        let alpha = p.learning_rate * (1.0 - epoch as f32 / n_epochs as f32);
        if reads == EpochReads::LivePerSlice {
            let cx = EpochCtx { forces: &forces, alpha, epoch, seed, dim: positions_dim, snap: &snap };
            let mut slots: Vec<Option<&mut Matrix>> = positions.iter_mut().map(Some).collect();
            let mut rest: &mut [Block] = &mut blocks;
            let mut work = Vec::with_capacity(specs.len());
            for (si, spec) in specs.iter().enumerate() {
                let count = rest.iter().take_while(|b| b.spec == si).count();
                let (mine, after) = rest.split_at_mut(count);
                rest = after;
                let m = slots[spec.slot].take().expect("each slot optimised once");
                work.push((mine, spec, m.data.as_mut_slice()));
            }
            work.into_par_iter().for_each(|(mine, spec, pos)| slice_epoch(mine, spec, pos, &cx));
            if let Some(pr) = ctl.progress {
                pr(Stage::Layout, (epoch + 1) as f32 / n_epochs as f32);
            }
            continue;
        }
        // Pair each block with its rows of its slice's positions (blocks are slice-major, ascending).
        let mut rows: Vec<Option<&mut [f32]>> = Vec::with_capacity(blocks.len());
        {
            let mut by_slot: Vec<Option<std::slice::ChunksMut<f32>>> = positions.iter_mut().map(|_| None).collect();
            let mut slots: Vec<Option<&mut Matrix>> = positions.iter_mut().map(Some).collect();
            for spec in specs {
                let m = slots[spec.slot].take().expect("each slot optimised once");
                let dim = m.n_cols;
                by_slot[spec.slot] = Some(m.data.chunks_mut(LAYOUT_BLOCK * dim));
            }
            for blk in &blocks {
                let slot = specs[blk.spec].slot;
                rows.push(by_slot[slot].as_mut().and_then(std::iter::Iterator::next));
            }
        }
        let dim = positions_dim;
        match reads {
            EpochReads::Snapshot => blocks.par_iter_mut().zip(rows.into_par_iter()).for_each(|(blk, out)| {
                if let Some(out) = out {
                    block_epoch(
                        blk,
                        &specs[blk.spec],
                        out,
                        &EpochCtx { forces: &forces, alpha, epoch, seed, dim, snap: &snap },
                    );
                }
            }),
            EpochReads::LivePerSlice => unreachable!("handled above"),
            EpochReads::LiveSequential => {
                for (blk, out) in blocks.iter_mut().zip(rows) {
                    if let Some(out) = out {
                        // Each block reads a snapshot refreshed with every block before it.
                        block_epoch(
                            blk,
                            &specs[blk.spec],
                            out,
                            &EpochCtx { forces: &forces, alpha, epoch, seed, dim, snap: &snap },
                        );
                        refresh(&mut snap, specs[blk.spec].slot, blk.v0, blk.v1, dim, out);
                    }
                }
            }
        }
        if let Some(pr) = ctl.progress {
            pr(Stage::Layout, (epoch + 1) as f32 / n_epochs as f32);
        }
    }
    Ok(())
}
