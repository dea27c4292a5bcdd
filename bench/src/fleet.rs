//! `fleet`: three gateways sharing one PostgreSQL store, each in a network namespace and a
//! /run/wireguard of its own (as in three containers), reached over veth links from the
//! benchmark's own namespace. It measures how long a change made through one gateway
//! takes to be served by the others (fan-out), and how long a tunnel placed on two of them
//! takes to run on the other when its gateway is killed (failover). Every figure is
//! checked against what the gateways say, so a broken run fails instead of reporting.

use crate::client::Client;
use crate::netns::{self, ip};
use crate::{host, keys};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "wiregate-bench-admin-token";
const NODES: usize = 3;
/// The every-node tunnel changes are made in, and the tunnel placed on nodes 1 and 2.
const SHARED: &str = "wgbfan";
const PLACED: &str = "wgbfail";
/// How long a change may take to reach a node, or a tunnel to move, before the run fails.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Options {
    pub wiregate: PathBuf,
    /// The shared store: a PostgreSQL URL or key=value settings (a cluster of the
    /// operator's; tests/postgres makes a throwaway one).
    pub store_url: String,
    /// Peers created one by one through the first gateway.
    pub changes: usize,
    /// Times the placed tunnel's gateway is killed.
    pub failovers: usize,
    pub json: Option<PathBuf>,
}

/// One gateway: its namespace, process and state directory. Dropping it kills the
/// process and deletes the namespace.
struct Node {
    index: usize,
    ns: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Node {
    fn name(&self) -> String {
        format!("node-{}", self.index)
    }

    fn api(&self) -> Client {
        Client::new(format!("http://10.250.{}.2:8080", self.index), TOKEN)
    }

    /// A namespace linked to the benchmark's (10.250.<i>.1 here, .2 there).
    fn new(index: usize, wiregate: &Path, url: &str) -> Result<Self, String> {
        let ns = format!("wgbf{}n{index}", std::process::id());
        ip(&["netns", "add", &ns])?;
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let node = Node {
            index,
            ns,
            dir,
            child: None,
        };
        let (here, there) = (format!("wgbf{index}a"), format!("wgbf{index}b"));
        let (near, far) = (
            format!("10.250.{index}.1/24"),
            format!("10.250.{index}.2/24"),
        );
        ip(&[
            "link", "add", &here, "type", "veth", "peer", "name", &there, "netns", &node.ns,
        ])?;
        ip(&["addr", "add", &near, "dev", &here])?;
        ip(&["link", "set", &here, "up"])?;
        ip(&["-n", &node.ns, "addr", "add", &far, "dev", &there])?;
        ip(&["-n", &node.ns, "link", "set", &there, "up"])?;
        ip(&["-n", &node.ns, "link", "set", "lo", "up"])?;
        let config = format!(
            "state_dir = {:?}\n\n[api]\nlisten = \"10.250.{index}.2:8080\"\ntokens = [\"{TOKEN}\"]\n\n[store]\nurl = {url:?}\n\n[node]\nname = \"node-{index}\"\n",
            node.dir.path().join("state"),
        );
        std::fs::write(node.dir.path().join("wiregate.toml"), config)
            .map_err(|e| format!("writing the config: {e}"))?;
        let mut node = node;
        node.start(wiregate)?;
        Ok(node)
    }

    /// Starts (again) `wiregate serve` in the namespace, with a tmpfs of its own on
    /// /run/wireguard (the UAPI sockets of one tunnel name on three gateways).
    fn start(&mut self, wiregate: &Path) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path().join("wiregate.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "sh", "-c"])
            .arg("mkdir -p /run/wireguard && mount -t tmpfs wgbench /run/wireguard && exec \"$0\" \"$@\"")
            .arg(wiregate)
            .args(["serve", "--config"])
            .arg(self.dir.path().join("wiregate.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", wiregate.display()))?;
        self.child = Some(child);
        let api = self.api();
        let deadline = Instant::now() + Duration::from_secs(30);
        while api.probe("/v1/health") != Ok(200) {
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: the API did not come up:\n{}",
                    self.name(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("wiregate.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn state(&self, tunnel: &str) -> Option<String> {
        let t = self.api().get(&format!("/v1/tunnels/{tunnel}")).ok()?;
        t["status"]["state"].as_str().map(str::to_owned)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            host::stop(&mut child, Duration::from_secs(10));
        }
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

/// Waits until `check` holds, polling; the time it took.
fn until(what: &str, mut check: impl FnMut() -> bool) -> Result<Duration, String> {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > PATIENCE {
            return Err(format!("{what}: not within {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(start.elapsed())
}

/// The `q` quantile (0-1) of sorted `values`, in milliseconds.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[at].as_secs_f64() * 1e3
}

/// Peers created one by one through node 0; for each, the time from the API's answer to
/// its being in the data plane of nodes 1 and 2 (the peer's `status`, which only the data
/// plane fills). Returns those times and the creation rate.
fn fan_out(nodes: &[Node], changes: usize) -> Result<(Vec<Duration>, f64), String> {
    let writer = nodes[0].api();
    let readers: Vec<Client> = nodes[1..].iter().map(Node::api).collect();
    let body = json!({
        "name": SHARED, "listen_port": 51820,
        "addresses": ["10.99.0.1/16"], "pools": ["10.99.0.0/16"],
    });
    writer.create("/v1/tunnels", &body.to_string())?;
    for node in nodes {
        until(&format!("{SHARED} running on {}", node.name()), || {
            node.state(SHARED).as_deref() == Some("running")
        })?;
    }
    let keys = keys::random(changes)?;
    let mut latencies = Vec::with_capacity(changes * readers.len());
    let mut busy = Duration::ZERO;
    for (i, key) in keys.iter().enumerate() {
        let body = json!({"name": format!("fan-{i}"), "public_key": key}).to_string();
        let sent = Instant::now();
        let peer: Value = writer.create(&format!("/v1/tunnels/{SHARED}/peers"), &body)?;
        let answered = Instant::now();
        busy += answered - sent;
        let id = peer["id"].as_i64().ok_or("a created peer without an id")?;
        let path = format!("/v1/tunnels/{SHARED}/peers/{id}");
        for reader in &readers {
            until(&format!("peer {id} served by every node"), || {
                reader.get(&path).is_ok_and(|p| !p["status"].is_null())
            })?;
            latencies.push(answered.elapsed());
        }
    }
    Ok((latencies, changes as f64 / busy.as_secs_f64()))
}

/// The placed tunnel's holder killed `rounds` times: each time, how long until the other
/// node runs it. The killed node is started again after each round.
fn failover(nodes: &mut [Node], wiregate: &Path, rounds: usize) -> Result<Vec<Duration>, String> {
    let body = json!({
        "name": PLACED, "listen_port": 51821,
        "addresses": ["10.98.0.1/24"], "nodes": ["node-1", "node-2"],
    });
    nodes[0].api().create("/v1/tunnels", &body.to_string())?;
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut holder = 0;
        until("one of the two nodes running the placed tunnel", || {
            holder = (1..NODES)
                .find(|&i| nodes[i].state(PLACED).as_deref() == Some("running"))
                .unwrap_or(0);
            holder != 0
        })?;
        let other = if holder == 1 { 2 } else { 1 };
        nodes[holder].kill();
        let took = until(
            &format!("round {round}: node-{other} taking the tunnel"),
            || nodes[other].state(PLACED).as_deref() == Some("running"),
        )?;
        eprintln!(
            "failover {round}: node-{holder} killed, node-{other} runs the tunnel after {:.2} s",
            took.as_secs_f64()
        );
        times.push(took);
        nodes[holder].start(wiregate)?;
    }
    Ok(times)
}

pub fn run(o: &Options) -> Result<(), String> {
    if !(10..=5000).contains(&o.changes) || !(1..=20).contains(&o.failovers) {
        return Err("--changes must be 10-5000 and --failovers 1-20".into());
    }
    let wiregate = crate::gateway::binary(&o.wiregate)?;
    netns::isolate()?;
    let mut nodes = Vec::with_capacity(NODES);
    for i in 0..NODES {
        nodes.push(Node::new(i, &wiregate, &o.store_url)?);
    }
    let (mut fan, rate) = fan_out(&nodes, o.changes)?;
    fan.sort();
    let mut fail = failover(&mut nodes, &wiregate, o.failovers)?;
    fail.sort();
    let report = json!({
        "nodes": NODES,
        "changes": o.changes,
        "creations_per_second_through_one_node": rate,
        "fan_out_ms": {
            "p50": quantile(&fan, 0.5), "p99": quantile(&fan, 0.99),
            "max": quantile(&fan, 1.0), "samples": fan.len(),
        },
        "failover_s": fail.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
        "cpu": host::cpu_model(),
    });
    println!(
        "fleet of {NODES} on PostgreSQL: {} changes through node-0 at {rate:.0}/s; served by the other nodes after p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (from the API's answer)",
        o.changes,
        quantile(&fan, 0.5),
        quantile(&fan, 0.99),
        quantile(&fan, 1.0)
    );
    println!(
        "failover of a tunnel placed on two nodes, its node killed: {} (median {:.1} s)",
        fail.iter()
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        quantile(&fail, 0.5) / 1e3
    );
    if let Some(path) = &o.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
