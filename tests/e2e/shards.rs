//! `--shards 2`: peers and their traffic are spread over both shards.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{ping, ping_once};
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::thread;

/// Enough clients that a gateway spreading peers over 2 shards (by hash or in turn)
/// leaves neither empty: with a uniform hash all 8 land on one shard 1 time in 128.
const CLIENTS: u8 = 8;
const BURST: u32 = 200;

#[test]
fn two_shards_both_carry_traffic() {
    let _exclusive = crate::cmd::heavy_traffic();
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let sites: Vec<Site> = (1..=CLIENTS)
        .map(|i| Site::new(&gw_ns, &SiteSpec::hub(i, 10 + i, &gw_keys.public)))
        .collect();
    let name = unique("wgs");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers = sites.iter().map(Site::gateway_peer).collect();
    let gw = Gateway::start(
        &gw_ns,
        &GatewayConfig::new(vec![tunnel]),
        &["--shards", "2"],
    );

    let received: u32 = thread::scope(|s| {
        let runs: Vec<_> = sites
            .iter()
            .map(|site| {
                s.spawn(move || {
                    assert!(
                        ping(&site.ns, "10.70.0.1", 3),
                        "no ping reply via {}",
                        site.ip(0)
                    );
                    ping_once(&site.ns, "10.70.0.1", BURST, "0.005")
                })
            })
            .collect();
        sites
            .iter()
            .zip(runs)
            .map(|(site, handle)| {
                let result = handle.join().unwrap();
                assert!(
                    result.received >= BURST * 9 / 10,
                    "{} got {} of {BURST} replies:\n{}",
                    site.ip(0),
                    result.received,
                    result.output
                );
                result.received + 3
            })
            .sum()
    });

    let stats = gw.stats(&name);
    assert_eq!(
        stats.shard_ids(),
        ["0", "1"],
        "expected exactly 2 shards:\n{}",
        stats.raw
    );
    for shard in ["0", "1"] {
        assert!(
            stats.get(shard, "peers") > 0,
            "shard {shard} owns no peer:\n{}",
            stats.raw
        );
        assert!(
            stats.get(shard, "rx_data_packets") > 0,
            "shard {shard} decrypted no data:\n{}",
            stats.raw
        );
    }
    assert_eq!(stats.total("peers"), u64::from(CLIENTS), "{}", stats.raw);
    // The kernel's steering program sends every data packet to its owner's socket.
    assert_eq!(
        stats.total("misdirected"),
        0,
        "data packets reached the wrong shard despite kernel steering:\n{}",
        stats.raw
    );
    // Every echo request answered was decrypted by the gateway once.
    assert!(
        stats.total("rx_data_packets") >= u64::from(received),
        "{received} echo requests were answered but rx_data_packets is lower:\n{}",
        stats.raw
    );
    for (key, total) in &stats.shards["total"] {
        let sum: u64 = ["0", "1"].iter().map(|s| stats.get(s, key)).sum();
        assert_eq!(
            *total, sum,
            "total {key} is not the sum of the shards:\n{}",
            stats.raw
        );
    }
}
