//! The database goes away and comes back (a cluster of this test's own, paused and
//! resumed): meanwhile the tunnels keep forwarding on what they last applied, changes are
//! refused with `503 store_unavailable` (nothing acknowledged, so nothing lost),
//! `/v1/health` says `degraded`; once the database is back, changes work again without a
//! restart.

use crate::cmd::wait_for;
use crate::database::Cluster;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{must_ping, ping};
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::time::Duration;

#[test]
fn a_database_outage_refuses_changes_and_keeps_traffic_flowing() {
    let cluster = Cluster::start();
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let name = unique("wgout");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers.push(site.gateway_peer());
    let mut config = GatewayConfig::new(vec![tunnel]);
    config.store_url = Some(cluster.url.clone());
    let gw = Gateway::start(&gw_ns, &config, &[]);
    must_ping(&site.ns, "10.70.0.1");
    let health = gw.json("GET", "/v1/health", None, 200);
    assert_eq!(health["status"], "ok", "{health}");

    cluster.call("pause");
    let peers = format!("/v1/tunnels/{name}/peers");
    let (status, body) = gw.api(
        None,
        "POST",
        &peers,
        Some(r#"{"name": "during", "routes": ["10.70.0.50/32"]}"#),
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store_unavailable"), "{body}");
    let health = gw.json("GET", "/v1/health", None, 200);
    assert_eq!(health["status"], "degraded", "{health}");
    // The data plane is not the store: traffic goes on, across a periodic pass too.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        ping(&site.ns, "10.70.0.1", 3),
        "traffic stopped with the database"
    );

    cluster.call("resume");
    let created = wait_for(Duration::from_secs(20), || {
        let (status, _) = gw.api(
            None,
            "POST",
            &peers,
            Some(r#"{"name": "after", "routes": ["10.70.0.51/32"]}"#),
        );
        (status == 201).then_some(())
    });
    assert!(
        created.is_some(),
        "no change accepted once the database was back:\n{}",
        gw.stderr()
    );
    let health = gw.json("GET", "/v1/health", None, 200);
    assert_eq!(health["status"], "ok", "{health}");
    let listed = gw.json("GET", &peers, None, 200).to_string();
    assert!(
        listed.contains("after") && !listed.contains("during"),
        "{listed}"
    );
    must_ping(&site.ns, "10.70.0.1");
}
