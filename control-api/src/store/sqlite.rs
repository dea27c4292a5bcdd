//! The embedded default store: one SQLite file in the state directory.
//!
//! WAL journal with `synchronous=FULL`: a commit is on disk when it returns. Lists
//! (addresses, tags, ...) are JSON text columns; keys are base64 text. Schema changes are
//! numbered migrations applied in order at open, tracked in `PRAGMA user_version`.

use super::Lease;
use super::rows::{
    NODE_COLUMNS, PEER_COLUMNS, Raw, TUNNEL_COLUMNS, Value, count, node_from, node_values,
    peer_from, peer_values, tunnel_from, tunnel_values,
};
use super::{Change, Committed, FORGET_NODES_AFTER, Result, Revision, Snapshot, Store, StoreError};
use crate::model::NodeRecord;
use crate::model::{PeerRecord, TunnelRecord};
use rusqlite::{Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Migration N takes the schema from version N to N + 1. Never edit one that shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tunnels (
    name TEXT PRIMARY KEY,
    listen_port INTEGER NOT NULL,
    private_key TEXT NOT NULL,
    addresses TEXT NOT NULL,
    mtu INTEGER NOT NULL,
    pools TEXT NOT NULL,
    public_endpoint TEXT,
    dns TEXT NOT NULL,
    keep_private_keys INTEGER NOT NULL,
    backend TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE peers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tunnel TEXT NOT NULL REFERENCES tunnels(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    tags TEXT NOT NULL,
    public_key TEXT NOT NULL,
    preshared_key TEXT,
    private_key TEXT,
    addresses TEXT NOT NULL,
    routes TEXT NOT NULL,
    endpoint TEXT,
    persistent_keepalive INTEGER,
    enabled INTEGER NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tunnel, public_key)
);
CREATE INDEX peers_by_tunnel ON peers (tunnel, id);
"#,
    r#"
ALTER TABLE tunnels ADD COLUMN fwmark INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
ALTER TABLE tunnels ADD COLUMN routable TEXT NOT NULL DEFAULT '[]';
"#,
    r#"
ALTER TABLE tunnels ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    stopped INTEGER NOT NULL,
    serving TEXT NOT NULL,
    last_seen INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE tunnels ADD COLUMN placement TEXT;
CREATE TABLE leases (
    tunnel TEXT PRIMARY KEY REFERENCES tunnels(name) ON DELETE CASCADE,
    node TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"#,
];

/// The store's clock in milliseconds, for leases.
const CLOCK_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// `?1, ?2, ..., ?n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The store's clock, in seconds since the epoch.
const CLOCK: &str = "CAST(strftime('%s', 'now') AS INTEGER)";

#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Creates the file if needed, readable by its owner only (0600; a looser mode found is
/// tightened, and said so).
#[cfg(unix)]
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the store is readable by others; making it 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates the file if needed. On Windows a new file inherits its directory's access
/// list: the state directory is made for Administrators and SYSTEM only (see
/// docs/windows.md).
#[cfg(not(unix))]
fn owner_only(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// The file holds private keys: it is created readable by its owner only (SQLite gives
    /// its journal files the same mode).
    pub fn open(path: &Path) -> Result<Self> {
        owner_only(path).map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        // Deleted and overwritten content (a forgotten private key) is zeroed on disk, not
        // left in free space for a copy of the file to reveal.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the database has schema version {version}, newer than this wiregate knows ({}); upgrade wiregate",
                MIGRATIONS.len()
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(migration).map_err(backend)?;
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            tracing::info!(version = i + 1, "store schema migrated");
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A row as the engine-neutral values of `rows.rs`.
fn raw(row: &Row<'_>) -> rusqlite::Result<Raw> {
    use rusqlite::types::Value as Sql;
    (0..row.as_ref().column_count())
        .map(|i| {
            Ok(match row.get::<_, Sql>(i)? {
                Sql::Integer(n) => Value::Int(Some(n)),
                Sql::Text(s) => Value::Text(Some(s)),
                Sql::Null => Value::Text(None),
                // Never written by wiregate: read as what the schema promises, to fail there.
                Sql::Real(f) => Value::Text(Some(f.to_string())),
                Sql::Blob(b) => Value::Text(Some(String::from_utf8_lossy(&b).into_owned())),
            })
        })
        .collect()
}

/// Engine-neutral values as statement parameters.
fn params(values: Raw) -> rusqlite::ParamsFromIter<Vec<rusqlite::types::Value>> {
    use rusqlite::types::Value as Sql;
    rusqlite::params_from_iter(
        values
            .into_iter()
            .map(|v| match v {
                Value::Int(Some(n)) => Sql::Integer(n),
                Value::Text(Some(s)) => Sql::Text(s),
                Value::Int(None) | Value::Text(None) => Sql::Null,
            })
            .collect::<Vec<_>>(),
    )
}

/// The tunnel's settings columns as set by an UPDATE: the same parameters as the insert;
/// created_at (?11) never changes.
const UPDATE_TUNNEL: &str = "UPDATE tunnels SET listen_port = ?2, private_key = ?3, addresses = ?4, mtu = ?5, pools = ?6, \
     public_endpoint = ?7, dns = ?8, keep_private_keys = ?9, backend = ?10, updated_at = ?12, fwmark = ?13, \
     routable = ?14, placement = ?15 WHERE name = ?1";

/// A peer rewritten: the same parameters as the insert; public_key (?5) and created_at
/// (?14) never change.
const UPDATE_PEER: &str = "UPDATE peers SET name = ?3, tags = ?4, preshared_key = ?6, private_key = ?7, addresses = ?8, \
     routes = ?9, endpoint = ?10, persistent_keepalive = ?11, enabled = ?12, expires_at = ?13, \
     updated_at = ?15 WHERE id = ?1 AND tunnel = ?2";

fn insert_peers(tx: &rusqlite::Transaction<'_>, peers: &[PeerRecord]) -> Result<Vec<PeerRecord>> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO peers ({PEER_COLUMNS}) VALUES ({})",
            placeholders(count(PEER_COLUMNS))
        ))
        .map_err(backend)?;
    peers
        .iter()
        .map(|p| {
            stmt.execute(params(peer_values(p, None)))
                .map_err(backend)?;
            Ok(PeerRecord {
                id: tx.last_insert_rowid(),
                ..p.clone()
            })
        })
        .collect()
}

fn read_tunnel(conn: &Connection, name: &str) -> Result<Option<TunnelRecord>> {
    let row = conn
        .query_row(
            &format!("SELECT {TUNNEL_COLUMNS} FROM tunnels WHERE name = ?1"),
            [name],
            raw,
        )
        .optional()
        .map_err(backend)?;
    row.map(tunnel_from).transpose()
}

fn read_revision(conn: &Connection, name: &str) -> Result<Option<Revision>> {
    conn.query_row(
        "SELECT revision FROM tunnels WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()
    .map(|r| r.map(Revision))
    .map_err(backend)
}

impl Store for SqliteStore {
    fn tunnels(&self) -> Result<Vec<TunnelRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {TUNNEL_COLUMNS} FROM tunnels ORDER BY name"
            ))
            .map_err(backend)?;
        let rows = stmt.query_map([], raw).map_err(backend)?;
        rows.map(|r| tunnel_from(r.map_err(backend)?)).collect()
    }

    fn tunnel(&self, name: &str) -> Result<Option<TunnelRecord>> {
        read_tunnel(&self.conn(), name)
    }

    fn revision(&self, name: &str) -> Result<Option<Revision>> {
        read_revision(&self.conn(), name)
    }

    fn snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        let (Some(tunnel), Some(revision)) = (read_tunnel(&tx, name)?, read_revision(&tx, name)?)
        else {
            return Ok(None);
        };
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {PEER_COLUMNS} FROM peers WHERE tunnel = ?1 ORDER BY id"
            ))
            .map_err(backend)?;
        let rows = stmt.query_map([name], raw).map_err(backend)?;
        let peers = rows
            .map(|r| peer_from(r.map_err(backend)?))
            .collect::<Result<_>>()?;
        Ok(Some(Snapshot {
            tunnel,
            revision,
            peers,
        }))
    }

    fn insert_tunnel(&self, t: &TunnelRecord, peers: &[PeerRecord]) -> Result<Committed> {
        Change::check_peers(&t.name, peers.iter())?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        let revision = Revision::fresh();
        let mut values = tunnel_values(t);
        values.push(Value::Int(Some(revision.0)));
        tx.execute(
            &format!(
                "INSERT INTO tunnels ({TUNNEL_COLUMNS}, revision) VALUES ({})",
                placeholders(values.len())
            ),
            params(values),
        )
        .map_err(backend)?;
        let inserted = insert_peers(&tx, peers)?;
        tx.commit().map_err(backend)?;
        Ok(Committed { revision, inserted })
    }

    fn delete_tunnel(&self, name: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM tunnels WHERE name = ?1", [name])
            .map_err(backend)?;
        Ok(n > 0)
    }

    fn change(&self, c: &Change) -> Result<Committed> {
        c.check()?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        let revision = Revision::fresh();
        let claimed = tx
            .execute(
                "UPDATE tunnels SET revision = ?1 WHERE name = ?2 AND revision = ?3",
                rusqlite::params![revision.0, c.tunnel, c.revision.0],
            )
            .map_err(backend)?;
        if claimed == 0 {
            return Err(StoreError::Stale(c.tunnel.clone()));
        }
        let mut forgotten = 0;
        if let Some(t) = &c.settings {
            tx.execute(UPDATE_TUNNEL, params(tunnel_values(t)))
                .map_err(backend)?;
            // A tunnel that keeps no private keys has none: those kept before are
            // forgotten in the same commit.
            if !t.keep_private_keys {
                forgotten = tx
                    .execute(
                        "UPDATE peers SET private_key = NULL WHERE tunnel = ?1 AND private_key IS NOT NULL",
                        [&t.name],
                    )
                    .map_err(backend)?;
            }
        }
        for id in &c.delete {
            tx.execute(
                "DELETE FROM peers WHERE tunnel = ?1 AND id = ?2",
                rusqlite::params![c.tunnel, id],
            )
            .map_err(backend)?;
        }
        for p in &c.update {
            tx.execute(UPDATE_PEER, params(peer_values(p, Some(p.id))))
                .map_err(backend)?;
        }
        let inserted = insert_peers(&tx, &c.insert)?;
        tx.commit().map_err(backend)?;
        if forgotten > 0 {
            // secure_delete zeroed the old values in the database's pages; the pages'
            // earlier images in the write-ahead log go with a truncating checkpoint.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(backend)?;
        }
        Ok(Committed { revision, inserted })
    }

    fn claim(&self, tunnel: &str, node: &str, ttl: Duration) -> Result<Option<Lease>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(backend)?;
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        tx.execute(
            &format!(
                "INSERT INTO leases (tunnel, node, epoch, expires_at) \
                 SELECT ?1, ?2, 1, {CLOCK_MS} + ?3 WHERE EXISTS (SELECT 1 FROM tunnels WHERE name = ?1) \
                 ON CONFLICT (tunnel) DO UPDATE SET node = excluded.node, \
                 epoch = CASE WHEN leases.node = excluded.node THEN leases.epoch ELSE leases.epoch + 1 END, \
                 expires_at = excluded.expires_at \
                 WHERE leases.node = excluded.node OR leases.expires_at < {CLOCK_MS}"
            ),
            rusqlite::params![tunnel, node, ttl],
        )
        .map_err(backend)?;
        let lease = tx
            .query_row(
                "SELECT node, epoch FROM leases WHERE tunnel = ?1",
                [tunnel],
                |r| {
                    Ok(Lease {
                        node: r.get(0)?,
                        epoch: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(lease)
    }

    fn release(&self, tunnel: &str, node: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE leases SET expires_at = 0 WHERE tunnel = ?1 AND node = ?2",
                [tunnel, node],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn heartbeat(&self, node: &NodeRecord) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO nodes ({NODE_COLUMNS}, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, {CLOCK}) \
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
                 started_at = excluded.started_at, stopped = excluded.stopped, \
                 serving = excluded.serving, last_seen = excluded.last_seen"
            ),
            params(node_values(node)),
        )
        .map_err(backend)?;
        conn.execute(
            &format!("DELETE FROM nodes WHERE last_seen < {CLOCK} - ?1"),
            [FORGET_NODES_AFTER],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {NODE_COLUMNS}, last_seen, {CLOCK} - last_seen FROM nodes ORDER BY name"
            ))
            .map_err(backend)?;
        let rows = stmt.query_map([], raw).map_err(backend)?;
        rows.map(|r| node_from(r.map_err(backend)?)).collect()
    }

    fn peer(&self, tunnel: &str, id: i64) -> Result<Option<PeerRecord>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {PEER_COLUMNS} FROM peers WHERE tunnel = ?1 AND id = ?2"),
                rusqlite::params![tunnel, id],
                raw,
            )
            .optional()
            .map_err(backend)?;
        row.map(peer_from).transpose()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::now;
    use wiregate_core::{PresharedKey, PrivateKey};

    pub(crate) fn tunnel(name: &str) -> TunnelRecord {
        TunnelRecord {
            name: name.into(),
            listen_port: 51820,
            private_key: PrivateKey::generate(),
            addresses: vec!["10.8.0.1/24".parse().unwrap()],
            mtu: 1420,
            pools: vec!["10.8.0.0/24".parse().unwrap(), "fd08::/64".parse().unwrap()],
            public_endpoint: Some("vpn.example.com:51820".parse().unwrap()),
            dns: vec!["10.8.0.1".parse().unwrap()],
            keep_private_keys: false,
            backend: "userspace".into(),
            created_at: now(),
            updated_at: now(),
            fwmark: 0x1234,
            routable: vec!["192.168.50.0/24".parse().unwrap()],
            placement: Default::default(),
        }
    }

    pub(crate) fn peer(tunnel: &str, host: u8) -> PeerRecord {
        PeerRecord {
            id: 0,
            tunnel: tunnel.into(),
            name: format!("peer{host}"),
            tags: vec!["staff".into()],
            public_key: PrivateKey::generate().public_key(),
            preshared_key: Some(PresharedKey::generate()),
            private_key: None,
            addresses: vec![format!("10.8.0.{host}/32").parse().unwrap()],
            routes: vec![],
            endpoint: Some("192.0.2.1:4000".parse().unwrap()),
            persistent_keepalive: Some(25),
            enabled: true,
            expires_at: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    /// The tunnel `tunnel(name)` with no peers, stored.
    pub(crate) fn stored(store: &dyn Store, name: &str) -> Snapshot {
        store.insert_tunnel(&tunnel(name), &[]).unwrap();
        store.snapshot(name).unwrap().unwrap()
    }

    /// `peers` added to the tunnel as it is now.
    pub(crate) fn add(store: &dyn Store, name: &str, peers: Vec<PeerRecord>) -> Result<Committed> {
        let now = store.snapshot(name)?.expect("a stored tunnel");
        store.change(&Change {
            insert: peers,
            ..Change::to(&now)
        })
    }

    #[test]
    fn round_trips_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wiregate.db");
        let t = tunnel("wg0");
        let committed = SqliteStore::open(&path)
            .unwrap()
            .insert_tunnel(&t, &[peer("wg0", 2), peer("wg0", 3)])
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let stored = committed.inserted;
        assert_eq!(
            store.snapshot("wg0").unwrap().unwrap(),
            Snapshot {
                tunnel: t,
                revision: committed.revision,
                peers: stored.clone()
            }
        );
        assert_eq!(store.peer("wg0", stored[1].id).unwrap().unwrap(), stored[1]);
    }

    #[test]
    fn bulk_insert_is_all_or_nothing_and_keys_are_unique_per_tunnel() {
        let store = SqliteStore::in_memory().unwrap();
        let before = stored(&store, "wg0");
        let a = peer("wg0", 2);
        let mut dup = peer("wg0", 3);
        dup.public_key = a.public_key;
        let err = add(&store, "wg0", vec![a.clone(), dup]).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(store.snapshot("wg0").unwrap().unwrap(), before);
        add(&store, "wg0", vec![a]).unwrap();
    }

    #[test]
    fn a_change_validated_against_an_older_revision_is_refused() {
        let store = SqliteStore::in_memory().unwrap();
        let before = stored(&store, "wg0");
        add(&store, "wg0", vec![peer("wg0", 2)]).unwrap();
        let late = Change {
            insert: vec![peer("wg0", 3)],
            ..Change::to(&before)
        };
        assert!(matches!(store.change(&late), Err(StoreError::Stale(_))));
        assert_eq!(store.peers("wg0").unwrap().len(), 1);
        let other = Change {
            insert: vec![peer("wg1", 3)],
            ..Change::to(&store.snapshot("wg0").unwrap().unwrap())
        };
        assert!(matches!(store.change(&other), Err(StoreError::Backend(_))));
    }

    #[test]
    fn deleting_a_tunnel_deletes_its_peers() {
        let store = SqliteStore::in_memory().unwrap();
        stored(&store, "wg0");
        add(&store, "wg0", vec![peer("wg0", 2)]).unwrap();
        assert!(store.delete_tunnel("wg0").unwrap());
        assert!(store.peers("wg0").unwrap().is_empty());
        assert!(!store.delete_tunnel("wg0").unwrap());
    }

    #[test]
    fn an_older_database_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wiregate.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO tunnels VALUES ('old', 1, ?1, '[]', 1420, '[]', NULL, '[]', 0, 'userspace', 0, 0)",
            [PrivateKey::generate().expose_base64()],
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.tunnel("old").unwrap().unwrap().fwmark, 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wiregate.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
