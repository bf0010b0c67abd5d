//! `neuromapper demo`: trains a small ResNet on generated shapes and shows it learning, live,
//! in the browser. The viewer opens as soon as epoch 0 (the untrained network) is captured;
//! every later epoch is embedded incrementally and pushed to the page. `--compare` trains the
//! paper's three scenarios (best fit, underfit, overfit) one after another and shows them side by
//! side from the start, each row appearing with its run's first epoch.

use std::path::PathBuf;

use anyhow::Context as _;
use nm_train::{DataSource, Scenario};

use crate::server_flags::ServerFlags;
use crate::threads::init_threads;
use crate::training::{prepare_out_dir, train_and_serve, TrainArgs};

/// `--compare`'s runs, in the order they are trained and shown: sub-folder of OUT, scenario, and
/// the run's name.
const SCENARIOS: [(&str, Scenario, &str); 3] = [
    ("best-fit", Scenario::Normal, "best fit"),
    ("underfit", Scenario::Underfit, "underfit"),
    ("overfit", Scenario::Overfit, "overfit"),
];

#[derive(clap::Args)]
pub struct Args {
    /// The run folder (default: neuromapper-demo in the system's temp folder; a previous demo
    /// run there is replaced); with --compare, the folder of the three runs (default:
    /// neuromapper-compare in the system's temp folder)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Train best fit, underfit and overfit (the paper's three scenarios) into OUT/best-fit,
    /// OUT/underfit and OUT/overfit, one after another, and show them side by side
    #[arg(long)]
    pub compare: bool,
    #[command(flatten)]
    pub server: ServerFlags,
    #[command(flatten)]
    pub train: TrainArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_threads(args.train.threads)?;
    if args.compare {
        return compare(&args);
    }
    let config = args.train.to_config(DataSource::Shapes, Scenario::Normal).check()?;
    let (out, replace) = match &args.out {
        Some(o) => (o.clone(), false),
        None => (std::env::temp_dir().join("neuromapper-demo"), true),
    };
    prepare_out_dir(&out, replace)?;
    eprintln!(
        "neuromapper demo: training a ResNet (width {}) on generated shapes for {} epochs into {}",
        config.width,
        config.epochs,
        out.display()
    );
    let live = args.server.options(true);
    train_and_serve(&config, &out, Some(live))
}

/// `demo --compare`: the server follows all three runs before the first is written (it waits for
/// the missing ones), then each scenario is trained in turn; the server's watchers pick up every
/// epoch as it is renamed into place.
fn compare(args: &Args) -> anyhow::Result<()> {
    let (out, replace) = match &args.out {
        Some(o) => (o.clone(), false),
        None => (std::env::temp_dir().join("neuromapper-compare"), true),
    };
    let mut configs = Vec::new();
    for (dir, scenario, name) in SCENARIOS {
        let mut config = args.train.to_config(DataSource::Shapes, scenario);
        config.name = Some(name.to_string());
        configs.push((out.join(dir), config.check()?));
    }
    if out.exists() {
        anyhow::ensure!(out.is_dir(), "{} exists and is not a folder; choose another --out", out.display());
    }
    for (dir, _) in &configs {
        prepare_out_dir(dir, replace)?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    eprintln!(
        "neuromapper demo --compare: training best fit, underfit and overfit ({} epochs at most) into {}",
        args.train.epochs,
        out.display()
    );
    let opts = nm_server::ServeOptions { wait_for_missing: true, ..args.server.options(true) };
    let server = nm_server::start_runs(configs.iter().map(|(d, _)| d.clone()).collect(), opts)?;
    println!("{}", server.url());
    for (dir, config) in &configs {
        eprintln!("training {} into {}", config.name.as_deref().unwrap_or(""), dir.display());
        train_and_serve(config, dir, None)?;
    }
    eprintln!("all three trained; the viewer stays at {} (Ctrl-C to stop)", server.url());
    server.wait()
}
