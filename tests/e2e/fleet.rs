//! A fleet: three gateway processes, each in a network namespace (and with a
//! /run/wireguard) of its own, sharing one PostgreSQL database. A change made through any
//! gateway's API is served by every other within a second; gateways allocating
//! addresses in one tunnel at the same moment never hand out one twice.

use crate::cmd::wait_for;
use crate::database::fresh_database;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
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
}

/// `count` single-peer requests, each asking for the next free address of the pools.
fn requests(tag: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            json!({
                "name": format!("{tag}-{i}"),
                "public_key": Keypair::generate().public,
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
