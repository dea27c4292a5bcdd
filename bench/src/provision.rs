//! `provision`: peers created through the API of a real gateway, in bulk and one by one,
//! then listed. Every phase's answers are checked (count, distinct addresses, keys, and
//! the data plane's own peer count) so a broken run fails instead of reporting figures.
//!
//! The one-by-one phases run first, while the gateway is otherwise empty, so their
//! latency growth is the tunnel's own. The periodic reconcile pass (every 10 s by
//! default) stays on, as in production; its cost is measured at the end, idle.

use crate::client::Client;
use crate::gateway::Gateway;
use crate::report::{Latency, Phase, Report};
use crate::{keys, netns};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Most peers one bulk request may carry (`api::MAX_BULK`).
const MAX_BULK: usize = 10_000;
/// Page size of the listing: the API's largest.
const PAGE: usize = 1000;
/// The gateway's metrics (the default address, in the benchmark's namespace).
const METRICS: &str = "127.0.0.1:9586";
/// Scrapes timed.
const SCRAPES: usize = 20;
/// How long the gateway is watched idle, to see what the periodic reconcile costs.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Options {
    pub peers: usize,
    pub sequential: usize,
    pub wiregate: PathBuf,
    pub json: Option<PathBuf>,
    /// PostgreSQL instead of SQLite.
    pub store_url: Option<String>,
}

/// The four tunnels, one per way of creating peers, each with its own /16 and /64 pools
/// (a /16 holds 65,534 peers).
#[derive(Debug, Clone, Copy)]
enum Tunnel {
    Bulk = 0,
    OneByOne = 1,
    BulkServerKeys = 2,
    OneByOneDisabled = 3,
}

impl Tunnel {
    fn name(self) -> String {
        // Unique on the host: UAPI sockets share /var/run/wireguard across namespaces.
        format!("wgb{}{}", std::process::id(), self as u8)
    }

    fn create(self, api: &Client) -> Result<(), String> {
        let i = self as u8;
        let body = json!({
            "name": self.name(),
            "listen_port": 51820 + u16::from(i),
            "addresses": [format!("10.{i}.0.1/16"), format!("fd00:{i}::1/64")],
            "pools": [format!("10.{i}.0.0/16"), format!("fd00:{i}::/64")],
        });
        api.create("/v1/tunnels", &body.to_string()).map(drop)
    }

    fn peers_path(self) -> String {
        format!("/v1/tunnels/{}/peers", self.name())
    }
}

/// Runs `work` and records its wall time, the gateway's CPU time over it, and the
/// gateway's peak memory at its end.
fn phase<T>(
    gw: &Gateway,
    name: &'static str,
    work: impl FnOnce() -> Result<(T, usize, Vec<Duration>), String>,
) -> Result<(T, Phase), String> {
    let cpu = gw.cpu()?;
    let start = Instant::now();
    let (value, peers, latencies) = work()?;
    let wall = start.elapsed();
    let phase = Phase {
        name,
        peers,
        requests: latencies.len(),
        wall,
        cpu: gw.cpu()?.since(cpu),
        peak_rss_kib: gw.peak_rss_kib()?,
        latency: Latency::of(&latencies),
    };
    eprintln!("{name}: {:.2} s", wall.as_secs_f64());
    Ok((value, phase))
}

/// Checks created or listed peers: `expected` of them, every address distinct (each peer
/// has one IPv4 and one IPv6 address), and the keys sent, in order, if any were.
fn check_peers(
    what: &str,
    peers: &[Value],
    expected: usize,
    keys: Option<&[String]>,
) -> Result<(), String> {
    if peers.len() != expected {
        return Err(format!(
            "{what}: {} peers, expected {expected}",
            peers.len()
        ));
    }
    let mut addresses = HashSet::new();
    for (i, p) in peers.iter().enumerate() {
        let list = p["addresses"].as_array().map_or(&[][..], Vec::as_slice);
        if list.len() != 2 || !list.iter().all(|a| addresses.insert(a.to_string())) {
            return Err(format!(
                "{what}: peer {i} has a duplicate or missing address: {p}"
            ));
        }
        if let Some(keys) = keys
            && p["public_key"].as_str() != Some(keys[i].as_str())
        {
            return Err(format!(
                "{what}: peer {i} has key {}, sent {}",
                p["public_key"], keys[i]
            ));
        }
    }
    Ok(())
}

/// One request with all `keys` (or, without keys, `count` peers the server makes keys for).
fn bulk(
    api: &Client,
    tunnel: Tunnel,
    count: usize,
    keys: Option<&[String]>,
) -> Result<(Vec<Value>, usize, Vec<Duration>), String> {
    let peers: Vec<Value> = (0..count)
        .map(|i| match keys {
            Some(keys) => json!({"name": format!("bulk-{i}"), "public_key": keys[i]}),
            None => json!({"name": format!("bulk-{i}")}),
        })
        .collect();
    let body = json!({ "peers": peers }).to_string();
    let start = Instant::now();
    let mut answer = api.create(&format!("{}/bulk", tunnel.peers_path()), &body)?;
    let latency = start.elapsed();
    let items = match answer["items"].take() {
        Value::Array(items) => items,
        other => return Err(format!("bulk answer without items: {other}")),
    };
    Ok((items, count, vec![latency]))
}

/// `keys.len()` requests, one after the other, each timed.
fn one_by_one(
    api: &Client,
    tunnel: Tunnel,
    keys: &[String],
    enabled: bool,
) -> Result<(Vec<Value>, usize, Vec<Duration>), String> {
    let path = tunnel.peers_path();
    let mut created = Vec::with_capacity(keys.len());
    let mut latencies = Vec::with_capacity(keys.len());
    let start = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        let body =
            json!({"name": format!("one-{i}"), "public_key": key, "enabled": enabled}).to_string();
        let sent = Instant::now();
        let peer = api.create(&path, &body)?;
        latencies.push(sent.elapsed());
        created.push(peer);
        if (i + 1) % 1000 == 0 {
            eprintln!("  {} peers, {:.1} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    Ok((created, keys.len(), latencies))
}

/// Every peer of the tunnel, a page of `PAGE` at a time, following `next_after`.
fn list(api: &Client, tunnel: Tunnel) -> Result<(Vec<Value>, usize, Vec<Duration>), String> {
    let mut peers = Vec::new();
    let mut latencies = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let query = after.map_or(String::new(), |a| format!("&after={a}"));
        let sent = Instant::now();
        let mut page = api.get(&format!("{}?limit={PAGE}{query}", tunnel.peers_path()))?;
        latencies.push(sent.elapsed());
        match page["items"].take() {
            Value::Array(items) => peers.extend(items),
            other => return Err(format!("a page without items: {other}")),
        }
        after = page["next_after"].as_i64();
        if after.is_none() {
            let count = peers.len();
            return Ok((peers, count, latencies));
        }
    }
}

/// `SCRAPES` scrapes of `/metrics`, each timed; each must carry a series for every one of
/// the `carried` peers (the default `peer_series = "all"`).
fn scrape(api: &Client, carried: usize) -> Result<((), usize, Vec<Duration>), String> {
    let url = format!("http://{METRICS}/metrics");
    let mut latencies = Vec::with_capacity(SCRAPES);
    for _ in 0..SCRAPES {
        let sent = Instant::now();
        let text = api.text(&url)?;
        latencies.push(sent.elapsed());
        let series = text
            .lines()
            .filter(|l| l.starts_with("wireguard_sent_bytes_total{"))
            .count();
        if series != carried {
            return Err(format!(
                "a scrape has {series} peers' series, expected {carried}"
            ));
        }
    }
    Ok(((), carried, latencies))
}

/// The data plane must carry what was created (disabled peers: nothing), and every
/// tunnel must be running: figures of a failed tunnel would leave out the data plane.
fn check_tunnels(api: &Client, gw: &Gateway, expected: &[(Tunnel, usize)]) -> Result<(), String> {
    for &(tunnel, peers) in expected {
        let t = api.get(&format!("/v1/tunnels/{}", tunnel.name()))?;
        if t["status"]["state"] != "running" {
            return Err(format!(
                "tunnel {} is not running: {}",
                tunnel.name(),
                t["status"]
            ));
        }
        let carried = gw.data_plane_peers(&tunnel.name())?;
        if carried != peers {
            return Err(format!(
                "tunnel {}: the data plane carries {carried} peers, expected {peers}",
                tunnel.name()
            ));
        }
    }
    Ok(())
}

fn measure(gw: &Gateway, o: &Options) -> Result<Report, String> {
    let api = gw.client();
    let (n, m) = (o.peers, o.sequential);
    let mut phases = Vec::new();
    let sent = keys::random(n + 2 * m)?;
    let (bulk_keys, rest) = sent.split_at(n);
    let (seq_keys, off_keys) = rest.split_at(m);

    Tunnel::OneByOne.create(&api)?;
    let (peers, p) = phase(gw, "one by one", || {
        one_by_one(&api, Tunnel::OneByOne, seq_keys, true)
    })?;
    check_peers("one by one", &peers, m, Some(seq_keys))?;
    phases.push(p);

    Tunnel::OneByOneDisabled.create(&api)?;
    let (peers, p) = phase(gw, "one by one, disabled peers", || {
        one_by_one(&api, Tunnel::OneByOneDisabled, off_keys, false)
    })?;
    check_peers("one by one, disabled", &peers, m, Some(off_keys))?;
    phases.push(p);

    Tunnel::Bulk.create(&api)?;
    let (peers, p) = phase(gw, "bulk, client keys", || {
        bulk(&api, Tunnel::Bulk, n, Some(bulk_keys))
    })?;
    check_peers("bulk", &peers, n, Some(bulk_keys))?;
    phases.push(p);

    Tunnel::BulkServerKeys.create(&api)?;
    let (peers, p) = phase(gw, "bulk, server-generated keys", || {
        bulk(&api, Tunnel::BulkServerKeys, n, None)
    })?;
    check_peers("bulk, server keys", &peers, n, None)?;
    if let Some(i) = peers
        .iter()
        .position(|p| !p["private_key"].is_string() || !p["config"].is_string())
    {
        return Err(format!(
            "bulk, server keys: peer {i} came without its private key or config"
        ));
    }
    phases.push(p);

    let (peers, p) = phase(gw, "list, 1000 a page", || list(&api, Tunnel::Bulk))?;
    check_peers("list", &peers, n, Some(bulk_keys))?;
    let ids: Vec<i64> = peers.iter().filter_map(|p| p["id"].as_i64()).collect();
    if ids.len() != n || ids.windows(2).any(|w| w[0] >= w[1]) {
        return Err("list: ids are missing, repeated or out of order".into());
    }
    phases.push(p);

    check_tunnels(
        &api,
        gw,
        &[
            (Tunnel::OneByOne, m),
            (Tunnel::OneByOneDisabled, 0),
            (Tunnel::Bulk, n),
            (Tunnel::BulkServerKeys, n),
        ],
    )?;

    let carried = 2 * n + m;
    let (_, p) = phase(gw, "scrape /metrics", || scrape(&api, carried))?;
    phases.push(p);

    let (_, p) = phase(gw, "idle 30 s (periodic reconcile)", || {
        std::thread::sleep(IDLE);
        Ok(((), 2 * n + 2 * m, Vec::new()))
    })?;
    phases.push(p);

    Ok(Report {
        phases,
        peak_rss_kib: gw.peak_rss_kib()?,
        cpu_total: gw.cpu()?,
        load: Default::default(),
    })
}

fn loadavg() -> String {
    // The 1, 5 and 15 minute averages; the rest of the line is process counts.
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(o: &Options) -> Result<(), String> {
    if !(1..=MAX_BULK).contains(&o.peers) {
        return Err(format!(
            "--peers must be 1-{MAX_BULK}: one bulk request carries them all"
        ));
    }
    if !(10..=60_000).contains(&o.sequential) {
        return Err("--sequential must be 10-60000 (a /16 pool holds 65,534 peers)".into());
    }
    // Resolved before anything else, so a missing binary is reported as such.
    let wiregate = crate::gateway::binary(&o.wiregate)?;
    netns::isolate()?;
    let load_before = loadavg();
    let gw = Gateway::start(&wiregate, o.store_url.as_deref())?;
    let mut report =
        measure(&gw, o).map_err(|e| format!("{e}\nwiregate's log ends:\n{}", gw.log()))?;
    gw.stop()?;
    report.load = (load_before, loadavg());
    report.print();
    if let Some(path) = &o.json {
        report.write_json(path)?;
    }
    Ok(())
}
