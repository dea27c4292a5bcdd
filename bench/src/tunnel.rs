//! The tunnel benchmark: throughput and latency through a WireGuard tunnel between two
//! network namespaces, for wiregate and the other userspace implementations (each facing
//! itself, and wiregate as the server facing each of the others), with the bare veth as
//! the ceiling, all on the same topology in the same run.
//!
//! Each pair is set up fresh for each run, checked with a ping, measured (iperf3 TCP 1 and
//! 4 streams, UDP unlimited and at its sustained rate, ping RTT, daemon CPU during TCP 1)
//! and torn down. Runs go round the pairs in turn rather than one pair at a time, so
//! whatever else loads the machine spreads over all pairs alike; figures are medians.

pub(crate) mod daemon;
pub(crate) mod implementation;
mod interrupt;
pub(crate) mod iperf;
mod json;
pub(crate) mod machine;
mod measure;
mod pair;
pub(crate) mod ping;
pub(crate) mod process;
mod report;
mod sustained;
mod svg;
pub(crate) mod topology;
pub(crate) mod wg;

use implementation::Binaries;
use measure::{Settings, measure};
use pair::Pair;
use report::Outcome;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use topology::Topology;

/// Options of the tunnel benchmark. An option given twice takes the last value, so
/// arguments given to `bench/run` override its defaults.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// Seconds of each TCP test and of the unlimited UDP test.
    #[arg(long, default_value_t = 5)]
    duration: u32,
    /// Seconds of each step of the sustained UDP rate search (up to 4 steps).
    #[arg(long, default_value_t = 2)]
    probe_duration: u32,
    /// Runs of each pair; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Pairs to measure, comma separated: ceiling, wiregate, wireguard-go, boringtun,
    /// gotatun, wiregate-wireguard-go, wiregate-boringtun, wiregate-gotatun, or any other
    /// <server>-<client>. Default: those eight.
    #[arg(long, value_delimiter = ',')]
    pairs: Vec<String>,
    /// Also write everything (settings, machine, versions, every run) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write a bar chart of the throughput medians here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// The wiregate binary.
    #[arg(long, default_value = "target/release/wiregate")]
    wiregate: PathBuf,
    /// wiregate's --shards; default: its own (one per core).
    #[arg(long)]
    shards: Option<usize>,
    /// Where boringtun-cli and gotatun are (`bench/run` installs them there).
    #[arg(long, default_value = "target/bench-tools/bin")]
    tools: PathBuf,
}

/// Programs every pair needs, and the package that has each.
const NEEDED: [(&str, &str); 4] = [
    ("ip", "iproute2"),
    ("wg", "wireguard-tools"),
    ("iperf3", "iperf3"),
    ("ping", "iputils-ping"),
];

pub fn run(args: &Args) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root: it makes network namespaces and TUN devices".into());
    }
    for (program, package) in NEEDED {
        if !in_path(program) {
            return Err(format!(
                "`{program}` not found: install {package} (bench/run does)"
            ));
        }
    }
    if args.runs == 0 || args.duration == 0 || args.probe_duration == 0 {
        return Err("--runs, --duration and --probe-duration must be at least 1".into());
    }
    let pairs = Pair::select(&args.pairs)?;
    let binaries = Binaries {
        wiregate: args.wiregate.clone(),
        tools: args.tools.clone(),
        wiregate_shards: args.shards,
        wireguard_go_upstream: implementation::WIREGUARD_GO_UPSTREAM.into(),
    };
    let settings = Settings {
        duration: args.duration,
        probe: args.probe_duration,
    };
    interrupt::install()?;
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = pairs
        .into_iter()
        .map(|pair| Outcome {
            pair,
            skipped: missing(pair, &binaries),
            runs: Vec::new(),
        })
        .collect();
    for outcome in &outcomes {
        if let Some(reason) = &outcome.skipped {
            eprintln!("skipping {}: {reason}", outcome.pair.name());
        }
    }
    let topology = Topology::create()?;
    for round in 1..=args.runs {
        for outcome in outcomes.iter_mut().filter(|o| o.skipped.is_none()) {
            eprint!("run {round}/{} {}: ", args.runs, outcome.pair.name());
            let result = measure(outcome.pair, &topology, &binaries, settings);
            // An interrupted step fails too: report the interrupt, not that failure.
            interrupt::check()?;
            match &result {
                Ok(f) => eprintln!(
                    "TCP1 {:.2}, TCP4 {:.2}, UDP {:.2} Gbit/s, ping {:.3} ms",
                    f.tcp1 / 1e9,
                    f.tcp4 / 1e9,
                    f.udp.received / 1e9,
                    f.ping_ms
                ),
                Err(e) => eprintln!("failed: {}", e.lines().next().unwrap_or("")),
            }
            outcome.runs.push(result);
        }
    }
    drop(topology);
    let wall = started.elapsed();
    println!("{}", report::table(&outcomes, args.runs));
    println!("wall time: {:.0} s", wall.as_secs_f64());
    if let Some(path) = &args.json {
        let context = json!({
            "command_line": std::env::args().collect::<Vec<_>>(),
            "started_unix": SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs().saturating_sub(wall.as_secs())),
            "wall_seconds": wall.as_secs_f64(),
            "settings": {
                "duration_s": args.duration,
                "probe_duration_s": args.probe_duration,
                "runs": args.runs,
                "wiregate_shards": args.shards,
                "sustained_loss_limit_percent": sustained::LOSS_LIMIT,
                "udp_payload_bytes": iperf::UDP_PAYLOAD,
                "tunnel_mtu": wg::MTU,
            },
            "machine": machine::facts(),
            "versions": machine::versions(&binaries),
        });
        let record = json::record(&outcomes, context);
        write(path, &format!("{record:#}\n"))?;
    }
    if let Some(path) = &args.svg {
        write(path, &svg::chart(&outcomes, args.runs))?;
    }
    let tried = outcomes.iter().filter(|o| o.skipped.is_none());
    if tried.clone().count() > 0 && tried.clone().all(|o| o.succeeded() == 0) {
        return Err("no pair could be measured".into());
    }
    Ok(())
}

/// Why a pair cannot run (a binary it needs is missing), or None.
fn missing(pair: Pair, binaries: &Binaries) -> Option<String> {
    let mut reasons: Vec<String> = pair
        .implementations()
        .into_iter()
        .filter_map(|i| i.binary(binaries).err())
        .collect();
    reasons.dedup();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
