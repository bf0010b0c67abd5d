//! What determinism costs: the engine's layout (every vertex reads the others from a snapshot
//! taken at the start of the epoch, blocks in parallel) against umap-learn's sequential order
//! (every vertex sees all updates before it, one thread), on the same graph and initialisation.
//!
//!   cargo run --release -p nm_umap --example determinism_cost
//!
//! Prints seconds (CPU and wall) and trustworthiness@15 of each, for 10,000 clustered points.
use nm_umap::layout::{optimize_with, EpochReads, SliceSpec};
use nm_umap::{fuzzy, init, knn, trustworthiness, Control, Matrix, Metric, UmapParams};
use std::time::Instant;

#[path = "../tests/support/gen.rs"]
mod gen;
use gen::Gen;

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0) / 100.0
        + f.get(12).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0) / 100.0
}

fn main() {
    let (n, dim, k) = (10_000, 32, 12);
    let mut g = Gen(5);
    let centres: Vec<f64> = (0..k * dim).map(|_| g.n() * 4.0).collect();
    let data: Vec<f32> = (0..n * dim).map(|t| (centres[(t / dim % k) * dim + t % dim] + g.n()) as f32).collect();
    let x = Matrix::new(n, dim, data).unwrap();
    let params = UmapParams::default();
    let p = params.validate(n).unwrap();
    let nn = knn::nearest_neighbors(&x, p.n_neighbors, Metric::Euclidean, p.seed);
    let mut graph = fuzzy::fuzzy_simplicial_set(&nn, p.local_connectivity, p.set_op_mix_ratio);
    graph.prune(p.n_epochs, p.n_epochs);
    let mut y0 = init::initial_layout(&x, &graph, 2, p.init, p.seed);
    init::noisy_scale(&mut y0, 10.0, 1e-4, p.seed);
    init::rescale_columns(&mut y0);
    println!("{n} points x {dim} dims, {} epochs, {} threads available", p.n_epochs, rayon::current_num_threads());
    for (name, reads, threads) in [
        ("snapshot (engine), 2 threads", EpochReads::Snapshot, 2),
        ("snapshot (engine), 1 thread ", EpochReads::Snapshot, 1),
        ("live sequential (umap-learn order), 1 thread", EpochReads::LiveSequential, 1),
    ] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut pos = [y0.clone()];
        let spec = [SliceSpec { graph: &graph, slot: 0, reg: Vec::new() }];
        let (t0, c0) = (Instant::now(), cpu_secs());
        pool.install(|| optimize_with(&mut pos, &spec, &p, p.seed, &Control::default(), reads)).unwrap();
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - c0);
        println!("{name:<46} wall {wall:6.2} s  cpu {cpu:6.2} s  trust15 {:.4}", trustworthiness(&x, &pos[0], 15));
    }
}
