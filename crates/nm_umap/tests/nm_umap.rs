//! Integration tests of the engine: quality thresholds on generated data, validation errors,
//! determinism across thread counts, progress and cancellation.

use nm_umap::knn::{exact, nn_descent};
use nm_umap::{
    fit, pca_blocks, trustworthiness, AlignedEmbedding, AlignedParams, Control, Init, Matrix, Metric, Stage, UmapError,
    UmapParams,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

#[path = "support/gen.rs"]
mod gen;
use gen::Gen;

/// `n` points in `dim` dims around `k` centres drawn with spread `sep`, unit noise; returns (data, labels).
fn clusters(n: usize, dim: usize, k: usize, sep: f64, seed: u64) -> (Matrix, Vec<usize>) {
    let mut g = Gen(seed);
    let centres: Vec<f64> = (0..k * dim).map(|_| g.n() * sep).collect();
    let mut data = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        labels.push(c);
        for d in 0..dim {
            data.push((centres[c * dim + d] + g.n()) as f32);
        }
    }
    (Matrix::new(n, dim, data).unwrap(), labels)
}

fn swiss_roll(n: usize, noise: f64, seed: u64) -> Matrix {
    let mut g = Gen(seed);
    let mut data = Vec::with_capacity(n * 3);
    for _ in 0..n {
        let t = 1.5 * std::f64::consts::PI * (1.0 + 2.0 * g.u());
        let h = 21.0 * g.u();
        data.extend_from_slice(&[
            (t * t.cos() + noise * g.n()) as f32,
            (h + noise * g.n()) as f32,
            (t * t.sin() + noise * g.n()) as f32,
        ]);
    }
    Matrix::new(n, 3, data).unwrap()
}

fn rms_radius(y: &Matrix) -> f64 {
    let d = y.n_cols;
    let mean: Vec<f64> =
        (0..d).map(|c| (0..y.n_rows).map(|i| y.data[i * d + c] as f64).sum::<f64>() / y.n_rows as f64).collect();
    ((0..y.n_rows).map(|i| (0..d).map(|c| (y.data[i * d + c] as f64 - mean[c]).powi(2)).sum::<f64>()).sum::<f64>()
        / y.n_rows as f64)
        .sqrt()
}

/// score.py's movement: mean distance a point moves between two embeddings / RMS radius of the first.
fn movement(a: &Matrix, b: &Matrix) -> f64 {
    let d = a.n_cols;
    let m = (0..a.n_rows)
        .map(|i| (0..d).map(|c| ((a.data[i * d + c] - b.data[i * d + c]) as f64).powi(2)).sum::<f64>().sqrt())
        .sum::<f64>()
        / a.n_rows as f64;
    m / rms_radius(a)
}

fn mean_nn_dist(y: &Matrix) -> f64 {
    let knn = exact(y, 2, Metric::Euclidean);
    (0..y.n_rows).map(|i| knn.distances[i * 2 + 1] as f64).sum::<f64>() / y.n_rows as f64
}

fn quick(epochs: usize) -> UmapParams {
    UmapParams { n_epochs: Some(epochs), ..UmapParams::default() }
}

fn check_err(r: Result<impl std::fmt::Debug, UmapError>, needle: &str) {
    match r {
        Err(e) => assert!(e.to_string().contains(needle), "error `{e}` should mention `{needle}`"),
        Ok(v) => panic!("expected an error mentioning `{needle}`, got {v:?}"),
    }
}

#[test]
fn trustworthiness_of_separated_clusters_is_high() {
    let (x, _) = clusters(1200, 10, 8, 8.0, 1);
    let y = fit(&x, &UmapParams::default(), &Control::default()).unwrap();
    let t = trustworthiness(&x, &y, 15);
    assert!(t >= 0.95, "trust15 = {t}");
}

#[test]
fn trustworthiness_of_swiss_roll_is_high() {
    let x = swiss_roll(1500, 0.3, 2);
    let y = fit(&x, &UmapParams::default(), &Control::default()).unwrap();
    let t = trustworthiness(&x, &y, 15);
    assert!(t >= 0.90, "trust15 = {t}");
}

#[test]
fn trustworthiness_is_one_for_an_isometry_and_lower_for_a_shuffle() {
    let (x, _) = clusters(200, 2, 3, 5.0, 3);
    let rotated = Matrix::new(200, 2, x.data.chunks(2).flat_map(|r| [r[1], -r[0]]).collect()).unwrap();
    assert!((trustworthiness(&x, &rotated, 10) - 1.0).abs() < 1e-12);
    let mut shuffled = x.data.clone();
    shuffled.rotate_left(2 * 37);
    let t = trustworthiness(&x, &Matrix::new(200, 2, shuffled).unwrap(), 10);
    assert!(t < 0.7, "{t}");
    assert!(trustworthiness(&x, &rotated, 100).is_nan(), "k must be below N/2");
}

#[test]
fn nn_descent_recall_at_15_on_20000_points() {
    let (x, _) = clusters(20_000, 12, 20, 3.0, 4);
    let truth = exact(&x, 15, Metric::Euclidean);
    let approx = nn_descent(&x, 15, Metric::Euclidean, 7);
    let mut hits = 0usize;
    for i in 0..x.n_rows {
        let (t, _) = truth.row(i);
        let (a, _) = approx.row(i);
        hits += a.iter().filter(|j| t.contains(j)).count();
    }
    let recall = hits as f64 / (15 * x.n_rows) as f64;
    assert!(recall >= 0.95, "recall@15 = {recall}");
}

#[test]
fn cosine_neighbours_ignore_scale() {
    let (x, _) = clusters(300, 6, 3, 4.0, 5);
    let mut scaled = x.clone();
    for (i, r) in scaled.data.chunks_mut(6).enumerate() {
        r.iter_mut().for_each(|v| *v *= 1.0 + (i % 7) as f32);
    }
    let a = exact(&x, 10, Metric::Cosine);
    let b = exact(&scaled, 10, Metric::Cosine);
    assert_eq!(a.indices, b.indices);
}

#[test]
fn output_is_byte_identical_across_runs_and_thread_counts() {
    let (x, _) = clusters(600, 8, 4, 6.0, 6);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let single = fit(&x, &quick(60), &Control::default()).unwrap();
            let ap = AlignedParams { umap: quick(40), ..AlignedParams::default() };
            let mut al = AlignedEmbedding::fit(&[x.clone(), x.clone()], &ap, &Control::default()).unwrap();
            al.extend(&x, &ap, &Control::default()).unwrap();
            let extended = al.embeddings().to_vec();
            al.refine(&ap, &Control::default()).unwrap();
            let nnd = nn_descent(&x, 10, Metric::Euclidean, 3);
            (single, extended, nnd, al.embeddings().to_vec())
        })
    };
    let one = run(1);
    let two = run(2);
    let again = run(2);
    assert_eq!(
        one.0.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        two.0.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(one.1, two.1);
    assert_eq!(one.2, two.2);
    assert_eq!(one.3, two.3);
    assert_eq!(two, again);
}

/// `slices` slices of `n` points: `k` clusters in `dim` dims, each drifting by about 3% of their
/// separation per slice, with a little fresh noise per slice.
fn drifting_clusters(n: usize, dim: usize, k: usize, slices: usize, seed: u64) -> Vec<Matrix> {
    let mut g = Gen(seed);
    let centres: Vec<f64> = (0..k * dim).map(|_| g.n() * 8.0).collect();
    let drift: Vec<f64> = (0..k * dim).map(|_| g.n() * 0.25).collect();
    let noise: Vec<f64> = (0..n * dim).map(|_| g.n()).collect();
    (0..slices)
        .map(|s| {
            let data = (0..n * dim).map(|t| {
                let (i, d) = (t / dim, t % dim);
                let c = i % k;
                (centres[c * dim + d]
                    + s as f64 * drift[c * dim + d]
                    + noise[t]
                    + 0.05 * s as f64 * noise[(t * 7 + 3) % (n * dim)]) as f32
            });
            Matrix::new(n, dim, data.collect()).unwrap()
        })
        .collect()
}

fn mean_movement(e: &[Matrix]) -> f64 {
    (0..e.len() - 1).map(|s| movement(&e[s], &e[s + 1])).sum::<f64>() / (e.len() - 1) as f64
}

#[test]
fn aligned_drifting_clusters_move_little() {
    let slices = 4;
    let xs = drifting_clusters(600, 10, 6, slices, 8);
    let ap = AlignedParams { umap: quick(200), ..AlignedParams::default() };
    let al = AlignedEmbedding::fit(&xs, &ap, &Control::default()).unwrap();
    let e = al.embeddings();
    let aligned_move = mean_movement(e);
    let indep: Vec<Matrix> = xs
        .iter()
        .enumerate()
        .map(|(s, x)| fit(x, &UmapParams { seed: s as u64, ..quick(200) }, &Control::default()).unwrap())
        .collect();
    let indep_move = mean_movement(&indep);
    for (s, y) in e.iter().enumerate() {
        assert!(trustworthiness(&xs[s], y, 15) > 0.9, "slice {s}");
    }
    assert!(aligned_move < 0.15, "aligned movement {aligned_move} (independent {indep_move})");
    assert!(aligned_move < 0.25 * indep_move, "aligned movement {aligned_move} vs independent {indep_move}");
}

#[test]
fn raising_min_dist_spreads_points_in_aligned_fits() {
    let (x, _) = clusters(800, 8, 8, 6.0, 9);
    let spread = |min_dist: f32| {
        let ap = AlignedParams { umap: UmapParams { min_dist, ..quick(150) }, ..AlignedParams::default() };
        let al = AlignedEmbedding::fit(&[x.clone(), x.clone()], &ap, &Control::default()).unwrap();
        let y = &al.embeddings()[1];
        mean_nn_dist(y) / rms_radius(y)
    };
    let (tight, loose) = (spread(0.1), spread(0.9));
    assert!(loose >= 2.0 * tight, "1-NN/radius: min_dist 0.1 -> {tight}, 0.9 -> {loose}");
}

#[test]
fn extend_keeps_the_new_slice_near_the_previous_one() {
    let (x, _) = clusters(500, 8, 5, 6.0, 10);
    let ap = AlignedParams { umap: quick(100), ..AlignedParams::default() };
    let mut al = AlignedEmbedding::fit(&[x.clone(), x.clone()], &ap, &Control::default()).unwrap();
    let mut x2 = x.clone();
    x2.data.iter_mut().enumerate().for_each(|(t, v)| *v += 0.05 * ((t % 11) as f32 - 5.0));
    al.extend(&x2, &ap, &Control::default()).unwrap();
    let e = al.embeddings();
    assert_eq!(e.len(), 3);
    assert!(movement(&e[1], &e[2]) < 0.15, "move {}", movement(&e[1], &e[2]));
    assert!(trustworthiness(&x2, &e[2], 15) > 0.9);
}

#[test]
fn refine_after_extends_smooths_trajectories_and_keeps_the_layout() {
    // A live embedding: the first slice fitted, the others added one by one, then refined jointly.
    let xs = drifting_clusters(600, 10, 6, 5, 12);
    let ap = AlignedParams { umap: quick(200), ..AlignedParams::default() };
    let mut al = AlignedEmbedding::fit(&xs[..1], &ap, &Control::default()).unwrap();
    for x in &xs[1..] {
        al.extend(x, &ap, &Control::default()).unwrap();
    }
    let before = al.embeddings().to_vec();
    al.refine(&ap, &Control::default()).unwrap();
    let after = al.embeddings();
    let (move_before, move_after) = (mean_movement(&before), mean_movement(after));
    for (s, y) in after.iter().enumerate() {
        assert!(trustworthiness(&xs[s], y, 15) > 0.9, "slice {s}");
    }
    assert!(move_after < move_before, "movement between slices: {move_before} incremental, {move_after} refined");
    let last = before.len() - 1;
    let kept = movement(&before[last], &after[last]);
    assert!(kept < 0.5, "the refinement moved the last slice by {kept} RMS radii");
}

#[test]
fn pca_matches_known_variance_directions() {
    // Rank-3 data (variances 100, 25, 4 along random orthogonal-ish directions) plus tiny noise, in 300-D.
    let (n, d) = (400, 300);
    let mut g = Gen(11);
    let dirs: Vec<Vec<f64>> = (0..3).map(|_| (0..d).map(|_| g.n()).collect()).collect();
    let norms: Vec<f64> = dirs.iter().map(|v| v.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
    let sds = [10.0, 5.0, 2.0];
    let mut data = vec![0f32; n * d];
    for i in 0..n {
        let z: Vec<f64> = (0..3).map(|c| g.n() * sds[c]).collect();
        for t in 0..d {
            data[i * d + t] = (5.0 + (0..3).map(|c| z[c] * dirs[c][t] / norms[c]).sum::<f64>() + 0.01 * g.n()) as f32;
        }
    }
    let x = Matrix::new(n, d, data).unwrap();
    let p = pca_blocks(&mut nm_umap::pca::MatrixRows(&x), 3, 0, &Control::default()).unwrap();
    for (c, &sd_true) in sds.iter().enumerate() {
        let col: Vec<f64> = (0..n).map(|i| p.data[i * 3 + c] as f64).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!(mean.abs() < 1e-3 * sd.max(1.0), "component {c} not centred: {mean}");
        assert!(sd > 0.7 * sd_true && sd < 1.3 * sd_true, "component {c}: sd {sd}");
    }
    check_err(pca_blocks(&mut nm_umap::pca::MatrixRows(&x), 0, 0, &Control::default()), "k");
}

/// The basis returned with the scores projects the fitted rows back onto their scores, also when
/// the data's rank is above k (a sketch's error is what is left), and new rows the same way.
#[test]
fn pca_basis_projects_the_fitted_rows_onto_their_scores() {
    let (n, d, k) = (300, 120, 10);
    let mut g = Gen(5);
    // Decaying variances along every axis of a random rotation: full rank, k well below it.
    let dirs: Vec<Vec<f64>> = (0..d).map(|_| (0..d).map(|_| g.n()).collect()).collect();
    let mut data = vec![0f32; n * d];
    for i in 0..n {
        let z: Vec<f64> = (0..d).map(|c| g.n() * 8.0 * 0.8f64.powi(c as i32)).collect();
        for t in 0..d {
            data[i * d + t] = (3.0 + (0..d).map(|c| z[c] * dirs[c][t] / (d as f64).sqrt()).sum::<f64>()) as f32;
        }
    }
    let x = Matrix::new(n, d, data).unwrap();
    let (scores, basis) =
        nm_umap::pca_blocks_with_basis(&mut nm_umap::pca::MatrixRows(&x), k, 0, &Control::default()).unwrap();
    assert_eq!(scores, pca_blocks(&mut nm_umap::pca::MatrixRows(&x), k, 0, &Control::default()).unwrap());
    assert_eq!((basis.n_cols(), basis.n_components()), (d, k));
    for c in 0..k {
        let v = &basis.components[c * d..(c + 1) * d];
        let norm: f32 = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "component {c} has length {norm}");
    }
    let projected = basis.project(&x.data).unwrap();
    let rms = (scores.data.iter().map(|v| v * v).sum::<f32>() / scores.data.len() as f32).sqrt();
    let err = (projected.data.iter().zip(&scores.data).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()
        / scores.data.len() as f32)
        .sqrt();
    assert!(err < 0.02 * rms, "projection differs from the scores by {err} (RMS of the scores {rms})");
    assert!(basis.project(&x.data[..d + 1]).is_err());
}

/// The source's own error comes back typed through [`UmapError::Source`], with the rows it failed on.
#[test]
fn a_failing_row_source_returns_its_own_error_typed() {
    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire at row {0}")]
    struct Fire(usize);
    struct Failing;
    impl nm_umap::RowBlocks for Failing {
        fn n_rows(&self) -> usize {
            50
        }
        fn n_cols(&self) -> usize {
            8
        }
        fn read_rows(&mut self, start: usize, _n: usize, _out: &mut [f32]) -> Result<(), nm_umap::SourceError> {
            Err(Box::new(Fire(start)))
        }
    }
    let e = pca_blocks(&mut Failing, 3, 0, &Control::default()).unwrap_err();
    assert_eq!(e.to_string(), "invalid input: PCA could not read rows 0..50 of the source: disk on fire at row 0");
    let UmapError::Source { start: 0, end: 50, source } = e else { panic!("expected UmapError::Source, got {e:?}") };
    assert_eq!(source.downcast::<Fire>().map(|f| f.0).ok(), Some(0));
}

// ---- validation: one test per rule ----

fn small() -> Matrix {
    clusters(40, 3, 2, 5.0, 12).0
}

#[test]
fn rejects_n_neighbors_below_2() {
    check_err(
        fit(&small(), &UmapParams { n_neighbors: 1, ..UmapParams::default() }, &Control::default()),
        "n_neighbors",
    );
}

#[test]
fn rejects_n_neighbors_not_below_n() {
    check_err(
        fit(&small(), &UmapParams { n_neighbors: 40, ..UmapParams::default() }, &Control::default()),
        "less than the number of points (40)",
    );
}

#[test]
fn rejects_min_dist_above_spread() {
    check_err(fit(&small(), &UmapParams { min_dist: 1.5, ..UmapParams::default() }, &Control::default()), "min_dist");
}

#[test]
fn rejects_negative_min_dist() {
    check_err(fit(&small(), &UmapParams { min_dist: -0.1, ..UmapParams::default() }, &Control::default()), "min_dist");
}

#[test]
fn rejects_zero_components() {
    check_err(
        fit(&small(), &UmapParams { n_components: 0, ..UmapParams::default() }, &Control::default()),
        "n_components",
    );
}

#[test]
fn rejects_nan_and_inf_with_count_and_first_row() {
    let mut x = small();
    x.data[3 * 3 + 1] = f32::NAN;
    x.data[7 * 3] = f32::INFINITY;
    check_err(
        fit(&x, &UmapParams::default(), &Control::default()),
        "2 non-finite values (NaN or Inf), the first in row 3",
    );
}

#[test]
fn rejects_identical_rows() {
    let x = Matrix::new(30, 2, vec![1.0; 60]).unwrap();
    check_err(fit(&x, &UmapParams::default(), &Control::default()), "identical");
}

#[test]
fn rejects_an_empty_slice() {
    let ap = AlignedParams::default();
    check_err(
        AlignedEmbedding::fit(&[small(), Matrix::zeros(0, 3)], &ap, &Control::default()).map(|_| ()),
        "slice 1: the slice is empty",
    );
    check_err(AlignedEmbedding::fit(&[], &ap, &Control::default()).map(|_| ()), "no slices");
}

#[test]
fn rejects_slices_of_different_sizes() {
    let ap = AlignedParams::default();
    let other = clusters(41, 3, 2, 5.0, 13).0;
    check_err(
        AlignedEmbedding::fit(&[small(), other.clone()], &ap, &Control::default()).map(|_| ()),
        "slice 1: 41 rows, but slice 0 has 40",
    );
    let mut al =
        AlignedEmbedding::fit(&[small()], &AlignedParams { umap: quick(5), ..ap.clone() }, &Control::default())
            .unwrap();
    check_err(al.extend(&other, &ap, &Control::default()), "slice 1: 41 rows");
}

#[test]
fn rejects_a_bad_matrix_shape() {
    check_err(Matrix::new(3, 2, vec![0.0; 5]), "expected n_rows * n_cols");
}

// ---- progress and cancellation ----

#[test]
fn progress_is_reported_every_epoch() {
    let calls = Mutex::new(Vec::new());
    let cb = |s: Stage, f: f32| calls.lock().unwrap().push((s, f));
    let ctl = Control { progress: Some(&cb), cancel: None };
    fit(&small(), &quick(30), &ctl).unwrap();
    let calls = calls.into_inner().unwrap();
    let layout: Vec<f32> = calls.iter().filter(|(s, _)| *s == Stage::Layout).map(|c| c.1).collect();
    assert_eq!(layout.len(), 30);
    assert!(layout.windows(2).all(|w| w[0] < w[1]) && layout[29] == 1.0);
    assert!(calls.iter().any(|(s, _)| *s == Stage::Neighbors));
}

#[test]
fn cancel_stops_within_one_epoch() {
    let cancel = AtomicBool::new(false);
    let epochs = AtomicUsize::new(0);
    let cb = |s: Stage, _f: f32| {
        if s == Stage::Layout && epochs.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let ctl = Control { progress: Some(&cb), cancel: Some(&cancel) };
    let r = fit(&small(), &quick(100), &ctl);
    assert!(matches!(r, Err(UmapError::Cancelled)));
    assert_eq!(epochs.load(Ordering::SeqCst), 3, "no epoch may run after the flag is set");
    let ap = AlignedParams { umap: quick(100), ..AlignedParams::default() };
    epochs.store(0, Ordering::SeqCst);
    cancel.store(false, Ordering::SeqCst);
    let r = AlignedEmbedding::fit(&[small(), small()], &ap, &ctl);
    assert!(matches!(r, Err(UmapError::Cancelled)));
}

#[test]
fn pca_and_random_inits_also_embed_well() {
    let (x, _) = clusters(800, 10, 5, 8.0, 14);
    for init in [Init::Pca, Init::Random] {
        let y = fit(&x, &UmapParams { init, ..quick(200) }, &Control::default()).unwrap();
        let t = trustworthiness(&x, &y, 15);
        assert!(t > 0.93, "{init:?}: {t}");
    }
}

#[test]
fn spectral_init_lays_disconnected_components_apart() {
    // Two clusters 1000 units apart: with 5 neighbours the graph has two components.
    let (mut x, labels) = clusters(200, 4, 2, 0.0, 15);
    for (i, r) in x.data.chunks_mut(4).enumerate() {
        if labels[i] == 1 {
            r[0] += 1000.0;
        }
    }
    let p = UmapParams { n_neighbors: 5, ..UmapParams::default() }.validate(200).unwrap();
    let knn = nm_umap::knn::exact(&x, 5, Metric::Euclidean);
    let g = nm_umap::fuzzy::fuzzy_simplicial_set(&knn, 1.0, 1.0);
    assert_eq!(nm_umap::init::connected_components(&g).1, 2);
    let y = nm_umap::init::initial_layout(&x, &g, 2, Init::Spectral, p.seed);
    // Bounding boxes of the two components do not overlap on at least one axis.
    let bbox = |c: usize| {
        let mut b = [f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY];
        for i in (0..200).filter(|&i| labels[i] == c) {
            b[0] = b[0].min(y.data[2 * i]);
            b[1] = b[1].max(y.data[2 * i]);
            b[2] = b[2].min(y.data[2 * i + 1]);
            b[3] = b[3].max(y.data[2 * i + 1]);
        }
        b
    };
    let (a, b) = (bbox(0), bbox(1));
    assert!(a[1] < b[0] || b[1] < a[0] || a[3] < b[2] || b[3] < a[2], "{a:?} vs {b:?}");
}

#[test]
fn default_epochs_follow_umap_learn() {
    assert_eq!(UmapParams::default().validate(10_000).unwrap().n_epochs, 500);
    assert_eq!(UmapParams::default().validate(10_001).unwrap().n_epochs, 200);
    assert_eq!(AlignedParams::default().validate(500).unwrap().n_epochs, 200);
    assert_eq!(quick(7).validate(500).unwrap().n_epochs, 7);
}
