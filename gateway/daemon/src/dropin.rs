//! The wireguard-go drop-in: `wiregate [-f] <interface>` creates the interface with no
//! key and no peers and serves its UAPI socket, exactly what `wg-quick` (with
//! `WG_QUICK_USERSPACE_IMPLEMENTATION=wiregate`) and other wireguard-go drivers expect.
//!
//! Without `-f` it returns once the interface is ready and keeps running in the
//! background, as wireguard-go does: the parent starts itself again in the foreground
//! in a new process group and waits for the child to say it is ready on a pipe.

use crate::DropIn;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use wiregate_core::config::valid_interface_name;
use wiregate_dataplane::uapi_server::UapiServer;
use wiregate_dataplane::{Device, tun};

/// Set in the child's environment: it reports readiness on its stdout.
const READY_ENV: &str = "WIREGATE_REPORT_READY";
const READY: &str = "ready";

pub fn run(args: DropIn) -> Result<(), String> {
    if !valid_interface_name(&args.interface) {
        return Err(format!(
            "{:?} is not a valid interface name",
            args.interface
        ));
    }
    let foreground =
        args.foreground || std::env::var("WG_PROCESS_FOREGROUND").is_ok_and(|v| v == "1");
    if !foreground {
        return daemonize(&args);
    }
    let shards = crate::shards(args.shards)?;
    let queues = tun::open(&args.interface, shards).map_err(|e| e.to_string())?;
    let device = Device::start(&args.interface, queues, 0).map_err(|e| e.to_string())?;
    let uapi = UapiServer::start(device.clone()).map_err(|e| format!("UAPI socket: {e}"))?;
    tracing::info!(interface = %args.interface, shards, "interface is up");
    if std::env::var_os(READY_ENV).is_some() {
        report_ready();
    }
    let stopping = device.clone();
    crate::signals::handle(
        move || stopping.shutdown(),
        // As wireguard-go: configured over UAPI only, so nothing to read again.
        || tracing::info!("SIGHUP: the drop-in has no configuration file; nothing to reload"),
    )
    .map_err(|e| e.to_string())?;
    let reason = device.wait();
    tracing::info!(interface = %args.interface, %reason, "stopped");
    drop(uapi);
    Ok(())
}

/// Tells the waiting parent we are up, then detaches from its pipes: once it exits they
/// lead nowhere, and a later log line must not fail on them.
fn report_ready() {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{READY}").and_then(|()| stdout.flush());
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        if std::env::var_os("LOG_LEVEL").is_none() && std::env::var_os("RUST_LOG").is_none() {
            let _ = nix::unistd::dup2_stderr(&null);
        }
    }
}

fn daemonize(args: &DropIn) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding our own executable: {e}"))?;
    let mut command = Command::new(exe);
    command.arg("--foreground");
    if let Some(shards) = args.shards {
        command.arg("--shards").arg(shards.to_string());
    }
    command.arg(&args.interface);
    // Logs go where the caller's go only if it asked for them (as with wireguard-go).
    let verbose = std::env::var_os("LOG_LEVEL").is_some() || std::env::var_os("RUST_LOG").is_some();
    command
        .env(READY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if verbose {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting the background process: {e}"))?;
    let mut line = String::new();
    let stdout = child
        .stdout
        .take()
        .ok_or("no pipe to the background process")?;
    let _ = BufReader::new(stdout).read_line(&mut line);
    if line.trim() == READY {
        return Ok(());
    }
    // The child failed before it was ready: show why.
    let _ = child.wait();
    let mut why = String::new();
    if let Some(stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut why);
    }
    Err(format!("the interface did not come up: {}", why.trim()))
}
