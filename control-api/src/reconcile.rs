//! The reconcile loop: makes each tunnel's backend carry exactly what the store says.
//!
//! After every change the API makes, the changed tunnel is reconciled at once; a periodic
//! pass reconciles them all, which removes expired peers and repairs drift (a peer added
//! or removed with `wg set` behind the API's back is reverted, and logged). Backends apply
//! a configuration as a diff, so established sessions of untouched peers survive.
//!
//! Calls block (backends configure interfaces): run them off the async runtime.

use crate::metrics::ReconcileMetrics;
use crate::model::now;
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use wiregate_core::{Backend, BackendFactory, DataPlaneStats, TunnelConfig, TunnelState};

enum Slot {
    /// `applied`: what the backend was last given. Drift is the data plane differing
    /// from it (not from the store, which may hold a change still on its way).
    Running {
        backend: Box<dyn Backend>,
        applied: TunnelConfig,
    },
    Failed(String),
}

pub struct Reconciler {
    store: Arc<dyn Store>,
    factory: Box<dyn BackendFactory>,
    /// Backends by tunnel name. Held for a whole pass: passes do not interleave.
    slots: Mutex<HashMap<String, Slot>>,
    metrics: ReconcileMetrics,
}

/// One tunnel as a scrape sees it.
#[derive(Debug)]
pub struct Observed {
    pub name: String,
    /// The backend it runs on, or (failed) the one it should.
    pub backend: String,
    /// Its state and data-plane counters, or why it is not running.
    pub state: Result<(TunnelState, Option<DataPlaneStats>), String>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler").finish_non_exhaustive()
    }
}

/// Peers and their allowed IPs, as compared for drift.
fn fingerprint(
    peers: impl Iterator<Item = (String, Vec<String>)>,
) -> BTreeMap<String, BTreeSet<String>> {
    peers
        .map(|(k, ips)| (k, ips.into_iter().collect()))
        .collect()
}

fn drifted(desired: &TunnelConfig, actual: &TunnelState) -> bool {
    let want = fingerprint(desired.peers.iter().map(|p| {
        (
            p.public_key.to_base64(),
            p.allowed_ips.iter().map(|n| n.to_string()).collect(),
        )
    }));
    let have = fingerprint(actual.peers.iter().map(|p| {
        (
            p.public_key.to_base64(),
            p.allowed_ips.iter().map(|n| n.to_string()).collect(),
        )
    }));
    want != have || actual.listen_port != desired.listen_port && desired.listen_port != 0
}

impl Reconciler {
    pub fn new(store: Arc<dyn Store>, factory: Box<dyn BackendFactory>) -> Self {
        Self {
            store,
            factory,
            slots: Mutex::new(HashMap::new()),
            metrics: ReconcileMetrics::default(),
        }
    }

    pub fn metrics(&self) -> &ReconcileMetrics {
        &self.metrics
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings one tunnel's backend in line with the store (creating or removing it).
    pub fn tunnel(&self, name: &str) {
        let mut slots = self.slots();
        self.reconcile(&mut slots, name, false);
    }

    /// Reconciles every tunnel, and removes backends of tunnels no longer stored.
    pub fn all(&self) {
        let mut slots = self.slots();
        let names: BTreeSet<String> = match self.store.tunnels() {
            Ok(tunnels) => tunnels.into_iter().map(|t| t.name).collect(),
            Err(e) => return tracing::error!(error = %e, "reconcile: cannot read the store"),
        };
        let stale: Vec<String> = slots
            .keys()
            .filter(|n| !names.contains(*n))
            .cloned()
            .collect();
        for name in stale.iter().chain(&names) {
            self.reconcile(&mut slots, name, true);
        }
        self.metrics.passes.inc();
    }

    fn reconcile(&self, slots: &mut HashMap<String, Slot>, name: &str, periodic: bool) {
        let record = match self.store.tunnel(name) {
            Ok(record) => record,
            Err(e) => {
                return tracing::error!(tunnel = name, error = %e, "reconcile: cannot read the store");
            }
        };
        let Some(record) = record else {
            if slots.remove(name).is_some() {
                tracing::info!(tunnel = name, "tunnel removed");
                self.metrics.forget(name);
            }
            return;
        };
        let peers = match self.store.peers(name) {
            Ok(peers) => peers,
            Err(e) => {
                return tracing::error!(tunnel = name, error = %e, "reconcile: cannot read the store");
            }
        };
        let desired = record.desired(&peers, now());
        // A tunnel whose backend was switched is torn down (its interface goes with it)
        // and created again on the new one: the interface name is the same, so the old
        // must be gone first.
        if let Some(Slot::Running { backend, .. }) = slots.get(name)
            && backend.kind() != record.backend
        {
            tracing::info!(
                tunnel = name,
                from = backend.kind(),
                to = %record.backend,
                "switching the tunnel's backend"
            );
            slots.remove(name);
        }
        match slots.get_mut(name) {
            Some(Slot::Running { backend, applied }) => {
                if periodic {
                    match backend.state() {
                        Ok(actual) if drifted(applied, &actual) => {
                            tracing::warn!(
                                tunnel = name,
                                "the data plane drifted from the store; repairing"
                            );
                            self.metrics.drift_repaired.with_label_values(&[name]).inc();
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(tunnel = name, error = %e, "cannot read the data plane back")
                        }
                    }
                }
                match backend.apply(&desired) {
                    Ok(()) => *applied = desired,
                    Err(e) => {
                        tracing::error!(tunnel = name, error = %e, "reconcile failed");
                        self.metrics.failures.with_label_values(&[name]).inc();
                    }
                }
            }
            // A tunnel that failed is retried on every pass: the cause may be gone.
            Some(Slot::Failed(_)) | None => {
                self.metrics.know(name);
                let slot = match self.factory.create(&record.backend, &desired) {
                    Ok(backend) => {
                        tracing::info!(
                            tunnel = name,
                            backend = backend.kind(),
                            peers = desired.peers.len(),
                            "tunnel up"
                        );
                        Slot::Running {
                            backend,
                            applied: desired,
                        }
                    }
                    Err(e) => {
                        self.metrics.failures.with_label_values(&[name]).inc();
                        let was_failed = matches!(slots.get(name), Some(Slot::Failed(_)));
                        if !was_failed {
                            tracing::error!(tunnel = name, error = %e, "tunnel failed");
                        }
                        Slot::Failed(e.to_string())
                    }
                };
                slots.insert(name.to_owned(), slot);
            }
        }
    }

    /// `Ok(state)` for a running tunnel, `Err(reason)` for a failed one, `None` if the
    /// tunnel has no backend (yet).
    pub fn status(&self, name: &str) -> Option<Result<TunnelState, String>> {
        match self.slots().get(name)? {
            Slot::Running { backend, .. } => Some(backend.state().map_err(|e| e.to_string())),
            Slot::Failed(reason) => Some(Err(reason.clone())),
        }
    }

    /// Every tunnel the store holds, as its backend reports it now (for metrics).
    pub fn observe(&self) -> Vec<Observed> {
        let records = match self.store.tunnels() {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "metrics: cannot read the store");
                return Vec::new();
            }
        };
        let slots = self.slots();
        records
            .into_iter()
            .map(|record| {
                let (backend, state) = match slots.get(&record.name) {
                    Some(Slot::Running { backend, .. }) => (
                        backend.kind().to_owned(),
                        backend
                            .state()
                            .map(|s| (s, backend.data_plane_stats()))
                            .map_err(|e| e.to_string()),
                    ),
                    Some(Slot::Failed(reason)) => (record.backend, Err(reason.clone())),
                    None => (record.backend, Err("not started yet".to_owned())),
                };
                Observed {
                    name: record.name,
                    backend,
                    state,
                }
            })
            .collect()
    }

    /// Returns once a pass could start: at once when none runs, when it ends if one does,
    /// never if one is stuck. What a watchdog waits for before it says the daemon lives.
    pub fn wait_until_idle(&self) {
        drop(self.slots());
    }

    /// Drops every backend (their interfaces go with them).
    pub fn shutdown(&self) {
        self.slots().clear();
    }
}
