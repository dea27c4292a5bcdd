//! The metrics listener of `wiregate serve`: `/metrics` on `[metrics] listen`, apart
//! from the API, read from the control plane when scraped.

use crate::config::MetricsConfig;
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wiregate_control::ControlPlane;

/// Binds and serves the metrics until `stopped` turns true; `None` when turned off.
pub fn start(
    runtime: &Runtime,
    config: &MetricsConfig,
    plane: &Arc<ControlPlane>,
    stopped: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<std::io::Result<()>>>, String> {
    let Some(listen) = config.listen else {
        return Ok(None);
    };
    let metrics = plane.metrics(config.peer_series)?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|e| format!("metrics on {listen}: {e}"))?;
    tracing::info!(%listen, peer_series = %config.peer_series, "metrics are served");
    Ok(Some(runtime.spawn(wiregate_control::serve(
        listener,
        metrics,
        until_stopped(stopped),
    ))))
}

/// Completes once the stop flag is raised (or its sender is gone).
pub async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
