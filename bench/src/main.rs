//! `wiregate-bench`: benchmarks of wiregate. `provision` measures the control plane: a real
//! `wiregate serve`, driven over its REST API, in a network namespace of its own.
//! `tunnel` measures throughput and latency through a tunnel, wiregate side by side with
//! other implementations. `fleet` measures three gateways sharing a PostgreSQL store:
//! fan-out and failover. `capacity` measures the gateway under a load generator that
//! speaks WireGuard as thousands of peers.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod axis;
#[cfg(target_os = "linux")]
mod capacity;
#[cfg(target_os = "linux")]
mod client;
#[cfg(target_os = "linux")]
mod fleet;
#[cfg(target_os = "linux")]
mod flood;
#[cfg(target_os = "linux")]
mod gateway;
#[cfg(target_os = "linux")]
mod host;
#[cfg(target_os = "linux")]
mod keys;
#[cfg(target_os = "linux")]
mod netns;
#[cfg(target_os = "linux")]
mod provision;
#[cfg(target_os = "linux")]
mod report;
#[cfg(target_os = "linux")]
mod tunnel;

#[cfg(target_os = "linux")]
use clap::{Parser, Subcommand};
#[cfg(target_os = "linux")]
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(target_os = "linux")]
#[derive(Debug, Parser)]
#[command(name = "wiregate-bench", about = "Benchmarks of wiregate")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(target_os = "linux")]
#[derive(Debug, Subcommand)]
enum Command {
    /// Create peers through the API (in bulk and one by one) and list them. Needs root: it
    /// runs in a network namespace of its own and the gateway creates TUN devices.
    Provision {
        /// Peers per bulk request, and listed.
        #[arg(long, default_value_t = 10_000)]
        peers: usize,
        /// Peers created one request at a time, in each one-by-one phase; default: --peers.
        #[arg(long)]
        sequential: Option<usize>,
        /// The wiregate binary to run.
        #[arg(long, default_value = "target/release/wiregate")]
        wiregate: PathBuf,
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Keep the store in this PostgreSQL database (a URL or key=value settings)
        /// instead of SQLite.
        #[arg(long)]
        store_url: Option<String>,
    },
    /// Three gateways sharing a PostgreSQL store: how fast a change made through one is
    /// served by the others, and how fast a tunnel placed on two moves when its gateway is
    /// killed. Needs root and a PostgreSQL database (tests/postgres starts a throwaway one).
    Fleet {
        /// The shared store: a PostgreSQL URL or key=value settings; an empty database.
        #[arg(long)]
        store_url: String,
        /// Peers created one by one through the first gateway.
        #[arg(long, default_value_t = 500)]
        changes: usize,
        /// Times the placed tunnel's gateway is killed.
        #[arg(long, default_value_t = 5)]
        failovers: usize,
        #[arg(long, default_value = "target/release/wiregate")]
        wiregate: PathBuf,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Throughput and latency through a tunnel between two network namespaces (iperf3 TCP
    /// and UDP, ping), for wiregate and the other implementations on the same topology.
    Tunnel(tunnel::Args),
    /// The gateway under load: handshakes, decrypt and encrypt capacity, memory and
    /// per-packet cost with many peers, from a load generator speaking WireGuard.
    Capacity(capacity::Args),
    /// What a flood of handshake initiations costs the tunnels through a gateway, for
    /// wiregate and upstream wireguard-go.
    Flood(flood::Args),
    /// The flood benchmark's flooder (run by `flood` in the client's namespace).
    #[command(hide = true)]
    FloodSend(flood::SendArgs),
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Provision {
            peers,
            sequential,
            wiregate,
            json,
            store_url,
        } => provision::run(&provision::Options {
            peers,
            sequential: sequential.unwrap_or(peers),
            wiregate,
            json,
            store_url,
        }),
        Command::Fleet {
            store_url,
            changes,
            failovers,
            wiregate,
            json,
        } => fleet::run(&fleet::Options {
            wiregate,
            store_url,
            changes,
            failovers,
            json,
        }),
        Command::Tunnel(args) => tunnel::run(&args),
        Command::Capacity(args) => capacity::run(&args),
        Command::Flood(args) => flood::run(&args),
        Command::FloodSend(args) => flood::send_command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wiregate-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The benchmarks build network namespaces: Linux's.
#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!("wiregate-bench: the benchmarks run on Linux only");
    ExitCode::FAILURE
}
