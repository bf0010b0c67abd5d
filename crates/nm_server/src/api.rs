//! HTTP routes (see the table in lib.rs) and request validation.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use nm_pipeline::{EmbedParams, ParamOverrides, Sampling, N_NEIGHBORS_MAX, PCA_DIMS_MAX};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt as _;

use crate::events::ServerEvent;
use crate::state::AppState;
use crate::sync::{guarded, lock};
use crate::{assets, encode, jobs, values as sample_values};

/// Largest request body accepted (a compute request is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest client id accepted.
const MAX_CLIENT_ID: usize = 64;

type St = State<Arc<AppState>>;

/// An error answer: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Every route: run 0's under `/api/…` (what a single-run server has always answered), each run's
/// under `/api/runs/{i}/…`, the list of runs at `/api/runs`, and the viewer's files.
pub fn router(states: &[Arc<AppState>]) -> Router {
    let all: Arc<[Arc<AppState>]> = states.into();
    let mut router =
        Router::new().route("/api/runs", get(move || runs(all.clone()))).nest("/api", run_routes(states[0].clone()));
    for (i, st) in states.iter().enumerate() {
        router = router.nest(&format!("/api/runs/{i}"), run_routes(st.clone()));
    }
    router.fallback(static_file).layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The routes of one run (see the table in lib.rs), relative to its prefix.
fn run_routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/run", get(summary))
        .route("/samples", get(samples))
        .route("/layers/{layer}/embedding", get(embedding))
        .route("/thumbs/{page}", get(thumbs))
        .route("/quality", get(quality))
        .route("/values", get(values))
        .route("/sample-text", get(sample_text))
        .route("/change", get(change))
        .route("/compute", post(compute))
        .route(
            "/layers/{layer}/place",
            post(crate::place::place).layer(DefaultBodyLimit::max(crate::place::MAX_PLACE_BYTES)),
        )
        .route("/events", get(events))
        .with_state(state)
}

async fn runs(states: Arc<[Arc<AppState>]>) -> Result<Response, ApiError> {
    let body = blocking(move || Ok(crate::runs::runs_json(&states))).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

fn unknown_layer(state: &AppState, layer: &str) -> ApiError {
    let known = state.layer_names();
    if known.is_empty() {
        return ApiError::not_found(format!("unknown layer `{layer}`; the run has no layers yet (no epoch written)"));
    }
    ApiError::not_found(format!("unknown layer `{layer}`; the run has: {}", known.join(", ")))
}

fn has_layer(state: &AppState, layer: &str) -> bool {
    state.layer_names().iter().any(|l| l == layer)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || guarded(f).map_err(ApiError::internal)?)
        .await
        .map_err(|e| ApiError::internal(format!("internal error: {e}")))?
}

async fn summary(State(st): St) -> Result<Response, ApiError> {
    let s = st.clone();
    let body = blocking(move || Ok(summary_json(&s))).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

pub(crate) fn summary_json(st: &AppState) -> serde_json::Value {
    let Some(run) = st.run() else {
        let name = st.run_path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return json!({
            "name": name, "n_samples": 0, "classes": [], "layers": [], "epochs": [], "thumbs": null, "accuracy": [],
            "metrics": [], "live": st.training.load(std::sync::atomic::Ordering::Relaxed), "training": st.training.load(std::sync::atomic::Ordering::Relaxed),
            "default_view": st.default_view_key(), "default_params": st.default_params(), "views": [], "tasks": [],
            "limits": {"n_neighbors_max": N_NEIGHBORS_MAX, "pca_dims_max": PCA_DIMS_MAX}, "warning": null, "values": [],
        });
    };
    let (accuracy, derived_error, values) = match st.derived() {
        Ok(d) => (
            d.accuracy.iter().map(|(e, a)| json!({"epoch": e, "accuracy": a})).collect::<Vec<_>>(),
            d.table_error.clone(),
            sample_values::value_list(&run, d.table.as_ref()),
        ),
        Err(e) => (Vec::new(), Some(e.to_string()), Vec::new()),
    };
    let metrics = match guarded(|| run.metrics()) {
        Ok(Ok(m)) => serde_json::to_value(m).unwrap_or(json!([])),
        _ => json!([]),
    };
    let thumbs = st.inputs().map(|i| {
        let (_, th, tw) = encode::thumb_tile(&i);
        json!({"width": tw, "height": th, "cols": encode::THUMB_COLS, "per_page": encode::THUMB_COLS * encode::THUMB_ROWS,
               "pages": encode::thumb_pages(&i)})
    });
    let params = lock(&st.params_by_key).clone();
    let mut views = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (layer, key) in st.view_ids() {
        views.entry(key).or_default().push(layer);
    }
    let views: Vec<_> = views
        .into_iter()
        .map(|(key, layers)| json!({"key": key, "layers": layers, "params": params.get(&key)}))
        .collect();
    let tasks: Vec<_> = lock(&st.tasks)
        .values()
        .map(|t| {
            let (stage, fraction, clients) = t.status();
            json!({"layer": t.layer, "view": t.key, "stage": stage, "fraction": fraction, "clients": clients})
        })
        .collect();
    json!({
        "name": run.name(),
        "n_samples": run.n_samples(),
        "classes": run.classes(),
        "layers": run.layers(),
        "epochs": run.epochs(),
        "thumbs": thumbs,
        "accuracy": accuracy,
        "metrics": metrics,
        "live": st.training.load(std::sync::atomic::Ordering::Relaxed),
        "training": st.training.load(std::sync::atomic::Ordering::Relaxed),
        "default_view": st.default_view_key(),
        "default_params": st.default_params(),
        "views": views,
        "tasks": tasks,
        "limits": {"n_neighbors_max": N_NEIGHBORS_MAX, "pca_dims_max": PCA_DIMS_MAX},
        "warning": derived_error,
        "values": values,
        "adversarial": run.manifest().adversarial,
        "parametric": st.parametric(),
        "place_limits": {"bytes": crate::place::MAX_PLACE_BYTES, "points": crate::place::MAX_PLACE_POINTS},
    })
}

fn binary(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
}

async fn samples(State(st): St) -> Result<Response, ApiError> {
    let d = blocking(move || {
        st.derived().map_err(|e| ApiError::internal(format!("cannot read labels or predictions: {e}")))
    })
    .await?;
    Ok(binary(d.samples.clone()))
}

#[derive(Deserialize)]
struct ViewQuery {
    view: Option<String>,
}

async fn embedding(
    State(st): St,
    Path(layer): Path<String>,
    q: Result<Query<ViewQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    if !has_layer(&st, &layer) {
        return Err(unknown_layer(&st, &layer));
    }
    let key = q.view.unwrap_or_else(|| st.default_view_key());
    if st.reference().is_some() {
        let (s, l, k) = (st.clone(), layer.clone(), key.clone());
        if let Some(bytes) = blocking(move || Ok(crate::runs::aligned_view(&s, &l, &k))).await? {
            return Ok(binary(bytes));
        }
    }
    if let Some((bytes, _, _)) = st.view(&layer, &key) {
        return Ok(binary(bytes));
    }
    let running = lock(&st.tasks).get(&(layer.clone(), key.clone())).map(|t| t.status());
    Err(match running {
        Some((stage, fraction, _)) => ApiError::not_found(format!(
            "view `{key}` of layer `{layer}` is still being computed ({stage}, {:.0}%); wait for its `done` event",
            fraction * 100.0
        )),
        None => ApiError::not_found(format!("no view `{key}` of layer `{layer}`; ask for it with POST /api/compute")),
    })
}

/// The parameters of view `key` (the live view's are the defaults); 404 for a view never computed.
fn view_params(st: &AppState, key: &str) -> Result<EmbedParams, ApiError> {
    if key == crate::state::LIVE_VIEW { Some(st.default_params()) } else { lock(&st.params_by_key).get(key).cloned() }
        .ok_or_else(|| ApiError::not_found(format!("no view `{key}`")))
}

/// How far to trust each plot of a view: `nm_pipeline::quality`'s report as JSON (`{"points",
/// "layers": {LAYER: [{"epoch", "trust15", "knn10", "change15", "cka_prev_epoch",
/// "cka_next_layer"}]}}`), over every layer. Answered once every layer's embedding of the view is
/// in the run's cache (404 until then); computed on the blocking pool and cached in the run. In
/// parametric mode the embeddings are the parametric cache's.
async fn quality(State(st): St, q: Result<Query<ViewQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let key = q.view.unwrap_or_else(|| st.default_view_key());
    let params = view_params(&st, &key)?;
    let run = st.run().ok_or_else(no_epochs)?;
    let parametric = st.parametric();
    let body = blocking(move || {
        // Parametric mode's views are the encoders' positions: their quality, not the ordinary view's.
        let embeddings: Option<Vec<_>> = run
            .layers()
            .iter()
            .map(|l| match parametric {
                true => nm_pipeline::cached_parametric(&run, &l.name, &params).map(|p| p.embedding),
                false => nm_pipeline::cached(&run, &l.name, &params),
            })
            .collect();
        let embeddings = embeddings.ok_or_else(|| {
            ApiError::not_found(format!(
                "the quality of view `{key}` needs every layer's embedding of it in the cache: ask again once \
                 every layer is computed (a followed run's view is cached when the run is finished)"
            ))
        })?;
        match guarded(|| nm_pipeline::quality(&run, &embeddings, &params, &nm_umap::Control::default())) {
            Ok(Ok(report)) => Ok(report.to_json()),
            Ok(Err(e)) => Err(ApiError::internal(format!("cannot compute the quality of view `{key}`: {e}"))),
            Err(e) => Err(ApiError::internal(e)),
        }
    })
    .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[derive(Deserialize)]
struct ValueQuery {
    id: String,
}

/// One per-sample value over every sample (`values::value_data`), as binary (`encode::values_bytes`).
async fn values(State(st): St, q: Result<Query<ValueQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let run = st.run().ok_or_else(no_epochs)?;
    let bytes = blocking(move || {
        let d = st.derived().map_err(|e| ApiError::internal(format!("cannot read the run: {e}")))?;
        let (epochs, rows) = sample_values::value_data(&run, &q.id, d.table.as_ref()).map_err(ApiError::not_found)?;
        Ok(encode::values_bytes(&json!({"id": q.id, "epochs": epochs, "n": run.n_samples()}), &rows))
    })
    .await?;
    Ok(binary(bytes))
}

/// `samples.csv`'s text columns, for the tooltip.
async fn sample_text(State(st): St) -> Result<Response, ApiError> {
    let body = blocking(move || {
        let d = st.derived().map_err(|e| ApiError::internal(format!("cannot read the run: {e}")))?;
        Ok(sample_values::text_columns(d.table.as_ref()))
    })
    .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[derive(Deserialize)]
struct ChangeQuery {
    layer: String,
    view: Option<String>,
}

/// Per-sample neighbour change of one layer over a stored view's samples and epochs
/// (`nm_pipeline::sample_change`), as binary values in the order of the view's points.
async fn change(State(st): St, q: Result<Query<ChangeQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    if !has_layer(&st, &q.layer) {
        return Err(unknown_layer(&st, &q.layer));
    }
    let key = q.view.unwrap_or_else(|| st.default_view_key());
    let (samples, epochs) = st
        .view_samples(&q.layer, &key)
        .ok_or_else(|| ApiError::not_found(format!("no view `{key}` of layer `{}` (yet)", q.layer)))?;
    let params = view_params(&st, &key)?;
    let run = st.run().ok_or_else(no_epochs)?;
    let layer = q.layer;
    let bytes = blocking(move || {
        let ctl = nm_umap::Control::default();
        match guarded(|| nm_pipeline::sample_change(&run, &layer, &samples, &epochs, &params, &ctl)) {
            Ok(Ok(c)) => Ok(encode::values_bytes(
                &json!({"id": "change", "layer": layer, "view": key, "epochs": c.epochs, "n": c.samples.len()}),
                &c.values,
            )),
            Ok(Err(e)) => {
                Err(ApiError::internal(format!("cannot compute the neighbour change of layer `{layer}`: {e}")))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    })
    .await?;
    Ok(binary(bytes))
}

async fn thumbs(State(st): St, Path(page): Path<String>) -> Result<Response, ApiError> {
    let n: usize = page
        .strip_suffix(".png")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("no thumbnail page `{page}`; pages are named 0.png, 1.png, ...")))?;
    let png = blocking(move || {
        let inputs = st.inputs().ok_or_else(|| ApiError::not_found("this run has no inputs.npy, so no thumbnails"))?;
        encode::thumb_page_png(&inputs, n).ok_or_else(|| {
            ApiError::not_found(format!("no thumbnail page {n}; the run has {}", encode::thumb_pages(&inputs)))
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "max-age=3600")], png).into_response())
}

/// `POST /api/compute` body. Omitted parameters take the default view's values.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ComputeRequest {
    /// Who asks (any short id the browser picked); a client's newer request supersedes its older ones.
    client: Option<String>,
    /// Layers to compute (all when omitted).
    layers: Option<Vec<String>>,
    #[serde(default)]
    params: ParamsIn,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ParamsIn {
    n_neighbors: Option<u64>,
    min_dist: Option<f64>,
    metric: Option<String>,
    sampling: Option<SamplingIn>,
    pca_dims: Option<u64>,
    seed: Option<u64>,
    align_layers: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum SamplingIn {
    All,
    Total { n: u64 },
    PerClass { n: u64 },
}

/// Maps the request onto the pipeline's parameters (over the default view's) and validates them
/// there: the pipeline owns the limits, so the server and the CLI accept the same values.
fn validate(st: &AppState, p: ParamsIn) -> Result<EmbedParams, ApiError> {
    let run = st.run().ok_or_else(no_epochs)?;
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let overrides = ParamOverrides {
        n_neighbors: p.n_neighbors.map(size),
        min_dist: p.min_dist.map(|v| v as f32),
        metric: p.metric,
        pca_dims: p.pca_dims.map(size),
        sampling: p.sampling.map(|s| match s {
            SamplingIn::All => Sampling::All,
            SamplingIn::Total { n } => Sampling::Total(size(n)),
            SamplingIn::PerClass { n } => Sampling::PerClass(size(n)),
        }),
        seed: p.seed,
        align_layers: p.align_layers,
    };
    let params = overrides.apply(&st.default_params());
    match guarded(|| params.checked(&run)) {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(ApiError::bad(e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Parametric mode shows only views whose encoders `embed --parametric` trained: others are refused.
fn parametric_cached(run: &nm_run::Run, layers: &[String], params: &EmbedParams) -> Result<(), ApiError> {
    if params.align_layers {
        return Err(ApiError::bad(
            "the parametric views embed each layer on its own: align_layers is not available with serve --parametric",
        ));
    }
    let missing = crate::place::missing_layers(run, layers, params);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::CONFLICT, crate::place::missing_message(run, &missing, params)))
    }
}

fn no_epochs() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "the run has no epochs yet; wait for the first one")
}

async fn compute(State(st): St, body: Result<Json<ComputeRequest>, JsonRejection>) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE { e.status() } else { StatusCode::BAD_REQUEST };
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("request body too large (at most {MAX_BODY_BYTES} bytes)")
        } else {
            format!("bad compute request: {}", e.body_text())
        };
        ApiError::new(status, message)
    })?;
    let client = req.client.unwrap_or_else(|| "anonymous".into());
    if client.len() > MAX_CLIENT_ID
        || !client.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        || client == crate::state::SERVER_CLIENT
    {
        return Err(ApiError::bad(format!(
            "client must be 1 to {MAX_CLIENT_ID} letters, digits, '-', '_' or '.' (and not \"server\")"
        )));
    }
    if st.run().is_none_or(|r| r.epochs().is_empty()) {
        return Err(no_epochs());
    }
    let all = st.layer_names();
    let layers = match req.layers {
        None => all,
        Some(ls) if ls.is_empty() => {
            return Err(ApiError::bad("layers must name at least one layer (or be omitted for all)"))
        }
        Some(ls) => {
            if let Some(bad) = ls.iter().find(|l| !all.contains(l)) {
                return Err(unknown_layer(&st, bad));
            }
            let mut uniq = ls;
            uniq.dedup();
            uniq
        }
    };
    let s = st.clone();
    let params = blocking(move || validate(&s, req.params)).await?;
    if st.parametric() {
        let (run, ls, p) = (st.run().ok_or_else(no_epochs)?, layers.clone(), params.clone());
        blocking(move || parametric_cached(&run, &ls, &p)).await?;
    }
    let (view, tasks) = jobs::request(&st, &client, &layers, params.clone())
        .map_err(|jobs::Busy(m)| ApiError::new(StatusCode::TOO_MANY_REQUESTS, m))?;
    Ok(Json(json!({"view": view, "params": params, "tasks": tasks})).into_response())
}

async fn events(State(st): St) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = st.subscribe();
    let hello = tokio_stream::once(Ok(Event::default().data(ServerEvent::Hello.to_json())));
    let rest = BroadcastStream::new(rx).filter_map(|m| m.ok().map(|s| Ok(Event::default().data(&*s))));
    Sse::new(hello.chain(rest)).keep_alive(KeepAlive::default())
}

async fn static_file(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path == "api" {
        return ApiError::not_found(format!("no API route {}", uri.path())).into_response();
    }
    match assets::get(path) {
        Some((bytes, ctype)) => {
            ([(header::CONTENT_TYPE, ctype), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
        }
        None => ApiError::not_found(format!("not found: {}", uri.path())).into_response(),
    }
}
