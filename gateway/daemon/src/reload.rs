//! SIGHUP: the configuration file read again and its difference applied, as at start
//! (`file_tunnels`): new tunnels imported, `backend` switched, file peers added, changed
//! and removed, each tunnel on its own; untouched peers keep their sessions. A file that
//! does not parse or validate changes nothing. The API tokens are replaced, so a token
//! taken out of the file is refused from then on. Listeners, shards and the reconcile
//! interval are set at start: a change to them is reported and waits for a restart.

use crate::config::Config;
use crate::{file_tunnels, systemd};
use std::path::PathBuf;
use std::sync::Arc;
use wiregate_control::ControlPlane;

/// What a reload cannot change, as the running daemon has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    api_listen: std::net::SocketAddr,
    metrics_listen: Option<std::net::SocketAddr>,
    peer_series: String,
    shards: Option<usize>,
    reconcile_interval: u64,
    state_dir: PathBuf,
    store: crate::config::StoreConfig,
    node: String,
}

impl Fixed {
    pub fn of(config: &Config) -> Self {
        Self {
            api_listen: config.api.listen,
            metrics_listen: config.metrics.listen,
            peer_series: config.metrics.peer_series.to_string(),
            shards: config.shards,
            reconcile_interval: config.reconcile_interval,
            state_dir: config.state_dir.clone(),
            store: config.store.clone(),
            node: config.node.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Reload {
    /// The file (`None`: the embedded default) and `--state-dir`, as at start.
    pub path: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub fixed: Fixed,
    pub plane: Arc<ControlPlane>,
}

impl Reload {
    pub fn run(&self) {
        systemd::reloading();
        self.apply();
        systemd::ready("reloaded");
    }

    fn apply(&self) {
        let config = match Config::load(self.path.as_deref(), self.state_dir.as_deref()) {
            Ok(config) => config,
            Err(e) => {
                return tracing::error!(error = %e, "reload: the configuration is refused; nothing changed");
            }
        };
        if Fixed::of(&config) != self.fixed {
            tracing::warn!(
                "reload: [api] listen, [metrics], [store], shards, reconcile_interval and state_dir changed in the file take effect at the next start"
            );
        }
        match crate::serve::admin_tokens(&config) {
            Ok(admin) => {
                let tokens = self.plane.tokens();
                tokens.replace(admin, config.api.read_only_tokens.clone());
                let (admin, read_only) = tokens.counts();
                tracing::info!(admin, read_only, "reload: API tokens replaced");
            }
            Err(e) => tracing::error!(error = %e, "reload: the API tokens are kept as they were"),
        }
        let applied = file_tunnels::apply(self.plane.control(), &config.tunnels);
        for name in &applied.imported {
            self.plane.reconcile(name);
        }
        if applied.refused.is_empty() {
            tracing::info!("configuration reloaded");
        } else {
            for reason in &applied.refused {
                tracing::error!(error = %reason, "reload: not applied");
            }
        }
    }
}
