//! Prometheus metrics, served on a listener of their own (`docs/metrics.md` is the
//! reference). Nothing here is on the data path: tunnel and peer figures are read from
//! the backends at scrape time (`tunnels.rs`, written straight as text by
//! `exposition.rs`), from counters the data plane keeps anyway; the control plane's own
//! counters (`reconcile.rs`, `api.rs`) and the process collector are the `prometheus`
//! crate's.

pub mod api;
mod exposition;
pub mod http;
pub mod node;
pub mod peer_series;
pub mod reconcile;
mod tunnels;

pub use api::ApiMetrics;
pub use node::NodeMetrics;
pub use peer_series::PeerSeries;
pub use reconcile::ReconcileMetrics;

use crate::reconcile::Reconciler;
use crate::store::Store;
use prometheus::{IntGauge, Opts, Registry, TextEncoder};
use std::sync::Arc;

/// Everything `/metrics` shows.
pub struct Metrics {
    /// The control plane's counters, the process collector and the build info.
    registry: Registry,
    reconciler: Arc<Reconciler>,
    store: Arc<dyn Store>,
    peer_series: PeerSeries,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("peer_series", &self.peer_series)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(
        reconciler: Arc<Reconciler>,
        store: Arc<dyn Store>,
        api: &ApiMetrics,
        peer_series: PeerSeries,
    ) -> prometheus::Result<Self> {
        let registry = Registry::new();
        reconciler.metrics().register(&registry)?;
        reconciler.placement().metrics().register(&registry)?;
        api.register(&registry)?;
        let build = IntGauge::with_opts(
            Opts::new("wiregate_build_info", "Always 1; the version is a label.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build.set(1);
        registry.register(Box::new(build))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            reconciler,
            store,
            peer_series,
        })
    }

    /// The text exposition of every metric, as of now.
    pub fn render(&self) -> String {
        self.reconciler
            .placement()
            .metrics()
            .refresh(self.store.as_ref());
        let mut out = TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "encoding metrics");
                String::new()
            });
        tunnels::write(
            &self.reconciler,
            self.store.as_ref(),
            self.peer_series,
            &mut out,
        );
        out
    }
}
