//! Isolation: the benchmark moves itself into a new network namespace before it starts
//! anything, so the gateway it runs (and its TUN devices, routes and sockets) inherits it
//! and nothing touches the host's network. And `ip`, for the namespaces and links the
//! benchmarks build.

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
    ip(&["link", "set", "lo", "up"])
}

/// Runs `ip` with these arguments; its stderr becomes the error.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip (is iproute2 installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
