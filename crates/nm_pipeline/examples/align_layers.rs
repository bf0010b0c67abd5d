//! Benchmark of alignment across layers (issue 12): on a run, the cross-layer displacement (after
//! scaling each plot to unit RMS radius, the RMS distance between a sample's positions in adjacent
//! layers at the same epoch), trustworthiness@15 per layer and the time, for independent per-layer
//! fits, the same turned rigidly onto the previous layer, and the grid fit with several λ_layer.
//!
//! `cargo run --release -p nm_pipeline --example align_layers -- RUN [λ,λ,…]`

use std::time::Instant;

use nm_pipeline::{choose_samples, load_slice, EmbedParams};
use nm_run::Run;
use nm_umap::{AlignedEmbedding, Control, Matrix};

fn unit(m: &[f32]) -> Vec<f64> {
    let n = m.len() / 2;
    let (mx, my) = m.chunks(2).fold((0f64, 0f64), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
    let (mx, my) = (mx / n as f64, my / n as f64);
    let r =
        (m.chunks(2).map(|p| (p[0] as f64 - mx).powi(2) + (p[1] as f64 - my).powi(2)).sum::<f64>() / n as f64).sqrt();
    m.chunks(2).flat_map(|p| [(p[0] as f64 - mx) / r, (p[1] as f64 - my) / r]).collect()
}

/// Mean over epochs and adjacent layer pairs of the RMS distance between unit-RMS plots.
fn displacement(emb: &[Vec<Matrix>]) -> Vec<f64> {
    (0..emb.len() - 1)
        .map(|l| {
            let e_count = emb[l].len();
            (0..e_count)
                .map(|e| {
                    let (a, b) = (unit(&emb[l][e].data), unit(&emb[l + 1][e].data));
                    (a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / (a.len() / 2) as f64).sqrt()
                })
                .sum::<f64>()
                / e_count as f64
        })
        .collect()
}

fn trust(high: &[Vec<Matrix>], emb: &[Vec<Matrix>]) -> Vec<f64> {
    high.iter()
        .zip(emb)
        .map(|(h, e)| h.iter().zip(e).map(|(x, y)| nm_umap::trustworthiness(x, y, 15)).sum::<f64>() / h.len() as f64)
        .collect()
}

fn rigid_chain(emb: &mut [Vec<Matrix>]) {
    for l in 1..emb.len() {
        let stack = |ms: &[Matrix]| Matrix {
            n_rows: ms.iter().map(|m| m.n_rows).sum(),
            n_cols: 2,
            data: ms.iter().flat_map(|m| m.data.iter().copied()).collect(),
        };
        let (base, moving) = (stack(&emb[l - 1]), stack(&emb[l]));
        let turn = nm_umap::Rigid::fit(&base, &moving).expect("same shapes");
        for m in &mut emb[l] {
            turn.apply(&mut m.data).expect("2-D rows");
        }
    }
}

fn fmt(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let run = Run::open(std::path::Path::new(args.get(1).ok_or("usage: align_layers RUN [λ,λ,…]")?))?;
    let lambdas: Vec<f32> = args
        .get(2)
        .map_or("0.01,0.03,0.1".into(), std::clone::Clone::clone)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let params = EmbedParams::default_for(&run);
    let samples = choose_samples(&run, &params);
    let ctl = Control::default();
    let layers: Vec<String> = run.layers().iter().map(|l| l.name.clone()).collect();
    let high: Vec<Vec<Matrix>> = layers
        .iter()
        .map(|l| run.epochs().iter().map(|&e| load_slice(&run, l, e, &samples, &params, &ctl)).collect())
        .collect::<Result<_, _>>()?;
    println!("{}: {} layers × {} epochs × {} samples", run.name(), layers.len(), run.epochs().len(), samples.len());
    let ap = params.engine_params();
    let t = Instant::now();
    let mut indep: Vec<Vec<Matrix>> = Vec::new();
    for h in &high {
        indep.push(AlignedEmbedding::fit(h, &ap, &ctl)?.embeddings().to_vec());
    }
    let t_indep = t.elapsed().as_secs_f64();
    println!(
        "{:<18} {:>7}  displacement [{}]  mean {:.3}  trust [{}]",
        "independent",
        format!("{t_indep:.1}s"),
        fmt(&displacement(&indep)),
        mean(&displacement(&indep)),
        fmt(&trust(&high, &indep))
    );
    let mut rigid = indep.clone();
    rigid_chain(&mut rigid);
    println!(
        "{:<18} {:>7}  displacement [{}]  mean {:.3}  trust [{}]",
        "rigid chain",
        format!("{t_indep:.1}s"),
        fmt(&displacement(&rigid)),
        mean(&displacement(&rigid)),
        fmt(&trust(&high, &rigid))
    );
    for &lambda in &lambdas {
        let t = Instant::now();
        let grid = nm_umap::fit_grid(&high, &ap, lambda, &ctl)?;
        let secs = t.elapsed().as_secs_f64();
        let d = displacement(&grid);
        println!(
            "{:<18} {:>7}  displacement [{}]  mean {:.3}  trust [{}]  time {:.2}x",
            format!("grid λ={lambda}"),
            format!("{secs:.1}s"),
            fmt(&d),
            mean(&d),
            fmt(&trust(&high, &grid)),
            secs / t_indep
        );
    }
    Ok(())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}
