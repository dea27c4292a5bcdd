//! `wiregate serve`: every tunnel of the configuration, each on the userspace backend,
//! until SIGTERM or SIGINT.

use crate::config::Config;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use wiregate_dataplane::UserspaceTunnel;

pub fn run(
    config: Option<&Path>,
    shards: Option<usize>,
    state_dir: Option<&Path>,
) -> Result<(), String> {
    let config = Config::load(config, state_dir).map_err(|e| e.to_string())?;
    tracing::debug!(state_dir = %config.state_dir.display(), "configuration loaded");
    let shards = crate::shards(shards.or(config.shards))?;
    let mut tunnels = Vec::with_capacity(config.tunnels.len());
    for tunnel in &config.tunnels {
        let created = UserspaceTunnel::create(tunnel, shards)
            .map_err(|e| format!("tunnel {}: {e}", tunnel.name))?;
        tracing::info!(
            tunnel = %tunnel.name,
            public_key = %tunnel.private_key.public_key(),
            port = created.device().report().listen_port,
            peers = tunnel.peers.len(),
            "tunnel up"
        );
        tunnels.push(created);
    }

    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let stopping = stop.clone();
    crate::signals::on_termination(move || {
        *stopping.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        stopping.1.notify_all();
    })
    .map_err(|e| format!("installing signal handlers: {e}"))?;
    // A tunnel whose interface is deleted under it stops; the others keep serving.
    for tunnel in &tunnels {
        let device = tunnel.device().clone();
        std::thread::spawn(move || {
            let reason = device.wait();
            if reason != "shut down" {
                tracing::error!(tunnel = device.name(), %reason, "tunnel stopped");
            }
        });
    }
    tracing::info!(tunnels = tunnels.len(), shards, "wiregate is serving");
    let mut stopped = stop.0.lock().unwrap_or_else(|e| e.into_inner());
    while !*stopped {
        stopped = stop.1.wait(stopped).unwrap_or_else(|e| e.into_inner());
    }
    for tunnel in &tunnels {
        tunnel.device().shutdown();
    }
    drop(tunnels);
    Ok(())
}
