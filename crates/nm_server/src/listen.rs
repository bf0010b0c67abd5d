//! The accept loop: the server's thread and tokio runtime, hyper HTTP/1 connections with a header-read
//! timeout (which is also the idle keep-alive timeout), a cap on open connections, and a deadline for
//! reading request bodies.
//!
//! Hand-written rather than `axum::serve`: in axum 0.8 `serve` builds hyper's connection builder
//! itself and installs no timer, so hyper's header-read timeout is inert and a client that sends half
//! a request holds its connection forever (axum#2741 leaves this to hyper). The loop follows
//! `axum::serve`'s own (hyper-util's `TokioIo` and `TowerToHyperService`), plus hyper's `TokioTimer`.
//! hyper restarts the header-read timer whenever a connection waits for its next request, so one
//! setting bounds both a slow request head and an idle keep-alive connection; a response being sent
//! (an SSE stream) is not under it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Body as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;

use crate::api::MAX_BODY_BYTES;
use crate::guard::{self, Access};

/// Connections open at once; more wait in the listen backlog until one closes.
pub const MAX_CONNECTIONS: usize = 256;
/// Default of [`crate::ServeOptions::client_timeout`].
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Threads for blocking work (summaries, thumbnails, parameter checks); more requests wait for one.
const BLOCKING_THREADS: usize = 8;

/// Serves `app` on `listener` from a new thread (with its own tokio runtime) until `stop` fires or
/// Ctrl-C; every request goes through `guard::check` and a body deadline of `client_timeout`.
pub fn spawn(
    listener: std::net::TcpListener,
    app: Router,
    access: Arc<Access>,
    client_timeout: Duration,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    // Layers run outermost last-added first: the guard refuses before a body is read.
    let app = app.layer(from_fn_with_state(client_timeout, read_body)).layer(from_fn_with_state(access, guard::check));
    listener.set_nonblocking(true).context("cannot make the listener non-blocking")?;
    std::thread::Builder::new()
        .name("nm-server".into())
        .spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(BLOCKING_THREADS)
                .enable_all()
                .thread_name("nm-server-rt")
                .build()
                .context("cannot start the tokio runtime")?;
            let result = rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).context("cannot adopt the listener")?;
                tokio::select! {
                    r = accept_loop(listener, app, client_timeout) => r,
                    _ = tokio::signal::ctrl_c() => { eprintln!("neuromapper: stopping"); Ok(()) }
                    _ = stop => Ok(()),
                }
            });
            rt.shutdown_timeout(Duration::from_millis(500));
            result
        })
        .context("cannot start the server thread")
}

async fn accept_loop(listener: tokio::net::TcpListener, app: Router, timeout: Duration) -> anyhow::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = slots.clone().acquire_owned().await.context("the connection limit was closed")?;
        // Out of file descriptors, or a connection reset before it was accepted: such errors
        // pass; wait a little rather than spin (as axum::serve does).
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(timeout);
            // An error here is the client's (timeout, bad request, reset): the connection just ends.
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Reads a request's body in full within `timeout` (at most `MAX_BODY_BYTES`; a place route's,
/// an uploaded `.npy`, at most `place::MAX_PLACE_BYTES`, and only in one of `place::MAX_PLACING`
/// turns): hyper bounds the time
/// to send the head, not the body, so a client that announces a body and sends half of it would
/// otherwise hold a handler forever. Requests without a body pass as they are.
async fn read_body(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    if req.body().size_hint().exact() == Some(0) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let place = crate::place::is_place_path(parts.uri.path());
    let limit = if place { crate::place::MAX_PLACE_BYTES } else { MAX_BODY_BYTES };
    // A large upload is read only in its turn, held until the answer is made.
    let _turn = if place { crate::place::turn().await } else { None };
    let error = |status: StatusCode, message: String| (status, Json(json!({ "error": message }))).into_response();
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => next.run(Request::from_parts(parts, Body::from(collected.to_bytes()))).await,
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large (at most {limit} bytes)"))
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body was not sent within {} s", timeout.as_secs_f32()),
        ),
    }
}
