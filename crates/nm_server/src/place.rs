//! Parametric mode (`serve --parametric`): the views are the positions the per-layer encoders of
//! `embed --parametric` give (read from the run's cache, never trained here), and
//! `POST /api/layers/{layer}/place?epoch=E` places an uploaded `.npy` of activations `[m, D]` in
//! epoch E's view through the [`Placer`] the CLI injects (the encoders run on burn, which this crate
//! does not depend on).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nm_pipeline::{EmbedParams, ParametricLayer};
use nm_run::Run;
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiError;
use crate::state::AppState;
use crate::sync::guarded;

/// Largest `.npy` upload accepted by the place route.
pub const MAX_PLACE_BYTES: usize = 64 * 1024 * 1024;
/// Most points placed by one request.
pub const MAX_PLACE_POINTS: usize = 100_000;
/// Place requests whose bodies are read and placed at once; later ones wait, their bodies unread,
/// for a turn ([`turn`]), so uploads hold at most this many times [`MAX_PLACE_BYTES`] of memory.
pub const MAX_PLACING: usize = 2;

static PLACING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_PLACING);

/// Waits for one of the [`MAX_PLACING`] turns; `listen` takes it before reading a place request's
/// body and holds it until the answer is made.
pub async fn turn() -> Option<tokio::sync::SemaphorePermit<'static>> {
    PLACING.acquire().await.ok()
}

/// Places activation rows `[m, D]` (row-major f32) into slice `slice` of a parametric layer's view,
/// returning positions `[m, 2]` in the view's data coordinates.
pub type PlaceFn = dyn Fn(&ParametricLayer, usize, Vec<f32>) -> anyhow::Result<Vec<f32>> + Send + Sync;

/// The encoder runner the CLI gives a parametric server ([`crate::ServeOptions::placer`]).
#[derive(Clone)]
pub struct Placer(pub Arc<PlaceFn>);

impl std::fmt::Debug for Placer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Placer")
    }
}

/// Whether `path` is a place route (its body may be up to [`MAX_PLACE_BYTES`]).
pub fn is_place_path(path: &str) -> bool {
    path.starts_with("/api/") && path.contains("/layers/") && path.ends_with("/place")
}

/// The command that makes the parametric cache of `layers` under `params`.
pub fn embed_command(run: &Run, layers: &[String], params: &EmbedParams) -> String {
    format!(
        "neuromapper embed {} --parametric --layers {}{}",
        run.path().display(),
        layers.join(","),
        flags_of(run, params)
    )
}

/// The embedding flags that differ from the run's defaults, as `embed` takes them.
fn flags_of(run: &Run, params: &EmbedParams) -> String {
    let d = EmbedParams::default_for(run);
    let mut out = String::new();
    if params.n_neighbors != d.n_neighbors {
        out += &format!(" --n-neighbors {}", params.n_neighbors);
    }
    if params.min_dist != d.min_dist {
        out += &format!(" --min-dist {}", params.min_dist);
    }
    if params.metric != d.metric {
        out += &format!(" --metric {}", params.metric);
    }
    if params.pca_dims != d.pca_dims {
        out += &format!(" --pca {}", params.pca_dims);
    }
    if params.sampling != d.sampling {
        out += &match params.sampling {
            nm_pipeline::Sampling::All => format!(" --samples {}", run.n_samples()),
            nm_pipeline::Sampling::Total(n) => format!(" --samples {n}"),
            nm_pipeline::Sampling::PerClass(k) => format!(" --samples-per-class {k}"),
        };
    }
    if params.seed != d.seed {
        out += &format!(" --seed {}", params.seed);
    }
    out
}

/// The layers among `layers` whose parametric view under `params` is not in the run's cache.
pub fn missing_layers(run: &Run, layers: &[String], params: &EmbedParams) -> Vec<String> {
    layers.iter().filter(|l| !nm_pipeline::parametric_path(run, l, params).is_file()).cloned().collect()
}

/// Why a parametric view cannot be shown: no cache for `layers` under `params`.
pub fn missing_message(run: &Run, layers: &[String], params: &EmbedParams) -> String {
    format!(
        "no parametric embedding of layer{} {} is cached for these parameters ({}); serve --parametric only shows \
         encoders trained beforehand: run `{}`",
        if layers.len() == 1 { "" } else { "s" },
        layers.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "),
        params.describe(),
        embed_command(run, layers, params)
    )
}

/// The parametric view of `layer` under `params`, from the run's cache (an error naming the
/// `embed --parametric` command when it is missing).
pub fn load_view(run: &Run, layer: &str, params: &EmbedParams) -> Result<ParametricLayer, String> {
    if params.align_layers {
        return Err("a parametric view embeds each layer on its own: there is no layer-aligned one".into());
    }
    nm_pipeline::cached_parametric(run, layer, params).ok_or_else(|| {
        let layers = [layer.to_string()];
        if missing_layers(run, &layers, params).is_empty() {
            format!(
                "the parametric cache of layer `{layer}` cannot be read (damaged or from another version); \
                 make it again with `{}`",
                embed_command(run, &layers, params)
            )
        } else {
            missing_message(run, &layers, params)
        }
    })
}

#[derive(Deserialize)]
pub struct PlaceQuery {
    epoch: Option<u32>,
    view: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// `POST /api/layers/{layer}/place?epoch=E[&view=K]`, body: a float `.npy` `[m, D]` of the layer's
/// activations. Answers `{"layer", "view", "epoch", "n", "positions": [x0, y0, x1, y1, ...]}`, the
/// points in epoch E's view (data coordinates, as the embedding route's bounds are).
pub async fn place(
    State(st): State<Arc<AppState>>,
    Path(layer): Path<String>,
    q: Result<Query<PlaceQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| bad(e.body_text()))?;
    let Some(placer) = st.placer() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "placing points needs the parametric views: start the viewer with `neuromapper serve RUN --parametric` \
             (after `neuromapper embed RUN --parametric`)",
        ));
    };
    let known = st.layer_names();
    if !known.contains(&layer) {
        return Err(bad(format!("unknown layer `{layer}`; the run has: {}", known.join(", "))));
    }
    let epoch = q.epoch.ok_or_else(|| bad("say which epoch's view the points join: ?epoch=E"))?;
    let key = q.view.unwrap_or_else(|| st.default_view_key());
    let view = st.parametric_view(&layer, &key).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("view `{key}` of layer `{layer}` is not loaded (yet); wait for it to be shown, then try again"),
        )
    })?;
    let slice = view.slice_of(epoch).map_err(|_| {
        let epochs: Vec<String> = view.embedding.epochs.iter().map(u32::to_string).collect();
        bad(format!("layer `{layer}`'s parametric view has no epoch {epoch}; it has epochs {}", epochs.join(", ")))
    })?;
    let dim = view.maps[slice].dim;
    let name = layer.clone();
    let placed = tokio::task::spawn_blocking(move || -> Result<(usize, Vec<f32>), ApiError> {
        let (m, d, rows) = nm_run::npy::decode_float_rows(&body).map_err(|e| bad(format!("the uploaded .npy: {e}")))?;
        if m > MAX_PLACE_POINTS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{m} points uploaded; at most {MAX_PLACE_POINTS} are placed at once"),
            ));
        }
        if d != dim {
            return Err(bad(format!(
                "the uploaded .npy has rows of {d} values, but layer `{layer}` has D = {dim}: give [m, {dim}] \
                 activations of that layer"
            )));
        }
        if m == 0 {
            return Ok((0, Vec::new()));
        }
        match guarded(|| (placer.0)(&view, slice, rows)) {
            Ok(Ok(p)) if p.len() == 2 * m => Ok((m, p)),
            Ok(Ok(p)) => Err(ApiError::internal(format!("the encoder gave {} values for {m} points", p.len()))),
            Ok(Err(e)) => Err(ApiError::internal(format!("cannot place the points: {e:#}"))),
            Err(e) => Err(ApiError::internal(e)),
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("internal error: {e}")))??;
    let (n, positions) = placed;
    let body = json!({"layer": name, "view": key, "epoch": epoch, "n": n, "positions": positions});
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
