//! The operations behind the API: validate, allocate, write the store, reconcile.
//!
//! Every change reads the tunnel (a snapshot at one revision), is checked in full against
//! it, written in one store call that commits only if the tunnel is still at that
//! revision (so it is all-or-nothing, durable when the call returns, and never built on a
//! view another gateway changed meanwhile: it is planned again), and then reconciled to
//! the backend. Within this process changes also take one lock, so they rarely race.
//! All methods block: the API calls them on the blocking pool.

use crate::error::ApiError;
use crate::model::{PeerRecord, Placement, TunnelRecord, now};
use crate::reconcile::Reconciler;
use crate::store::{Change, Committed, Snapshot, Store, StoreError};
use crate::types::*;
use ipnet::IpNet;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};
use wiregate_core::config::{DEFAULT_MTU, valid_interface_name};
use wiregate_core::{Endpoint, Host, PrivateKey, TunnelConfig};

/// Largest page of a peer listing.
pub const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
/// How many times a change is planned again after other writers committed to its tunnel
/// first, before the request is answered `concurrent_change`.
const STALE_RETRIES: usize = 64;
/// Backends a tunnel may name.
const BACKENDS: &[&str] = wiregate_core::backend::KINDS;

mod file_peers;
mod peer_requests;
mod routes;
pub use file_peers::{FILE_TAG, FileSync};
use peer_requests::{new_peers, no_peer, patched_peer};
use routes::check_routable;

#[derive(Debug)]
pub struct Control {
    store: Arc<dyn Store>,
    reconciler: Arc<Reconciler>,
    writes: Mutex<()>,
}

fn parse_endpoint(text: &str) -> Result<Endpoint, ApiError> {
    text.parse()
        .map_err(|e| ApiError::invalid("invalid_endpoint", format!("public_endpoint: {e}")))
}

fn parse_dns(texts: &[String]) -> Result<Vec<Host>, ApiError> {
    texts
        .iter()
        .map(|text| {
            text.parse()
                .map_err(|e| ApiError::invalid("invalid_dns", format!("dns: {e}")))
        })
        .collect()
}

/// Where a tunnel runs, checked: 1-16 distinct node names, or every node.
fn placement(nodes: Option<Vec<String>>) -> Result<Placement, ApiError> {
    let invalid = |detail: String| ApiError::invalid("invalid_placement", detail);
    if let Some(nodes) = &nodes {
        if !(1..=16).contains(&nodes.len()) {
            return Err(invalid(
                "nodes lists 1-16 node names, or is null for every node".into(),
            ));
        }
        if let Some(bad) = nodes.iter().find(|n| !crate::nodes::valid_name(n)) {
            return Err(invalid(format!(
                "nodes: {bad:?} is not a node name: 1-63 letters, digits, '.', '-' or '_'"
            )));
        }
        let mut sorted = nodes.clone();
        sorted.sort();
        if let Some(pair) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("nodes names {:?} twice", pair[0])));
        }
    }
    Ok(Placement::from_nodes(nodes))
}

fn tunnel_exists(name: &str) -> ApiError {
    ApiError::conflict("tunnel_exists", format!("tunnel {name:?} exists"))
}

fn check_backend(kind: &str) -> Result<(), ApiError> {
    if BACKENDS.contains(&kind) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_backend",
            format!("backend {kind:?} is not one of {BACKENDS:?}"),
        ))
    }
}

/// The whole tunnel, every peer included (disabled ones hold their addresses too), as
/// the core validation sees it: overlaps, duplicate keys, the tunnel's own key.
fn validate(tunnel: &TunnelRecord, peers: &[PeerRecord]) -> Result<(), ApiError> {
    TunnelConfig {
        peers: peers.iter().map(PeerRecord::config).collect(),
        ..tunnel.desired(&[], 0)
    }
    .validate()
    .map_err(ApiError::from)
}

impl Control {
    pub fn new(store: Arc<dyn Store>, reconciler: Arc<Reconciler>) -> Self {
        Self {
            store,
            reconciler,
            writes: Mutex::new(()),
        }
    }

    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self, name: &str) -> Result<Snapshot, ApiError> {
        self.store
            .snapshot(name)?
            .ok_or_else(|| ApiError::not_found(format!("no tunnel {name:?}")))
    }

    /// Reads the tunnel, lets `plan` check and build a change from what it read, commits
    /// it and reconciles, taking turns with the other gateways sharing the store. When
    /// another writer committed to the tunnel in between all the same, the change is
    /// refused by the store: the tunnel is read again and `plan` runs again on what it
    /// holds now.
    fn commit<T>(
        &self,
        tunnel: &str,
        mut plan: impl FnMut(&Snapshot) -> Result<(Change, T), ApiError>,
    ) -> Result<(Vec<PeerRecord>, T), ApiError> {
        let mut outcome = None;
        self.store.exclusively(tunnel, &mut || {
            outcome = Some(self.plan_and_commit(tunnel, &mut plan));
        })?;
        let (committed, planned) = outcome.expect("exclusively runs its work")?;
        // A change of nothing wrote nothing: the data plane has it already.
        let inserted = match committed {
            Some(committed) => {
                self.reconciler.tunnel(tunnel);
                committed.inserted
            }
            None => Vec::new(),
        };
        Ok((inserted, planned))
    }

    /// `plan` on the tunnel as it is now, committed; `None` if it changes nothing.
    fn plan_and_commit<T>(
        &self,
        tunnel: &str,
        plan: &mut impl FnMut(&Snapshot) -> Result<(Change, T), ApiError>,
    ) -> Result<(Option<Committed>, T), ApiError> {
        let mut attempts = 0;
        loop {
            let snapshot = self.snapshot(tunnel)?;
            let (change, planned) = plan(&snapshot)?;
            if change.is_empty() {
                return Ok((None, planned));
            }
            match self.store.change(&change) {
                Ok(committed) => return Ok((Some(committed), planned)),
                Err(StoreError::Stale(_)) if attempts < STALE_RETRIES => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn tunnel_record(&self, name: &str) -> Result<TunnelRecord, ApiError> {
        self.store
            .tunnel(name)?
            .ok_or_else(|| ApiError::not_found(format!("no tunnel {name:?}")))
    }

    /// A tunnel and one of its peers; `not_found` for either.
    fn tunnel_and_peer(
        &self,
        tunnel: &str,
        id: i64,
    ) -> Result<(TunnelRecord, PeerRecord), ApiError> {
        let record = self.tunnel_record(tunnel)?;
        let peer = self
            .store
            .peer(tunnel, id)?
            .ok_or_else(|| no_peer(tunnel, id))?;
        Ok((record, peer))
    }

    fn tunnel_view(&self, record: &TunnelRecord) -> Tunnel {
        let status = match self.reconciler.status(&record.name) {
            None if !self.reconciler.serves(record) => TunnelStatus {
                state: "standby".into(),
                error: None,
            },
            Some(Ok(_)) => TunnelStatus {
                state: "running".into(),
                error: None,
            },
            Some(Err(reason)) => TunnelStatus {
                state: "failed".into(),
                error: Some(reason),
            },
            None => TunnelStatus {
                state: "pending".into(),
                error: None,
            },
        };
        Tunnel::new(record, status)
    }

    /// Whether the store can be reached now.
    pub fn store_reachable(&self) -> Result<(), crate::store::StoreError> {
        self.store.reachable()
    }

    /// Every gateway sharing the store, this one included.
    pub fn nodes(&self) -> Result<Vec<Node>, ApiError> {
        Ok(self.store.nodes()?.into_iter().map(Node::new).collect())
    }

    pub fn tunnels(&self) -> Result<Vec<Tunnel>, ApiError> {
        Ok(self
            .store
            .tunnels()?
            .iter()
            .map(|t| self.tunnel_view(t))
            .collect())
    }

    pub fn tunnel(&self, name: &str) -> Result<Tunnel, ApiError> {
        Ok(self.tunnel_view(&self.tunnel_record(name)?))
    }

    pub fn create_tunnel(&self, new: NewTunnel) -> Result<Tunnel, ApiError> {
        if !valid_interface_name(&new.name) {
            return Err(wiregate_core::ConfigError::BadName(new.name).into());
        }
        let backend = new.backend.unwrap_or_else(|| "userspace".into());
        check_backend(&backend)?;
        let _guard = self.write_lock();
        if self.store.tunnel(&new.name)?.is_some() {
            return Err(tunnel_exists(&new.name));
        }
        self.check_port(&new.name, new.listen_port)?;
        let at = now();
        let record = TunnelRecord {
            name: new.name,
            listen_port: new.listen_port,
            private_key: PrivateKey::generate(),
            addresses: new.addresses,
            mtu: new.mtu.unwrap_or(DEFAULT_MTU),
            pools: new.pools.iter().map(IpNet::trunc).collect(),
            public_endpoint: new
                .public_endpoint
                .as_deref()
                .map(parse_endpoint)
                .transpose()?,
            dns: parse_dns(&new.dns)?,
            keep_private_keys: new.keep_private_keys,
            backend,
            created_at: at,
            updated_at: at,
            fwmark: new.fwmark,
            routable: new.routable,
            placement: placement(new.nodes)?,
        };
        check_routable(&record.routable)?;
        validate(&record, &[])?;
        match self.store.insert_tunnel(&record, &[]) {
            // Another gateway made it since the check above.
            Err(StoreError::Conflict(_)) => return Err(tunnel_exists(&record.name)),
            other => other?,
        };
        self.reconciler.tunnel(&record.name);
        Ok(self.tunnel_view(&record))
    }

    /// Refuses a port another tunnel listens on (0 is any port).
    fn check_port(&self, tunnel: &str, port: u16) -> Result<(), ApiError> {
        if port != 0
            && self
                .store
                .tunnels()?
                .iter()
                .any(|t| t.name != tunnel && t.listen_port == port)
        {
            return Err(ApiError::conflict(
                "port_in_use",
                format!("another tunnel listens on port {port}"),
            ));
        }
        Ok(())
    }

    pub fn update_tunnel(&self, name: &str, patch: TunnelPatch) -> Result<Tunnel, ApiError> {
        let _guard = self.write_lock();
        let (_, (record, forgotten)) = self.commit(name, |current| {
            let (record, forgotten) = self.patched(current, &patch)?;
            let change = Change {
                settings: Some(record.clone()),
                ..Change::to(current)
            };
            Ok((change, (record, forgotten)))
        })?;
        Ok(Tunnel {
            forgotten_private_keys: forgotten,
            ..self.tunnel_view(&record)
        })
    }

    /// The tunnel `current` holds with `patch` applied and checked, and how many private keys
    /// the change forgets (when it stops keeping them).
    fn patched(
        &self,
        current: &Snapshot,
        patch: &TunnelPatch,
    ) -> Result<(TunnelRecord, Option<usize>), ApiError> {
        let patch = patch.clone();
        let mut record = current.tunnel.clone();
        if let Some(port) = patch.listen_port {
            self.check_port(&record.name, port)?;
            record.listen_port = port;
        }
        if let Some(addresses) = patch.addresses {
            record.addresses = addresses;
        }
        if let Some(mtu) = patch.mtu {
            record.mtu = mtu;
        }
        if let Some(endpoint) = patch.public_endpoint {
            record.public_endpoint = endpoint.as_deref().map(parse_endpoint).transpose()?;
        }
        if let Some(dns) = patch.dns {
            record.dns = parse_dns(&dns)?;
        }
        if let Some(keep) = patch.keep_private_keys {
            record.keep_private_keys = keep;
        }
        if let Some(backend) = patch.backend {
            check_backend(&backend)?;
            record.backend = backend;
        }
        if let Some(fwmark) = patch.fwmark {
            record.fwmark = fwmark;
        }
        if let Some(routable) = patch.routable {
            check_routable(&routable)?;
            record.routable = routable;
        }
        if let Some(nodes) = patch.nodes {
            record.placement = placement(nodes)?;
        }
        if let Some(pools) = patch.pools {
            let pools: Vec<IpNet> = pools.iter().map(IpNet::trunc).collect();
            let stranded = current
                .peers
                .iter()
                .flat_map(|p| &p.addresses)
                .find(|a| !pools.iter().any(|pool| pool.contains(&a.addr())));
            if let Some(address) = stranded {
                return Err(ApiError::conflict(
                    "pool_in_use",
                    format!("peer address {address} would be outside every pool"),
                ));
            }
            record.pools = pools;
        }
        validate(&record, &current.peers)?;
        record.updated_at = now();
        // The store forgets the peers' private keys with this commit if they are no
        // longer kept; the answer says how many went.
        let forgotten = (patch.keep_private_keys == Some(false)).then(|| {
            current
                .peers
                .iter()
                .filter(|p| p.private_key.is_some())
                .count()
        });
        Ok((record, forgotten))
    }

    pub fn delete_tunnel(&self, name: &str) -> Result<(), ApiError> {
        let _guard = self.write_lock();
        if !self.store.delete_tunnel(name)? {
            return Err(ApiError::not_found(format!("no tunnel {name:?}")));
        }
        self.reconciler.tunnel(name);
        Ok(())
    }

    pub fn peers(&self, tunnel: &str, query: &PeerQuery) -> Result<PeerPage, ApiError> {
        self.tunnel_record(tunnel)?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid(
                "invalid_query",
                format!("limit must be 1-{MAX_PAGE}"),
            ));
        }
        let at = now();
        let mut items: Vec<Peer> = self
            .store
            .peers(tunnel)?
            .into_iter()
            .filter(|p| query.after.is_none_or(|after| p.id > after))
            .filter(|p| {
                query
                    .name
                    .as_ref()
                    .is_none_or(|n| p.name.contains(n.as_str()))
            })
            .filter(|p| query.tag.as_ref().is_none_or(|t| p.tags.contains(t)))
            .filter(|p| query.enabled.is_none_or(|e| p.enabled == e))
            .take(limit + 1)
            .map(|p| Peer::new(&p, at))
            .collect();
        let next_after = (items.len() > limit).then(|| {
            items.truncate(limit);
            items[limit - 1].id
        });
        Ok(PeerPage { items, next_after })
    }

    pub fn peer(&self, tunnel: &str, id: i64) -> Result<Peer, ApiError> {
        let (_, record) = self.tunnel_and_peer(tunnel, id)?;
        let mut peer = Peer::new(&record, now());
        if let Some(Ok(state)) = self.reconciler.status(tunnel) {
            peer.status = state
                .peers
                .iter()
                .find(|s| s.public_key == record.public_key)
                .map(|s| PeerStatus {
                    endpoint: s.endpoint.map(|e| e.to_string()),
                    last_handshake: s
                        .last_handshake
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs() as i64),
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                });
        }
        Ok(peer)
    }

    /// Creates all of `new` or none of them.
    pub fn create_peers(
        &self,
        tunnel: &str,
        new: Vec<NewPeer>,
    ) -> Result<Vec<CreatedPeer>, ApiError> {
        let _guard = self.write_lock();
        // Server-made keypairs are derived on every core: a scalar multiplication each,
        // which for thousands of peers is most of the request. Once: a plan made again
        // after another writer's commit uses the same ones.
        let wanted = new.iter().filter(|p| p.public_key.is_none()).count();
        let keypairs = (0..wanted)
            .into_par_iter()
            .map(|_| {
                let key = PrivateKey::generate();
                (key.public_key(), key)
            })
            .collect::<Vec<_>>();
        let at = now();
        let (inserted, (record, secrets)) = self.commit(tunnel, |current| {
            let (records, secrets) = new_peers(current, &new, &keypairs, at)?;
            let mut all = current.peers.clone();
            all.extend(records.iter().cloned());
            validate(&current.tunnel, &all)?;
            let change = Change {
                insert: records,
                ..Change::to(current)
            };
            Ok((change, (current.tunnel.clone(), secrets)))
        })?;
        let renderer = crate::clientconfig::Renderer::new(&record);
        Ok(inserted
            .iter()
            .zip(secrets)
            .map(|(p, secret)| CreatedPeer {
                peer: Peer::new(p, at),
                config: secret.as_ref().map(|k| renderer.render(p, Some(k))),
                private_key: secret.map(|k| k.expose_base64()),
            })
            .collect())
    }

    pub fn update_peer(&self, tunnel: &str, id: i64, patch: PeerPatch) -> Result<Peer, ApiError> {
        let _guard = self.write_lock();
        let (_, peer) = self.commit(tunnel, |current| {
            let peer = patched_peer(current, id, &patch)?;
            let mut all = current.peers.clone();
            if let Some(slot) = all.iter_mut().find(|p| p.id == id) {
                *slot = peer.clone();
            }
            validate(&current.tunnel, &all)?;
            let change = Change {
                update: vec![peer.clone()],
                ..Change::to(current)
            };
            Ok((change, peer))
        })?;
        Ok(Peer::new(&peer, now()))
    }

    pub fn delete_peer(&self, tunnel: &str, id: i64) -> Result<(), ApiError> {
        let _guard = self.write_lock();
        self.commit(tunnel, |current| {
            if !current.peers.iter().any(|p| p.id == id) {
                return Err(no_peer(tunnel, id));
            }
            let change = Change {
                delete: vec![id],
                ..Change::to(current)
            };
            Ok((change, ()))
        })?;
        Ok(())
    }

    /// Seeds the store with a tunnel (and its peers) from the configuration file, unless
    /// it already has a tunnel of that name: the store is the truth, and a tunnel changed
    /// through the API keeps its changes across restarts. True if it was imported.
    pub fn import(&self, tunnel: TunnelRecord, peers: Vec<PeerRecord>) -> Result<bool, ApiError> {
        let _guard = self.write_lock();
        if self.store.tunnel(&tunnel.name)?.is_some() {
            return Ok(false);
        }
        validate(&tunnel, &peers)?;
        match self.store.insert_tunnel(&tunnel, &peers) {
            // Another gateway imported it first: the store has it, as it should.
            Err(StoreError::Conflict(_)) if self.store.tunnel(&tunnel.name)?.is_some() => Ok(false),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(true),
        }
    }

    /// The peer's wg-quick configuration.
    pub fn peer_config(&self, tunnel: &str, id: i64) -> Result<String, ApiError> {
        let (record, peer) = self.tunnel_and_peer(tunnel, id)?;
        Ok(crate::clientconfig::render(
            &record,
            &peer,
            peer.private_key.as_ref(),
        ))
    }
}
