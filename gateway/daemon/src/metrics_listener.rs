//! The metrics listener of `wiregate serve`: `/metrics` on `[metrics] listen`, apart
//! from the API, reading the reconciler's backends and the store when scraped.

use crate::config::MetricsConfig;
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wiregate_control::metrics::{ApiMetrics, Metrics};
use wiregate_control::reconcile::Reconciler;
use wiregate_control::store::Store;

/// Binds and serves the metrics until `stopped` turns true; `None` when turned off.
pub fn start(
    runtime: &Runtime,
    config: &MetricsConfig,
    reconciler: Arc<Reconciler>,
    store: Arc<dyn Store>,
    api: &ApiMetrics,
    stopped: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<std::io::Result<()>>>, String> {
    let Some(listen) = config.listen else {
        return Ok(None);
    };
    let metrics = Metrics::new(reconciler, store, api, config.peer_series)
        .map_err(|e| format!("metrics: {e}"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|e| format!("metrics on {listen}: {e}"))?;
    tracing::info!(%listen, peer_series = %config.peer_series, "metrics are served");
    Ok(Some(runtime.spawn(wiregate_control::metrics::http::serve(
        listener,
        Arc::new(metrics),
        until_stopped(stopped),
    ))))
}

/// Completes once the stop flag is raised (or its sender is gone).
pub async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
