//! This gateway as a node of the fleet: how long ago each node reported (as the store
//! says, at scrape time), the leases this node holds, and the store operations of its
//! background work that failed.

use crate::nodes::NodeState;
use crate::store::Store;
use prometheus::{GaugeVec, IntCounter, IntGauge, Opts, Registry};

#[derive(Debug, Clone)]
pub struct NodeMetrics {
    heartbeat_age: GaugeVec,
    /// Leases of tunnels placed on several nodes that this node holds.
    pub leases: IntGauge,
    /// Heartbeats, lease renewals and reconcile reads that the store failed.
    pub store_errors: IntCounter,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            heartbeat_age: GaugeVec::new(
                Opts::new(
                    "wiregate_node_heartbeat_age_seconds",
                    "Seconds since each node sharing the store last reported, by the store's clock (nodes that stopped cleanly are left out).",
                ),
                &["node"],
            )
            .expect("valid metric"),
            leases: IntGauge::new(
                "wiregate_node_leases",
                "Leases of tunnels placed on several nodes that this node holds (the tunnels it serves for the fleet).",
            )
            .expect("valid metric"),
            store_errors: IntCounter::new(
                "wiregate_store_errors_total",
                "Store operations of this node's background work (heartbeats, lease renewals, reconcile reads) that failed.",
            )
            .expect("valid metric"),
        }
    }
}

impl NodeMetrics {
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.heartbeat_age.clone()))?;
        registry.register(Box::new(self.leases.clone()))?;
        registry.register(Box::new(self.store_errors.clone()))
    }

    /// Reads the nodes' reports from the store (at scrape time). A store that cannot be
    /// reached leaves no ages rather than stale ones.
    pub fn refresh(&self, store: &dyn Store) {
        self.heartbeat_age.reset();
        match store.nodes() {
            Ok(nodes) => {
                for node in nodes
                    .iter()
                    .filter(|n| NodeState::of(n) != NodeState::Stopped)
                {
                    self.heartbeat_age
                        .with_label_values(&[&node.name])
                        .set(node.seen_ago as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "metrics: cannot read the nodes"),
        }
    }
}
