//! `/healthz` and `/readyz`, for load balancers and orchestrators. Both answer anyone,
//! even with access control on (they are outside its middleware, so they never count
//! as logins), and tell nothing but a status and, when not ready, which part is not.
//!
//! - `GET /healthz`: 200 `{"status":"ok"}` whenever the process serves requests at all.
//! - `GET /readyz`: 200 `{"status":"ready"}` when the metadata and blob stores answer
//!   and take writes, else 503 with `"not ready"` and the state of each part
//!   (`"metadata"`, `"blobs"`: `"ok"` or `"not ready"`; `"shutting_down": true` once the
//!   server has begun to stop). The stores are probed at most once a second, whoever
//!   asks (see [`crate::registry::Readiness`]).

use super::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use serde_json::json;

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn healthz() -> Response {
    answer(StatusCode::OK, json!({ "status": "ok" }))
}

async fn readyz(State(registry): State<AppState>) -> Response {
    let readiness = registry.readiness().await;
    if readiness.ready() {
        return answer(StatusCode::OK, json!({ "status": "ready" }));
    }
    let state = |ok: bool| if ok { "ok" } else { "not ready" };
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({
            "status": "not ready",
            "metadata": state(readiness.metadata),
            "blobs": state(readiness.blobs),
            "shutting_down": readiness.shutting_down,
        }),
    )
}

/// A status never to be cached by a proxy in between.
fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")],
        body.to_string(),
    )
        .into_response()
}
