//! Transport padding and byte counters, measured by an independent implementation: a
//! wireguard-go client counts every datagram it sends and receives, handshakes included,
//! as the kernel does. For known pings through a fresh session, both directions, IPv4 and
//! IPv6, the client must count exactly what WireGuard's rules give (each packet padded with
//! zeros to a multiple of 16, never past the MTU), and the gateway's own `wg show` must
//! count the same datagrams from its side.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::ping_sized;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::{Dump, Keypair};
use wiregate_core::protocol::{
    DATA_OVERHEAD, HANDSHAKE_INITIATION_LEN, HANDSHAKE_RESPONSE_LEN, MESSAGE_PADDING_MULTIPLE,
};

/// Both ends' MTU (the gateway's and wireguard-go's default).
const MTU: u64 = 1420;
/// Echo requests per size.
const PINGS: u64 = 5;

/// The data datagram carrying an inner packet of `len` bytes (at most the MTU).
fn datagram(len: u64) -> u64 {
    DATA_OVERHEAD as u64
        + len
            .next_multiple_of(MESSAGE_PADDING_MULTIPLE as u64)
            .min(MTU)
}

/// (received, sent) bytes as `wg show dump` counts them for the one peer of `dump`.
fn counted(dump: &Dump) -> (u64, u64) {
    (dump.peers[0].rx_bytes, dump.peers[0].tx_bytes)
}

struct Ends<'a> {
    site: &'a Site,
    gw: &'a Gateway,
    tunnel: &'a str,
}

impl Ends<'_> {
    /// (client received, client sent, gateway received, gateway sent).
    fn counters(&self) -> [u64; 4] {
        let client = Dump::parse(
            &self
                .site
                .client
                .wg(&["show", &self.site.client.iface, "dump"]),
        );
        let (client_rx, client_tx) = counted(&client);
        let (gw_rx, gw_tx) = counted(&self.gw.dump(self.tunnel));
        [client_rx, client_tx, gw_rx, gw_tx]
    }

    /// Pings `to` from `from` with IP packets of `len` bytes (`header`: 28 for IPv4 with
    /// ICMP, 48 for IPv6) and checks that each end counted `PINGS` datagrams each way of
    /// exactly `datagram(len)` bytes.
    fn pings_count_exactly(&self, from: &Netns, to: &str, len: u64, header: u64) {
        let before = self.counters();
        let result = ping_sized(from, to, PINGS as u32, "0.05", (len - header) as u32);
        assert_eq!(result.received, PINGS as u32, "{}", result.output);
        let after = self.counters();
        let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        let each = PINGS * datagram(len);
        assert_eq!(
            delta,
            [each; 4],
            "{PINGS} pings of {len}-byte packets to {to}: client rx/tx, gateway rx/tx \
             (each should be {PINGS} x {})",
            datagram(len)
        );
    }
}

#[test]
fn padded_to_sixteen_never_past_the_mtu_and_every_datagram_counted() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let name = unique("wgpad");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers.push(site.gateway_peer());
    let mut config = GatewayConfig::new(vec![tunnel]);
    // Two shards: a TUN packet read by the shard that does not own the peer is padded
    // before it is handed over.
    config.shards = Some(2);
    let gw = Gateway::start(&gw_ns, &config, &[]);
    let ends = Ends {
        site: &site,
        gw: &gw,
        tunnel: &name,
    };

    // A fresh session: the client's initiation (148) and ten 84-byte pings, padded to 96,
    // 128 bytes a datagram; back, the gateway's response (92) and ten padded replies.
    assert_eq!(ends.counters(), [0; 4], "traffic before the first ping");
    let result = ping_sized(&site.ns, "10.70.0.1", 10, "0.05", 56);
    assert_eq!(result.received, 10, "{}", result.output);
    let data = 10 * datagram(84);
    assert_eq!(data, 1280);
    let initiation = HANDSHAKE_INITIATION_LEN as u64;
    let response = HANDSHAKE_RESPONSE_LEN as u64;
    assert_eq!(
        ends.counters(),
        [
            response + data,
            initiation + data,
            initiation + data,
            response + data
        ],
        "client rx/tx, gateway rx/tx after a fresh session's ten pings"
    );

    // The same session, sizes around the rules' corners.
    ends.pings_count_exactly(&site.ns, "fd70::1", 104, 48); // IPv6: 104 -> 112
    ends.pings_count_exactly(&site.ns, "10.70.0.1", 1419, 28); // pads up to the MTU
    ends.pings_count_exactly(&site.ns, "10.70.0.1", 1420, 28); // the MTU: no padding
    ends.pings_count_exactly(&site.ns, "fd70::1", 1419, 48);
    ends.pings_count_exactly(&site.ns, "10.70.0.1", 100, 28); // 100 -> 112
    // Requests that start at the gateway: its TUN's packets are padded on the way out.
    ends.pings_count_exactly(&gw_ns, "10.70.0.11", 84, 28);
    ends.pings_count_exactly(&gw_ns, "fd70::11", 1417, 48);
}
