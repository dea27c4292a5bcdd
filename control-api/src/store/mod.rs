//! The store: the source of truth for tunnels and peers.
//!
//! Every method that writes returns only once the write is durable (SQLite: committed with
//! `synchronous=FULL`; PostgreSQL: committed), so a change the API acknowledged survives a
//! crash. The trait is synchronous and object-safe; its engines are
//! [`sqlite::SqliteStore`], the embedded default, and [`postgres::PostgresStore`], for
//! several gateways sharing one registry. Both encode records the same way (`rows.rs`).
//!
//! Several writers (gateways sharing PostgreSQL) may change one tunnel at once. Each
//! tunnel carries a [`Revision`] that every commit to it replaces; a [`Change`] names the
//! revision it was validated against and is refused as [`StoreError::Stale`] if another
//! writer committed in between. The database itself decides (a conditional update of the
//! tunnel's row, in the change's transaction), so two changes validated against the same
//! peers (two nodes allocating the same address) never both commit: the loser reads
//! again and validates again.

pub mod cache;
pub mod postgres;
mod postgres_watch;
mod rows;
pub mod sqlite;

use crate::model::{NodeRecord, PeerRecord, TunnelRecord};
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    /// The tunnel changed (or went) since the revision a change was validated against.
    #[error("tunnel {0:?} changed since it was read")]
    Stale(String),
    #[error("store: {0}")]
    Backend(String),
    /// The store cannot be reached now (a database server down or unreachable); the same
    /// request may succeed later.
    #[error("the store cannot be reached: {0}")]
    Unavailable(String),
    #[error("store holds a malformed value in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Nodes silent this long (seconds; a day) are no longer listed: a fleet whose nodes get
/// new names (containers) does not grow without end.
pub const FORGET_NODES_AFTER: i64 = 86_400;

/// Which commit a tunnel and its peers are at: a fresh random value at every commit, so
/// equal revisions mean equal contents (also across a tunnel deleted and made again, which
/// a counter would repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Revision(pub(crate) i64);

impl Revision {
    fn fresh() -> Self {
        Self(rand::random())
    }
}

/// A tunnel with all its peers (sorted by id), as of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub tunnel: TunnelRecord,
    pub revision: Revision,
    pub peers: Vec<PeerRecord>,
}

/// One change to a tunnel and its peers, committed whole or not at all.
#[derive(Debug, Clone)]
pub struct Change {
    pub tunnel: String,
    /// The revision the change was validated against.
    pub revision: Revision,
    /// New settings for the tunnel (a tunnel that no longer keeps private keys loses its
    /// peers' in the same commit).
    pub settings: Option<TunnelRecord>,
    /// Peers to delete, by id.
    pub delete: Vec<i64>,
    /// Peers to rewrite (found by id; their public key and creation time stay).
    pub update: Vec<PeerRecord>,
    /// Peers to add; their ids are assigned.
    pub insert: Vec<PeerRecord>,
}

impl Change {
    /// A change of nothing yet, to the tunnel at `revision`.
    pub fn to(snapshot: &Snapshot) -> Self {
        Self {
            tunnel: snapshot.tunnel.name.clone(),
            revision: snapshot.revision,
            settings: None,
            delete: Vec::new(),
            update: Vec::new(),
            insert: Vec::new(),
        }
    }
}

impl Change {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.settings.is_none()
            && self.delete.is_empty()
            && self.update.is_empty()
            && self.insert.is_empty()
    }

    /// Refuses a change that carries another tunnel's records: it would change that tunnel
    /// without its revision being checked.
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(t) = self.settings.as_ref().filter(|t| t.name != self.tunnel) {
            return Err(StoreError::Backend(format!(
                "a change to tunnel {:?} carries the settings of tunnel {:?}",
                self.tunnel, t.name
            )));
        }
        Self::check_peers(&self.tunnel, self.update.iter().chain(&self.insert))
    }

    pub(crate) fn check_peers<'a>(
        tunnel: &str,
        mut peers: impl Iterator<Item = &'a PeerRecord>,
    ) -> Result<()> {
        match peers.find(|p| p.tunnel != tunnel) {
            Some(p) => Err(StoreError::Backend(format!(
                "a change to tunnel {tunnel:?} carries a peer of tunnel {:?}",
                p.tunnel
            ))),
            None => Ok(()),
        }
    }
}

/// What a change committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The tunnel's revision now.
    pub revision: Revision,
    /// The inserted peers, with their ids.
    pub inserted: Vec<PeerRecord>,
}

/// A node's lease of a tunnel placed on several nodes: the node that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub node: String,
    /// Grows by one each time the lease changes hands.
    pub epoch: i64,
}

/// What a shared store announces to the gateways watching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    /// The tunnel changed (or was made, or deleted): committed at `at`, by the writer's
    /// clock.
    Tunnel { name: String, at: SystemTime },
    /// Announcements may have been missed (the watch was not connected for a while):
    /// anything may have changed.
    Anything,
}

/// A store being watched; dropping it stops the watch.
pub type Watch = wiregate_core::stop::Worker;

/// Called with each announcement, on the watch's own thread.
pub type OnAnnounced = Box<dyn Fn(Announced) + Send>;

pub trait Store: Send + Sync + std::fmt::Debug {
    fn tunnels(&self) -> Result<Vec<TunnelRecord>>;
    fn tunnel(&self, name: &str) -> Result<Option<TunnelRecord>>;
    /// The tunnel's revision now (one small read).
    fn revision(&self, name: &str) -> Result<Option<Revision>>;
    /// The tunnel with all its peers, read in one transaction.
    fn snapshot(&self, name: &str) -> Result<Option<Snapshot>>;
    /// A new tunnel with its first peers (the configuration file's), in one commit;
    /// `Conflict` if the name is taken.
    fn insert_tunnel(&self, tunnel: &TunnelRecord, peers: &[PeerRecord]) -> Result<Committed>;
    /// Deletes the tunnel and all its peers, whatever its revision; false if there was none.
    fn delete_tunnel(&self, name: &str) -> Result<bool>;
    /// Commits `change` if its tunnel is still at `change.revision`, else `Stale`.
    fn change(&self, change: &Change) -> Result<Committed>;
    /// Runs `f` (which reads the tunnel, plans a change and commits it) while no other
    /// process sharing the store runs one for the same tunnel. Without it, a writer whose
    /// read is slow (a large tunnel) could be overtaken again and again by one whose
    /// commits are quick, and never land; with it, writers take turns in the database's
    /// queue. The revision check stays the guarantee (a lock dies with its connection).
    /// A store no other process writes needs no lock (this default).
    fn exclusively(&self, tunnel: &str, f: &mut dyn FnMut()) -> Result<()> {
        let _ = tunnel;
        f();
        Ok(())
    }

    /// All peers of a tunnel, by id (none for no tunnel).
    fn peers(&self, tunnel: &str) -> Result<Vec<PeerRecord>> {
        Ok(self.snapshot(tunnel)?.map(|s| s.peers).unwrap_or_default())
    }
    fn peer(&self, tunnel: &str, id: i64) -> Result<Option<PeerRecord>>;

    /// Records that `node` is alive now, by the store's clock, as it describes itself; nodes
    /// not seen for [`FORGET_NODES_AFTER`] seconds are forgotten.
    fn heartbeat(&self, node: &NodeRecord) -> Result<()>;
    /// Every node that reported, by name.
    fn nodes(&self) -> Result<Vec<NodeRecord>>;

    /// Claims the lease of `tunnel` (placed on several nodes) for `node` for `ttl`, by the
    /// store's clock, or renews it: granted when nobody holds it, when its holder's ran
    /// out, or when `node` holds it already. Returns the lease as it stands after (`node`'s
    /// if granted); `None` if there is no such tunnel. Its epoch grows each time it
    /// changes hands: a fencing token.
    fn claim(&self, tunnel: &str, node: &str, ttl: Duration) -> Result<Option<Lease>>;
    /// Ends `node`'s lease of `tunnel` now, if it holds it, so another may take it at once.
    fn release(&self, tunnel: &str, node: &str) -> Result<()>;

    /// Whether the store can be reached now (for `/v1/health`); an embedded one always can.
    fn reachable(&self) -> Result<()> {
        Ok(())
    }

    /// Calls `on` with every change any writer commits, from now until the [`Watch`] is
    /// dropped; `None` for a store no other process writes (SQLite), whose changes are
    /// all this process's own.
    fn watch(&self, on: OnAnnounced) -> Result<Option<Watch>> {
        drop(on);
        Ok(None)
    }
}
