//! The API and `wg show` compared field by field: what the store says a tunnel carries
//! against what its data plane carries, and what the API reports of each peer's session
//! against what the data plane counts.

use crate::gateway::Gateway;
use crate::wg::{Dump, DumpPeer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Every peer of `tunnel` as the API lists it (all pages), by public key.
pub fn api_peers(gw: &Gateway, tunnel: &str) -> BTreeMap<String, Value> {
    let mut peers = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = gw.json(
            "GET",
            &format!("/v1/tunnels/{tunnel}/peers?limit=1000&after={after}"),
            None,
            200,
        );
        for peer in page["items"].as_array().expect("items") {
            let key = peer["public_key"].as_str().expect("public_key").to_owned();
            assert!(
                peers.insert(key, peer.clone()).is_none(),
                "a peer listed twice"
            );
        }
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => return peers,
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// How one active API peer differs from its line in the dump, if it does.
fn peer_difference(api: &Value, wg: &DumpPeer) -> Option<String> {
    let mut allowed = strings(&api["addresses"]);
    allowed.extend(strings(&api["routes"]));
    allowed.sort();
    let keepalive = match api["persistent_keepalive"].as_u64() {
        Some(seconds) => seconds.to_string(),
        None => "off".to_owned(),
    };
    let has_psk = wg.preshared_key != "(none)";
    let differences = [
        (allowed != wg.allowed_ips).then(|| {
            format!(
                "allowed IPs: API {allowed:?}, wg {:?}",
                wg.allowed_ips.iter().take(5).collect::<Vec<_>>()
            )
        }),
        (keepalive != wg.persistent_keepalive)
            .then(|| format!("keepalive: API {keepalive}, wg {}", wg.persistent_keepalive)),
        (api["has_preshared_key"] != has_psk).then(|| format!("preshared key: wg has {has_psk}")),
        // An endpoint the store names is the one configured; otherwise the data plane's
        // learned one stands.
        api["endpoint"]
            .as_str()
            .filter(|endpoint| *endpoint != wg.endpoint)
            .map(|endpoint| format!("endpoint: API {endpoint}, wg {}", wg.endpoint)),
    ];
    let found: Vec<String> = differences.into_iter().flatten().collect();
    (!found.is_empty()).then(|| found.join("; "))
}

/// How the tunnel's data plane (`wg show <tunnel> dump`) differs from what the API says
/// it carries: listen port, fwmark, and every active peer's configuration. `None`: no
/// difference.
pub fn config_difference(gw: &Gateway, tunnel: &str) -> Option<String> {
    let record = gw.json("GET", &format!("/v1/tunnels/{tunnel}"), None, 200);
    let dump = gw.dump(tunnel);
    let mut found = Vec::new();
    if record["listen_port"] != dump.listen_port {
        found.push(format!(
            "listen port: API {}, wg {}",
            record["listen_port"], dump.listen_port
        ));
    }
    let fwmark = match record["fwmark"].as_u64() {
        Some(0) | None => "off".to_owned(),
        Some(mark) => format!("0x{mark:x}"),
    };
    if fwmark != dump.fwmark {
        found.push(format!("fwmark: API {fwmark}, wg {}", dump.fwmark));
    }
    let api: BTreeMap<String, Value> = api_peers(gw, tunnel)
        .into_iter()
        .filter(|(_, peer)| peer["active"] == true)
        .collect();
    let wg: BTreeMap<&str, &DumpPeer> = dump
        .peers
        .iter()
        .map(|p| (p.public_key.as_str(), p))
        .collect();
    for (key, peer) in &api {
        match wg.get(key.as_str()) {
            None => found.push(format!("{key}: in the API, not in wg")),
            Some(line) => {
                if let Some(difference) = peer_difference(peer, line) {
                    found.push(format!("{key}: {difference}"));
                }
            }
        }
    }
    found.extend(
        wg.keys()
            .filter(|key| !api.contains_key(**key))
            .map(|key| format!("{key}: in wg, not in the API")),
    );
    let shown = found.len().min(10);
    (!found.is_empty()).then(|| {
        format!(
            "{} differences, the first {shown}:\n{}",
            found.len(),
            found[..shown].join("\n")
        )
    })
}

/// Panics unless the API and `wg show` agree on the tunnel's configuration.
pub fn assert_config_agrees(gw: &Gateway, tunnel: &str) {
    if let Some(difference) = config_difference(gw, tunnel) {
        panic!("the API and `wg show {tunnel}` disagree: {difference}");
    }
}

/// The API's session report of one peer (a single-peer read).
fn status(gw: &Gateway, tunnel: &str, id: i64) -> Value {
    let peer = gw.json(
        "GET",
        &format!("/v1/tunnels/{tunnel}/peers/{id}"),
        None,
        200,
    );
    assert!(peer["status"].is_object(), "no status in {peer}");
    peer["status"].clone()
}

/// The API and `wg show` agree on each of `ids`' endpoint, last handshake and byte
/// counts. Sessions go on between two reads, so every `wg show` figure must lie between
/// the API's figures just before and just after it.
pub fn assert_sessions_agree(gw: &Gateway, tunnel: &str, ids: &[i64]) {
    for &id in ids {
        let before = status(gw, tunnel, id);
        let dump: Dump = gw.dump(tunnel);
        let after = status(gw, tunnel, id);
        let key = gw.json(
            "GET",
            &format!("/v1/tunnels/{tunnel}/peers/{id}"),
            None,
            200,
        )["public_key"]
            .as_str()
            .expect("public_key")
            .to_owned();
        let wg = dump.peer(&key);
        assert_eq!(
            before["endpoint"].as_str(),
            Some(wg.endpoint.as_str()),
            "endpoint of {key}"
        );
        let within = |field: &str, value: u64| {
            let low = before[field].as_u64().unwrap_or(0);
            let high = after[field].as_u64().unwrap_or(0);
            assert!(
                low <= value && value <= high,
                "{field} of {key}: wg {value}, API {low} before and {high} after"
            );
        };
        within("last_handshake", wg.latest_handshake);
        within("rx_bytes", wg.rx_bytes);
        within("tx_bytes", wg.tx_bytes);
        assert!(
            wg.latest_handshake > 0 && wg.rx_bytes > 0 && wg.tx_bytes > 0,
            "{key} has no session: {wg:?}"
        );
    }
}
