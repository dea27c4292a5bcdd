//! `wiregate serve`: the gateway. The store (SQLite in the state directory) is the source
//! of truth; tunnels of the configuration file are imported into it the first time they
//! are seen (afterwards only their `backend` is taken from the file). The reconcile loop makes the backends match the store, and the REST API
//! changes the store. Runs until SIGTERM or SIGINT.

use crate::config::{Config, ConfiguredTunnel};
use crate::keyfile;
use crate::metrics_listener;
use crate::systemd;
use ipnet::IpNet;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wiregate_control::api::AppState;
use wiregate_control::auth::{self, Tokens};
use wiregate_control::control::Control;
use wiregate_control::metrics::ApiMetrics;
use wiregate_control::model::{PeerRecord, TunnelRecord, now};
use wiregate_control::reconcile::Reconciler;
use wiregate_control::store::Store;
use wiregate_control::store::cache::CachedStore;
use wiregate_control::store::sqlite::SqliteStore;
use wiregate_control::types::TunnelPatch;
use wiregate_dataplane::UserspaceFactory;
use wiregate_kernel::KernelFactory;

/// Environment variable that supplies an admin API token (instead of the token file).
const TOKEN_ENV: &str = "WIREGATE_API_TOKEN";

/// A stop flag that threads can wait on with a timeout.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Waits up to `timeout`; true once stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (stopped, _) = self
            .changed
            .wait_timeout_while(stopped, timeout, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        *stopped
    }
}

/// The store's records for a tunnel of the file. A peer's host prefixes inside the pools
/// (or the tunnel's own networks) are its addresses; anything else is a route.
fn records(t: &ConfiguredTunnel) -> (TunnelRecord, Vec<PeerRecord>) {
    let at = now();
    let c = &t.config;
    let networks: Vec<IpNet> = if t.pools.is_empty() {
        c.addresses.iter().map(IpNet::trunc).collect()
    } else {
        t.pools.clone()
    };
    let is_address = |n: &IpNet| {
        n.prefix_len() == n.max_prefix_len() && networks.iter().any(|p| p.contains(&n.addr()))
    };
    let tunnel = TunnelRecord {
        name: c.name.clone(),
        listen_port: c.listen_port,
        private_key: c.private_key.clone(),
        addresses: c.addresses.clone(),
        mtu: c.mtu,
        pools: t.pools.clone(),
        public_endpoint: t.public_endpoint.clone(),
        dns: t.dns.clone(),
        keep_private_keys: t.keep_private_keys,
        backend: t.backend.clone().unwrap_or_else(|| "userspace".into()),
        created_at: at,
        updated_at: at,
        fwmark: c.fwmark,
    };
    let peers = c
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| PeerRecord {
            id: 0,
            tunnel: c.name.clone(),
            name: format!("{}-peer{}", c.name, i + 1),
            tags: vec!["config-file".into()],
            public_key: p.public_key,
            preshared_key: p.preshared_key.clone(),
            private_key: None,
            addresses: p.allowed_ips.iter().copied().filter(is_address).collect(),
            routes: p
                .allowed_ips
                .iter()
                .copied()
                .filter(|n| !is_address(n))
                .collect(),
            endpoint: p.endpoint,
            persistent_keepalive: p.persistent_keepalive,
            enabled: true,
            expires_at: None,
            created_at: at,
            updated_at: at,
        })
        .collect();
    (tunnel, peers)
}

/// The data plane is a property of the host, so a `backend` the file names wins over the
/// stored one at every start: an operator switches a tunnel's backend by editing the file
/// and restarting. Peers, keys and addresses stay as stored.
fn switch_backend(control: &Control, name: &str, backend: Option<&str>) -> Result<(), String> {
    let Some(backend) = backend else {
        return Ok(());
    };
    let stored = control
        .tunnel(name)
        .map_err(|e| format!("tunnel {name}: {}", e.detail))?;
    if stored.backend != backend {
        tracing::info!(tunnel = %name, from = %stored.backend, to = backend, "backend switched by the configuration file");
        let patch = TunnelPatch {
            backend: Some(backend.to_owned()),
            ..TunnelPatch::default()
        };
        control
            .update_tunnel(name, patch)
            .map_err(|e| format!("tunnel {name}: {}", e.detail))?;
    }
    Ok(())
}

/// Admin tokens: the file's, else `WIREGATE_API_TOKEN`, else the token file in the state
/// directory (generated on first start, mode 0600).
fn admin_tokens(config: &Config) -> Result<Vec<String>, String> {
    if !config.api.tokens.is_empty() {
        return Ok(config.api.tokens.clone());
    }
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        if token.len() < 16 {
            return Err(format!("{TOKEN_ENV} must be at least 16 characters"));
        }
        return Ok(vec![token]);
    }
    let path = config.state_dir.join("api-token");
    if !path.exists() {
        keyfile::create_secret(&path, &auth::generate()).map_err(|e| e.to_string())?;
        tracing::info!(path = %path.display(), "generated an API token");
    }
    let token = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(vec![token.trim().to_owned()])
}

pub fn run(
    config: Option<&Path>,
    shards: Option<usize>,
    state_dir: Option<&Path>,
) -> Result<(), String> {
    let config = Config::load(config, state_dir).map_err(|e| e.to_string())?;
    let shards = crate::shards(shards.or(config.shards))?;
    // The state directory holds the store, keys and the token: the owner's only.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.state_dir)
        .and_then(|()| {
            std::fs::set_permissions(&config.state_dir, std::fs::Permissions::from_mode(0o700))
        })
        .map_err(|e| format!("{}: {e}", config.state_dir.display()))?;
    let db = config.state_dir.join("wiregate.db");
    let store = Arc::new(CachedStore::new(
        SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?,
    ));
    let reconciler = Arc::new(Reconciler::new(
        store.clone(),
        Box::new(KernelFactory {
            other: UserspaceFactory { shards },
        }),
    ));
    let store: Arc<dyn Store> = store;
    let control = Arc::new(Control::new(store.clone(), reconciler.clone()));
    for tunnel in &config.tunnels {
        let (record, peers) = records(tunnel);
        let name = record.name.clone();
        match control.import(record, peers) {
            Ok(true) => tracing::info!(tunnel = %name, "imported from the configuration file"),
            Ok(false) => {
                tracing::info!(tunnel = %name, "kept as stored; its [[tunnel]] entry in the file applies only on first start, but for `backend`");
                switch_backend(&control, &name, tunnel.backend.as_deref())?;
            }
            Err(e) => return Err(format!("tunnel {name}: {}", e.detail)),
        }
    }
    reconciler.all();

    let tokens = Tokens::new(admin_tokens(&config)?, config.api.read_only_tokens.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.api.listen))
        .map_err(|e| format!("API on {}: {e}", config.api.listen))?;
    tracing::info!(listen = %config.api.listen, shards, "wiregate is serving");

    let api_metrics = ApiMetrics::default();
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let metrics = metrics_listener::start(
        &runtime,
        &config.metrics,
        reconciler.clone(),
        store.clone(),
        &api_metrics,
        stopped.clone(),
    )?;

    let stop = Arc::new(Stop::default());
    {
        let stop = stop.clone();
        crate::signals::on_termination(move || {
            systemd::stopping();
            stop.stop();
            let _ = stopping.send(true);
        })
        .map_err(|e| format!("installing signal handlers: {e}"))?;
    }
    // The periodic pass: expiry, drift repair, retrying failed tunnels.
    let periodic = {
        let (stop, reconciler) = (stop.clone(), reconciler.clone());
        let interval = Duration::from_secs(config.reconcile_interval);
        std::thread::Builder::new()
            .name("reconcile".into())
            .spawn(move || {
                while !stop.wait(interval) {
                    reconciler.all();
                }
            })
            .map_err(|e| e.to_string())?
    };
    let state = AppState {
        control,
        tokens: Arc::new(tokens),
        metrics: api_metrics,
    };
    // Tunnels were brought up by the first pass above; the API and metrics listen.
    systemd::ready(&format!("serving; API on {}", config.api.listen));
    {
        let stop = stop.clone();
        systemd::start_watchdog(reconciler.clone(), move || stop.wait(Duration::ZERO));
    }
    let served = runtime.block_on(wiregate_control::api::serve(
        listener,
        state,
        metrics_listener::until_stopped(stopped),
    ));
    if let Some(task) = metrics
        && let Ok(Err(e)) = runtime.block_on(task)
    {
        tracing::error!(error = %e, "metrics listener");
    }
    stop.stop();
    let _ = periodic.join();
    reconciler.shutdown();
    served.map_err(|e| format!("API: {e}"))
}
