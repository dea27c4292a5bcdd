//! The gateway on a PostgreSQL store (`[store] url`), in the test command's throwaway
//! cluster: a peer created through the API carries traffic, survives a restart of the
//! gateway (a new process, a new state directory: the database is the truth), and no
//! SQLite file is made.

use crate::database::fresh_database;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{must_ping, must_ping_within};
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use serde_json::json;
use std::time::Duration;

#[test]
fn a_gateway_on_postgresql_keeps_its_peers_across_a_restart() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let first = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let second = Site::new(&gw_ns, &SiteSpec::hub(2, 12, &gw_keys.public));
    let name = unique("wgpg");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers.push(first.gateway_peer());
    let mut config = GatewayConfig::new(vec![tunnel]);
    config.store_url = Some(fresh_database());

    let mut gw = Gateway::start(&gw_ns, &config, &[]);
    must_ping(&first.ns, "10.70.0.1");
    let body = json!({
        "name": "api-site",
        "public_key": second.client.keys.public,
        "routes": ["10.70.0.12/32", "fd70::12/128"],
    });
    gw.json(
        "POST",
        &format!("/v1/tunnels/{name}/peers"),
        Some(&body.to_string()),
        201,
    );
    must_ping(&second.ns, "10.70.0.1");
    assert!(gw.stderr().contains("store: PostgreSQL"), "{}", gw.stderr());
    assert!(
        !gw.state_dir().join("wiregate.db").exists(),
        "a SQLite store was made"
    );
    gw.stop("TERM");
    drop(gw);

    // Another process, another state directory, the same database.
    let gw = Gateway::start(&gw_ns, &config, &[]);
    let peers = gw.json("GET", &format!("/v1/tunnels/{name}/peers"), None, 200);
    let names: Vec<&str> = peers["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"api-site"), "{peers}");
    // The clients' sessions died with the old process: they handshake again once their
    // unanswered packets time out (keepalive 10 s + rekey timeout 5 s).
    must_ping_within(&second.ns, "10.70.0.1", Duration::from_secs(30));
    must_ping_within(&first.ns, "10.70.0.1", Duration::from_secs(30));
}
