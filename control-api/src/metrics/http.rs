//! The metrics listener: `GET /metrics` in the text format, apart from the API (no
//! token; keep it on a private address).

use super::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;

async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    // Reading the backends may wait for a reconcile pass: off the async workers.
    match tokio::task::spawn_blocking(move || metrics.render()).await {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("metrics: {e}\n"),
        ),
    }
}

/// `GET /metrics`, rendering `metrics` at every scrape.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(self::metrics))
        .with_state(metrics)
}
