//! Progress of one (layer, view) computation: the task's visible state and throttled `progress`
//! events, shared by the compute workers (`jobs`) and the live worker (`live`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nm_umap::Stage;

use crate::events::ServerEvent;
use crate::state::AppState;
use crate::sync::lock;
use crate::tasks::Task;

/// Progress events per task are sent at most this often unless the stage changes.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Pca => "pca",
        Stage::Neighbors => "neighbors",
        Stage::FuzzyGraph => "fuzzy_graph",
        Stage::Init => "init",
        Stage::Layout => "layout",
    }
}

/// Progress reporting for one (layer, view): updates the task's state (if any) and emits throttled
/// `progress` events.
pub struct ProgressReporter<'a> {
    pub state: &'a AppState,
    pub layer: &'a str,
    pub view: &'a str,
    pub task: Option<&'a Task>,
    last: Mutex<(Option<Stage>, Instant)>,
}

impl<'a> ProgressReporter<'a> {
    pub fn new(state: &'a AppState, layer: &'a str, view: &'a str, task: Option<&'a Task>) -> Self {
        ProgressReporter { state, layer, view, task, last: Mutex::new((None, Instant::now())) }
    }

    pub fn report(&self, stage: Stage, fraction: f32) {
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        if let Some(t) = self.task {
            t.set_progress(stage_name(stage), fraction);
        }
        let mut last = lock(&self.last);
        let now = Instant::now();
        if last.0 == Some(stage) && now.duration_since(last.1) < PROGRESS_INTERVAL && fraction < 1.0 {
            return;
        }
        *last = (Some(stage), now);
        drop(last);
        self.state.emit(ServerEvent::Progress {
            layer: self.layer,
            view: self.view,
            stage: stage_name(stage),
            fraction,
        });
    }
}
