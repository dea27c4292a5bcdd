//! A cache of each tunnel's peers in front of a store.
//!
//! Every change to a tunnel reads all its peers twice (to validate and allocate, and to
//! reconcile); with thousands of peers, decoding them from the database each time
//! dominated provisioning. The cache keeps each tunnel's [`Snapshot`] decoded, tagged with
//! its revision. A read asks the store only for the tunnel's revision (one small row) and
//! reloads the peers only if it moved, so changes written by other gateways sharing the
//! database are seen at the next read. A change written through the cache is applied to
//! the cached copy when it committed on top of exactly that copy's revision. The store
//! remains the truth.

use super::{Change, Committed, Lease, OnAnnounced, Result, Revision, Snapshot, Store, Watch};
use crate::model::{NodeRecord, PeerRecord, TunnelRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug)]
pub struct CachedStore<S> {
    inner: S,
    /// By tunnel name; a tunnel is loaded the first time it is asked for.
    snapshots: Mutex<HashMap<String, Snapshot>>,
}

/// `snapshot` after `change` (which committed on top of it, as `committed`).
fn apply(snapshot: &mut Snapshot, change: &Change, committed: &Committed) {
    if let Some(settings) = &change.settings {
        snapshot.tunnel = settings.clone();
        if !settings.keep_private_keys {
            snapshot.peers.iter_mut().for_each(|p| p.private_key = None);
        }
    }
    let gone: HashSet<i64> = change.delete.iter().copied().collect();
    snapshot.peers.retain(|p| !gone.contains(&p.id));
    for peer in &change.update {
        if let Ok(at) = snapshot.peers.binary_search_by_key(&peer.id, |p| p.id) {
            snapshot.peers[at] = PeerRecord {
                // The store keeps these as they were.
                public_key: snapshot.peers[at].public_key,
                created_at: snapshot.peers[at].created_at,
                ..peer.clone()
            };
        }
    }
    snapshot.peers.extend(committed.inserted.iter().cloned());
    if !snapshot.peers.is_sorted_by_key(|p| p.id) {
        snapshot.peers.sort_by_key(|p| p.id);
    }
    snapshot.revision = committed.revision;
}

impl<S: Store> CachedStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            snapshots: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Snapshot>> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: Store> Store for CachedStore<S> {
    fn tunnels(&self) -> Result<Vec<TunnelRecord>> {
        self.inner.tunnels()
    }

    fn tunnel(&self, name: &str) -> Result<Option<TunnelRecord>> {
        self.inner.tunnel(name)
    }

    fn revision(&self, name: &str) -> Result<Option<Revision>> {
        self.inner.revision(name)
    }

    fn snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        let mut cache = self.lock();
        let Some(revision) = self.inner.revision(name)? else {
            cache.remove(name);
            return Ok(None);
        };
        if let Some(cached) = cache.get(name).filter(|s| s.revision == revision) {
            return Ok(Some(cached.clone()));
        }
        let fresh = self.inner.snapshot(name)?;
        match &fresh {
            Some(s) => cache.insert(name.to_owned(), s.clone()),
            None => cache.remove(name),
        };
        Ok(fresh)
    }

    fn insert_tunnel(&self, tunnel: &TunnelRecord, peers: &[PeerRecord]) -> Result<Committed> {
        let mut cache = self.lock();
        let committed = self.inner.insert_tunnel(tunnel, peers)?;
        cache.insert(
            tunnel.name.clone(),
            Snapshot {
                tunnel: tunnel.clone(),
                revision: committed.revision,
                peers: committed.inserted.clone(),
            },
        );
        Ok(committed)
    }

    fn delete_tunnel(&self, name: &str) -> Result<bool> {
        let mut cache = self.lock();
        let deleted = self.inner.delete_tunnel(name)?;
        cache.remove(name);
        Ok(deleted)
    }

    fn change(&self, change: &Change) -> Result<Committed> {
        let mut cache = self.lock();
        let committed = self.inner.change(change);
        match (&committed, cache.get_mut(&change.tunnel)) {
            (Ok(committed), Some(cached)) if cached.revision == change.revision => {
                apply(cached, change, committed);
            }
            _ => drop(cache.remove(&change.tunnel)),
        }
        committed
    }

    fn exclusively(&self, tunnel: &str, f: &mut dyn FnMut()) -> Result<()> {
        self.inner.exclusively(tunnel, f)
    }

    fn peer(&self, tunnel: &str, id: i64) -> Result<Option<PeerRecord>> {
        Ok(self.snapshot(tunnel)?.and_then(|s| {
            s.peers
                .binary_search_by_key(&id, |p| p.id)
                .ok()
                .map(|at| s.peers[at].clone())
        }))
    }

    fn claim(&self, tunnel: &str, node: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.inner.claim(tunnel, node, ttl)
    }

    fn release(&self, tunnel: &str, node: &str) -> Result<()> {
        self.inner.release(tunnel, node)
    }

    fn heartbeat(&self, node: &NodeRecord) -> Result<()> {
        self.inner.heartbeat(node)
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>> {
        self.inner.nodes()
    }

    fn reachable(&self) -> Result<()> {
        self.inner.reachable()
    }

    fn watch(&self, on: OnAnnounced) -> Result<Option<Watch>> {
        self.inner.watch(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::{peer, tunnel};
    use rand::{Rng, SeedableRng};

    /// One random change to the tunnel `name` as `store` has it now.
    fn random_change(store: &dyn Store, name: &str, step: u32, rng: &mut impl Rng) -> Change {
        let now = store.snapshot(name).unwrap().unwrap();
        let mut change = Change::to(&now);
        let ids: Vec<i64> = now.peers.iter().map(|p| p.id).collect();
        match rng.gen_range(0..4) {
            0 => change.insert.push(peer(name, (step % 250) as u8)),
            1 if !ids.is_empty() => {
                let mut p = now.peers[rng.gen_range(0..ids.len())].clone();
                p.enabled = !p.enabled;
                p.name = format!("renamed{step}");
                change.update.push(p);
            }
            2 if !ids.is_empty() => change.delete.push(ids[rng.gen_range(0..ids.len())]),
            3 => {
                let mut settings = now.tunnel.clone();
                settings.keep_private_keys = rng.gen_bool(0.5);
                settings.mtu = 1280 + (step % 100) as u16;
                change.settings = Some(settings);
            }
            _ => {}
        }
        change
    }

    /// Two caches over one database file (two gateways sharing a store) answer exactly as
    /// the database alone, whichever of them wrote last; a write validated against an
    /// older revision is refused whichever cache it goes through.
    #[test]
    fn caches_sharing_a_store_agree_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wiregate.db");
        let plain = SqliteStore::open(&path).unwrap();
        let caches = [
            CachedStore::new(SqliteStore::open(&path).unwrap()),
            CachedStore::new(SqliteStore::open(&path).unwrap()),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for name in ["a", "b"] {
            let mut t = tunnel(name);
            t.keep_private_keys = true;
            caches[0].insert_tunnel(&t, &[]).unwrap();
        }
        for step in 0..400u32 {
            let name = if rng.gen_bool(0.5) { "a" } else { "b" };
            let writer = &caches[rng.gen_range(0..2)];
            let change = random_change(writer, name, step, &mut rng);
            // Sometimes someone else commits first.
            let stale = rng.gen_bool(0.1) && {
                let other = random_change(&plain, name, step + 1000, &mut rng);
                plain.change(&other).is_ok()
            };
            match writer.change(&change) {
                Err(crate::store::StoreError::Stale(_)) => assert!(stale, "step {step}: refused"),
                Err(e) => panic!("step {step}: {e}"),
                Ok(_) => assert!(!stale, "step {step}: a stale change committed"),
            }
            if step % 97 == 0 {
                assert!(caches[1].delete_tunnel(name).unwrap());
                caches[0].insert_tunnel(&tunnel(name), &[]).unwrap();
            }
            for cache in &caches {
                for name in ["a", "b"] {
                    assert_eq!(
                        plain.snapshot(name).unwrap(),
                        cache.snapshot(name).unwrap(),
                        "step {step}"
                    );
                }
            }
        }
    }
}
