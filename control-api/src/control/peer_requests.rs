//! Peer requests (new peers, a patch to one) checked against what a tunnel holds now and
//! turned into the records to write. Pure: a plan made again after another writer's
//! commit starts from the new snapshot and nothing else.

use super::FILE_TAG;
use super::routes::check_routes;
use crate::error::ApiError;
use crate::ipam::Allocator;
use crate::model::{PeerRecord, Timestamp, now};
use crate::store::Snapshot;
use crate::types::{NewPeer, PeerPatch};
use wiregate_core::{PresharedKey, PrivateKey, PublicKey};

pub(super) fn no_peer(tunnel: &str, id: i64) -> ApiError {
    ApiError::not_found(format!("no peer {id} in tunnel {tunnel:?}"))
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

/// The records for `new` in the tunnel as `current` holds it, with addresses allocated
/// from its pools, and each peer's server-made private key (from `keypairs`, in order),
/// which the answer shows once. Every request is checked; the first bad one names itself.
pub(super) fn new_peers(
    current: &Snapshot,
    new: &[NewPeer],
    keypairs: &[(PublicKey, PrivateKey)],
    at: Timestamp,
) -> Result<(Vec<PeerRecord>, Vec<Option<PrivateKey>>), ApiError> {
    let record = &current.tunnel;
    let mut allocator = Allocator::new(
        &record.pools,
        &record.addresses,
        current
            .peers
            .iter()
            .flat_map(|p| p.addresses.iter().copied()),
    );
    let mut keypairs = keypairs.iter();
    let mut records = Vec::with_capacity(new.len());
    let mut secrets = Vec::with_capacity(new.len());
    for (i, peer) in new.iter().enumerate() {
        let fail = |e: ApiError| ApiError {
            detail: format!("peer {i} ({}): {}", peer.name, e.detail),
            ..e
        };
        check_name(&peer.name).map_err(fail)?;
        check_tags(&[], &peer.tags).map_err(fail)?;
        check_routes(record, &peer.routes).map_err(fail)?;
        let (public_key, private_key) = match &peer.public_key {
            Some(text) => (parse_public(text).map_err(fail)?, None),
            None => {
                let (public, key) = keypairs.next().expect("one keypair per peer without a key");
                (*public, Some(key.clone()))
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
            tunnel: record.name.clone(),
            name: peer.name.clone(),
            tags: peer.tags.clone(),
            public_key,
            preshared_key,
            private_key: private_key.clone().filter(|_| record.keep_private_keys),
            addresses,
            routes: peer.routes.clone(),
            endpoint: peer.endpoint,
            persistent_keepalive: peer.persistent_keepalive.filter(|&k| k != 0),
            enabled: peer.enabled.unwrap_or(true),
            expires_at: peer.expires_at,
            created_at: at,
            updated_at: at,
        });
        secrets.push(private_key);
    }
    Ok((records, secrets))
}

/// Peer `id` of the tunnel as `current` holds it, with `patch` applied and checked.
pub(super) fn patched_peer(
    current: &Snapshot,
    id: i64,
    patch: &PeerPatch,
) -> Result<PeerRecord, ApiError> {
    let mut peer = current
        .peers
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(|| no_peer(&current.tunnel.name, id))?;
    let patch = patch.clone();
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
        check_routes(&current.tunnel, &routes)?;
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
    peer.updated_at = now();
    Ok(peer)
}
