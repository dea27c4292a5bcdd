//! A write-through cache of each tunnel's peers in front of a store.
//!
//! Every change to a tunnel reads all its peers twice (to validate and allocate, and to
//! reconcile); with thousands of peers, decoding them from SQLite each time dominated
//! provisioning. The cache keeps them decoded. It is correct because every write goes
//! through it, under the cache's lock: the store is written first, and the cached copy is
//! changed, before anyone can look, only once the write is durable. The store remains the
//! truth; a restart reloads from it.

use super::{Result, Store};
use crate::model::{PeerRecord, TunnelRecord};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub struct CachedStore<S> {
    inner: S,
    /// Peers by tunnel, sorted by id; a tunnel is loaded the first time it is asked for.
    peers: Mutex<HashMap<String, Vec<PeerRecord>>>,
}

impl<S: Store> CachedStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<PeerRecord>>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the tunnel's cached peers, loading them first if needed.
    fn with_peers<T>(&self, tunnel: &str, f: impl FnOnce(&mut Vec<PeerRecord>) -> T) -> Result<T> {
        let mut cache = self.lock();
        if !cache.contains_key(tunnel) {
            let loaded = self.inner.peers(tunnel)?;
            cache.insert(tunnel.to_owned(), loaded);
        }
        Ok(f(cache.get_mut(tunnel).expect("just inserted")))
    }
}

impl<S: Store> Store for CachedStore<S> {
    fn tunnels(&self) -> Result<Vec<TunnelRecord>> {
        self.inner.tunnels()
    }

    fn tunnel(&self, name: &str) -> Result<Option<TunnelRecord>> {
        self.inner.tunnel(name)
    }

    fn insert_tunnel(&self, tunnel: &TunnelRecord) -> Result<()> {
        let mut cache = self.lock();
        self.inner.insert_tunnel(tunnel)?;
        cache.remove(&tunnel.name);
        Ok(())
    }

    fn update_tunnel(&self, tunnel: &TunnelRecord) -> Result<()> {
        let mut cache = self.lock();
        self.inner.update_tunnel(tunnel)?;
        if !tunnel.keep_private_keys
            && let Some(list) = cache.get_mut(&tunnel.name)
        {
            list.iter_mut().for_each(|p| p.private_key = None);
        }
        Ok(())
    }

    fn delete_tunnel(&self, name: &str) -> Result<bool> {
        let mut cache = self.lock();
        let deleted = self.inner.delete_tunnel(name)?;
        cache.remove(name);
        Ok(deleted)
    }

    fn peers(&self, tunnel: &str) -> Result<Vec<PeerRecord>> {
        self.with_peers(tunnel, |peers| peers.clone())
    }

    fn peer(&self, tunnel: &str, id: i64) -> Result<Option<PeerRecord>> {
        self.with_peers(tunnel, |peers| {
            peers
                .binary_search_by_key(&id, |p| p.id)
                .ok()
                .map(|at| peers[at].clone())
        })
    }

    fn insert_peers(&self, peers: &[PeerRecord]) -> Result<Vec<PeerRecord>> {
        let mut cache = self.lock();
        let inserted = self.inner.insert_peers(peers)?;
        for peer in &inserted {
            // Ids grow, so appending keeps each tunnel's list sorted.
            if let Some(list) = cache.get_mut(&peer.tunnel) {
                list.push(peer.clone());
            }
        }
        Ok(inserted)
    }

    fn update_peer(&self, peer: &PeerRecord) -> Result<()> {
        let mut cache = self.lock();
        self.inner.update_peer(peer)?;
        if let Some(list) = cache.get_mut(&peer.tunnel)
            && let Ok(at) = list.binary_search_by_key(&peer.id, |p| p.id)
        {
            list[at] = peer.clone();
        }
        Ok(())
    }

    fn reachable(&self) -> Result<()> {
        self.inner.reachable()
    }

    fn delete_peer(&self, tunnel: &str, id: i64) -> Result<bool> {
        let mut cache = self.lock();
        let deleted = self.inner.delete_peer(tunnel, id)?;
        if let Some(list) = cache.get_mut(tunnel)
            && let Ok(at) = list.binary_search_by_key(&id, |p| p.id)
        {
            list.remove(at);
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::sqlite::tests::{peer, tunnel};
    use rand::{Rng, SeedableRng};

    /// The cache answers exactly as the store alone would, whatever the sequence of writes.
    #[test]
    fn matches_the_store_it_caches() {
        let plain = SqliteStore::in_memory().unwrap();
        let cached = CachedStore::new(SqliteStore::in_memory().unwrap());
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for store in [&plain as &dyn Store, &cached] {
            store.insert_tunnel(&tunnel("a")).unwrap();
            store.insert_tunnel(&tunnel("b")).unwrap();
        }
        for step in 0..400u32 {
            let name = if rng.gen_bool(0.5) { "a" } else { "b" };
            let ids: Vec<i64> = plain.peers(name).unwrap().iter().map(|p| p.id).collect();
            match rng.gen_range(0..4) {
                0 => {
                    let new = peer(name, (step % 250) as u8);
                    let a = plain
                        .insert_peers(std::slice::from_ref(&new))
                        .map(|v| v[0].id)
                        .ok();
                    let b = cached.insert_peers(&[new]).map(|v| v[0].id).ok();
                    assert_eq!(a, b);
                }
                1 if !ids.is_empty() => {
                    let id = ids[rng.gen_range(0..ids.len())];
                    let mut p = plain.peer(name, id).unwrap().unwrap();
                    p.enabled = !p.enabled;
                    p.name = format!("renamed{step}");
                    plain.update_peer(&p).unwrap();
                    cached.update_peer(&p).unwrap();
                }
                2 if !ids.is_empty() => {
                    let id = ids[rng.gen_range(0..ids.len())];
                    assert_eq!(
                        plain.delete_peer(name, id).unwrap(),
                        cached.delete_peer(name, id).unwrap()
                    );
                }
                3 if step % 97 == 0 => {
                    for store in [&plain as &dyn Store, &cached] {
                        store.delete_tunnel(name).unwrap();
                        store.insert_tunnel(&tunnel(name)).unwrap();
                    }
                }
                _ => {}
            }
            for name in ["a", "b"] {
                assert_eq!(
                    plain.peers(name).unwrap(),
                    cached.peers(name).unwrap(),
                    "step {step}"
                );
            }
        }
    }
}
