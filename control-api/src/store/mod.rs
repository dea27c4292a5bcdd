//! The store: the source of truth for tunnels and peers.
//!
//! Every method that writes returns only once the write is durable (SQLite: committed with
//! `synchronous=FULL`; PostgreSQL: committed), so a change the API acknowledged survives a
//! crash. The trait is synchronous and object-safe; its engines are
//! [`sqlite::SqliteStore`], the embedded default, and [`postgres::PostgresStore`], for
//! several gateways sharing one registry. Both encode records the same way (`rows.rs`).

pub mod cache;
pub mod postgres;
mod rows;
pub mod sqlite;

use crate::model::{PeerRecord, TunnelRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
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

pub trait Store: Send + Sync + std::fmt::Debug {
    fn tunnels(&self) -> Result<Vec<TunnelRecord>>;
    fn tunnel(&self, name: &str) -> Result<Option<TunnelRecord>>;
    fn insert_tunnel(&self, tunnel: &TunnelRecord) -> Result<()>;
    /// Also forgets every peer's private key, in the same commit, when the tunnel does
    /// not keep them.
    fn update_tunnel(&self, tunnel: &TunnelRecord) -> Result<()>;
    /// Deletes the tunnel and all its peers; false if there was none.
    fn delete_tunnel(&self, name: &str) -> Result<bool>;

    /// All peers of a tunnel, by id.
    fn peers(&self, tunnel: &str) -> Result<Vec<PeerRecord>>;
    fn peer(&self, tunnel: &str, id: i64) -> Result<Option<PeerRecord>>;
    /// Inserts all of `peers` or none of them; their ids are assigned and returned.
    fn insert_peers(&self, peers: &[PeerRecord]) -> Result<Vec<PeerRecord>>;
    fn update_peer(&self, peer: &PeerRecord) -> Result<()>;
    /// False if there was no such peer.
    fn delete_peer(&self, tunnel: &str, id: i64) -> Result<bool>;

    /// Whether the store can be reached now (for `/v1/health`); an embedded one always can.
    fn reachable(&self) -> Result<()> {
        Ok(())
    }
}
