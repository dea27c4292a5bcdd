//! `wiregate serve`: the gateway. The store (SQLite in the state directory) is the source
//! of truth; tunnels of the configuration file are imported into it the first time they
//! are seen (afterwards only their `backend` is taken from the file). The reconcile loop makes the backends match the store, and the REST API
//! changes the store. Runs until SIGTERM or SIGINT.

use crate::config::{Config, StoreConfig};
use crate::keyfile;
use crate::metrics_listener;
use crate::systemd;
use crate::{file_tunnels, reload};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wiregate_control::api::AppState;
use wiregate_control::auth::{self, Tokens};
use wiregate_control::control::Control;
use wiregate_control::metrics::ApiMetrics;
use wiregate_control::placement::Placement;
use wiregate_control::reconcile::Reconciler;
use wiregate_control::store::Store;
use wiregate_control::store::cache::CachedStore;
use wiregate_control::store::postgres::PostgresStore;
use wiregate_control::store::sqlite::SqliteStore;

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

/// The store the configuration names: SQLite in the state directory, or PostgreSQL,
/// shared with other gateways; either behind a cache of decoded peers that rereads a
/// tunnel whenever its revision moved (another gateway wrote).
fn open_store(config: &Config) -> Result<Arc<dyn Store>, String> {
    match &config.store {
        StoreConfig::Sqlite => {
            let db = config.state_dir.join("wiregate.db");
            let store = SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
            crate::private_files::protect(&db).map_err(|e| format!("{}: {e}", db.display()))?;
            Ok(Arc::new(CachedStore::new(store)))
        }
        StoreConfig::Postgres(url) => {
            let store = PostgresStore::open(url).map_err(|e| format!("[store] url: {e}"))?;
            tracing::info!("store: PostgreSQL");
            Ok(Arc::new(CachedStore::new(store)))
        }
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
    let token = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
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
    let store = open_store(&config)?;
    let reconciler = Arc::new(Reconciler::new(
        store.clone(),
        crate::backends::factory(&config, shards),
        Arc::new(Placement::new(&config.node)),
    ));
    let control = Arc::new(Control::new(store.clone(), reconciler.clone()));
    // A tunnel whose file part the store refuses (a file peer whose key an API peer has,
    // say) runs as stored; the others are not held hostage to it. The file itself was
    // checked whole before this.
    for refused in file_tunnels::apply(&control, &config.tunnels).refused {
        tracing::error!("the configuration file is not applied to {refused}; it runs as stored");
    }
    reconciler.all();
    // Changes other gateways sharing the store make, applied as they are announced.
    let watch = wiregate_control::fanout::follow(store.as_ref(), reconciler.clone())
        .map_err(|e| format!("watching the store: {e}"))?;
    let heartbeat = wiregate_control::nodes::join(store.clone(), reconciler.clone(), &config.node)?;

    let tokens = Arc::new(Tokens::new(
        admin_tokens(&config)?,
        config.api.read_only_tokens.clone(),
    ));
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
            control: control.clone(),
            reconciler: reconciler.clone(),
            tokens: tokens.clone(),
        };
        let stopper = stopper.clone();
        crate::signals::handle(move || stopper(), move || reload.run())
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
        tokens,
        metrics: api_metrics,
    };
    // Tunnels were brought up by the first pass above; the API and metrics listen.
    systemd::ready(&format!("serving; API on {}", config.api.listen));
    ready(stopper);
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
    drop(watch);
    reconciler.shutdown();
    // Says the node stopped, after its tunnels went.
    drop(heartbeat);
    served.map_err(|e| format!("API: {e}"))
}
