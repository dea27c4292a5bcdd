//! The operations behind the API: validate, allocate, write the store, reconcile.
//!
//! Every change is checked in full before the store is touched, written in one store call
//! (so it is all-or-nothing and durable when the call returns), and then reconciled to
//! the backend. Changes are serialised by one lock, so address allocation never races.
//! All methods block: the API calls them on the blocking pool.

use crate::error::ApiError;
use crate::ipam::Allocator;
use crate::model::{PeerRecord, TunnelRecord, now};
use crate::reconcile::Reconciler;
use crate::store::Store;
use crate::types::*;
use ipnet::IpNet;
use rayon::prelude::*;
use std::sync::{Arc, Mutex};
use wiregate_core::config::{DEFAULT_MTU, valid_interface_name};
use wiregate_core::{Endpoint, Host, PresharedKey, PrivateKey, PublicKey, TunnelConfig};

/// Largest page of a peer listing.
pub const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
/// Backends a tunnel may name.
const BACKENDS: &[&str] = wiregate_core::backend::KINDS;

mod file_peers;
mod routes;
pub use file_peers::{FILE_TAG, FileSync};
use routes::{check_routable, check_routes};

#[derive(Debug)]
pub struct Control {
    store: Arc<dyn Store>,
    reconciler: Arc<Reconciler>,
    writes: Mutex<()>,
}

fn parse_public(text: &str) -> Result<PublicKey, ApiError> {
    PublicKey::from_base64(text)
        .and_then(PublicKey::usable)
        .map_err(|e| ApiError::invalid("invalid_key", format!("public_key: {e}")))
}

fn parse_psk(text: &str) -> Result<PresharedKey, ApiError> {
    PresharedKey::from_base64(text)
        .map_err(|e| ApiError::invalid("invalid_key", format!("preshared_key: {e}")))
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

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(ApiError::invalid(
            "invalid_name",
            "a peer name is 1-128 characters",
        ));
    }
    Ok(())
}

/// The tag [`FILE_TAG`] says a peer belongs to the configuration file, which the file
/// then keeps in line at every start and reload: the API may neither give it to a peer
/// nor take it away (a start would then find an API peer in the file, or a file peer
/// the file no longer lists, and refuse or remove it).
fn check_tags(before: &[String], after: &[String]) -> Result<(), ApiError> {
    let from_file = |tags: &[String]| tags.iter().any(|t| t == FILE_TAG);
    if from_file(before) == from_file(after) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "reserved_tag",
            format!(
                "the tag {FILE_TAG:?} marks the configuration file's peers: it cannot be added or removed through the API (edit the file and reload instead)"
            ),
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
            .ok_or_else(|| ApiError::not_found(format!("no peer {id} in tunnel {tunnel:?}")))?;
        Ok((record, peer))
    }

    fn tunnel_view(&self, record: &TunnelRecord) -> Tunnel {
        let status = match self.reconciler.status(&record.name) {
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
            return Err(ApiError::conflict(
                "tunnel_exists",
                format!("tunnel {:?} exists", new.name),
            ));
        }
        if new.listen_port != 0
            && self
                .store
                .tunnels()?
                .iter()
                .any(|t| t.listen_port == new.listen_port)
        {
            return Err(ApiError::conflict(
                "port_in_use",
                format!("another tunnel listens on port {}", new.listen_port),
            ));
        }
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
        };
        check_routable(&record.routable)?;
        validate(&record, &[])?;
        self.store.insert_tunnel(&record)?;
        self.reconciler.tunnel(&record.name);
        Ok(self.tunnel_view(&record))
    }

    pub fn update_tunnel(&self, name: &str, patch: TunnelPatch) -> Result<Tunnel, ApiError> {
        let _guard = self.write_lock();
        let mut record = self.tunnel_record(name)?;
        if let Some(port) = patch.listen_port {
            if port != 0
                && self
                    .store
                    .tunnels()?
                    .iter()
                    .any(|t| t.name != name && t.listen_port == port)
            {
                return Err(ApiError::conflict(
                    "port_in_use",
                    format!("another tunnel listens on port {port}"),
                ));
            }
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
        let peers = self.store.peers(name)?;
        if let Some(pools) = patch.pools {
            let pools: Vec<IpNet> = pools.iter().map(IpNet::trunc).collect();
            let stranded = peers
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
        validate(&record, &peers)?;
        record.updated_at = now();
        // The store forgets the peers' private keys with this commit if they are no
        // longer kept; the answer says how many went.
        let forgotten = (patch.keep_private_keys == Some(false))
            .then(|| peers.iter().filter(|p| p.private_key.is_some()).count());
        self.store.update_tunnel(&record)?;
        self.reconciler.tunnel(name);
        Ok(Tunnel {
            forgotten_private_keys: forgotten,
            ..self.tunnel_view(&record)
        })
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
        let record = self.tunnel_record(tunnel)?;
        let existing = self.store.peers(tunnel)?;
        let mut allocator = Allocator::new(
            &record.pools,
            &record.addresses,
            existing.iter().flat_map(|p| p.addresses.iter().copied()),
        );
        let at = now();
        let mut records = Vec::with_capacity(new.len());
        let mut secrets = Vec::with_capacity(new.len());
        // Server-made keypairs are derived on every core: a scalar multiplication each,
        // which for thousands of peers is most of the request.
        let wanted = new.iter().filter(|p| p.public_key.is_none()).count();
        let mut keypairs = (0..wanted)
            .into_par_iter()
            .map(|_| {
                let key = PrivateKey::generate();
                (key.public_key(), key)
            })
            .collect::<Vec<_>>()
            .into_iter();
        for (i, peer) in new.into_iter().enumerate() {
            let fail = |e: ApiError| ApiError {
                detail: format!("peer {i} ({}): {}", peer.name, e.detail),
                ..e
            };
            check_name(&peer.name).map_err(fail)?;
            check_tags(&[], &peer.tags).map_err(fail)?;
            check_routes(&record, &peer.routes).map_err(fail)?;
            let (public_key, private_key) = match &peer.public_key {
                Some(text) => (parse_public(text).map_err(fail)?, None),
                None => {
                    let (public, key) =
                        keypairs.next().expect("one keypair per peer without a key");
                    (public, Some(key))
                }
            };
            let preshared_key = match (&peer.preshared_key, peer.generate_preshared_key) {
                (Some(_), true) => {
                    return Err(fail(ApiError::invalid(
                        "invalid_key",
                        "give preshared_key or generate_preshared_key, not both",
                    )));
                }
                (Some(text), false) => Some(parse_psk(text).map_err(fail)?),
                (None, true) => Some(PresharedKey::generate()),
                (None, false) => None,
            };
            let addresses = match &peer.addresses {
                Some(wanted) => {
                    allocator.claim(wanted).map_err(|e| fail(e.into()))?;
                    wanted.clone()
                }
                None if record.pools.is_empty() => Vec::new(),
                None => allocator.allocate().map_err(|e| fail(e.into()))?,
            };
            if addresses.is_empty() && peer.routes.is_empty() {
                return Err(fail(ApiError::invalid(
                    "invalid_address",
                    "the peer would have no allowed IPs: the tunnel has no pools; give addresses or routes",
                )));
            }
            records.push(PeerRecord {
                id: 0,
                tunnel: tunnel.to_owned(),
                name: peer.name,
                tags: peer.tags,
                public_key,
                preshared_key,
                private_key: private_key.clone().filter(|_| record.keep_private_keys),
                addresses,
                routes: peer.routes,
                endpoint: peer.endpoint,
                persistent_keepalive: peer.persistent_keepalive.filter(|&k| k != 0),
                enabled: peer.enabled.unwrap_or(true),
                expires_at: peer.expires_at,
                created_at: at,
                updated_at: at,
            });
            secrets.push(private_key);
        }
        let mut all = existing;
        all.extend(records.iter().cloned());
        validate(&record, &all)?;
        let stored = self.store.insert_peers(&records)?;
        self.reconciler.tunnel(tunnel);
        let renderer = crate::clientconfig::Renderer::new(&record);
        Ok(stored
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
        let (record, mut peer) = self.tunnel_and_peer(tunnel, id)?;
        if let Some(name) = patch.name {
            check_name(&name)?;
            peer.name = name;
        }
        if let Some(tags) = patch.tags {
            check_tags(&peer.tags, &tags)?;
            peer.tags = tags;
        }
        if let Some(psk) = patch.preshared_key {
            peer.preshared_key = psk.as_deref().map(parse_psk).transpose()?;
        }
        if let Some(routes) = patch.routes {
            check_routes(&record, &routes)?;
            peer.routes = routes;
        }
        if let Some(endpoint) = patch.endpoint {
            peer.endpoint = endpoint;
        }
        if let Some(keepalive) = patch.persistent_keepalive {
            peer.persistent_keepalive = keepalive.filter(|&k| k != 0);
        }
        if let Some(enabled) = patch.enabled {
            peer.enabled = enabled;
        }
        if let Some(expires_at) = patch.expires_at {
            peer.expires_at = expires_at;
        }
        let mut all = self.store.peers(tunnel)?;
        if let Some(slot) = all.iter_mut().find(|p| p.id == id) {
            *slot = peer.clone();
        }
        validate(&record, &all)?;
        peer.updated_at = now();
        self.store.update_peer(&peer)?;
        self.reconciler.tunnel(tunnel);
        Ok(Peer::new(&peer, now()))
    }

    pub fn delete_peer(&self, tunnel: &str, id: i64) -> Result<(), ApiError> {
        let _guard = self.write_lock();
        self.tunnel_record(tunnel)?;
        if !self.store.delete_peer(tunnel, id)? {
            return Err(ApiError::not_found(format!(
                "no peer {id} in tunnel {tunnel:?}"
            )));
        }
        self.reconciler.tunnel(tunnel);
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
        self.store.insert_tunnel(&tunnel)?;
        if let Err(e) = self.store.insert_peers(&peers) {
            self.store.delete_tunnel(&tunnel.name)?;
            return Err(e.into());
        }
        Ok(true)
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
