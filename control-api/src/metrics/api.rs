//! The API's request counts and latencies, by route pattern (`/v1/tunnels/{tunnel}`), so
//! that tunnel names and peer ids do not become label values.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self {
            requests: IntCounterVec::new(
                Opts::new("wiregate_api_requests_total", "API requests."),
                &["method", "route", "status"],
            )
            .expect("valid metric"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "wiregate_api_request_duration_seconds",
                    "API request latency.",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["method", "route"],
            )
            .expect("valid metric"),
        }
    }
}

impl ApiMetrics {
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.duration.clone()))
    }

    /// Middleware (a `route_layer`, where the matched route is known): counts and times
    /// every request.
    pub async fn track(&self, request: Request, next: Next) -> Response {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned();
        let method = request.method().as_str().to_owned();
        let started = Instant::now();
        let response = next.run(request).await;
        self.duration
            .with_label_values(&[&method, &route])
            .observe(started.elapsed().as_secs_f64());
        self.requests
            .with_label_values(&[&method, &route, response.status().as_str()])
            .inc();
        response
    }
}
