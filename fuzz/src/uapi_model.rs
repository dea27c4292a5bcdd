//! A naive model of a UAPI `set` with the kernel's semantics: a vector searched from the
//! start for every peer and every allowed IP, written for obviousness, not speed.

use wiregate_core::{PeerConfig, PublicKey};
use wiregate_dataplane::DeviceConfig;
use wiregate_dataplane::uapi::SetRequest;

/// The configuration after `request`, and the keys of peers whose endpoint it set.
pub fn apply(current: &DeviceConfig, request: &SetRequest) -> (DeviceConfig, Vec<PublicKey>) {
    let mut config = current.clone();
    if let Some(key) = &request.private_key {
        config.private_key = key.clone();
    }
    if let Some(port) = request.listen_port {
        config.listen_port = port;
    }
    if let Some(fwmark) = request.fwmark {
        config.fwmark = fwmark;
    }
    if request.replace_peers {
        config.peers.clear();
    }
    let mut endpoints = Vec::new();
    for change in &request.peers {
        let found = config
            .peers
            .iter()
            .position(|p| p.public_key == change.public_key);
        if change.remove {
            if let Some(at) = found {
                config.peers.remove(at);
            }
            continue;
        }
        let at = match found {
            Some(at) => at,
            None if change.update_only => continue,
            None => {
                config.peers.push(PeerConfig::new(change.public_key));
                config.peers.len() - 1
            }
        };
        if change.replace_allowed_ips {
            config.peers[at].allowed_ips.clear();
        }
        for net in &change.allowed_ips {
            // One exact prefix has one owner: the last peer given it.
            for (other, peer) in config.peers.iter_mut().enumerate() {
                if other != at {
                    peer.allowed_ips.retain(|n| n != net);
                }
            }
            if !config.peers[at].allowed_ips.contains(net) {
                config.peers[at].allowed_ips.push(*net);
            }
        }
        let peer = &mut config.peers[at];
        if let Some(psk) = &change.preshared_key {
            peer.preshared_key = psk.clone();
        }
        if let Some(endpoint) = change.endpoint {
            peer.endpoint = Some(endpoint);
            endpoints.push(peer.public_key);
        }
        if let Some(interval) = change.persistent_keepalive {
            peer.persistent_keepalive = (interval != 0).then_some(interval);
        }
    }
    (config, endpoints)
}
