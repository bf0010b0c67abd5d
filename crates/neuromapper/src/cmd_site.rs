//! `neuromapper site RUN --out DIR`: a static copy of the viewer for any static host, or with
//! `--single-file` one HTML file, with every view of a parameter grid (`--grid`) embedded first (from
//! the cache where present, with progress). The files are written by `nm_server::site`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nm_pipeline::{EmbedParams, ParamOverrides};
use nm_run::text::escape;
use nm_run::Run;
use nm_server::site::{GridAxis, SiteView};
use serde_json::Value;

use crate::embedding::{cancel_on_ctrl_c, compute, interrupted, resolve_layers};
use crate::params::ParamArgs;
use crate::sizes::human_bytes;
use crate::threads::init_threads;

/// The most views a grid may have (their product over the axes).
pub const MAX_GRID_VIEWS: usize = 64;
/// `--max-size`'s default with `--single-file`, in MB (10^6 bytes): a page that mail and chat take.
pub const DEFAULT_SINGLE_FILE_MB: f64 = 50.0;
const MB: f64 = 1e6;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
    /// Where to write the site: a new or empty folder, or one a site was written to before (with
    /// --single-file: an HTML file)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Layers to show, comma-separated (default: all)
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub layers: Vec<String>,
    /// The views the viewer's menu offers: NAME=V1,V2,… for n_neighbors, min_dist and metric, every
    /// combination embedded, e.g. `--grid n_neighbors=5,15,50 min_dist=0.1,0.5`; the embedding flags
    /// pick the view shown first and set everything else [default: the flags' one view]
    #[arg(long, num_args = 1.., value_name = "NAME=V1,V2")]
    pub grid: Vec<String>,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Write one HTML file with everything inlined (opens from file://, for mail or chat)
    #[arg(long)]
    pub single_file: bool,
    /// Refuse to write more than this many MB (10^6 bytes) [default: 50 with --single-file, no limit for a folder]
    #[arg(long, value_name = "MB")]
    pub max_size: Option<f64>,
    /// Positions to BITS per axis (8 to 16) of each view's extent, packed between epochs and
    /// compressed; `full` writes the server's exact form, 4 bytes per point and epoch [default: 12; under a
    /// size limit (--max-size, --single-file) the finest of 12 to 9 bits that fits]
    #[arg(long, value_name = "BITS|full")]
    pub precision: Option<String>,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

/// `--precision`: Some(bits) to pack, None for the server's exact form.
fn parse_precision(text: Option<&str>) -> anyhow::Result<Option<u32>> {
    let bits = nm_server::site::PRECISION_BITS;
    match text.map(str::trim) {
        None => Ok(Some(nm_server::site::DEFAULT_PRECISION_BITS)),
        Some("full") => Ok(None),
        Some(t) => match t.parse::<u32>() {
            Ok(b) if bits.contains(&b) => Ok(Some(b)),
            _ => anyhow::bail!(
                "--precision `{}`: give bits per axis, {} to {}, or `full`",
                escape(t),
                bits.start(),
                bits.end()
            ),
        },
    }
}

/// The grid as given: each axis with its values, in the order given.
#[derive(Debug, Default)]
struct Grid {
    n_neighbors: Option<Vec<usize>>,
    min_dist: Option<Vec<f32>>,
    metric: Option<Vec<String>>,
    /// Axis names in the order given (the menu's order; the first varies slowest).
    order: Vec<&'static str>,
}

/// Parses `--grid`'s `NAME=V1,V2,…` items.
fn parse_grid(items: &[String]) -> anyhow::Result<Grid> {
    fn values<T>(name: &str, text: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> anyhow::Result<Vec<T>> {
        text.split(',')
            .map(|v| parse(v.trim()).with_context(|| format!("--grid {name}: `{}` is not {what}", escape(v))))
            .collect()
    }
    let mut g = Grid::default();
    for item in items {
        let (name, text) = item
            .split_once('=')
            .with_context(|| format!("--grid: `{}` is not NAME=V1,V2,… (e.g. n_neighbors=5,15,50)", escape(item)))?;
        let name = name.trim();
        let axis: &'static str = match name {
            "n_neighbors" => {
                anyhow::ensure!(g.n_neighbors.is_none(), "--grid names n_neighbors twice");
                g.n_neighbors = Some(values(name, text, |v| v.parse().ok(), "a whole number")?);
                "n_neighbors"
            }
            "min_dist" => {
                anyhow::ensure!(g.min_dist.is_none(), "--grid names min_dist twice");
                g.min_dist = Some(values(name, text, |v| v.parse().ok(), "a number")?);
                "min_dist"
            }
            "metric" => {
                anyhow::ensure!(g.metric.is_none(), "--grid names metric twice");
                let ok = |v: &str| ["euclidean", "cosine"].contains(&v).then(|| v.to_string());
                g.metric = Some(values(name, text, ok, "euclidean or cosine")?);
                "metric"
            }
            other => anyhow::bail!(
                "--grid: unknown parameter `{}`; the grid can vary n_neighbors, min_dist and metric",
                escape(other)
            ),
        };
        g.order.push(axis);
    }
    for (name, texts) in [
        ("n_neighbors", g.n_neighbors.as_ref().map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())),
        ("min_dist", g.min_dist.as_ref().map(|v| v.iter().map(ToString::to_string).collect())),
        ("metric", g.metric.clone()),
    ] {
        if let Some(texts) = texts {
            let mut seen = texts.clone();
            seen.sort();
            seen.dedup();
            anyhow::ensure!(seen.len() == texts.len(), "--grid {name}: a value is given twice ({})", texts.join(","));
        }
    }
    Ok(g)
}

/// Every combination of the grid over `base` (the flags over the run's defaults), validated against
/// the run, and the index of the one shown first: on each axis the flag's value (which must be on
/// the axis), else the run's default when on the axis, else the axis's first value.
fn grid_views(run: &Run, grid: &Grid, flags: &ParamOverrides) -> anyhow::Result<(Vec<EmbedParams>, usize)> {
    let count = grid.n_neighbors.as_ref().map_or(1, Vec::len)
        * grid.min_dist.as_ref().map_or(1, Vec::len)
        * grid.metric.as_ref().map_or(1, Vec::len);
    anyhow::ensure!(
        count <= MAX_GRID_VIEWS,
        "--grid has {count} combinations; at most {MAX_GRID_VIEWS} views fit in a site (give fewer values)"
    );
    let defaults = EmbedParams::default_for(run);
    fn first_choice<T: PartialEq + Clone + std::fmt::Display>(
        axis: &[T],
        flag: Option<&T>,
        default: &T,
        name: &str,
        flag_name: &str,
    ) -> anyhow::Result<T> {
        match flag {
            Some(f) if axis.contains(f) => Ok(f.clone()),
            Some(f) => anyhow::bail!("{flag_name} {f} is not among --grid {name}'s values; pick one of them"),
            None if axis.contains(default) => Ok(default.clone()),
            None => Ok(axis[0].clone()),
        }
    }
    let mut shown = flags.clone();
    if let Some(a) = &grid.n_neighbors {
        shown.n_neighbors =
            Some(first_choice(a, flags.n_neighbors.as_ref(), &defaults.n_neighbors, "n_neighbors", "--n-neighbors")?);
    }
    if let Some(a) = &grid.min_dist {
        shown.min_dist = Some(first_choice(a, flags.min_dist.as_ref(), &defaults.min_dist, "min_dist", "--min-dist")?);
    }
    if let Some(a) = &grid.metric {
        shown.metric = Some(first_choice(a, flags.metric.as_ref(), &defaults.metric, "metric", "--metric")?);
    }

    // The cartesian product, the first axis given varying slowest.
    let mut combos = vec![flags.clone()];
    for axis in &grid.order {
        combos = combos
            .into_iter()
            .flat_map(|c| -> Vec<ParamOverrides> {
                match *axis {
                    "n_neighbors" => grid
                        .n_neighbors
                        .iter()
                        .flatten()
                        .map(|&v| ParamOverrides { n_neighbors: Some(v), ..c.clone() })
                        .collect(),
                    "min_dist" => grid
                        .min_dist
                        .iter()
                        .flatten()
                        .map(|&v| ParamOverrides { min_dist: Some(v), ..c.clone() })
                        .collect(),
                    _ => grid
                        .metric
                        .iter()
                        .flatten()
                        .map(|v| ParamOverrides { metric: Some(v.clone()), ..c.clone() })
                        .collect(),
                }
            })
            .collect();
    }
    let shown_key = shown.resolve(run).context("the view shown first")?.cache_key();
    let mut views = Vec::with_capacity(combos.len());
    for c in &combos {
        let p = c.resolve(run).with_context(|| {
            format!(
                "--grid: the view n_neighbors={} min_dist={} metric={} does not fit the run",
                c.n_neighbors.unwrap_or(defaults.n_neighbors),
                c.min_dist.unwrap_or(defaults.min_dist),
                c.metric.clone().unwrap_or_else(|| defaults.metric.clone())
            )
        })?;
        views.push(p);
    }
    let first = views.iter().position(|p| p.cache_key() == shown_key).unwrap_or(0);
    Ok((views, first))
}

/// The menu's axes: the grid's, in the order given, with their values as the summary writes them.
fn axes(grid: &Grid) -> Vec<GridAxis> {
    let json = |v: Vec<Value>, name: &str| GridAxis { name: name.into(), values: v };
    grid.order
        .iter()
        .map(|&name| match name {
            "n_neighbors" => json(grid.n_neighbors.iter().flatten().map(|&v| Value::from(v)).collect(), name),
            // As written (0.1, not the f32's 0.10000000149011612).
            "min_dist" => json(
                grid.min_dist
                    .iter()
                    .flatten()
                    .map(|v| v.to_string().parse::<f64>().map_or(Value::Null, Value::from))
                    .collect(),
                name,
            ),
            _ => json(grid.metric.iter().flatten().map(|v| Value::from(v.clone())).collect(), name),
        })
        .collect()
}

/// The coarsest precision `site` falls back to by itself to meet a size limit: a decoded point is
/// then within 1/1022 of its view's extent, under half a pixel of a 500-pixel plot.
const AUTO_MIN_BITS: u32 = 9;

/// The opened run for the next build: the first time the one opened at the start; after that
/// (`build` consumes it) opened again, and refused if its epochs are no longer the embedded ones.
fn reopened(run: &mut Option<Run>, path: &std::path::Path, views: &[SiteView]) -> anyhow::Result<Run> {
    if let Some(r) = run.take() {
        return Ok(r);
    }
    let r = Run::open(path).context("could not open the run again")?;
    let embedded = views.first().and_then(|v| v.embeddings.first()).map(|e| e.epochs.as_slice());
    anyhow::ensure!(
        embedded.is_none_or(|e| e == r.epochs()),
        "the run {} changed while its site was built (its epochs are not the embedded ones); run `site` again",
        escape(&path.display().to_string())
    );
    Ok(r)
}

/// The error for a site over the size limit (`what` `bytes` `how`), with what to change.
fn too_big(what: &str, bytes: f64, how: &str, limit_mb: f64) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} {:.1} MB{how}, over the limit of {limit_mb} MB (--max-size); embed fewer samples (--samples-per-class K \
         or --samples N), fewer layers (--layers) or a smaller --grid, or raise --max-size",
        bytes / MB
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    init_threads(args.threads)?;
    let limit_mb = args.max_size.or(args.single_file.then_some(DEFAULT_SINGLE_FILE_MB));
    if let Some(l) = limit_mb {
        anyhow::ensure!(l.is_finite() && l > 0.0, "--max-size must be a positive number of MB, got {l}");
    }
    let run = Run::open(&args.run).context("could not open the run")?;
    anyhow::ensure!(
        !run.owns_path(&args.out),
        "--out {}: inside the run {} (or one of its files through a link); a run's files are never modified, so \
         choose an --out outside the run's folder",
        escape(&args.out.display().to_string()),
        escape(&run.path().display().to_string())
    );
    if args.single_file {
        nm_server::site::check_out_file(&args.out)?;
    } else {
        nm_server::site::check_out_folder(&args.out)?;
    }
    let layers = resolve_layers(&run, &args.layers)?;
    let grid = parse_grid(&args.grid)?;
    let flags = args.params.overrides();
    let (views, first) = grid_views(&run, &grid, &flags)?;
    let precision = parse_precision(args.precision.as_deref())?;

    // Before any work, at full precision: the positions alone (u16 x 2 per point and epoch, a u32
    // sample index per point) must fit the limit; base64 in one file makes them 4/3 larger. Packed
    // sizes depend on how much the views move, so they are checked once built.
    let n = nm_pipeline::sample_count(&run, &views[0].sampling) as f64;
    let epochs = run.epochs().len() as f64;
    let inflate = if args.single_file { 4.0 / 3.0 } else { 1.0 };
    let at_least = views.len() as f64 * layers.len() as f64 * (4.0 * n + 4.0 * epochs * n) * inflate;
    if let (Some(l), None) = (limit_mb, precision) {
        if at_least > l * MB {
            return Err(too_big(
                &format!(
                    "{} views × {} layers × {epochs} epochs × {n} samples would take at least",
                    views.len(),
                    layers.len()
                ),
                at_least,
                "",
                l,
            ));
        }
    }

    eprintln!(
        "{}: {} views × {} layers × {} epochs × {} samples",
        nm_run::text::clip(run.name()),
        views.len(),
        layers.len(),
        run.epochs().len(),
        n
    );
    cancel_on_ctrl_c();
    let mut site_views = Vec::with_capacity(views.len());
    for (i, params) in views.iter().enumerate() {
        eprintln!("view {}/{}: {}", i + 1, views.len(), params.describe());
        let outcomes = compute(&run, &layers, params);
        if interrupted() {
            return Err(crate::Interrupted(format!(
                "stopped by Ctrl-C at view {} of {}; nothing was written (views already embedded stay cached)",
                i + 1,
                views.len()
            ))
            .into());
        }
        let mut embeddings = Vec::with_capacity(layers.len());
        for o in outcomes {
            embeddings
                .push(o.result.with_context(|| format!("layer `{}` of view {}", escape(&o.layer), params.describe()))?);
        }
        let quality = match nm_pipeline::quality(&run, &embeddings, params, &nm_umap::Control::default()) {
            Ok(q) => Some(q.to_json()),
            Err(e) => {
                eprintln!("note: view {}: no quality numbers ({})", i + 1, escape(&e.to_string()));
                None
            }
        };
        site_views.push(SiteView { params: params.clone(), embeddings, quality });
    }

    // The precisions to try: the one asked for, or with a size limit and no --precision, 12 bits
    // per axis down to AUTO_MIN_BITS until the site fits.
    let tries: Vec<Option<u32>> = match (limit_mb, &args.precision) {
        (Some(_), None) => (AUTO_MIN_BITS..=nm_server::site::DEFAULT_PRECISION_BITS).rev().map(Some).collect(),
        _ => vec![precision],
    };
    let out = escape(&args.out.display().to_string());
    let what = if args.single_file { format!("the page {out} would be") } else { format!("the site {out} would take") };
    let mut run = Some(run);
    let mut finest: Option<(u32, f64)> = None;
    let mut built = None;
    for &bits in &tries {
        let site = nm_server::site::build(
            reopened(&mut run, &args.run, &site_views)?,
            &layers,
            &site_views,
            first,
            axes(&grid),
            bits,
        )?;
        // One page is made here once and kept for writing; a folder's files are counted.
        let page = if args.single_file { Some(site.single_html()?) } else { None };
        let bytes = match &page {
            Some(html) => html.len(),
            None => site.folder_files()?.iter().map(|(_, b)| b.len()).sum(),
        } as f64;
        let fits = limit_mb.is_none_or(|l| bytes <= l * MB);
        if fits {
            built = Some((site, page));
            if let (Some((b, size)), Some(now)) = (finest, bits) {
                eprintln!(
                    "note: positions packed at {now} bits per axis to fit --max-size ({b} bits would take {:.1} MB); \
                     a decoded point is within 1/{} of its view's extent",
                    size / MB,
                    (1u32 << (now + 1)) - 2
                );
            }
            break;
        }
        finest.get_or_insert((bits.unwrap_or(0), bytes));
        if bits == tries.last().copied().flatten() {
            let at = if tries.len() > 1 { format!(" even at {AUTO_MIN_BITS} bits per axis") } else { String::new() };
            return Err(too_big(&what, bytes, &at, limit_mb.unwrap_or(0.0)));
        }
    }
    let (site, page) = built.context("no precision was tried")?;
    if let Some(html) = page {
        nm_server::site::write_file(&args.out, &html)?;
        println!(
            "wrote {out}: one page, {} ({:.1} s); open it in a browser",
            human_bytes(html.len() as u64),
            start.elapsed().as_secs_f64()
        );
    } else {
        let (files, bytes) = site.write_folder(&args.out)?;
        println!(
            "wrote {out}: {files} files, {} ({} of views and data; {:.1} s)",
            human_bytes(bytes),
            human_bytes(site.data_bytes()),
            start.elapsed().as_secs_f64()
        );
        println!(
            "serve it with any static file server, e.g. `python3 -m http.server -d {out}`, and open its index.html"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_items_parse_in_order() {
        let g = parse_grid(&["min_dist=0.1,0.5".into(), "n_neighbors=5, 15".into()]).unwrap();
        assert_eq!(g.order, ["min_dist", "n_neighbors"]);
        assert_eq!(g.n_neighbors, Some(vec![5, 15]));
        assert_eq!(g.min_dist, Some(vec![0.1, 0.5]));
    }

    #[test]
    fn bad_grid_items_say_what_is_expected() {
        let err = |items: &[&str]| {
            parse_grid(&items.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap_err().to_string()
        };
        assert!(err(&["n_neighbors"]).contains("NAME=V1,V2"));
        assert!(err(&["seed=1,2"]).contains("n_neighbors, min_dist and metric"));
        assert!(err(&["n_neighbors=5,x"]).contains("`x` is not a whole number"));
        assert!(err(&["metric=manhattan"]).contains("euclidean or cosine"));
        assert!(err(&["min_dist=0.1", "min_dist=0.2"]).contains("twice"));
        assert!(err(&["n_neighbors=5,5"]).contains("given twice"));
    }

    #[test]
    fn precision_is_bits_or_full() {
        assert_eq!(parse_precision(None).unwrap(), Some(12));
        assert_eq!(parse_precision(Some("16")).unwrap(), Some(16));
        assert_eq!(parse_precision(Some("full")).unwrap(), None);
        for bad in ["7", "17", "x", ""] {
            assert!(parse_precision(Some(bad)).unwrap_err().to_string().contains("8 to 16, or `full`"), "{bad}");
        }
    }
}
