//! `wiregate serve`: the gateway. It opens the control plane (`wiregate_control::ControlPlane`)
//! on the store the configuration names (SQLite in the state directory, or PostgreSQL
//! shared with other gateways), imports the file's tunnels the first time they are seen
//! (afterwards only their `backend` and file peers are taken from the file), starts it,
//! and serves its API and metrics, the periodic reconcile pass, reloads and the systemd
//! watchdog. Runs until SIGTERM or SIGINT.

use crate::config::{Config, StoreConfig};
use crate::keyfile;
use crate::metrics_listener;
use crate::systemd;
use crate::{file_tunnels, reload};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wiregate_control::auth;
use wiregate_control::{ControlPlane, Settings, StoreLocation};
use wiregate_core::stop::Stop;

/// Environment variable that supplies an admin API token (instead of the token file).
const TOKEN_ENV: &str = "WIREGATE_API_TOKEN";

/// Where the configuration puts the store: SQLite in the state directory, or PostgreSQL.
fn store_location(config: &Config) -> StoreLocation {
    match &config.store {
        StoreConfig::Sqlite => StoreLocation::Sqlite(config.state_dir.join("wiregate.db")),
        StoreConfig::Postgres(url) => StoreLocation::Postgres(url.clone()),
    }
}

/// Admin tokens: the file's, else `WIREGATE_API_TOKEN`, else the token file in the state
/// directory (generated on first start, mode 0600).
pub(crate) fn admin_tokens(config: &Config) -> Result<Vec<String>, String> {
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
    let token = keyfile::read_small(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(vec![token.trim().to_owned()])
}

/// Stops a running `serve` (what SIGTERM does): callable from anywhere, once or more.
pub type Stopper = Arc<dyn Fn() + Send + Sync>;

pub fn run(
    path: Option<&Path>,
    shards: Option<usize>,
    state_dir: Option<&Path>,
) -> Result<(), String> {
    run_with(path, shards, state_dir, |_| {})
}

/// `run`, calling `ready` with a [`Stopper`] once the tunnels, the API and the metrics
/// are up (the Windows service reports itself running then, and stops through it).
pub fn run_with(
    path: Option<&Path>,
    shards: Option<usize>,
    state_dir: Option<&Path>,
    ready: impl FnOnce(Stopper),
) -> Result<(), String> {
    let config = Config::load(path, state_dir).map_err(|e| e.to_string())?;
    let shards = crate::shards(shards.or(config.shards))?;
    // The state directory holds the store, keys and the token: the owner's only.
    crate::private_files::create_dir(&config.state_dir)
        .map_err(|e| format!("{}: {e}", config.state_dir.display()))?;
    let store = store_location(&config);
    let plane = Arc::new(ControlPlane::open(Settings {
        store: store.clone(),
        node: config.node.clone(),
        backends: crate::backends::factory(&config, shards),
        admin_tokens: admin_tokens(&config)?,
        read_only_tokens: config.api.read_only_tokens.clone(),
    })?);
    // The store holds keys: SQLite creates its file the owner's only on Unix (0600); on
    // Windows it is given the protected access list here.
    if let StoreLocation::Sqlite(db) = &store {
        crate::private_files::protect(db).map_err(|e| format!("{}: {e}", db.display()))?;
    }
    // A tunnel whose file part the store refuses (a file peer whose key an API peer has,
    // say) runs as stored; the others are not held hostage to it. The file itself was
    // checked whole before this.
    for refused in file_tunnels::apply(plane.control(), &config.tunnels).refused {
        tracing::error!("the configuration file is not applied to {refused}; it runs as stored");
    }
    // The tunnels up, other gateways' changes followed, the fleet joined.
    plane.start()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.api.listen))
        .map_err(|e| format!("API on {}: {e}", config.api.listen))?;
    tracing::info!(listen = %config.api.listen, shards, "wiregate is serving");

    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let metrics = metrics_listener::start(&runtime, &config.metrics, &plane, stopped.clone())?;

    let stop = Arc::new(Stop::default());
    let stopper: Stopper = {
        let stop = stop.clone();
        Arc::new(move || {
            systemd::stopping();
            stop.stop();
            let _ = stopping.send(true);
        })
    };
    {
        let reload = reload::Reload {
            path: path.map(Path::to_path_buf),
            state_dir: state_dir.map(Path::to_path_buf),
            fixed: reload::Fixed::of(&config),
            plane: plane.clone(),
        };
        let stopper = stopper.clone();
        crate::signals::handle(move || stopper(), move || reload.run())
            .map_err(|e| format!("installing signal handlers: {e}"))?;
    }
    // The periodic pass: expiry, drift repair, retrying failed tunnels.
    let periodic = {
        let (stop, plane) = (stop.clone(), plane.clone());
        let interval = Duration::from_secs(config.reconcile_interval);
        std::thread::Builder::new()
            .name("reconcile".into())
            .spawn(move || {
                while !stop.wait(interval) {
                    plane.reconcile_all();
                }
            })
            .map_err(|e| e.to_string())?
    };
    // Tunnels were brought up by the first pass above; the API and metrics listen.
    systemd::ready(&format!("serving; API on {}", config.api.listen));
    ready(stopper);
    {
        let stop = stop.clone();
        systemd::start_watchdog(plane.clone(), move || stop.wait(Duration::ZERO));
    }
    let served = runtime.block_on(wiregate_control::serve(
        listener,
        plane.api(),
        metrics_listener::until_stopped(stopped),
    ));
    if let Some(task) = metrics
        && let Ok(Err(e)) = runtime.block_on(task)
    {
        tracing::error!(error = %e, "metrics listener");
    }
    stop.stop();
    let _ = periodic.join();
    // The tunnels down, then the node reported stopped and its leases released.
    plane.shutdown();
    served.map_err(|e| format!("API: {e}"))
}
