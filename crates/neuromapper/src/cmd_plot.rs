//! `neuromapper plot RUN --out fig.png|fig.svg`: a publication figure without a browser. Layers are
//! rows, chosen epochs columns, points coloured by class in the viewer's colours, with a legend and
//! optional trajectories. Embeddings come from the pipeline as `embed` and `export` get them (the
//! cache first, the same flags, the same progress bars); drawing is nm_figure's.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nm_figure::{FontStatus, Format};
use nm_run::text::{clip, escape};
use nm_run::Run;

use crate::params::ParamArgs;
use crate::threads::init_threads;

/// Columns shown when `--epochs` is left out: the first and last epoch and evenly spaced ones between.
const DEFAULT_COLUMNS: usize = 4;
const DEFAULT_WIDTH_PX: u32 = 1600;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
    /// Output file: .png or .svg
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Layers to show, one row each, comma-separated (default: all)
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub layers: Vec<String>,
    /// Epochs to show, one column each, comma-separated (default: the first, the last and two evenly spaced between)
    #[arg(long, value_delimiter = ',', value_name = "E,F")]
    pub epochs: Vec<u32>,
    /// Figure width in pixels (300-10000); the height follows from the grid and the legend
    #[arg(long, value_name = "PX", default_value_t = DEFAULT_WIDTH_PX)]
    pub width: u32,
    /// Draw the paths of these samples (indices into the run's samples) across the chosen epochs
    #[arg(long, value_delimiter = ',', value_name = "I,J")]
    pub trajectories: Vec<usize>,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

/// `wanted` checked against the run's epochs, or the default spread when empty.
fn resolve_epochs(run: &Run, wanted: &[u32]) -> anyhow::Result<Vec<u32>> {
    let known = run.epochs();
    anyhow::ensure!(!known.is_empty(), "the run has no epochs yet");
    if wanted.is_empty() {
        let k = DEFAULT_COLUMNS.min(known.len());
        let mut picked: Vec<u32> =
            (0..k).map(|j| known[if k == 1 { 0 } else { j * (known.len() - 1) / (k - 1) }]).collect();
        picked.dedup();
        return Ok(picked);
    }
    for e in wanted {
        anyhow::ensure!(
            known.contains(e),
            "unknown epoch {e}; the run has: {}",
            clip(&known.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
        );
    }
    Ok(wanted.to_vec())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    let format = Format::from_path(&args.out).ok_or_else(|| {
        anyhow::anyhow!("{}: the output file must end in .png or .svg", escape(&args.out.display().to_string()))
    })?;
    anyhow::ensure!(
        (nm_figure::MIN_WIDTH_PX..=nm_figure::MAX_WIDTH_PX).contains(&args.width),
        "--width {} is out of range; choose {} to {} pixels",
        args.width,
        nm_figure::MIN_WIDTH_PX,
        nm_figure::MAX_WIDTH_PX
    );
    init_threads(args.threads)?;
    let run = Run::open(&args.run).context("could not open the run")?;
    anyhow::ensure!(
        !run.owns_path(&args.out),
        "{}: inside the run {} (or one of its files through a link); a run's files are never modified, so \
         choose an --out outside the run's folder",
        escape(&args.out.display().to_string()),
        escape(&run.path().display().to_string())
    );
    let params = args.params.overrides().resolve(&run)?;
    let layers = crate::embedding::resolve_layers(&run, &args.layers)?;
    let epochs = resolve_epochs(&run, &args.epochs)?;
    if let Some(&t) = args.trajectories.iter().find(|&&t| t >= run.n_samples()) {
        anyhow::bail!("--trajectories: sample {t} does not exist; the run has samples 0 to {}", run.n_samples() - 1);
    }

    crate::embedding::cancel_on_ctrl_c();
    let outcomes = crate::embedding::compute(&run, &layers, &params);
    if crate::embedding::interrupted() {
        return Err(crate::Interrupted(format!(
            "plot interrupted by Ctrl-C; {} was not written (layers already embedded stay cached)",
            args.out.display()
        ))
        .into());
    }
    let mut embeddings = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        embeddings.push(o.result.with_context(|| format!("could not embed layer {}", escape(&o.layer)))?);
    }
    // Every layer of one run embeds the same samples with the same parameters.
    let samples = &embeddings[0].samples;
    let mut trajectories = Vec::with_capacity(args.trajectories.len());
    for &t in &args.trajectories {
        let row = samples.binary_search(&(t as u32)).map_err(|_| {
            anyhow::anyhow!(
                "--trajectories: sample {t} is not among the {} embedded samples (the embedding is sampled: {}); \
                 choose another sample or embed all samples",
                samples.len(),
                params.describe()
            )
        })?;
        trajectories.push(row);
    }
    let labels: Vec<u32> = samples.iter().map(|&s| run.labels()[s as usize]).collect();
    let class_names: Vec<String> = run.classes().iter().map(|c| escape(c)).collect();
    let mut rows = Vec::with_capacity(embeddings.len());
    for emb in &embeddings {
        let mut panels = Vec::with_capacity(epochs.len());
        for &e in &epochs {
            let slice = emb.epochs.iter().position(|&x| x == e).with_context(|| {
                format!("layer {}: epoch {e} is not in its embedding (a run that grew meanwhile?)", escape(&emb.layer))
            })?;
            panels.push(nm_figure::Panel { epoch: e, positions: emb.slice(slice) });
        }
        rows.push(nm_figure::Row { layer: escape(&emb.layer), panels });
    }
    let figure =
        nm_figure::Figure { rows, labels: &labels, class_names: &class_names, trajectories, width_px: args.width };
    let done = nm_figure::render(&figure, &args.out)?;
    if let Some(FontStatus::Missing(looked)) = &done.text {
        eprintln!(
            "warning: no font found, so the PNG has no text (titles, class names); looked in {looked}. Set {}=/path/to/font.ttf, or write an .svg (it needs no font file)",
            nm_figure::font::FONT_ENV
        );
    }
    println!("wrote {}", escape(&args.out.display().to_string()));
    println!(
        "{} × {} px{}: {} layers × {} epochs, {} points per panel ({:.1} s)",
        done.width_px,
        done.height_px,
        if format == Format::Png { " PNG" } else { " SVG" },
        layers.len(),
        epochs.len(),
        labels.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
