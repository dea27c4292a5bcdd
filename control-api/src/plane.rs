//! The control plane's one entry point. [`ControlPlane::open`] opens the store the
//! settings name and assembles the rest (the reconciler and its placement, the
//! operations behind the API, the tokens); [`ControlPlane::start`] brings the tunnels up
//! and joins the fleet (following other gateways' changes, heartbeating, holding leases);
//! the API and the metrics are handed out as what a listener serves;
//! [`ControlPlane::shutdown`] takes it all down in order. The fleet's machinery (the
//! store's watch, the heartbeat, the leases) lives behind it.

use crate::api::{AppState, router};
use crate::auth::Tokens;
use crate::control::Control;
use crate::metrics::{ApiMetrics, Metrics, PeerSeries};
use crate::nodes::Heartbeat;
use crate::placement::Placement;
use crate::reconcile::Reconciler;
use crate::store::cache::CachedStore;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, Watch};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wiregate_core::BackendFactory;

/// Where the store is.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file (created if missing): the embedded default, one gateway's own.
    Sqlite(PathBuf),
    /// A PostgreSQL URL or key=value settings, shared by the gateways of a fleet. Never
    /// printed: it may carry a password.
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Self::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

/// What the control plane is made of.
pub struct Settings {
    pub store: StoreLocation,
    /// This gateway's name among the gateways sharing the store.
    pub node: String,
    /// Makes each tunnel's data plane.
    pub backends: Box<dyn BackendFactory>,
    pub admin_tokens: Vec<String>,
    pub read_only_tokens: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("Settings")
            .field("store", &self.store)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The running control plane of one gateway.
pub struct ControlPlane {
    store: Arc<dyn Store>,
    reconciler: Arc<Reconciler>,
    control: Arc<Control>,
    tokens: Arc<Tokens>,
    api_metrics: ApiMetrics,
    node: String,
    /// What `start` set running, until `shutdown`.
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    watch: Option<Watch>,
    heartbeat: Option<Heartbeat>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("store", &self.store)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The store at `location`, behind a cache of decoded peers that rereads a tunnel
/// whenever its revision moved (another gateway wrote).
fn open_store(location: &StoreLocation) -> Result<Arc<dyn Store>, String> {
    Ok(match location {
        StoreLocation::Sqlite(path) => Arc::new(CachedStore::new(
            SqliteStore::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        StoreLocation::Postgres(url) => {
            let store = PostgresStore::open(url).map_err(|e| format!("[store] url: {e}"))?;
            tracing::info!("store: PostgreSQL");
            Arc::new(CachedStore::new(store))
        }
    })
}

impl ControlPlane {
    /// Opens (creating and migrating) the store and assembles the control plane; no
    /// tunnel is brought up yet.
    pub fn open(settings: Settings) -> Result<Self, String> {
        let store = open_store(&settings.store)?;
        let reconciler = Arc::new(Reconciler::new(
            store.clone(),
            settings.backends,
            Arc::new(Placement::new(&settings.node)),
        ));
        let control = Arc::new(Control::new(store.clone(), reconciler.clone()));
        let tokens = Arc::new(Tokens::new(
            settings.admin_tokens,
            settings.read_only_tokens,
        ));
        Ok(Self {
            store,
            reconciler,
            control,
            tokens,
            api_metrics: ApiMetrics::default(),
            node: settings.node,
            running: Mutex::new(Running::default()),
        })
    }

    /// The operations behind the API, for what the daemon does itself (the
    /// configuration file's tunnels, at start and reload).
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// The API's tokens, replaced on reload.
    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    /// Brings every stored tunnel placed here up, then follows the changes other gateways
    /// sharing the store make, and joins the fleet (heartbeat, leases). Refused if
    /// another running gateway has this one's node name.
    pub fn start(&self) -> Result<(), String> {
        self.reconciler.all();
        let watch = crate::fanout::follow(self.store.as_ref(), self.reconciler.clone())
            .map_err(|e| format!("watching the store: {e}"))?;
        let heartbeat =
            crate::nodes::join(self.store.clone(), self.reconciler.clone(), &self.node)?;
        *self.running() = Running {
            watch,
            heartbeat: Some(heartbeat),
        };
        Ok(())
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings one tunnel in line with the store now.
    pub fn reconcile(&self, tunnel: &str) {
        self.reconciler.tunnel(tunnel);
    }

    /// The periodic pass: every tunnel (expiry, drift repair, retrying failed ones).
    pub fn reconcile_all(&self) {
        self.reconciler.all();
    }

    /// Returns once no reconcile pass runs (never, if one is stuck): what a watchdog
    /// waits for before it says the gateway lives.
    pub fn wait_until_idle(&self) {
        self.reconciler.wait_until_idle();
    }

    /// What tunnel's data plane reports now: `None` if it does not run here (yet),
    /// `Err` with the reason if it failed.
    pub fn data_plane(&self, tunnel: &str) -> Option<Result<wiregate_core::TunnelState, String>> {
        self.reconciler.status(tunnel)
    }

    /// The REST API, to serve on a listener.
    pub fn api(&self) -> axum::Router {
        router(AppState {
            control: self.control.clone(),
            tokens: self.tokens.clone(),
            metrics: self.api_metrics.clone(),
        })
    }

    /// `/metrics`, with per-peer series as `peer_series` says, to serve on a listener.
    pub fn metrics(&self, peer_series: PeerSeries) -> Result<axum::Router, String> {
        let metrics = Metrics::new(
            self.reconciler.clone(),
            self.store.clone(),
            &self.api_metrics,
            peer_series,
        )
        .map_err(|e| format!("metrics: {e}"))?;
        Ok(crate::metrics::http::router(Arc::new(metrics)))
    }

    /// Stops following the store, takes every tunnel down, then leaves the fleet (its
    /// leases released, the node reported stopped).
    pub fn shutdown(&self) {
        let Running { watch, heartbeat } = std::mem::take(&mut *self.running());
        drop(watch);
        self.reconciler.shutdown();
        drop(heartbeat);
    }
}

/// Serves `app` (the API or the metrics) on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
