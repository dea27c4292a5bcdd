//! This gateway as a node of the fleet: it registers in the store under its name and
//! reports every [`HEARTBEAT`] that it is alive and which tunnels it serves, so that
//! `GET /v1/nodes` on any gateway lists them all. Ages are measured by the store's clock,
//! never a node's.

use crate::model::{NodeRecord, now};
use crate::reconcile::Reconciler;
use crate::store::Store;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use wiregate_core::stop::Worker;

/// How often a node reports.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Seconds without a report after which a node is lost (five missed heartbeats).
pub const LOST_AFTER: i64 = 10;

/// Where a node stands, as the store last heard of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Reporting.
    Up,
    /// Silent for over 10 s without having said it stopped: killed, hung, or cut off
    /// from the database.
    Lost,
    /// It stopped cleanly.
    Stopped,
}

impl NodeState {
    pub fn of(node: &NodeRecord) -> Self {
        match (node.stopped, node.seen_ago > LOST_AFTER) {
            (true, _) => Self::Stopped,
            (false, true) => Self::Lost,
            (false, false) => Self::Up,
        }
    }
}

/// Whether `name` is a usable node name: 1-63 letters, digits, `.`, `-` and `_` (a host
/// name fits).
pub fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The node's reports, sent until dropped; it then reports the node stopped.
pub type Heartbeat = Worker;

/// Whether another running gateway reports under `name`. A node of that name seen
/// lately may be this gateway's own previous process, killed a moment ago: it is watched
/// until it would count as lost, and only one that keeps reporting is another gateway.
fn name_taken(store: &dyn Store, name: &str) -> Result<Option<String>, String> {
    let seen = |store: &dyn Store| -> Result<Option<NodeRecord>, String> {
        Ok(store
            .nodes()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|n| n.name == name && NodeState::of(n) == NodeState::Up))
    };
    let Some(first) = seen(store)? else {
        return Ok(None);
    };
    tracing::info!(
        node = name,
        "a node of this name reported {} s ago; waiting to see whether it still runs",
        first.seen_ago
    );
    for _ in 0..=(LOST_AFTER - first.seen_ago) {
        std::thread::sleep(Duration::from_secs(1));
        match seen(store)? {
            Some(now) if now.last_seen > first.last_seen => {
                return Ok(Some(format!(
                    "the node name {name:?} is in use by a running gateway (it reported {} s ago, version {}); give this one another [node] name",
                    now.seen_ago, now.version
                )));
            }
            Some(_) => {}
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// Registers this gateway as node `name` and starts its heartbeat. Refused if another
/// running gateway uses the name. A store that cannot be reached now is no reason not to
/// start: the heartbeat registers the node once it can.
pub fn join(
    store: Arc<dyn Store>,
    reconciler: Arc<Reconciler>,
    name: &str,
) -> Result<Heartbeat, String> {
    match name_taken(store.as_ref(), name) {
        Ok(Some(taken)) => return Err(taken),
        Ok(None) => {}
        Err(e) => tracing::warn!(node = name, error = %e, "cannot read the nodes; starting anyway"),
    }
    let mut record = NodeRecord {
        name: name.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: now(),
        last_seen: 0,
        seen_ago: 0,
        stopped: false,
        serving: Vec::new(),
    };
    let heartbeat = Worker::spawn("heartbeat", move |stop| {
        let mut failing = false;
        loop {
            let stopped = stop.is_stopped();
            if stopped {
                // The tunnels are down already: others may take them at once.
                reconciler.placement().release_all(store.as_ref());
            } else {
                for tunnel in reconciler.placement().renew(store.as_ref()) {
                    reconciler.tunnel(&tunnel);
                }
            }
            record.serving = reconciler.serving();
            record.stopped = stopped;
            match store.heartbeat(&record) {
                Ok(()) if failing => {
                    tracing::info!("heartbeat: reporting to the store again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    reconciler.placement().metrics().store_errors.inc();
                    if !failing {
                        tracing::warn!(error = %e, "heartbeat: cannot report to the store");
                        failing = true;
                    }
                }
            }
            if stopped {
                return;
            }
            stop.wait(HEARTBEAT);
        }
    })
    .map_err(|e| format!("starting the heartbeat: {e}"))?;
    tracing::info!(node = name, "joined the fleet");
    Ok(heartbeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_host_names() {
        assert!(valid_name("gw-1.example"));
        assert!(valid_name("node_a"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"a".repeat(64)));
    }
}
