//! A fleet: three gateway processes, each in a network namespace (and with a
//! /run/wireguard) of its own, sharing one PostgreSQL database. A change made through any
//! gateway's API is served by every other within a second; gateways allocating
//! addresses in one tunnel at the same moment never hand out one twice; a tunnel placed
//! on two nodes runs on one, and on the other within 15 s of the first being killed;
//! through a database outage clients keep pinging and changes wait for the database; a
//! gateway killed while it acknowledges changes loses none of them.

use crate::cmd::wait_for;
use crate::database::{Cluster, fresh_database};
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::{self, Netns};
use crate::ping::{must_ping, must_ping_within, ping};
use crate::scrape::Scrape;
use crate::topo::{CLIENT_PORT, GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use crate::wggo::{PeerSetting, WgGoClient};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// One gateway of the fleet. The gateway is declared before its namespace so that it
/// stops first.
struct Node {
    gw: Gateway,
    ns: Netns,
}

impl Node {
    fn start(url: &str, tunnels: Vec<TunnelSpec>, index: usize) -> Self {
        let ns = Netns::new();
        let mut config = GatewayConfig::new(tunnels);
        config.store_url = Some(url.to_owned());
        config.private_run = true;
        config.node_name = Some(format!("node-{}", (b'a' + index as u8) as char));
        let gw = Gateway::start(&ns, &config, &[]);
        gw.wait_for_api();
        Node { gw, ns }
    }
}

fn fleet(url: &str, tunnels: &[TunnelSpec]) -> Vec<Node> {
    (0..3)
        .map(|i| Node::start(url, tunnels.to_vec(), i))
        .collect()
}

#[test]
fn a_peer_created_through_one_gateway_is_served_by_the_others_within_a_second() {
    let url = fresh_database();
    let gw_keys = Keypair::generate();
    let name = unique("wgfl");
    let tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    let nodes = fleet(&url, &[tunnel]);
    // A client of the second gateway; the peer is made through the first.
    let site = Site::new(&nodes[1].ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let key = site.client.keys.public.clone();
    let body = json!({
        "name": "site",
        "public_key": key,
        "routes": ["10.70.0.11/32", "fd70::11/128"],
    });
    nodes[0].gw.json(
        "POST",
        &format!("/v1/tunnels/{name}/peers"),
        Some(&body.to_string()),
        201,
    );
    let answered = Instant::now();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let seen = wait_for(Duration::from_secs(10), || {
            node.gw.peers(&name).contains(&key).then(Instant::now)
        });
        let late = seen.map(|at| at - answered);
        eprintln!("gateway {i} serves the new peer {late:?} after the answer");
        assert!(
            late.is_some_and(|late| late < Duration::from_secs(1)),
            "gateway {i}: the peer made through gateway 0 was not served within 1 s ({late:?})\n{}",
            node.gw.stderr()
        );
    }
    must_ping(&site.ns, "10.70.0.1");
}

/// The nodes as `gw` lists them: name, state and tunnels.
fn listed_nodes(gw: &Gateway) -> Vec<(String, String, Value)> {
    gw.json("GET", "/v1/nodes", None, 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["state"].as_str().unwrap().to_owned(),
                n["tunnels"].clone(),
            )
        })
        .collect()
}

#[test]
fn every_gateway_lists_the_nodes_and_what_they_serve() {
    let url = fresh_database();
    let name = unique("wgfl");
    let tunnel = TunnelSpec::new(&name, GW_PORT, &Keypair::generate(), &["10.70.0.1/24"]);
    let mut nodes = fleet(&url, &[tunnel]);
    let up = |state: [&str; 3]| {
        ["node-a", "node-b", "node-c"]
            .iter()
            .zip(state)
            .map(|(n, s)| ((*n).to_owned(), s.to_owned(), json!([name])))
            .collect::<Vec<_>>()
    };
    let listed = wait_for(Duration::from_secs(10), || {
        let seen = listed_nodes(&nodes[2].gw);
        (seen == up(["up", "up", "up"])).then_some(())
    });
    assert!(listed.is_some(), "{:?}", listed_nodes(&nodes[2].gw));
    // One stops cleanly and says so; one is killed and goes silent.
    nodes[0].gw.stop("TERM");
    nodes[1].gw.stop("KILL");
    let started = Instant::now();
    let lost = wait_for(Duration::from_secs(20), || {
        let seen: Vec<(String, String)> = listed_nodes(&nodes[2].gw)
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect();
        (seen
            == [("node-a", "stopped"), ("node-b", "lost"), ("node-c", "up")]
                .map(|(n, s)| (n.to_owned(), s.to_owned())))
        .then_some(())
    });
    assert!(lost.is_some(), "{:?}", listed_nodes(&nodes[2].gw));
    let after = started.elapsed();
    eprintln!("a killed node was listed lost after {after:?}");
    assert!(after >= Duration::from_secs(8), "lost too soon: {after:?}");
    // The survivor's metrics: the lost node's age, what the alert reads; none for the
    // node that stopped cleanly.
    let scrape = Scrape::fetch(&nodes[2].ns);
    let age = |node: &str| scrape.find("wiregate_node_heartbeat_age_seconds", &[("node", node)]);
    assert!(age("node-b")[0].value > 10.0, "{}", scrape.text);
    assert!(age("node-a").is_empty(), "{}", scrape.text);
    assert!(age("node-c")[0].value <= 3.0, "{}", scrape.text);
}

/// A fresh public key, made in-process: thousands of `wg genkey` would take minutes.
fn public_key() -> String {
    wiregate_core::PrivateKey::generate()
        .public_key()
        .to_base64()
}

/// `count` single-peer requests, each asking for the next free address of the pools.
fn requests(tag: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            json!({
                "name": format!("{tag}-{i}"),
                "public_key": public_key(),
            })
            .to_string()
        })
        .collect()
}

/// Every peer of the tunnel, following the pages.
fn all_peers(gw: &Gateway, tunnel: &str) -> Vec<Value> {
    let mut peers = Vec::new();
    let mut after = None;
    loop {
        let page = gw.json(
            "GET",
            &format!(
                "/v1/tunnels/{tunnel}/peers?limit=1000{}",
                after.map_or(String::new(), |a: i64| format!("&after={a}"))
            ),
            None,
            200,
        );
        peers.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => after = Some(next),
            None => return peers,
        }
    }
}

#[test]
fn gateways_allocating_at_the_same_moment_never_give_an_address_twice() {
    const EACH: usize = 1000;
    let url = fresh_database();
    let nodes = fleet(&url, &[]);
    let name = unique("wgfl");
    let tunnel = json!({
        "name": name,
        "listen_port": GW_PORT,
        "addresses": ["10.80.0.1/16"],
        "pools": ["10.80.0.0/16"],
    });
    nodes[0]
        .gw
        .json("POST", "/v1/tunnels", Some(&tunnel.to_string()), 201);
    let path = format!("/v1/tunnels/{name}/peers");
    let (first, second) = (requests("a", EACH), requests("b", EACH));
    let started = Instant::now();
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| nodes[0].gw.post_many(&path, &first));
        let b = scope.spawn(|| nodes[1].gw.post_many(&path, &second));
        (a.join().unwrap(), b.join().unwrap())
    });
    let took = started.elapsed();
    for (i, statuses) in [a, b].iter().enumerate() {
        let refused: Vec<_> = statuses.iter().filter(|s| **s != 201).collect();
        assert!(
            refused.is_empty(),
            "gateway {i}: {} of {EACH} creations refused: {refused:?}\n{}",
            refused.len(),
            nodes[i].gw.stderr()
        );
    }
    // As the third gateway sees it.
    let peers = all_peers(&nodes[2].gw, &name);
    assert_eq!(peers.len(), 2 * EACH);
    let addresses: HashSet<&str> = peers
        .iter()
        .map(|p| p["addresses"][0].as_str().expect("an address"))
        .collect();
    assert_eq!(addresses.len(), 2 * EACH, "an address was given twice");
    eprintln!(
        "{} single-peer creations through two gateways at once in {took:?}",
        2 * EACH
    );
    // And every gateway serves all of them.
    for (i, node) in nodes.iter().enumerate() {
        let served = wait_for(Duration::from_secs(10), || {
            (node.gw.peers(&name).len() == 2 * EACH).then_some(())
        });
        assert!(served.is_some(), "gateway {i} does not serve every peer");
    }
}

/// Which nodes run `tunnel`, as `gw` lists them.
fn serving(gw: &Gateway, tunnel: &str) -> Vec<String> {
    listed_nodes(gw)
        .into_iter()
        .filter(|(_, state, tunnels)| {
            state == "up" && tunnels.as_array().unwrap().iter().any(|t| t == tunnel)
        })
        .map(|(name, _, _)| name)
        .collect()
}

/// A floating address, as keepalived keeps one: on the loopback of the node that holds
/// it, and the client's route to it through that node's link.
struct Floating<'a> {
    client: &'a Netns,
    address: &'a str,
}

impl Floating<'_> {
    /// Puts the address on `ns` (reached from the client through `via`), taking it from
    /// `from` if given.
    fn move_to(&self, ns: &Netns, via: &str, from: Option<&Netns>) {
        let address = format!("{}/32", self.address);
        if let Some(from) = from {
            from.run(&["ip", "addr", "del", &address, "dev", "lo"]);
        }
        ns.run(&["ip", "addr", "add", &address, "dev", "lo"]);
        self.client
            .run(&["ip", "route", "replace", &address, "via", via]);
    }
}

#[test]
fn a_tunnel_placed_on_two_nodes_fails_over_when_its_node_is_killed() {
    let url = fresh_database();
    let mut nodes = fleet(&url, &[]);
    let name = unique("wgfo");
    // Through the third node's API: it does not run the tunnel itself.
    let tunnel = json!({
        "name": name,
        "listen_port": GW_PORT,
        "addresses": ["10.70.0.1/24"],
        "routable": [],
        "nodes": ["node-a", "node-b"],
    });
    let created = nodes[2]
        .gw
        .json("POST", "/v1/tunnels", Some(&tunnel.to_string()), 201);
    assert_eq!(created["nodes"], json!(["node-a", "node-b"]), "{created}");
    assert_eq!(created["status"]["state"], "standby", "{created}");
    let public = nodes[2]
        .gw
        .json("GET", &format!("/v1/tunnels/{name}"), None, 200)["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // One of the two takes it.
    let holder = wait_for(Duration::from_secs(10), || {
        let now = serving(&nodes[2].gw, &name);
        (now.len() == 1).then(|| now[0].clone())
    })
    .unwrap_or_else(|| panic!("nobody serves {name}: {:?}", listed_nodes(&nodes[2].gw)));
    let (first, second) = if holder == "node-a" { (0, 1) } else { (1, 0) };
    // A client that reaches both nodes, through a floating address.
    let client_ns = Netns::new();
    netns::link(&nodes[0].ns, "10.200.1.1/24", &client_ns, "10.200.1.2/24");
    netns::link(&nodes[1].ns, "10.200.2.1/24", &client_ns, "10.200.2.2/24");
    let via = ["10.200.1.1", "10.200.2.1"];
    let floating = Floating {
        client: &client_ns,
        address: "10.201.0.1",
    };
    floating.move_to(&nodes[first].ns, via[first], None);
    let keys = Keypair::generate();
    let key = keys.public.clone();
    let gateway = PeerSetting {
        public_key: public,
        endpoint: Some(format!("10.201.0.1:{GW_PORT}")),
        allowed_ips: vec!["10.70.0.0/24".into()],
        preshared_key: None,
    };
    let _client = WgGoClient::start(
        &client_ns,
        keys,
        CLIENT_PORT,
        &["10.70.0.11/24".into()],
        &gateway,
    );
    let peer = json!({"name": "roamer", "public_key": key, "routes": ["10.70.0.11/32"]});
    nodes[2].gw.json(
        "POST",
        &format!("/v1/tunnels/{name}/peers"),
        Some(&peer.to_string()),
        201,
    );
    must_ping(&client_ns, "10.70.0.1");
    assert_eq!(serving(&nodes[2].gw, &name), vec![holder.clone()]);

    nodes[first].gw.stop("KILL");
    let killed = Instant::now();
    let other = if first == 0 { "node-b" } else { "node-a" };
    let took = wait_for(Duration::from_secs(20), || {
        let shown = nodes[second].gw.try_wg(&["show", &name, "peers"]);
        (shown.success() && shown.stdout.contains(&key)).then(Instant::now)
    })
    .map(|at| at - killed);
    eprintln!("{other} serves the tunnel {took:?} after {holder} was killed");
    assert!(
        took.is_some_and(|t| t <= Duration::from_secs(15)),
        "{other} did not take the tunnel within 15 s ({took:?})\n{}",
        nodes[second].gw.stderr()
    );
    // keepalived moves the address; the client handshakes with the new node.
    floating.move_to(&nodes[second].ns, via[second], Some(&nodes[first].ns));
    let started = Instant::now();
    must_ping_within(&client_ns, "10.70.0.1", Duration::from_secs(30));
    eprintln!(
        "the client pings again {:?} after the address moved",
        started.elapsed()
    );
    let after = wait_for(Duration::from_secs(10), || {
        let now = serving(&nodes[2].gw, &name);
        (now == [other.to_owned()]).then_some(())
    });
    assert!(after.is_some(), "{:?}", listed_nodes(&nodes[2].gw));
    let tunnel = nodes[2]
        .gw
        .json("GET", &format!("/v1/tunnels/{name}"), None, 200);
    assert_eq!(tunnel["status"]["state"], "standby", "{tunnel}");
    let leases = |i: usize| Scrape::fetch(&nodes[i].ns).value("wiregate_node_leases", &[]);
    assert_eq!((leases(second), leases(2)), (1.0, 0.0));
}

#[test]
fn through_a_database_outage_clients_keep_pinging_and_changes_wait() {
    let cluster = Cluster::start();
    let gw_keys = Keypair::generate();
    let name = unique("wgfd");
    // Two nodes, each with a client of its own.
    let namespaces = [Netns::new(), Netns::new()];
    let sites: Vec<Site> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| Site::new(ns, &SiteSpec::hub(1, 11 + i as u8, &gw_keys.public)))
        .collect();
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers = sites.iter().map(Site::gateway_peer).collect();
    let nodes: Vec<Gateway> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let mut config = GatewayConfig::new(vec![tunnel.clone()]);
            config.store_url = Some(cluster.url.clone());
            config.private_run = true;
            config.node_name = Some(format!("node-{i}"));
            Gateway::start(ns, &config, &[])
        })
        .collect();
    for site in &sites {
        must_ping(&site.ns, "10.70.0.1");
    }
    let peers = format!("/v1/tunnels/{name}/peers");

    cluster.call("pause");
    for (i, gw) in nodes.iter().enumerate() {
        let (status, body) = gw.api(
            None,
            "POST",
            &peers,
            Some(r#"{"name": "during", "routes": ["10.70.0.50/32"]}"#),
        );
        assert_eq!(status, 503, "node {i}: {body}");
        assert_eq!(
            gw.json("GET", "/v1/health", None, 200)["status"],
            "degraded"
        );
    }
    // Across a heartbeat and a periodic pass.
    std::thread::sleep(Duration::from_secs(3));
    for site in &sites {
        assert!(
            ping(&site.ns, "10.70.0.1", 3),
            "traffic stopped with the database"
        );
    }

    cluster.call("resume");
    let late = Keypair::generate().public;
    let body =
        json!({"name": "after", "public_key": late, "routes": ["10.70.0.51/32"]}).to_string();
    let created = wait_for(Duration::from_secs(20), || {
        let (status, _) = nodes[0].api(None, "POST", &peers, Some(&body));
        (status == 201).then(Instant::now)
    })
    .unwrap_or_else(|| {
        panic!(
            "no change accepted once the database was back:\n{}",
            nodes[0].stderr()
        )
    });
    let reached = wait_for(Duration::from_secs(10), || {
        nodes[1].peers(&name).contains(&late).then(Instant::now)
    });
    // The second node listens again within half a second of the database's return and
    // then applies everything.
    assert!(
        reached.is_some_and(|at| at - created < Duration::from_secs(3)),
        "the change made through node 0 after the outage did not reach node 1 within 3 s\n{}",
        nodes[1].stderr()
    );
    let listed = nodes[1].json("GET", &peers, None, 200).to_string();
    assert!(
        listed.contains("after") && !listed.contains("during"),
        "{listed}"
    );
    for site in &sites {
        must_ping(&site.ns, "10.70.0.1");
    }
}

#[test]
fn a_gateway_killed_while_acknowledging_changes_loses_none() {
    let url = fresh_database();
    let nodes = fleet(&url, &[]);
    let name = unique("wgfk");
    let tunnel = json!({
        "name": name,
        "listen_port": GW_PORT,
        "addresses": ["10.80.0.1/16"],
        "pools": ["10.80.0.0/16"],
    });
    nodes[1]
        .gw
        .json("POST", "/v1/tunnels", Some(&tunnel.to_string()), 201);
    // Bulk requests of 100 peers each, one after another, to the first node, which is
    // killed meanwhile.
    const BULKS: usize = 200;
    let bodies: Vec<String> = (0..BULKS)
        .map(|b| {
            let peers: Vec<Value> = (0..100)
                .map(|i| json!({"name": format!("b{b}-{i}"), "public_key": public_key()}))
                .collect();
            json!({ "peers": peers }).to_string()
        })
        .collect();
    let path = format!("/v1/tunnels/{name}/peers/bulk");
    let statuses = std::thread::scope(|scope| {
        let sent = scope.spawn(|| nodes[0].gw.post_many(&path, &bodies));
        // Once some have been acknowledged.
        let started = wait_for(Duration::from_secs(30), || {
            (all_peers(&nodes[1].gw, &name).len() >= 500).then_some(())
        });
        assert!(started.is_some(), "the bulk requests did not start");
        nodes[0].gw.signal("KILL");
        sent.join().unwrap()
    });
    let acknowledged = statuses.iter().take_while(|s| **s == 201).count();
    assert!(
        acknowledged < BULKS,
        "every request was answered before the kill: the test proves nothing"
    );
    let names: HashSet<String> = all_peers(&nodes[1].gw, &name)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    for b in 0..acknowledged {
        for i in 0..100 {
            assert!(
                names.contains(&format!("b{b}-{i}")),
                "acknowledged peer b{b}-{i} lost"
            );
        }
    }
    // The request in flight when the gateway died: all of it or none.
    let in_flight = (0..100)
        .filter(|i| names.contains(&format!("b{acknowledged}-{i}")))
        .count();
    assert!(
        in_flight == 0 || in_flight == 100,
        "half a bulk request stored: {in_flight}"
    );
    assert_eq!(
        names.len(),
        acknowledged * 100 + in_flight,
        "peers stored that no request made"
    );
    eprintln!(
        "{acknowledged} bulk requests acknowledged before the kill, all stored; the one in flight: {in_flight} of 100"
    );
}
