//! `neuromapper cache RUN [--clear]`: what neuromapper keeps under `RUN/.neuromapper/` (each
//! embedding and pre-embed with its layer, parameters, size and whether it is current), its total
//! against the size cap, or, with `--clear`, removing what we wrote there.

use std::path::{Path, PathBuf};

use nm_pipeline::cache;
use nm_run::text::escape;
use nm_run::Run;

use crate::sizes::human_bytes;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder
    pub run: PathBuf,
    /// Remove every cache file neuromapper wrote (anything else under .neuromapper/ is left alone)
    #[arg(long)]
    pub clear: bool,
}

/// One line of the listing.
struct Row {
    kind: &'static str,
    layer: String,
    what: String,
    bytes: u64,
    status: &'static str,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = &args.run;
    anyhow::ensure!(root.is_dir(), "{}: not a folder; give the run's folder", escape(&root.display().to_string()));
    let shown = escape(&root.join(nm_run::CACHE_DIR).display().to_string());
    if args.clear {
        let (n, bytes) = cache::clear(root)?;
        println!("removed {n} cache files ({}) from {shown}", human_bytes(bytes));
        return Ok(());
    }
    let files = cache::files(root);
    let cap = cache::max_bytes();
    if files.is_empty() {
        println!("{shown}: empty (size cap {}, set by {})", human_bytes(cap), cache::MAX_BYTES_ENV);
        return Ok(());
    }
    // The run tells which entries are current; a run that does not open still has a listable cache.
    let run = Run::open(root);
    if let Err(e) = &run {
        eprintln!("warning: the run does not open, so nothing can be told current: {e}");
    }
    let run = run.ok();
    let embeddings = run.as_ref().map(nm_pipeline::list_cached).unwrap_or_default();
    let mut rows: Vec<Row> = files.iter().map(|f| describe(run.as_ref(), &embeddings, &f.path, f.bytes)).collect();
    rows.sort_by(|a, b| (a.kind, &a.layer, &a.what).cmp(&(b.kind, &b.layer, &b.what)));
    let lw = rows.iter().map(|r| r.layer.chars().count()).max().unwrap_or(5).max(5);
    let ww = rows.iter().map(|r| r.what.chars().count()).max().unwrap_or(0);
    println!("{shown}:");
    for r in &rows {
        println!("  {:<9}  {:<lw$}  {:<ww$}  {:>10}  {}", r.kind, r.layer, r.what, human_bytes(r.bytes), r.status);
    }
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let stale = rows.iter().filter(|r| r.status == "stale").count();
    println!(
        "total {} files, {} of a {} cap ({}); {stale} stale{}",
        files.len(),
        human_bytes(total),
        human_bytes(cap),
        cache::MAX_BYTES_ENV,
        if stale > 0 { "; least recently used files go first when the cap is reached" } else { "" }
    );
    Ok(())
}

fn describe(run: Option<&Run>, embeddings: &[nm_pipeline::CacheEntry], path: &Path, bytes: u64) -> Row {
    let unknown = |kind| Row { kind, layer: "?".into(), what: "unreadable header".into(), bytes, status: "damaged" };
    let Some(h) = cache::read_header(path) else { return unknown("?") };
    let layer = escape(h["layer"].as_str().unwrap_or("?"));
    match h["kind"].as_str() {
        Some("embedding") => {
            let entry = embeddings.iter().find(|e| e.path == path);
            let what = match entry {
                Some(e) => format!("{} epochs × {} samples  {}", e.epochs, e.n_samples, e.params.describe()),
                None => format!(
                    "{} epochs × {} samples",
                    h["epochs"].as_array().map_or(0, std::vec::Vec::len),
                    h["n_samples"].as_u64().unwrap_or(0)
                ),
            };
            let status = match (run, entry) {
                (None, _) => "unknown",
                (Some(_), Some(e)) if e.current => "current",
                (Some(_), Some(_)) => "stale",
                (Some(_), None) => "damaged",
            };
            Row { kind: "embedding", layer, what, bytes, status }
        }
        Some("pca") => {
            let epoch = h["epoch"].as_u64();
            let what = format!(
                "epoch {} pre-embed, {} rows → {} dims",
                epoch.map_or("?".into(), |e| e.to_string()),
                h["rows"].as_u64().unwrap_or(0),
                h["cols"].as_u64().unwrap_or(0)
            );
            let status = pca_status(run, h["layer"].as_str(), epoch, path);
            Row { kind: "pre-embed", layer, what, bytes, status }
        }
        _ => unknown("?"),
    }
}

/// A pre-embed's key hashes its parameters, which its header does not list; it is stale for sure
/// when its layer or epoch is gone, or the data changed after the file was last written or used.
fn pca_status(run: Option<&Run>, layer: Option<&str>, epoch: Option<u64>, path: &Path) -> &'static str {
    let Some(run) = run else { return "unknown" };
    let (Some(layer), Some(epoch)) = (layer, epoch) else { return "damaged" };
    let Ok(epoch) = u32::try_from(epoch) else { return "stale" };
    let Ok((_, _, _, data_ns)) = run.layer_stamp(layer, epoch) else { return "stale" };
    let used_ns = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    if data_ns > used_ns {
        "stale"
    } else {
        "current"
    }
}
