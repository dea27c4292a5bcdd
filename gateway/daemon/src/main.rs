//! `wiregate`: the gateway daemon (`wiregate serve`), its tools (`wiregate stats`), and a
//! drop-in for wireguard-go (`wiregate [-f] <interface>`), so wg-quick and anything else
//! that drives wireguard-go drives wiregate the same way.
#![forbid(unsafe_code)]

mod backends;
mod cli;
#[cfg(target_os = "linux")]
mod dropin;
#[cfg(not(target_os = "linux"))]
#[path = "no_dropin.rs"]
mod dropin;
mod file_tunnels;
mod metrics_listener;
mod reload;
mod serve;
mod signals;
#[cfg(unix)]
mod systemd;
#[cfg(not(unix))]
#[path = "no_systemd.rs"]
mod systemd;
#[cfg(windows)]
mod windows_service;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use wiregate::{config, keyfile, private_files, shards};

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
    /// The Windows service: install, uninstall, or run as the service control manager's.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Register wiregate with the service control manager (automatic start).
    Install {
        /// The configuration file the service serves.
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Stop and remove the service.
    Uninstall,
    /// What the service control manager starts (not for use by hand).
    Run {
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long)]
        state_dir: Option<PathBuf>,
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

/// Logs to stderr; or, for the Windows service (whose stderr goes nowhere), appended to
/// `log_file`.
fn init_logging(log_file: Option<PathBuf>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file = log_file.and_then(|path| {
        // The log's folder is the default state directory: made private, as serve would.
        path.parent().map(private_files::create_dir);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match file {
        Some(file) => builder
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init(),
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// Where the Windows service logs: `%ProgramData%\wiregate\wiregate.log`.
fn service_log(args: &[String]) -> Option<PathBuf> {
    let is_service = args.get(1).map(String::as_str) == Some("service")
        && args.get(2).map(String::as_str) == Some("run");
    let data = std::env::var_os("ProgramData")?;
    is_service.then(|| PathBuf::from(data).join("wiregate").join("wiregate.log"))
}

#[cfg(windows)]
fn service(command: ServiceCommand) -> Result<(), String> {
    use windows_service::ServeArgs;
    match command {
        ServiceCommand::Install { config, state_dir } => {
            windows_service::install(ServeArgs { config, state_dir })
        }
        ServiceCommand::Uninstall => windows_service::uninstall(),
        ServiceCommand::Run { config, state_dir } => {
            windows_service::run(ServeArgs { config, state_dir })
        }
    }
}

#[cfg(not(windows))]
fn service(_command: ServiceCommand) -> Result<(), String> {
    Err("`wiregate service` manages the Windows service; on Linux, use the systemd unit (deploy/systemd)".into())
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
    let args: Vec<String> = std::env::args().collect();
    init_logging(service_log(&args));
    let is_command = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|a| {
            matches!(
                a.as_str(),
                "serve" | "stats" | "tunnel" | "peer" | "service" | "help"
            )
        });
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
            Command::Service { command } => service(command),
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
