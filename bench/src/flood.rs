//! The flood benchmark: what a flood of handshake initiations costs a gateway's
//! established tunnels. A wireguard-go client (upstream's, with TUN offloads and UDP
//! GSO/GRO) runs one TCP stream through the gateway under test while a flooder sends
//! initiations at the gateway's port: valid ones (a correct mac1, random keys: every one a
//! stranger) or garbage (a wrong mac1), at 50,000 and 150,000 a second and as fast as one
//! core sends them, from 32 or 10,000 source addresses. The figure is the throughput each
//! flood leaves, against the same run's flood-free throughput; valid against garbage
//! shows what the gateway spends on an initiation that passes its first check.
//!
//! Each gateway (wiregate, upstream wireguard-go) gets the same topology as the tunnel
//! benchmark (`tunnel::topology`), set up fresh in each round. Also measured under the
//! 150,000-a-second flood from 10,000 sources: how long a new peer takes to complete its
//! handshake (one cookie round trip, about 5 s, is the protocol's price under load), and
//! the gateway's memory before and after the fastest flood.

mod sender;

pub use sender::{Flood, send};

use crate::tunnel::daemon::Daemon;
use crate::tunnel::implementation::{Binaries, Implementation};
use crate::tunnel::iperf;
use crate::tunnel::ping;
use crate::tunnel::process::{Program, command, run_ok};
use crate::tunnel::topology::{End, Topology, ip};
use crate::tunnel::wg::{self, KeyPair, LISTEN_PORT, Side};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of the flood benchmark.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// Seconds of each TCP transfer (with and without a flood).
    #[arg(long, default_value_t = 5)]
    duration: u32,
    /// Rounds over every gateway and flood; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The wiregate binary.
    #[arg(long, default_value = "target/release/wiregate")]
    wiregate: PathBuf,
    /// wiregate's --shards; default: its own (one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// The wireguard-go binary that plays the client and the other gateway: upstream's
    /// newest (with TUN offloads and UDP GSO/GRO).
    #[arg(long, default_value = "../shared/anchors/wireguard-go-0.0.20250522")]
    wireguard_go: PathBuf,
    /// Only the first flood of each kind and no new-peer test: a smoke run.
    #[arg(long)]
    quick: bool,
    /// Only the floods whose name contains this (`150k`, `10k sources`, `valid`).
    #[arg(long)]
    only: Option<String>,
    /// Also write every run as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The floods, by name: kind, rate (None: full speed), sources.
const FLOODS: [(&str, bool, Option<u32>, u32); 10] = [
    ("valid 50k/s, 32 sources", true, Some(50_000), 32),
    ("garbage 50k/s, 32 sources", false, Some(50_000), 32),
    ("valid 150k/s, 32 sources", true, Some(150_000), 32),
    ("garbage 150k/s, 32 sources", false, Some(150_000), 32),
    ("valid 150k/s, 10k sources", true, Some(150_000), 10_000),
    ("garbage 150k/s, 10k sources", false, Some(150_000), 10_000),
    ("valid full speed, 32 sources", true, None, 32),
    ("garbage full speed, 32 sources", false, None, 32),
    ("valid full speed, 10k sources", true, None, 10_000),
    ("garbage full speed, 10k sources", false, None, 10_000),
];
/// How long the flood runs before the transfer starts, and the pause between floods (the
/// gateway's load state lasts a second after its queue was long).
const LEAD: Duration = Duration::from_millis(500);
const SETTLE: Duration = Duration::from_secs(2);
/// The client of the new-peer test, on the client's end.
const NEW_PEER_ADDRESS: &str = "10.77.0.3";

/// The gateways compared.
const GATEWAYS: [Implementation; 2] = [
    Implementation::Wiregate,
    Implementation::WireguardGoUpstream,
];

pub fn run(args: &Args) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root: network namespaces, TUN devices, a raw socket".into());
    }
    let binaries = Binaries {
        wiregate: args.wiregate.clone(),
        tools: PathBuf::new(),
        wiregate_shards: args.shards,
        wireguard_go_upstream: args.wireguard_go.clone(),
    };
    for gateway in GATEWAYS {
        gateway.binary(&binaries)?;
    }
    let floods: Vec<_> = FLOODS
        .iter()
        .filter(|f| {
            args.only
                .as_ref()
                .is_none_or(|only| f.0.contains(only.as_str()))
        })
        .take(if args.quick { 2 } else { FLOODS.len() })
        .collect();
    let topology = Topology::create()?;
    // Replies to the spoofed sources go back over the veth, as they would to real hosts.
    ip(
        &topology.server,
        &[
            "route",
            "add",
            sender::SOURCES_NET,
            "via",
            topology.client.underlay,
        ],
    )?;
    let mut runs = Vec::new();
    for round in 1..=args.runs {
        for gateway in GATEWAYS {
            eprintln!("round {round}/{}: {}", args.runs, gateway.name());
            let result = measure(gateway, &topology, &binaries, args, &floods);
            match &result {
                Ok(run) => runs.push(run.clone()),
                Err(e) => eprintln!("  failed: {e}"),
            }
        }
    }
    drop(topology);
    println!("{}", table(&runs, &floods));
    if let Some(path) = &args.json {
        let record = json!({
            "command_line": std::env::args().collect::<Vec<_>>(),
            "settings": {"duration_s": args.duration, "runs": args.runs, "wiregate_shards": args.shards},
            "machine": crate::tunnel::machine::facts(),
            "wireguard_go": crate::tunnel::implementation::version(&args.wireguard_go, "--version"),
            "runs": runs,
        });
        std::fs::write(path, format!("{record:#}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if runs.is_empty() {
        return Err("no gateway could be measured".into());
    }
    Ok(())
}

/// One round of one gateway: the tunnel fresh, the flood-free transfer, then each flood.
fn measure(
    gateway: Implementation,
    topology: &Topology,
    binaries: &Binaries,
    args: &Args,
    floods: &[&(&str, bool, Option<u32>, u32)],
) -> Result<Value, String> {
    let (s, c) = (&topology.server, &topology.client);
    let (server_keys, client_keys) = (KeyPair::generate(), KeyPair::generate());
    let server = Daemon::start(gateway, s, "wgbs", binaries)?;
    let _client = Daemon::start(Implementation::WireguardGoUpstream, c, "wgbc", binaries)?;
    let server_side = Side {
        end: s,
        interface: "wgbs",
        keys: &server_keys,
    };
    let client_side = Side {
        end: c,
        interface: "wgbc",
        keys: &client_keys,
    };
    wg::configure(&server_side, &client_side)?;
    wg::configure(&client_side, &server_side)?;
    ping::reachable(c, s.tunnel, Duration::from_secs(10))?;
    let _iperf = iperf::Server::start(s, s.tunnel)?;
    let transfer = iperf::Client {
        end: c,
        target: s.tunnel,
    };
    let free = transfer.tcp(1, args.duration)?;
    eprintln!("  no flood: {:.2} Gbit/s", free / 1e9);
    let to = format!("{}:{LISTEN_PORT}", s.underlay);
    let rss_before = crate::host::rss_kib(server.pid())?;
    let mut results = Vec::new();
    for &&(name, valid, rate, sources) in floods {
        std::thread::sleep(SETTLE);
        let flood = Flood {
            valid,
            rate,
            sources,
        };
        let flooder = Flooder::start(c, &to, &server_keys.public, flood, args.duration)?;
        std::thread::sleep(LEAD);
        let during = transfer.tcp(1, args.duration);
        let sent = flooder.finish()?;
        let during = during?;
        let rate_sent = sent as f64 / (args.duration as f64 + LEAD.as_secs_f64() + 0.5);
        eprintln!(
            "  {name}: {:.2} Gbit/s ({:.0} % of no flood), {:.0} initiations/s sent",
            during / 1e9,
            100.0 * during / free,
            rate_sent
        );
        results.push(json!({
            "flood": name, "valid_mac1": valid, "rate": rate, "sources": sources,
            "sent_per_second": rate_sent, "tcp_gbps": during / 1e9, "kept": during / free,
        }));
    }
    let rss_after = crate::host::rss_kib(server.pid())?;
    let new_peer = if args.quick {
        None
    } else {
        std::thread::sleep(SETTLE);
        Some(new_peer_handshake(topology, binaries, &server_keys)?)
    };
    Ok(json!({
        "gateway": gateway.name(),
        "no_flood_gbps": free / 1e9,
        "floods": results,
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "new_peer_handshake_s": new_peer,
    }))
}

/// Under a valid flood of 150,000 a second from 10,000 sources, a new client (upstream
/// wireguard-go on the client's end, a peer the gateway was just given) pings the
/// gateway: seconds until its handshake completes.
fn new_peer_handshake(
    topology: &Topology,
    binaries: &Binaries,
    server_keys: &KeyPair,
) -> Result<f64, String> {
    let (s, c) = (&topology.server, &topology.client);
    let keys = KeyPair::generate();
    let allowed = format!("{NEW_PEER_ADDRESS}/32");
    run_ok(command(Some(&s.namespace), "wg").args([
        "set",
        "wgbs",
        "peer",
        &keys.public,
        "allowed-ips",
        &allowed,
    ]))?;
    let _client = Daemon::start(Implementation::WireguardGoUpstream, c, "wgbn", binaries)?;
    let key_file = keys.private_key_file()?;
    let endpoint = format!("{}:{LISTEN_PORT}", s.underlay);
    let server_net = format!("{}/32", s.tunnel);
    run_ok(
        command(Some(&c.namespace), "wg")
            .args(["set", "wgbn", "private-key"])
            .arg(key_file.path())
            .args([
                "peer",
                &server_keys.public,
                "endpoint",
                &endpoint,
                "allowed-ips",
                &server_net,
            ]),
    )?;
    ip(
        c,
        &[
            "addr",
            "add",
            &format!("{NEW_PEER_ADDRESS}/32"),
            "dev",
            "wgbn",
        ],
    )?;
    ip(c, &["link", "set", "wgbn", "mtu", wg::MTU, "up"])?;
    let flood = Flood {
        valid: true,
        rate: Some(150_000),
        sources: 10_000,
    };
    let to = format!("{}:{LISTEN_PORT}", s.underlay);
    let limit = Duration::from_secs(30);
    let flooder = Flooder::start(c, &to, &server_keys.public, flood, limit.as_secs() as u32)?;
    std::thread::sleep(LEAD);
    let start = Instant::now();
    let mut waited = None;
    while start.elapsed() < limit {
        // Traffic for the gateway makes the client start its handshake (and retry it).
        let _ = command(Some(&c.namespace), "ping")
            .args(["-c", "1", "-W", "1", "-q", "-I", "wgbn", s.tunnel])
            .output();
        let shown =
            run_ok(command(Some(&c.namespace), "wg").args(["show", "wgbn", "latest-handshakes"]))?;
        let done = shown
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t > 0);
        if done {
            waited = Some(start.elapsed().as_secs_f64());
            break;
        }
    }
    drop(flooder);
    let seconds = waited.ok_or_else(|| format!("no handshake within {limit:?} under the flood"))?;
    eprintln!("  a new peer's handshake under the flood: {seconds:.1} s");
    Ok(seconds)
}

/// A flooder process on `end`, sending for `seconds` plus the lead and a margin.
struct Flooder {
    program: Program,
    output: PathBuf,
    _dir: tempfile::TempDir,
}

impl Flooder {
    fn start(
        end: &End,
        to: &str,
        gateway: &str,
        flood: Flood,
        seconds: u32,
    ) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let output = dir.path().join("sent");
        let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
        let total = f64::from(seconds) + LEAD.as_secs_f64() + 0.5;
        let mut cmd = command(Some(&end.namespace), exe);
        cmd.args(["flood-send", "--to", to, "--gateway-key", gateway])
            .args(["--sources", &flood.sources.to_string()])
            .args(["--seconds", &format!("{total}")])
            .arg("--output")
            .arg(&output);
        if let Some(rate) = flood.rate {
            cmd.args(["--rate", &rate.to_string()]);
        }
        if !flood.valid {
            cmd.arg("--garbage");
        }
        let program = Program::spawn(&mut cmd, "flooder")?;
        Ok(Self {
            program,
            output,
            _dir: dir,
        })
    }

    /// Waits for the flooder to end; how many initiations it sent.
    fn finish(mut self) -> Result<u64, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.program.try_wait()?.is_none() {
            if Instant::now() > deadline {
                return Err("the flooder did not stop".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = std::fs::read_to_string(&self.output)
            .map_err(|e| format!("the flooder's count: {e}; {}", self.program.output_tail()))?;
        text.trim()
            .parse()
            .map_err(|e| format!("the flooder's count {text:?}: {e}"))
    }
}

impl Drop for Flooder {
    fn drop(&mut self) {
        self.program.stop();
    }
}

/// The options of `wiregate-bench flood-send`, the flooder process.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[arg(long)]
    to: std::net::SocketAddrV4,
    /// The gateway's public key, base64.
    #[arg(long)]
    gateway_key: String,
    #[arg(long)]
    rate: Option<u32>,
    #[arg(long, default_value_t = 32)]
    sources: u32,
    #[arg(long)]
    seconds: f64,
    #[arg(long)]
    garbage: bool,
    /// Where to write how many initiations were sent.
    #[arg(long)]
    output: PathBuf,
}

pub fn send_command(args: &SendArgs) -> Result<(), String> {
    let gateway = decode_key(&args.gateway_key)?;
    let flood = Flood {
        valid: !args.garbage,
        rate: args.rate,
        sources: args.sources,
    };
    let sent = send(
        gateway,
        args.to,
        flood,
        Duration::from_secs_f64(args.seconds),
    )?;
    std::fs::write(&args.output, format!("{sent}\n"))
        .map_err(|e| format!("{}: {e}", args.output.display()))
}

fn decode_key(text: &str) -> Result<[u8; 32], String> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("not a base64 key: {text}"))
}

/// Medians by gateway and flood: throughput kept, and valid against garbage.
fn table(runs: &[Value], floods: &[&(&str, bool, Option<u32>, u32)]) -> String {
    let median = |mut v: Vec<f64>| -> Option<f64> {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let kept = |gateway: &str, flood: &str| -> Option<f64> {
        median(
            runs.iter()
                .filter(|r| r["gateway"] == gateway)
                .flat_map(|r| r["floods"].as_array().cloned().unwrap_or_default())
                .filter(|f| f["flood"] == flood)
                .filter_map(|f| f["kept"].as_f64())
                .collect(),
        )
    };
    let mut out = String::from(
        "| flood | gateway | kept of flood-free | valid ÷ garbage |\n|---|---|---|---|\n",
    );
    for gateway in GATEWAYS.map(Implementation::name) {
        for &&(name, valid, _, _) in floods {
            let k = kept(gateway, name);
            let versus = if valid {
                let garbage = name.replace("valid", "garbage");
                match (k, kept(gateway, &garbage)) {
                    (Some(v), Some(g)) if g > 0.0 => format!("{:.0} %", 100.0 * v / g),
                    _ => "-".into(),
                }
            } else {
                String::new()
            };
            let k = k.map_or("-".into(), |k| format!("{:.0} %", 100.0 * k));
            out += &format!("| {name} | {gateway} | {k} | {versus} |\n");
        }
    }
    let medians = |key: &str| -> String {
        GATEWAYS
            .map(Implementation::name)
            .iter()
            .map(|g| {
                let m = median(
                    runs.iter()
                        .filter(|r| r["gateway"] == *g)
                        .filter_map(|r| r[key].as_f64())
                        .collect(),
                );
                format!("{g} {}", m.map_or("-".into(), |m| format!("{m:.2}")))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    out += &format!("\nflood-free TCP, Gbit/s: {}\n", medians("no_flood_gbps"));
    out += &format!(
        "new peer's handshake under valid 150k/s from 10k sources, s: {}\n",
        medians("new_peer_handshake_s")
    );
    out += &format!(
        "gateway RSS after the floods, KiB: {}\n",
        medians("rss_kib_after")
    );
    out
}
