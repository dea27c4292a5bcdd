//! Isolation: the benchmark moves itself into a new network namespace before it starts
//! anything, so the gateway it runs (and its TUN devices, routes and sockets) inherits it
//! and nothing touches the host's network.

use nix::sched::{CloneFlags, unshare};
use std::process::Command;

/// Checks for root, enters a fresh network namespace and brings its loopback up (the API
/// listens there). Must run before any thread is spawned: unshare moves only the calling
/// thread, and threads and children started later inherit its namespace.
pub fn isolate() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "needs root: it makes a network namespace, and wiregate makes TUN devices".into(),
        );
    }
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("running `ip link set lo up` (is iproute2 installed?): {e}"))?;
    if !status.success() {
        return Err(format!("`ip link set lo up` failed: {status}"));
    }
    Ok(())
}
