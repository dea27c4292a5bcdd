//! The reconcile loop's counters.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub struct ReconcileMetrics {
    pub passes: IntCounter,
    pub failures: IntCounterVec,
    pub drift_repaired: IntCounterVec,
    /// From a commit on any gateway sharing the store to its tunnel applied here.
    pub fanout: Histogram,
}

impl Default for ReconcileMetrics {
    fn default() -> Self {
        let vec = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["interface"]).expect("valid metric")
        };
        Self {
            passes: IntCounter::new(
                "wiregate_reconcile_passes_total",
                "Periodic reconcile passes.",
            )
            .expect("valid metric"),
            failures: vec(
                "wiregate_reconcile_failures_total",
                "Tunnel creations or applies that failed.",
            ),
            drift_repaired: vec(
                "wiregate_reconcile_drift_repaired_total",
                "Passes that found the data plane drifted from what was applied, and repaired it.",
            ),
            fanout: Histogram::with_opts(
                HistogramOpts::new(
                    "wiregate_store_fanout_seconds",
                    "From a change committed by any gateway sharing the store to the tunnel applied on this one (announced changes, PostgreSQL only).",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
            )
            .expect("valid metric"),
        }
    }
}

impl ReconcileMetrics {
    /// Starts a tunnel's counters at 0, so they are scraped before anything happens.
    pub fn know(&self, tunnel: &str) {
        self.failures.with_label_values(&[tunnel]);
        self.drift_repaired.with_label_values(&[tunnel]);
    }

    /// Drops a deleted tunnel's counters.
    pub fn forget(&self, tunnel: &str) {
        let _ = self.failures.remove_label_values(&[tunnel]);
        let _ = self.drift_repaired.remove_label_values(&[tunnel]);
    }

    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.passes.clone()))?;
        registry.register(Box::new(self.failures.clone()))?;
        registry.register(Box::new(self.fanout.clone()))?;
        registry.register(Box::new(self.drift_repaired.clone()))
    }
}
