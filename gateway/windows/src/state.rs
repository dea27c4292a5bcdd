//! The driver's configuration, as read back, in wiregate's terms: the tunnel's state for
//! the API and metrics.

use crate::Configuration;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wiregate_core::{PeerState, PrivateKey, TunnelState};

/// 100 ns intervals from 1601-01-01 (Windows' FILETIME epoch) to 1970-01-01.
const UNIX_EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;

/// A FILETIME (100 ns intervals since 1601-01-01 UTC) as a time; 0, or anything before
/// 1970, is `None` (never).
pub fn from_filetime(filetime: u64) -> Option<SystemTime> {
    let since_unix = filetime.checked_sub(UNIX_EPOCH_AS_FILETIME)?;
    (filetime != 0).then(|| {
        UNIX_EPOCH
            + Duration::from_secs(since_unix / 10_000_000)
            + Duration::from_nanos(since_unix % 10_000_000 * 100)
    })
}

/// The tunnel `name` as the driver reports it.
pub fn tunnel_state(name: &str, config: &Configuration) -> TunnelState {
    TunnelState {
        name: name.to_owned(),
        public_key: PrivateKey::from_bytes(config.interface.private_key).public_key(),
        listen_port: config.interface.listen_port,
        peers: config
            .peers
            .iter()
            .map(|p| PeerState {
                public_key: p.public_key,
                endpoint: p.endpoint,
                allowed_ips: p.allowed_ips.clone(),
                persistent_keepalive: (p.persistent_keepalive != 0)
                    .then_some(p.persistent_keepalive),
                has_preshared_key: p.preshared_key != [0; 32],
                last_handshake: from_filetime(p.last_handshake),
                rx_bytes: p.rx_bytes,
                tx_bytes: p.tx_bytes,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Interface, Peer};
    use wiregate_core::PublicKey;

    #[test]
    fn filetimes_convert_and_zero_is_never() {
        assert_eq!(from_filetime(0), None);
        assert_eq!(from_filetime(UNIX_EPOCH_AS_FILETIME - 1), None);
        assert_eq!(from_filetime(UNIX_EPOCH_AS_FILETIME), Some(UNIX_EPOCH));
        // 2026-11-30T00:00:00Z is 1,796,083,200 s after 1970; plus 1.5 s.
        let filetime = UNIX_EPOCH_AS_FILETIME + 1_796_083_200 * 10_000_000 + 15_000_000;
        assert_eq!(
            from_filetime(filetime),
            Some(UNIX_EPOCH + Duration::from_millis(1_796_083_201_500))
        );
    }

    #[test]
    fn the_state_carries_the_drivers_figures() {
        let key = PrivateKey::from_bytes([9; 32]);
        let mut peer = Peer::new(PublicKey([1; 32]));
        peer.persistent_keepalive = 25;
        peer.preshared_key = [2; 32];
        peer.rx_bytes = 10;
        peer.tx_bytes = 20;
        peer.last_handshake = UNIX_EPOCH_AS_FILETIME + 10_000_000;
        peer.allowed_ips = vec!["10.0.0.2/32".parse().unwrap()];
        let config = Configuration {
            interface: Interface {
                private_key: *key.expose_bytes(),
                listen_port: 51820,
                ..Interface::default()
            },
            peers: vec![peer],
        };
        let state = tunnel_state("wg0", &config);
        assert_eq!(state.public_key, key.public_key());
        assert_eq!(state.listen_port, 51820);
        let p = &state.peers[0];
        assert_eq!(p.persistent_keepalive, Some(25));
        assert!(p.has_preshared_key);
        assert_eq!((p.rx_bytes, p.tx_bytes), (10, 20));
        assert_eq!(p.last_handshake, Some(UNIX_EPOCH + Duration::from_secs(1)));
    }
}
