//! `wiregate`: the gateway daemon (`wiregate serve`), its tools (`wiregate stats`), and a
//! drop-in for wireguard-go (`wiregate [-f] <interface>`), so wg-quick and anything else
//! that drives wireguard-go drives wiregate the same way.
#![forbid(unsafe_code)]

mod backends;
mod cli;
mod config;
#[cfg(target_os = "linux")]
mod dropin;
#[cfg(not(target_os = "linux"))]
#[path = "no_dropin.rs"]
mod dropin;
mod file_tunnels;
mod keyfile;
mod metrics_listener;
mod private_files;
mod reload;
mod serve;
mod signals;
#[cfg(unix)]
mod systemd;
#[cfg(not(unix))]
#[path = "no_systemd.rs"]
mod systemd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "wiregate",
    version,
    about = "A high-throughput, multi-tunnel WireGuard gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: every tunnel of the configuration file (or the embedded default).
    Serve {
        /// TOML configuration file; without it, one tunnel `wg0` on port 51820.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Shards (threads, sockets, TUN queues) per tunnel; default: one per core.
        #[arg(long)]
        shards: Option<usize>,
        /// Where generated keys are kept (overrides the file's `state_dir`).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Print a running tunnel's per-shard counters.
    Stats {
        /// The tunnel (interface) name.
        interface: String,
    },
    /// Manage tunnels through the API.
    Tunnel {
        #[command(flatten)]
        client: cli::Client,
        #[command(subcommand)]
        command: cli::TunnelCommand,
    },
    /// Manage peers through the API.
    Peer {
        #[command(flatten)]
        client: cli::Client,
        #[command(subcommand)]
        command: cli::PeerCommand,
    },
}

/// The wireguard-go command line: `wiregate [-f|--foreground] [--shards N] <interface>`.
#[derive(Debug, Parser)]
#[command(
    name = "wiregate",
    about = "Userspace WireGuard for one interface, as wireguard-go"
)]
pub struct DropIn {
    /// Stay in the foreground instead of returning once the interface is up.
    #[arg(short, long)]
    pub foreground: bool,
    /// Shards for this interface; default: one per core.
    #[arg(long)]
    pub shards: Option<usize>,
    /// The interface to create.
    pub interface: String,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The shard count to use: the one asked for, checked, or one per core (at most as many
/// as a receiver index can name).
pub fn shards(requested: Option<usize>) -> Result<usize, String> {
    #[cfg(target_os = "linux")]
    use wiregate_dataplane::index::MAX_SHARDS;
    // No engine here to shard: any count a Linux build would take is accepted.
    #[cfg(not(target_os = "linux"))]
    const MAX_SHARDS: usize = 64;
    match requested {
        Some(n) if (1..=MAX_SHARDS).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "shards must be between 1 and {MAX_SHARDS}, not {n}"
        )),
        None => Ok(std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_SHARDS)),
    }
}

/// `wiregate stats`: a userspace tunnel's counters, over its UAPI socket.
#[cfg(target_os = "linux")]
fn stats(interface: &str) -> Result<(), String> {
    wiregate_dataplane::uapi_server::query_stats(interface)
        .map(|text| print!("{text}"))
        .map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn stats(interface: &str) -> Result<(), String> {
    Err(format!(
        "{interface}: `wiregate stats` reads the userspace engine's counters, which runs on Linux only; use the API or /metrics"
    ))
}

fn main() -> ExitCode {
    init_logging();
    let args: Vec<String> = std::env::args().collect();
    let is_command = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|a| matches!(a.as_str(), "serve" | "stats" | "tunnel" | "peer" | "help"));
    let wants_help = args
        .iter()
        .skip(1)
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"));
    let result = if is_command || (wants_help && args.len() == 2) || args.len() == 1 {
        match Cli::parse().command {
            Command::Serve {
                config,
                shards,
                state_dir,
            } => serve::run(config.as_deref(), shards, state_dir.as_deref()),
            Command::Stats { interface } => stats(&interface),
            Command::Tunnel { client, command } => cli::tunnel(&client, command),
            Command::Peer { client, command } => cli::peer(&client, command),
        }
    } else {
        dropin::run(DropIn::parse())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wiregate: {message}");
            ExitCode::FAILURE
        }
    }
}
