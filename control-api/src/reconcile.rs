//! The reconcile loop: makes each tunnel's backend carry exactly what the store says.
//!
//! After every change the API makes, the changed tunnel is reconciled at once; a periodic
//! pass reconciles them all, which removes expired peers and repairs drift (a peer added
//! or removed with `wg set` behind the API's back is reverted, and logged). Backends apply
//! a configuration as a diff, so established sessions of untouched peers survive.
//!
//! Calls block (backends configure interfaces): run them off the async runtime. Passes
//! take turns; reads (`status`, `observe`) never wait for one.

use crate::metrics::ReconcileMetrics;
use crate::model::now;
use crate::placement::Placement;
use crate::store::{Revision, Snapshot, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use wiregate_core::{Backend, BackendFactory, DataPlaneStats, TunnelConfig, TunnelState};

enum Slot {
    /// `applied`: what the backend was last given. Drift is the data plane differing
    /// from it (not from the store, which may hold a change still on its way).
    Running {
        backend: Arc<dyn Backend>,
        applied: TunnelConfig,
        /// The store's revision `applied` came from.
        revision: Revision,
    },
    Failed(String),
}

/// Where a tunnel's backend stands, taken out of the map so that no lock is held while
/// it is asked or changed.
enum Seen {
    Running(Arc<dyn Backend>),
    Failed(String),
}

pub struct Reconciler {
    store: Arc<dyn Store>,
    factory: Box<dyn BackendFactory>,
    /// Which tunnels run on this node.
    placement: Arc<Placement>,
    /// Backends by tunnel name. Held only to look a backend up or put one in, never
    /// across a backend's `apply`, `state` or teardown: API reads, scrapes and the
    /// watchdog never wait for a data plane.
    slots: Mutex<HashMap<String, Slot>>,
    /// Held for a whole pass (one tunnel, or all): passes do not interleave.
    passes: Mutex<()>,
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
    pub fn new(
        store: Arc<dyn Store>,
        factory: Box<dyn BackendFactory>,
        placement: Arc<Placement>,
    ) -> Self {
        Self {
            store,
            factory,
            placement,
            slots: Mutex::new(HashMap::new()),
            passes: Mutex::new(()),
            metrics: ReconcileMetrics::default(),
        }
    }

    pub fn metrics(&self) -> &ReconcileMetrics {
        &self.metrics
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pass(&self) -> std::sync::MutexGuard<'_, ()> {
        self.passes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tunnel's backend or failure, looked up under the lock and returned without it.
    fn seen(&self, name: &str) -> Option<Seen> {
        match self.slots().get(name)? {
            Slot::Running { backend, .. } => Some(Seen::Running(backend.clone())),
            Slot::Failed(reason) => Some(Seen::Failed(reason.clone())),
        }
    }

    /// The revision the tunnel's running backend was last given.
    fn applied_revision(&self, name: &str) -> Option<Revision> {
        match self.slots().get(name)? {
            Slot::Running { revision, .. } => Some(*revision),
            Slot::Failed(_) => None,
        }
    }

    /// Takes the tunnel's slot out; what it held (an interface) goes when the caller drops
    /// it, with no lock held.
    fn take(&self, name: &str) -> Option<Slot> {
        self.slots().remove(name)
    }

    /// Brings one tunnel's backend in line with the store (creating or removing it).
    pub fn tunnel(&self, name: &str) {
        let _pass = self.pass();
        self.reconcile(name, false);
    }

    /// Reconciles every tunnel, and removes backends of tunnels no longer stored.
    pub fn all(&self) {
        let _pass = self.pass();
        let names: BTreeSet<String> = match self.store.tunnels() {
            Ok(tunnels) => tunnels.into_iter().map(|t| t.name).collect(),
            Err(e) => {
                self.placement.metrics().store_errors.inc();
                return tracing::error!(error = %e, "reconcile: cannot read the store");
            }
        };
        let stale: Vec<String> = self
            .slots()
            .keys()
            .filter(|n| !names.contains(*n))
            .cloned()
            .collect();
        for name in stale.iter().chain(&names) {
            self.reconcile(name, true);
        }
        self.metrics.passes.inc();
    }

    /// One tunnel; the caller holds the pass lock.
    fn reconcile(&self, name: &str, periodic: bool) {
        let snapshot = match self.store.snapshot(name) {
            Ok(snapshot) => snapshot,
            Err(e) => {
                self.placement.metrics().store_errors.inc();
                return tracing::error!(tunnel = name, error = %e, "reconcile: cannot read the store");
            }
        };
        let Some(Snapshot {
            tunnel: record,
            peers,
            revision,
        }) = snapshot
        else {
            if self.take(name).is_some() {
                tracing::info!(tunnel = name, "tunnel removed");
                self.metrics.forget(name);
            }
            return;
        };
        if !self.placement.serves(&record) {
            if self.take(name).is_some() {
                tracing::info!(
                    tunnel = name,
                    "tunnel taken down: it runs on another node now"
                );
                self.metrics.forget(name);
            }
            return;
        }
        let desired = record.desired(&peers, now());
        // A tunnel whose backend was switched is torn down (its interface goes with it)
        // and created again on the new one: the interface name is the same, so the old
        // must be gone first.
        if let Some(Seen::Running(backend)) = self.seen(name)
            && backend.kind() != record.backend
        {
            tracing::info!(
                tunnel = name,
                from = backend.kind(),
                to = %record.backend,
                "switching the tunnel's backend"
            );
            drop(backend);
            drop(self.take(name));
        }
        // A change announced by the store after this gateway applied it already (its own,
        // or one a pass picked up first) needs nothing; periodic passes look anyway (for
        // expiry and drift).
        if !periodic && self.applied_revision(name) == Some(revision) {
            return;
        }
        let was_failed = match self.seen(name) {
            Some(Seen::Running(backend)) => {
                return self.apply(name, backend.as_ref(), (desired, revision), periodic);
            }
            Some(Seen::Failed(_)) => true,
            None => false,
        };
        // A tunnel that failed is retried on every pass: the cause may be gone.
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
                    backend: Arc::from(backend),
                    applied: desired,
                    revision,
                }
            }
            Err(e) => {
                self.metrics.failures.with_label_values(&[name]).inc();
                if !was_failed {
                    tracing::error!(tunnel = name, error = %e, "tunnel failed");
                }
                Slot::Failed(e.to_string())
            }
        };
        self.slots().insert(name.to_owned(), slot);
    }

    /// Applies `desired` to a running tunnel's backend, with no lock but the pass's held
    /// (drift is looked for first on periodic passes).
    fn apply(
        &self,
        name: &str,
        backend: &dyn Backend,
        (desired, from): (TunnelConfig, Revision),
        periodic: bool,
    ) {
        if periodic {
            let applied = match self.slots().get(name) {
                Some(Slot::Running { applied, .. }) => Some(applied.clone()),
                _ => None,
            };
            match (backend.state(), applied) {
                (Ok(actual), Some(applied)) if drifted(&applied, &actual) => {
                    tracing::warn!(
                        tunnel = name,
                        "the data plane drifted from the store; repairing"
                    );
                    self.metrics.drift_repaired.with_label_values(&[name]).inc();
                }
                (Ok(_), _) => {}
                (Err(e), _) => {
                    tracing::warn!(tunnel = name, error = %e, "cannot read the data plane back")
                }
            }
        }
        match backend.apply(&desired) {
            Ok(()) => {
                if let Some(Slot::Running {
                    applied, revision, ..
                }) = self.slots().get_mut(name)
                {
                    *applied = desired;
                    *revision = from;
                }
            }
            Err(e) => {
                tracing::error!(tunnel = name, error = %e, "reconcile failed");
                self.metrics.failures.with_label_values(&[name]).inc();
            }
        }
    }

    /// `Ok(state)` for a running tunnel, `Err(reason)` for a failed one, `None` if the
    /// tunnel has no backend (yet).
    pub fn status(&self, name: &str) -> Option<Result<TunnelState, String>> {
        match self.seen(name)? {
            Seen::Running(backend) => Some(backend.state().map_err(|e| e.to_string())),
            Seen::Failed(reason) => Some(Err(reason)),
        }
    }

    /// Whether this node runs `tunnel` (its placement).
    pub fn serves(&self, tunnel: &crate::model::TunnelRecord) -> bool {
        self.placement.serves(tunnel)
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The tunnels running here, by name.
    pub fn serving(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .slots()
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Running { .. }))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
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
        records
            .into_iter()
            .filter(|record| self.placement.serves(record))
            .map(|record| {
                let (backend, state) = match self.seen(&record.name) {
                    Some(Seen::Running(backend)) => (
                        backend.kind().to_owned(),
                        backend
                            .state()
                            .map(|s| (s, backend.data_plane_stats()))
                            .map_err(|e| e.to_string()),
                    ),
                    Some(Seen::Failed(reason)) => (record.backend, Err(reason)),
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
        drop(self.pass());
    }

    /// Drops every backend (their interfaces go with them).
    pub fn shutdown(&self) {
        let _pass = self.pass();
        let slots = std::mem::take(&mut *self.slots());
        drop(slots);
    }
}
