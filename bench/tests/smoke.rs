//! The benchmarks must keep working between the runs recorded in docs/benchmarks.md: a
//! short run of each, against the gateway of this build. Both check their own figures
//! (peers set, sessions made, packets counted, a ping through every tunnel) and fail when
//! one is wrong, so a broken harness or a gateway that no longer does its part fails here.
//!
//! Needs root, iproute2, iperf3, wireguard-go and wireguard-tools (tests/run installs
//! them), and the `wiregate` binary built beside `wiregate-bench` (`cargo test
//! --workspace` builds both before running any test).
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One benchmark at a time: each measures, and two at once on a small machine starve
/// each other's deadlines.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn binaries() -> (PathBuf, PathBuf) {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_wiregate-bench"));
    let wiregate = bench.with_file_name("wiregate");
    assert!(
        wiregate.exists(),
        "{} is missing: build the workspace (cargo build --workspace) first",
        wiregate.display()
    );
    (bench, wiregate)
}

fn run(bench: &Path, args: &[&str]) -> serde_json::Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = Command::new(bench)
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("running wiregate-bench");
    assert!(
        out.status.success(),
        "wiregate-bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&json).expect("the JSON file")).expect("JSON")
}

#[test]
fn capacity_runs_every_phase_on_a_small_fleet() {
    let (bench, wiregate) = binaries();
    let report = run(
        &bench,
        &[
            "capacity",
            "--wiregate",
            wiregate.to_str().unwrap(),
            "--peers",
            "200",
            "--scale",
            "300",
            "--duration",
            "2",
            "--pool",
            "20000",
            "--bursts",
            "1,8",
            "--decrypt-runs",
            "2",
            "--cost-packets",
            "20000",
            "--cost-seconds",
            "1",
        ],
    );
    let text = report.to_string();
    for phase in ["handshake", "decrypt", "encrypt", "scale"] {
        assert!(
            report.get(phase).is_some_and(|v| !v.is_null()),
            "no {phase} in {text}"
        );
    }
    let decrypt = report["decrypt"]
        .as_array()
        .expect("a decrypt per burst and run");
    assert_eq!(decrypt.len(), 4, "{text}");
    for d in decrypt {
        assert!(d["delivered_to_tun"].as_u64().unwrap() > 0, "{text}");
    }
    let medians = report["decrypt_median"]
        .as_array()
        .expect("a median per burst");
    let bursts: Vec<u64> = medians
        .iter()
        .map(|m| m["burst"].as_u64().unwrap())
        .collect();
    assert_eq!(bursts, [1, 8], "{text}");
}

#[test]
fn tunnel_measures_wiregate_and_wireguard_go() {
    let (bench, wiregate) = binaries();
    let report = run(
        &bench,
        &[
            "tunnel",
            "--wiregate",
            wiregate.to_str().unwrap(),
            "--pairs",
            "wiregate,wiregate-wireguard-go",
            "--runs",
            "1",
            "--duration",
            "1",
            "--probe-duration",
            "1",
        ],
    );
    let text = report.to_string();
    let pairs = report["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 2, "{text}");
    for pair in pairs {
        assert_eq!(pair["status"], "measured", "{text}");
        assert!(
            pair["median"]["tcp1_gbps"].as_f64().unwrap_or(0.0) > 0.0,
            "{text}"
        );
    }
}

/// The flood benchmark's first two floods against both gateways (Debian's wireguard-go
/// standing in for upstream's, which CI does not have): every flood was sent at its rate
/// and the transfer under it measured.
#[test]
fn flood_measures_both_gateways_under_a_flood() {
    let (bench, wiregate) = binaries();
    let report = run(
        &bench,
        &[
            "flood",
            "--wiregate",
            wiregate.to_str().unwrap(),
            "--wireguard-go",
            "/usr/bin/wireguard-go",
            "--quick",
            "--runs",
            "1",
            "--duration",
            "1",
        ],
    );
    let text = report.to_string();
    let runs = report["runs"].as_array().expect("runs");
    let gateways: Vec<&str> = runs.iter().filter_map(|r| r["gateway"].as_str()).collect();
    assert_eq!(gateways, ["wiregate", "wireguard-go-upstream"], "{text}");
    for run in runs {
        assert!(run["no_flood_gbps"].as_f64().unwrap_or(0.0) > 0.0, "{text}");
        let floods = run["floods"].as_array().expect("floods");
        assert_eq!(floods.len(), 2, "{text}");
        for flood in floods {
            let sent = flood["sent_per_second"].as_f64().unwrap_or(0.0);
            assert!(sent > 25_000.0, "the flooder fell short: {text}");
            assert!(flood["tcp_gbps"].as_f64().unwrap_or(0.0) > 0.0, "{text}");
        }
    }
}
