//! Sampling: which samples an embedding shows, stratified by class and deterministic with the
//! seed, so every layer and epoch of one view shows the same samples. In a run with adversarial
//! twins the quotas count clean samples only, and every chosen clean sample brings its twins.

use nm_run::Run;
use rand::{Rng, SeedableRng};

use crate::params::{EmbedParams, Sampling};

/// Samples per class that `sampling` takes (by largest remainder for a total), indexed by class.
fn class_quotas(run: &Run, sampling: &Sampling) -> Vec<usize> {
    let counts = clean_counts(run);
    let n: usize = counts.iter().sum();
    match *sampling {
        Sampling::All => counts,
        Sampling::PerClass(k) => counts.iter().map(|&c| c.min(k)).collect(),
        Sampling::Total(t) if t >= n => counts,
        Sampling::Total(t) => {
            // Proportional allocation: floor(t·c/n) each, the remainder to the largest fractions.
            let mut quotas: Vec<usize> = counts.iter().map(|&c| t * c / n).collect();
            let mut order: Vec<usize> = (0..counts.len()).collect();
            order.sort_by_key(|&k| (std::cmp::Reverse((t * counts[k]) % n), k));
            let mut left = t - quotas.iter().sum::<usize>();
            for k in order.into_iter().cycle().take(counts.len() * 2) {
                if left == 0 {
                    break;
                }
                if quotas[k] < counts[k] {
                    quotas[k] += 1;
                    left -= 1;
                }
            }
            quotas
        }
    }
}

/// Clean (not twin) samples per class, indexed by class id.
fn clean_counts(run: &Run) -> Vec<usize> {
    let mut counts = vec![0usize; run.classes().len()];
    for (i, &l) in run.labels().iter().enumerate() {
        if !run.is_twin(i) {
            counts[l as usize] += 1;
        }
    }
    counts
}

/// How many samples `sampling` chooses from `run`. With adversarial twins: the clean samples
/// chosen, plus every twin when every clean sample is chosen (otherwise the twins of the chosen
/// ones come on top, depending on the seed: this is then a lower bound).
pub fn sample_count(run: &Run, sampling: &Sampling) -> usize {
    let quotas = class_quotas(run, sampling);
    let clean: usize = quotas.iter().sum();
    let all_clean = quotas == clean_counts(run);
    clean + if all_clean { run.twins().map_or(0, |t| t.iter().flatten().count()) } else { 0 }
}

/// Sample indices chosen by `params.sampling` (stratified, deterministic with the seed), ascending.
///
/// Within each class the choice is a seeded partial Fisher–Yates shuffle keyed by (seed, class),
/// so the same seed gives the same samples on every machine and in every layer and epoch.
pub fn choose_samples(run: &Run, params: &EmbedParams) -> Vec<u32> {
    if params.sampling == Sampling::All {
        return (0..run.n_samples() as u32).collect();
    }
    let quotas = class_quotas(run, &params.sampling);
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); quotas.len()];
    for (i, &l) in run.labels().iter().enumerate() {
        if !run.is_twin(i) {
            by_class[l as usize].push(i as u32);
        }
    }
    let mut chosen = Vec::with_capacity(quotas.iter().sum());
    for (c, mut members) in by_class.into_iter().enumerate() {
        let k = quotas[c];
        let key = params.seed ^ (c as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(key);
        for i in 0..k.min(members.len()) {
            let j = rng.gen_range(i..members.len());
            members.swap(i, j);
        }
        chosen.extend_from_slice(&members[..k.min(members.len())]);
    }
    if let Some(twins) = run.twins() {
        chosen.sort_unstable();
        let twin_rows = twins.iter().enumerate().filter_map(|(i, c)| {
            let c = (*c)?;
            chosen.binary_search(&c).is_ok().then_some(i as u32)
        });
        let twin_rows: Vec<u32> = twin_rows.collect();
        chosen.extend(twin_rows);
    }
    chosen.sort_unstable();
    chosen
}
