#[path = "bench_engine/npy.rs"]
mod npy;
use nm_umap::*;
fn main() {
    if std::env::args().nth(1).as_deref() == Some("nnd") {
        let (r, c, d) = npy::read_matrix("/work/tmp_engine/single/epochs/1/pixels.npy").unwrap();
        let x = Matrix::new(r, c, d).unwrap();
        let t = std::time::Instant::now();
        let c0 = cpu();
        let a = knn::nn_descent(&x, 15, Metric::Euclidean, 1);
        println!("nnd {:?} cpu {:.2}", t.elapsed(), cpu() - c0);
        // recall on 300 random rows against brute force
        let mut hits = 0;
        for q in (0..r).step_by(r / 300) {
            let mut ds: Vec<(f32, usize)> = (0..r).map(|j| ((0..c).map(|t| (x.data[q*c+t]-x.data[j*c+t]).powi(2)).sum::<f32>(), j)).collect();
            ds.sort_by(|p, q| p.0.total_cmp(&q.0));
            let truth: Vec<u32> = ds[..15].iter().map(|p| p.1 as u32).collect();
            hits += a.row(q).0.iter().filter(|j| truth.contains(j)).count();
        }
        println!("recall {:.4}", hits as f64 / (15.0 * (r / (r / 300)) as f64));
        return;
    }
    let (r, c, d) = npy::read_matrix("/work/tmp_engine/aligned/epochs/1/hidden.npy").unwrap();
    let x = Matrix::new(r, c, d).unwrap();
    let t = std::time::Instant::now();
    let c0 = cpu();
    let mut knn = knn::exact(&x, 15, Metric::Euclidean);
    for _ in 0..3 { knn = knn::exact(&x, 15, Metric::Euclidean); }
    println!("knn x4 {:?} cpu {:.2}", t.elapsed(), cpu() - c0);
    let g = fuzzy::fuzzy_simplicial_set(&knn, 1.0, 1.0);
    let wmax = g.max_weight();
    let s: f64 = g.weights.iter().map(|&w| (w / wmax) as f64).sum();
    println!("edges {} samples/epoch {s:.0} wmax {wmax}", g.indices.len());
    let p = UmapParams { n_epochs: Some(200), ..Default::default() }.validate(r).unwrap();
    let mut y = init::random_layout(r, 2, 1);
    let t = std::time::Instant::now();
    let cpu0 = cpu();
    let spec = [layout::SliceSpec { graph: &g, slot: 0, reg: vec![] }];
    let mut pos = [y.clone()];
    layout::optimize(&mut pos, &spec, &p, 1, &Control::default()).unwrap();
    println!("layout 200 epochs 1 slice: wall {:?} cpu {:.2}s", t.elapsed(), cpu() - cpu0);
    y = pos[0].clone();
    let _ = y;
}
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
