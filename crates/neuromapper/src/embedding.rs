//! Embedding a run's layers from the terminal, shared by `embed` and `export`: `--layers` checked
//! against the run, the layers embedded in parallel with a progress bar each (or a line each when
//! stderr is not a terminal), and Ctrl-C stopping them cleanly.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nm_pipeline::{EmbedParams, LayerEmbedding, PipelineError};
use nm_run::text::escape;
use nm_run::Run;
use rayon::prelude::*;

/// One layer's result.
pub struct Outcome {
    pub layer: String,
    pub result: Result<LayerEmbedding, PipelineError>,
    pub seconds: f64,
    pub cached: bool,
}

/// Progress bar resolution (positions per stage).
const BAR_STEPS: u64 = 1000;

/// Set by Ctrl-C: running fits stop within one SGD epoch and layers not started are skipped.
static CANCEL: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C cancel [`compute`] instead of killing the process: layers already embedded stay
/// cached, nothing half-done is written. A second Ctrl-C quits at once (exit code 130). Every cache
/// write is atomic (temp + rename), so even that leaves no damaged file.
pub fn cancel_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping: layers already embedded stay cached (Ctrl-C again to quit at once)");
    });
    if let Err(e) = installed {
        eprintln!("note: Ctrl-C will stop at once, not cleanly ({e})");
    }
}

/// The flag Ctrl-C sets, for work outside [`compute`] (`embed --parametric`).
#[cfg(feature = "train")]
pub fn cancel_flag() -> &'static AtomicBool {
    &CANCEL
}

/// Whether Ctrl-C was pressed during [`compute`].
pub fn interrupted() -> bool {
    CANCEL.load(Ordering::SeqCst)
}

/// Embeds `layers` in parallel with a progress bar per layer showing its current stage.
/// Parameters must have been validated.
pub fn compute(run: &Run, layers: &[String], params: &EmbedParams) -> Vec<Outcome> {
    let tty = std::io::stderr().is_terminal();
    let mp =
        MultiProgress::with_draw_target(if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    // Layer names come from the run's files: shown with control characters escaped.
    let shown: Vec<String> = layers.iter().map(|l| escape(l)).collect();
    let width = shown.iter().map(std::string::String::len).max().unwrap_or(5);
    let style = ProgressStyle::with_template(&format!(
        "{{prefix:<{width}}}  {{msg:<11}} [{{bar:32}}] {{percent:>3}}%  {{elapsed}}"
    ))
    .expect("a valid template")
    .progress_chars("=> ");
    let say = |line: String| {
        if tty {
            let _ = mp.println(line);
        } else {
            eprintln!("{line}");
        }
    };
    layers
        .par_iter()
        .zip(&shown)
        .map(|(layer, name)| {
            let start = Instant::now();
            if interrupted() {
                return Outcome {
                    layer: layer.clone(),
                    result: Err(PipelineError::Cancelled),
                    seconds: 0.0,
                    cached: false,
                };
            }
            if let Some(hit) = nm_pipeline::cached(run, layer, params) {
                say(format!("{name:<width$}  from the cache"));
                return Outcome {
                    layer: layer.clone(),
                    result: Ok(hit),
                    seconds: start.elapsed().as_secs_f64(),
                    cached: true,
                };
            }
            let bar = mp.add(ProgressBar::new(BAR_STEPS).with_style(style.clone()).with_prefix(name.clone()));
            let report = |stage: nm_umap::Stage, f: f32| {
                bar.set_message(stage_name(stage));
                bar.set_position((f.clamp(0.0, 1.0) * BAR_STEPS as f32) as u64);
            };
            let ctl = nm_umap::Control { progress: Some(&report), cancel: Some(&CANCEL) };
            let result = nm_pipeline::embed_layer(run, layer, params, &ctl);
            let seconds = start.elapsed().as_secs_f64();
            bar.finish_and_clear();
            mp.remove(&bar);
            match &result {
                Ok(_) => say(format!("{name:<width$}  embedded in {seconds:.1} s")),
                Err(PipelineError::Cancelled) => say(format!("{name:<width$}  cancelled")),
                Err(e) => say(format!("{name:<width$}  failed: {}", escape(&e.to_string()))),
            }
            Outcome { layer: layer.clone(), result, seconds, cached: false }
        })
        .collect()
}

/// The layers named by `--layers` (all when empty), checked against the run.
pub fn resolve_layers(run: &Run, wanted: &[String]) -> anyhow::Result<Vec<String>> {
    let known: Vec<String> = run.layers().iter().map(|l| l.name.clone()).collect();
    if wanted.is_empty() {
        return Ok(known);
    }
    for w in wanted {
        anyhow::ensure!(
            known.contains(w),
            "unknown layer `{}`; the run has: {}",
            escape(w),
            nm_run::text::clip(&known.iter().map(|k| escape(k)).collect::<Vec<_>>().join(", "))
        );
    }
    Ok(wanted.to_vec())
}

/// The engine's stage names as shown in progress bars.
pub fn stage_name(stage: nm_umap::Stage) -> &'static str {
    match stage {
        nm_umap::Stage::Pca => "pre-embed",
        nm_umap::Stage::Neighbors => "neighbours",
        nm_umap::Stage::FuzzyGraph => "fuzzy graph",
        nm_umap::Stage::Init => "init",
        nm_umap::Stage::Layout => "layout",
    }
}
