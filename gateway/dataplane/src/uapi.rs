//! The cross-platform userspace API (the protocol of `/var/run/wireguard/<name>.sock`
//! that wireguard-go and boringtun serve and `wg` speaks): parsing `set`, applying it with
//! kernel semantics, and formatting `get`. Pure functions; the socket is in `uapi_server`.
//!
//! A `set` is parsed and applied to a copy of the configuration in full before anything
//! changes, so a bad line anywhere in it changes nothing.

use crate::config::{DeviceConfig, DeviceReport};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::UNIX_EPOCH;
use wiregate_core::{PeerConfig, PresharedKey, PrivateKey, PublicKey};

/// UAPI error numbers, negated errno values as wireguard-go sends them.
pub const ERRNO_IO: i32 = -libc::EIO;
pub const ERRNO_PROTOCOL: i32 = -libc::EPROTO;
pub const ERRNO_INVALID: i32 = -libc::EINVAL;
pub const ERRNO_PORT_IN_USE: i32 = -libc::EADDRINUSE;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UapiError {
    pub errno: i32,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> UapiError {
    UapiError {
        errno: ERRNO_INVALID,
        message: message.into(),
    }
}

/// One `public_key=` block of a `set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerChange {
    pub public_key: PublicKey,
    pub remove: bool,
    pub update_only: bool,
    /// `Some(None)`: remove the preshared key (an all-zero key was given).
    pub preshared_key: Option<Option<PresharedKey>>,
    pub endpoint: Option<SocketAddr>,
    /// `Some(0)` turns persistent keepalive off.
    pub persistent_keepalive: Option<u16>,
    pub replace_allowed_ips: bool,
    pub allowed_ips: Vec<IpNet>,
}

/// A parsed `set` operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetRequest {
    /// `Some(None)`: remove the private key (an all-zero key was given).
    pub private_key: Option<Option<PrivateKey>>,
    pub listen_port: Option<u16>,
    pub fwmark: Option<u32>,
    pub replace_peers: bool,
    pub peers: Vec<PeerChange>,
}

fn parse_true(key: &str, value: &str) -> Result<bool, UapiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(format!(
            "{key}: expected true or false, got {value:?}"
        ))),
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, UapiError> {
    value
        .parse()
        .map_err(|_| invalid(format!("{key}: {value:?} is not a valid number")))
}

fn parse_endpoint(value: &str) -> Result<SocketAddr, UapiError> {
    // `wg` resolves names itself and sends "a.b.c.d:port" or "[v6%scope]:port".
    value
        .parse()
        .map_err(|_| invalid(format!("endpoint: {value:?} is not an IP address and port")))
}

fn parse_allowed_ip(value: &str) -> Result<IpNet, UapiError> {
    let net: IpNet = value
        .parse()
        .map_err(|_| invalid(format!("allowed_ip: {value:?} is not a prefix")))?;
    // As in the kernel, host bits are ignored.
    Ok(net.trunc())
}

/// Parses the body of a `set=1` request: `key=value` lines, without the terminating
/// blank line.
pub fn parse_set(lines: &[&str]) -> Result<SetRequest, UapiError> {
    let mut request = SetRequest::default();
    for line in lines {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| invalid(format!("line {line:?} is not key=value")))?;
        if key == "public_key" {
            let public_key =
                PublicKey::from_hex(value).map_err(|e| invalid(format!("public_key: {e}")))?;
            request.peers.push(PeerChange {
                public_key,
                remove: false,
                update_only: false,
                preshared_key: None,
                endpoint: None,
                persistent_keepalive: None,
                replace_allowed_ips: false,
                allowed_ips: Vec::new(),
            });
            continue;
        }
        match request.peers.last_mut() {
            None => match key {
                "private_key" => {
                    let k = PrivateKey::from_hex(value)
                        .map_err(|e| invalid(format!("private_key: {e}")))?;
                    request.private_key = Some((!k.is_zero()).then_some(k));
                }
                "listen_port" => request.listen_port = Some(parse_number(key, value)?),
                "fwmark" => request.fwmark = Some(parse_number(key, value)?),
                "replace_peers" => request.replace_peers = parse_true(key, value)?,
                _ => return Err(invalid(format!("unknown device key {key:?}"))),
            },
            Some(peer) => match key {
                "remove" => peer.remove = parse_true(key, value)?,
                "update_only" => peer.update_only = parse_true(key, value)?,
                "preshared_key" => {
                    let k = PresharedKey::from_hex(value)
                        .map_err(|e| invalid(format!("preshared_key: {e}")))?;
                    peer.preshared_key = Some((!k.is_zero()).then_some(k));
                }
                "endpoint" => peer.endpoint = Some(parse_endpoint(value)?),
                "persistent_keepalive_interval" => {
                    peer.persistent_keepalive = Some(parse_number(key, value)?)
                }
                "replace_allowed_ips" => peer.replace_allowed_ips = parse_true(key, value)?,
                "allowed_ip" => peer.allowed_ips.push(parse_allowed_ip(value)?),
                "protocol_version" if value == "1" => {}
                "protocol_version" => {
                    return Err(invalid(format!(
                        "protocol_version {value:?} is not supported"
                    )));
                }
                _ => return Err(invalid(format!("unknown peer key {key:?}"))),
            },
        }
    }
    Ok(request)
}

/// The configuration after `request`, with kernel semantics: an allowed IP given to one
/// peer is taken from any other that had exactly that prefix. Also returns the peers whose
/// endpoint was set explicitly.
///
/// Linear in the size of the request and the configuration: `wg setconf` sends every peer
/// in one request, and a search per peer made 100,000 peers take tens of seconds.
pub fn apply_set(current: &DeviceConfig, request: &SetRequest) -> (DeviceConfig, Vec<PublicKey>) {
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
    let mut peers = PeerSlots::new(std::mem::take(&mut config.peers));
    let mut endpoints_set = Vec::new();
    for change in &request.peers {
        let position = peers.find(&change.public_key);
        if change.remove {
            if let Some(at) = position {
                peers.remove(at);
            }
            continue;
        }
        let at = match position {
            Some(at) => at,
            None if change.update_only => continue,
            None => peers.add(PeerConfig::new(change.public_key)),
        };
        if change.replace_allowed_ips {
            peers.clear_allowed_ips(at);
        }
        for net in &change.allowed_ips {
            peers.give_allowed_ip(at, *net);
        }
        let peer = peers.get_mut(at);
        if let Some(psk) = &change.preshared_key {
            peer.preshared_key = psk.clone();
        }
        if let Some(endpoint) = change.endpoint {
            peer.endpoint = Some(endpoint);
            endpoints_set.push(peer.public_key);
        }
        if let Some(interval) = change.persistent_keepalive {
            peer.persistent_keepalive = (interval != 0).then_some(interval);
        }
    }
    config.peers = peers.into_peers();
    (config, endpoints_set)
}

/// Peers being changed by a `set`, indexed by key and by allowed IP. A removed peer leaves
/// an empty slot, so the positions of the others stay valid until the end.
struct PeerSlots {
    slots: Vec<Option<PeerConfig>>,
    by_key: FxHashMap<PublicKey, usize>,
    owner: FxHashMap<IpNet, usize>,
}

impl PeerSlots {
    fn new(peers: Vec<PeerConfig>) -> Self {
        let mut by_key = FxHashMap::default();
        let mut owner = FxHashMap::default();
        for (at, peer) in peers.iter().enumerate() {
            by_key.insert(peer.public_key, at);
            for net in &peer.allowed_ips {
                owner.insert(*net, at);
            }
        }
        let slots = peers.into_iter().map(Some).collect();
        Self {
            slots,
            by_key,
            owner,
        }
    }

    fn find(&self, key: &PublicKey) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    fn get_mut(&mut self, at: usize) -> &mut PeerConfig {
        self.slots[at].as_mut().expect("positions come from by_key")
    }

    fn add(&mut self, peer: PeerConfig) -> usize {
        let at = self.slots.len();
        self.by_key.insert(peer.public_key, at);
        self.slots.push(Some(peer));
        at
    }

    fn remove(&mut self, at: usize) {
        self.clear_allowed_ips(at);
        if let Some(peer) = self.slots[at].take() {
            self.by_key.remove(&peer.public_key);
        }
    }

    fn clear_allowed_ips(&mut self, at: usize) {
        let peer = self.slots[at].as_mut().expect("positions come from by_key");
        for net in peer.allowed_ips.drain(..) {
            if self.owner.get(&net) == Some(&at) {
                self.owner.remove(&net);
            }
        }
    }

    /// Gives `net` to the peer at `at`, taking it from the peer that had it.
    fn give_allowed_ip(&mut self, at: usize, net: IpNet) {
        match self.owner.insert(net, at) {
            Some(previous) if previous == at => return,
            Some(previous) => {
                if let Some(other) = self.slots[previous].as_mut() {
                    other.allowed_ips.retain(|n| *n != net);
                }
            }
            None => {}
        }
        self.get_mut(at).allowed_ips.push(net);
    }

    fn into_peers(self) -> Vec<PeerConfig> {
        self.slots.into_iter().flatten().collect()
    }
}

/// The body of a `get=1` answer (without `errno=`), as wireguard-go writes it.
pub fn format_get(report: &DeviceReport) -> String {
    let mut out = String::new();
    if let Some(key) = &report.private_key {
        let _ = writeln!(out, "private_key={}", key.expose_hex());
    }
    let _ = writeln!(out, "listen_port={}", report.listen_port);
    if report.fwmark != 0 {
        let _ = writeln!(out, "fwmark={}", report.fwmark);
    }
    for peer in &report.peers {
        let c = &peer.config;
        let _ = writeln!(out, "public_key={}", c.public_key.to_hex());
        let psk = c
            .preshared_key
            .as_ref()
            .map_or_else(|| "0".repeat(64), |k| k.expose_hex());
        let _ = writeln!(out, "preshared_key={psk}");
        let _ = writeln!(out, "protocol_version=1");
        if let Some(endpoint) = peer.endpoint {
            let _ = writeln!(out, "endpoint={endpoint}");
        }
        let since = peer
            .last_handshake
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let _ = writeln!(out, "last_handshake_time_sec={}", since.as_secs());
        let _ = writeln!(out, "last_handshake_time_nsec={}", since.subsec_nanos());
        let _ = writeln!(out, "tx_bytes={}", peer.tx_bytes);
        let _ = writeln!(out, "rx_bytes={}", peer.rx_bytes);
        let _ = writeln!(
            out,
            "persistent_keepalive_interval={}",
            c.persistent_keepalive.unwrap_or(0)
        );
        for net in &c.allowed_ips {
            let _ = writeln!(out, "allowed_ip={net}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey([n; 32])
    }

    fn set(lines: &str) -> Result<SetRequest, UapiError> {
        parse_set(&lines.lines().collect::<Vec<_>>())
    }

    #[test]
    fn parses_what_wg_setconf_sends() {
        let text = format!(
            "private_key={}\nlisten_port=51820\nreplace_peers=true\npublic_key={}\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\nendpoint=[::1]:4000\npersistent_keepalive_interval=25\nprotocol_version=1",
            "a".repeat(64),
            key(1).to_hex()
        );
        let request = set(&text).unwrap();
        assert_eq!(request.listen_port, Some(51820));
        assert!(request.replace_peers);
        let peer = &request.peers[0];
        assert_eq!(peer.allowed_ips.len(), 2);
        assert_eq!(peer.endpoint, Some("[::1]:4000".parse().unwrap()));
        assert_eq!(peer.persistent_keepalive, Some(25));
    }

    #[test]
    fn refuses_bad_lines() {
        for bad in [
            "listen_port=70000",
            "nonsense=1",
            "private_key=zz",
            "public_key=00\n",
            &format!("public_key={}\nallowed_ip=10.0.0.0/33", key(1).to_hex()),
            &format!("public_key={}\nendpoint=example.com:1", key(1).to_hex()),
            &format!("public_key={}\nprotocol_version=2", key(1).to_hex()),
            &format!("public_key={}\nbogus=1", key(1).to_hex()),
            "no equals sign",
        ] {
            let err = set(bad).unwrap_err();
            assert_eq!(err.errno, ERRNO_INVALID, "{bad}");
        }
    }

    #[test]
    fn allowed_ips_move_between_peers_and_removal_works() {
        let one = "10.0.0.1/32".parse().unwrap();
        let mut config = DeviceConfig::default();
        let add = |k: PublicKey, ip: &str| format!("public_key={}\nallowed_ip={ip}", k.to_hex());
        (config, _) = apply_set(&config, &set(&add(key(1), "10.0.0.1/32")).unwrap());
        (config, _) = apply_set(&config, &set(&add(key(2), "10.0.0.1/32")).unwrap());
        assert!(config.peers[0].allowed_ips.is_empty());
        assert_eq!(config.peers[1].allowed_ips, vec![one]);

        let update_only = format!(
            "public_key={}\nupdate_only=true\nallowed_ip=10.9.0.0/16",
            key(3).to_hex()
        );
        (config, _) = apply_set(&config, &set(&update_only).unwrap());
        assert_eq!(config.peers.len(), 2);

        let remove = format!("public_key={}\nremove=true", key(1).to_hex());
        (config, _) = apply_set(&config, &set(&remove).unwrap());
        assert_eq!(config.peers.len(), 1);
        assert_eq!(config.peers[0].public_key, key(2));
    }

    #[test]
    fn allowed_ips_stay_unique_through_replace_and_removal_in_one_request() {
        let net = |s: &str| -> IpNet { s.parse().unwrap() };
        let request = format!(
            "public_key={one}\nallowed_ip=10.0.0.1/32\nallowed_ip=10.0.0.1/32\n\
             public_key={two}\nreplace_allowed_ips=true\nallowed_ip=10.0.0.1/32\n\
             public_key={one}\nreplace_allowed_ips=true\nallowed_ip=10.0.0.2/32",
            one = key(1).to_hex(),
            two = key(2).to_hex()
        );
        let (config, _) = apply_set(&DeviceConfig::default(), &set(&request).unwrap());
        assert_eq!(config.peers[0].allowed_ips, vec![net("10.0.0.2/32")]);
        assert_eq!(config.peers[1].allowed_ips, vec![net("10.0.0.1/32")]);

        // A removed peer's prefixes are free for a peer later in the same request.
        let request = format!(
            "public_key={two}\nremove=true\npublic_key={one}\nallowed_ip=10.0.0.1/32\n\
             public_key={two}\nallowed_ip=10.0.0.3/32",
            one = key(1).to_hex(),
            two = key(2).to_hex()
        );
        let (config, _) = apply_set(&config, &set(&request).unwrap());
        assert_eq!(config.peers.len(), 2);
        assert_eq!(
            config.peers[0].allowed_ips,
            vec![net("10.0.0.2/32"), net("10.0.0.1/32")]
        );
        assert_eq!(config.peers[1].public_key, key(2));
        assert_eq!(config.peers[1].allowed_ips, vec![net("10.0.0.3/32")]);
    }
}
