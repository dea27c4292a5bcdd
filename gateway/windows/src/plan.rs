//! From what the driver has to what the store wants: one `WireGuardSetConfiguration`
//! buffer that changes only the difference, as the Linux kernel backend does over netlink.
//! Gone peers are removed (`REMOVE`), new ones added, changed ones updated in place
//! (`UPDATE`), their allowed IPs replaced (`REPLACE_ALLOWED_IPS`) only when they differ;
//! `REPLACE_PEERS` is never set, so sessions of untouched peers survive every change. A
//! peer without an endpoint is expressible (no `HAS_ENDPOINT`), and an endpoint the store
//! does not name is left as the driver learned it.

use crate::layout::{interface_flags, peer_flags};
use crate::{Configuration, Interface, Peer};
use ipnet::IpNet;
use std::collections::{BTreeSet, HashMap};
use wiregate_core::{PeerConfig, PrivateKey, TunnelConfig};

fn normalized(nets: &[IpNet]) -> BTreeSet<IpNet> {
    nets.iter().map(IpNet::trunc).collect()
}

/// The change that brings peer `have` (`None`: absent) to `want`; `None` if none is needed.
fn peer_change(have: Option<&Peer>, want: &PeerConfig) -> Option<Peer> {
    let psk = want
        .preshared_key
        .as_ref()
        .map_or([0; 32], |k| *k.expose_bytes());
    let keepalive = want.persistent_keepalive.unwrap_or(0);
    let mut change = Peer::new(want.public_key);
    change.preshared_key = psk;
    change.persistent_keepalive = keepalive;
    let Some(have) = have else {
        change.flags |= peer_flags::HAS_PERSISTENT_KEEPALIVE;
        if psk != [0; 32] {
            change.flags |= peer_flags::HAS_PRESHARED_KEY;
        }
        if let Some(endpoint) = want.endpoint {
            change.flags |= peer_flags::HAS_ENDPOINT;
            change.endpoint = Some(endpoint);
        }
        change.allowed_ips = want.allowed_ips.clone();
        return Some(change);
    };
    let unchanged = change.flags;
    if have.preshared_key != psk {
        change.flags |= peer_flags::HAS_PRESHARED_KEY;
    }
    if have.persistent_keepalive != keepalive {
        change.flags |= peer_flags::HAS_PERSISTENT_KEEPALIVE;
    }
    if let Some(endpoint) = want.endpoint.filter(|e| have.endpoint != Some(*e)) {
        change.flags |= peer_flags::HAS_ENDPOINT;
        change.endpoint = Some(endpoint);
    }
    if normalized(&have.allowed_ips) != normalized(&want.allowed_ips) {
        change.flags |= peer_flags::REPLACE_ALLOWED_IPS;
        change.allowed_ips = want.allowed_ips.clone();
    }
    (change.flags != unchanged).then(|| {
        change.flags |= peer_flags::UPDATE;
        change
    })
}

/// The buffer's contents that turn `current` into `desired`; `None` when they agree.
pub fn plan(current: &Configuration, desired: &TunnelConfig) -> Option<Configuration> {
    let mut interface = Interface::default();
    let public = desired.private_key.public_key();
    // By public key: the driver may hold the key clamped.
    let current_public = PrivateKey::from_bytes(current.interface.private_key).public_key();
    if current.interface.private_key == [0; 32] || current_public != public {
        interface.flags |= interface_flags::HAS_PRIVATE_KEY;
        interface.private_key = *desired.private_key.expose_bytes();
    }
    if desired.listen_port != 0 && current.interface.listen_port != desired.listen_port {
        interface.flags |= interface_flags::HAS_LISTEN_PORT;
        interface.listen_port = desired.listen_port;
    }
    let wanted: HashMap<_, _> = desired.peers.iter().map(|p| (p.public_key, p)).collect();
    let mut peers: Vec<Peer> = current
        .peers
        .iter()
        .filter(|p| !wanted.contains_key(&p.public_key))
        .map(|p| {
            let mut remove = Peer::new(p.public_key);
            remove.flags |= peer_flags::REMOVE;
            remove
        })
        .collect();
    let present: HashMap<_, _> = current.peers.iter().map(|p| (p.public_key, p)).collect();
    peers.extend(
        desired
            .peers
            .iter()
            .filter_map(|want| peer_change(present.get(&want.public_key).copied(), want)),
    );
    (interface.flags != 0 || !peers.is_empty()).then_some(Configuration { interface, peers })
}
