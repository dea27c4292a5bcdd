//! Which tunnels this gateway runs. A tunnel placed on every node runs here; one pinned to
//! a single node runs on that node; one placed on several runs on the node holding its
//! lease in the store. Each node claims, at every heartbeat, the leases of the tunnels
//! placed on it among others; a lease runs for [`LEASE`] by the database's clock, so the
//! node that held it can be lost for at most that long before another takes it.
//!
//! Fencing: a node serves a leased tunnel only while its own clock says the lease it last
//! renewed still runs, with a margin of two heartbeats, and tears it down at the next
//! heartbeat after that; the store grants the lease to another only once it ran out by
//! the database's clock. A node cut off from the database therefore stops serving its
//! leased tunnels before any other node may start, so two nodes never serve one at once.
//! (Tunnels on every node, and pinned ones, keep forwarding through a database outage.)

use crate::metrics::NodeMetrics;
use crate::model::{Placement as Where, TunnelRecord};
use crate::nodes::HEARTBEAT;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a lease runs without renewal, by the database's clock.
pub const LEASE: Duration = Duration::from_secs(10);
/// How long this node trusts a lease it renewed, by its own clock: less than the lease by
/// two heartbeats, so that it has torn the tunnel down (at a heartbeat) before the lease
/// runs out in the database.
const TRUSTED: Duration = LEASE.saturating_sub(HEARTBEAT.saturating_mul(2));

#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: i64,
    /// When this node stops trusting it, unless renewed.
    until: Instant,
}

/// This node's view of where tunnels run.
#[derive(Debug)]
pub struct Placement {
    node: String,
    metrics: NodeMetrics,
    /// The leases this node holds, by tunnel.
    held: Mutex<HashMap<String, Held>>,
}

impl Placement {
    pub fn new(node: &str) -> Self {
        Self {
            node: node.to_owned(),
            metrics: NodeMetrics::default(),
            held: Mutex::new(HashMap::new()),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    fn held(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this node runs `tunnel` now.
    pub fn serves(&self, tunnel: &TunnelRecord) -> bool {
        match &tunnel.placement {
            Where::Every => true,
            Where::OneOf(nodes) if !tunnel.placement.leased() => nodes.first() == Some(&self.node),
            Where::OneOf(nodes) => {
                nodes.contains(&self.node)
                    && self
                        .held()
                        .get(&tunnel.name)
                        .is_some_and(|h| Instant::now() < h.until)
            }
        }
    }

    /// Claims or renews the leases of the tunnels placed on this node among others, gives
    /// up those no longer placed here, and lets go of those it could not renew in time.
    /// Returns the tunnels whose running here changed.
    pub fn renew(&self, store: &dyn Store) -> Vec<String> {
        let mut changed = Vec::new();
        let tunnels = match store.tunnels() {
            Ok(tunnels) => tunnels,
            Err(_) => {
                self.metrics.store_errors.inc();
                return self.expire();
            }
        };
        let wanted: Vec<&TunnelRecord> = tunnels
            .iter()
            .filter(|t| {
                t.placement.leased() && t.placement.nodes().is_some_and(|n| n.contains(&self.node))
            })
            .collect();
        for tunnel in &wanted {
            let asked = Instant::now();
            match store.claim(&tunnel.name, &self.node, LEASE) {
                Ok(Some(lease)) if lease.node == self.node => {
                    let before = self.held().insert(
                        tunnel.name.clone(),
                        Held {
                            epoch: lease.epoch,
                            until: asked + TRUSTED,
                        },
                    );
                    if before.is_none_or(|b| b.epoch != lease.epoch || b.until <= asked) {
                        tracing::info!(tunnel = %tunnel.name, epoch = lease.epoch, "took the tunnel's lease: serving it here");
                        changed.push(tunnel.name.clone());
                    }
                }
                Ok(other) => {
                    if self.held().remove(&tunnel.name).is_some() {
                        tracing::warn!(tunnel = %tunnel.name, holder = ?other.map(|l| l.node), "the tunnel's lease is another node's: no longer serving it");
                        changed.push(tunnel.name.clone());
                    }
                }
                // Trusted until it runs out; `expire` lets go of it then.
                Err(e) => {
                    self.metrics.store_errors.inc();
                    tracing::debug!(tunnel = %tunnel.name, error = %e, "cannot renew a lease");
                }
            }
        }
        // Placed elsewhere now, or deleted: given up.
        let gone: Vec<String> = self
            .held()
            .keys()
            .filter(|name| !wanted.iter().any(|t| &&t.name == name))
            .cloned()
            .collect();
        for name in gone {
            self.held().remove(&name);
            if let Err(e) = store.release(&name, &self.node) {
                tracing::debug!(tunnel = %name, error = %e, "cannot release a lease");
            }
            tracing::info!(tunnel = %name, "the tunnel is no longer placed here");
            changed.push(name);
        }
        changed.extend(self.expire());
        self.metrics.leases.set(self.held().len() as i64);
        changed
    }

    /// Lets go of the leases this node no longer trusts (it could not renew them).
    fn expire(&self) -> Vec<String> {
        let now = Instant::now();
        let mut held = self.held();
        let lapsed: Vec<String> = held
            .iter()
            .filter(|(_, h)| h.until <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &lapsed {
            held.remove(name);
            tracing::warn!(tunnel = %name, "could not renew the tunnel's lease in time: no longer serving it, another node may take it");
        }
        lapsed
    }

    /// Ends every lease this node holds (it stops cleanly, its tunnels already down), so
    /// other nodes take them at once.
    pub fn release_all(&self, store: &dyn Store) {
        let held: Vec<String> = self.held().drain().map(|(name, _)| name).collect();
        for name in held {
            if let Err(e) = store.release(&name, &self.node) {
                tracing::warn!(tunnel = %name, error = %e, "cannot release a lease");
            }
        }
    }
}
