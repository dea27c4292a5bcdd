//! The PostgreSQL engine, for gateways that share one registry: `[store] url =
//! "postgres://..."`.
//!
//! The same records and encoding as SQLite (`rows.rs`); the same guarantees. A write
//! returns once PostgreSQL has committed it (synchronous commit, its default). A bulk
//! insert is one transaction. Schema changes are numbered migrations, applied at open
//! under an advisory lock, so that gateways starting together migrate once; a database
//! newer than this wiregate is refused. Connections come from a small pool, which
//! replaces a broken connection on its next use, so a database that went away and came
//! back needs no restart.

use super::postgres_watch::{self, notify};
use super::rows::{
    NODE_COLUMNS, PEER_COLUMNS, Raw, TUNNEL_COLUMNS, Value, count, node_from, node_values,
    peer_from, peer_values, tunnel_from, tunnel_values,
};
use super::{
    Change, Committed, FORGET_NODES_AFTER, Lease, OnAnnounced, Result, Revision, Snapshot, Store,
    StoreError, Watch,
};
use crate::model::{NodeRecord, PeerRecord, TunnelRecord};
use postgres::types::{ToSql, Type};
use postgres::{GenericClient, IsolationLevel, NoTls, Row};
use r2d2_postgres::PostgresConnectionManager;
use std::time::Duration;

/// Migration N takes the schema from version N to N + 1. Never edit one that shipped.
/// Integers are BIGINT and everything else TEXT, as `rows.rs` encodes them.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tunnels (
    name TEXT PRIMARY KEY,
    listen_port BIGINT NOT NULL,
    private_key TEXT NOT NULL,
    addresses TEXT NOT NULL,
    mtu BIGINT NOT NULL,
    pools TEXT NOT NULL,
    public_endpoint TEXT,
    dns TEXT NOT NULL,
    keep_private_keys BIGINT NOT NULL,
    backend TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    fwmark BIGINT NOT NULL,
    routable TEXT NOT NULL
);
CREATE TABLE peers (
    id BIGSERIAL PRIMARY KEY,
    tunnel TEXT NOT NULL REFERENCES tunnels(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    tags TEXT NOT NULL,
    public_key TEXT NOT NULL,
    preshared_key TEXT,
    private_key TEXT,
    addresses TEXT NOT NULL,
    routes TEXT NOT NULL,
    endpoint TEXT,
    persistent_keepalive BIGINT,
    enabled BIGINT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tunnel, public_key)
);
CREATE INDEX peers_by_tunnel ON peers (tunnel, id);
"#,
    r#"
ALTER TABLE tunnels ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    stopped BIGINT NOT NULL,
    serving TEXT NOT NULL,
    last_seen BIGINT NOT NULL
);
"#,
    r#"
ALTER TABLE tunnels ADD COLUMN placement TEXT;
CREATE TABLE leases (
    tunnel TEXT PRIMARY KEY REFERENCES tunnels(name) ON DELETE CASCADE,
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
"#,
];

/// The database's clock in milliseconds, for leases (`clock_timestamp`: now, not the
/// transaction's start).
const CLOCK_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The database's clock, in seconds since the epoch: the one clock all nodes share.
const CLOCK: &str = "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)";

/// The advisory lock migrations take (any constant; "wiregate" in ASCII).
const MIGRATION_LOCK: i64 = 0x7769_7265_6761_7465;
/// The first key of the two-key advisory locks of tunnels' writers (the second is a hash
/// of the tunnel's name): "wgtw".
const TUNNEL_LOCKS: i32 = 0x7767_7477;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

pub struct PostgresStore {
    pool: Pool,
    /// For the watch's connection of its own.
    config: postgres::Config,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        write!(
            f,
            "PostgresStore({} connections)",
            self.pool.state().connections
        )
    }
}

fn backend(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if code.code().starts_with("23") => StoreError::Conflict(e.to_string()),
        // Class 08 (connection exceptions) and 57P (the server shutting down or gone), or
        // no answer from a server at all: the database is away, not the request wrong.
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            StoreError::Unavailable(e.to_string())
        }
        None if e.is_closed() || e.as_db_error().is_none() => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

fn pool_error(e: r2d2::Error) -> StoreError {
    StoreError::Unavailable(format!("no connection to PostgreSQL: {e}"))
}

/// A row as the engine-neutral values of `rows.rs`.
fn raw(row: &Row) -> Result<Raw> {
    (0..row.len())
        .map(|i| {
            Ok(if *row.columns()[i].type_() == Type::INT8 {
                Value::Int(row.try_get(i).map_err(backend)?)
            } else {
                Value::Text(row.try_get(i).map_err(backend)?)
            })
        })
        .collect()
}

/// Engine-neutral values as statement parameters.
fn params(values: &Raw) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| match v {
            Value::Int(n) => n as &(dyn ToSql + Sync),
            Value::Text(s) => s as &(dyn ToSql + Sync),
        })
        .collect()
}

/// An UPDATE of `table` from a whole row (`values`, in `columns` order): the `keys`
/// columns select the row, the `fixed` ones never change, every other column is set.
fn update(table: &str, columns: &str, values: Raw, keys: &[&str], fixed: &[&str]) -> (String, Raw) {
    let named: Vec<(&str, Value)> = columns.split(", ").zip(values).collect();
    let mut params = Vec::with_capacity(named.len());
    let mut condition = Vec::new();
    for (column, value) in named.iter().filter(|(c, _)| keys.contains(c)) {
        params.push(value.clone());
        condition.push(format!("{column} = ${}", params.len()));
    }
    let mut set = Vec::new();
    for (column, value) in named
        .iter()
        .filter(|(c, _)| !keys.contains(c) && !fixed.contains(c))
    {
        params.push(value.clone());
        set.push(format!("{column} = ${}", params.len()));
    }
    let sql = format!(
        "UPDATE {table} SET {} WHERE {}",
        set.join(", "),
        condition.join(" AND ")
    );
    (sql, params)
}

/// `$1, $2, ..., $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or `key=value` settings) and
    /// brings its schema up to date.
    pub fn open(url: &str) -> Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("the store URL does not parse: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(3));
        }
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(8)
            // How long a request waits for a connection while the database is away
            // before it is answered 503.
            .connection_timeout(std::time::Duration::from_secs(3))
            .build(manager)
            .map_err(pool_error)?;
        let store = Self { pool, config };
        store.migrate()?;
        Ok(store)
    }

    fn client(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        self.pool.get().map_err(pool_error)
    }

    fn migrate(&self) -> Result<()> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(backend)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS wiregate_schema (version BIGINT NOT NULL);
             INSERT INTO wiregate_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM wiregate_schema);",
        )
        .map_err(backend)?;
        let version: i64 = tx
            .query_one("SELECT version FROM wiregate_schema", &[])
            .map_err(backend)?
            .get(0);
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the database has schema version {version}, newer than this wiregate knows ({}); upgrade wiregate",
                MIGRATIONS.len()
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.batch_execute(migration).map_err(backend)?;
            tx.execute(
                "UPDATE wiregate_schema SET version = $1",
                &[&(i as i64 + 1)],
            )
            .map_err(backend)?;
            tracing::info!(version = i + 1, "store schema migrated");
        }
        tx.commit().map_err(backend)
    }

    fn query(client: &mut impl GenericClient, sql: &str, values: &Raw) -> Result<Vec<Raw>> {
        let rows = client.query(sql, &params(values)).map_err(backend)?;
        rows.iter().map(raw).collect()
    }

    fn execute(client: &mut impl GenericClient, sql: &str, values: &Raw) -> Result<u64> {
        client.execute(sql, &params(values)).map_err(backend)
    }
}

fn text(s: &str) -> Value {
    Value::Text(Some(s.to_owned()))
}

fn insert_peers(tx: &mut impl GenericClient, peers: &[PeerRecord]) -> Result<Vec<PeerRecord>> {
    if peers.is_empty() {
        return Ok(Vec::new());
    }
    // Every column but the id, which the sequence assigns.
    let columns = PEER_COLUMNS.trim_start_matches("id, ");
    let insert = tx
        .prepare(&format!(
            "INSERT INTO peers ({columns}) VALUES ({}) RETURNING id",
            placeholders(count(columns))
        ))
        .map_err(backend)?;
    peers
        .iter()
        .map(|p| {
            let values = peer_values(p, None).split_off(1);
            let row = tx.query_one(&insert, &params(&values)).map_err(backend)?;
            Ok(PeerRecord {
                id: row.get(0),
                ..p.clone()
            })
        })
        .collect()
}

fn read_tunnel(client: &mut impl GenericClient, name: &str) -> Result<Option<TunnelRecord>> {
    let sql = format!("SELECT {TUNNEL_COLUMNS} FROM tunnels WHERE name = $1");
    PostgresStore::query(client, &sql, &vec![text(name)])?
        .into_iter()
        .next()
        .map(tunnel_from)
        .transpose()
}

fn read_revision(client: &mut impl GenericClient, name: &str) -> Result<Option<Revision>> {
    let row = client
        .query_opt("SELECT revision FROM tunnels WHERE name = $1", &[&name])
        .map_err(backend)?;
    Ok(row.map(|r| Revision(r.get(0))))
}

impl Store for PostgresStore {
    fn tunnels(&self) -> Result<Vec<TunnelRecord>> {
        let sql = format!("SELECT {TUNNEL_COLUMNS} FROM tunnels ORDER BY name");
        Self::query(&mut *self.client()?, &sql, &vec![])?
            .into_iter()
            .map(tunnel_from)
            .collect()
    }

    fn tunnel(&self, name: &str) -> Result<Option<TunnelRecord>> {
        read_tunnel(&mut *self.client()?, name)
    }

    fn revision(&self, name: &str) -> Result<Option<Revision>> {
        read_revision(&mut *self.client()?, name)
    }

    fn snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        let mut client = self.client()?;
        // One view of the database for all three reads.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(backend)?;
        let (Some(tunnel), Some(revision)) =
            (read_tunnel(&mut tx, name)?, read_revision(&mut tx, name)?)
        else {
            return Ok(None);
        };
        let sql = format!("SELECT {PEER_COLUMNS} FROM peers WHERE tunnel = $1 ORDER BY id");
        let peers = Self::query(&mut tx, &sql, &vec![text(name)])?
            .into_iter()
            .map(peer_from)
            .collect::<Result<_>>()?;
        tx.commit().map_err(backend)?;
        Ok(Some(Snapshot {
            tunnel,
            revision,
            peers,
        }))
    }

    fn insert_tunnel(&self, t: &TunnelRecord, peers: &[PeerRecord]) -> Result<Committed> {
        Change::check_peers(&t.name, peers.iter())?;
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(backend)?;
        let revision = Revision::fresh();
        let mut values = tunnel_values(t);
        values.push(Value::Int(Some(revision.0)));
        let sql = format!(
            "INSERT INTO tunnels ({TUNNEL_COLUMNS}, revision) VALUES ({})",
            placeholders(values.len())
        );
        Self::execute(&mut tx, &sql, &values)?;
        let inserted = insert_peers(&mut tx, peers)?;
        notify(&mut tx, &t.name)?;
        tx.commit().map_err(backend)?;
        Ok(Committed { revision, inserted })
    }

    fn delete_tunnel(&self, name: &str) -> Result<bool> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(backend)?;
        let n = Self::execute(
            &mut tx,
            "DELETE FROM tunnels WHERE name = $1",
            &vec![text(name)],
        )?;
        notify(&mut tx, name)?;
        tx.commit().map_err(backend)?;
        Ok(n > 0)
    }

    fn change(&self, c: &Change) -> Result<Committed> {
        c.check()?;
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(backend)?;
        let revision = Revision::fresh();
        // First, so that the tunnel's row is locked for the rest: a writer that validated
        // against the same revision waits here, then finds it gone and is refused.
        let claimed = tx
            .execute(
                "UPDATE tunnels SET revision = $1 WHERE name = $2 AND revision = $3",
                &[&revision.0, &c.tunnel, &c.revision.0],
            )
            .map_err(backend)?;
        if claimed == 0 {
            return Err(StoreError::Stale(c.tunnel.clone()));
        }
        if let Some(t) = &c.settings {
            let (sql, values) = update(
                "tunnels",
                TUNNEL_COLUMNS,
                tunnel_values(t),
                &["name"],
                &["created_at"],
            );
            Self::execute(&mut tx, &sql, &values)?;
            // A tunnel that keeps no private keys has none, as of the same commit.
            if !t.keep_private_keys {
                Self::execute(
                    &mut tx,
                    "UPDATE peers SET private_key = NULL WHERE tunnel = $1 AND private_key IS NOT NULL",
                    &vec![text(&t.name)],
                )?;
            }
        }
        if !c.delete.is_empty() {
            tx.execute(
                "DELETE FROM peers WHERE tunnel = $1 AND id = ANY($2)",
                &[&c.tunnel, &c.delete],
            )
            .map_err(backend)?;
        }
        for p in &c.update {
            let (sql, values) = update(
                "peers",
                PEER_COLUMNS,
                peer_values(p, Some(p.id)),
                &["id", "tunnel"],
                &["public_key", "created_at"],
            );
            Self::execute(&mut tx, &sql, &values)?;
        }
        let inserted = insert_peers(&mut tx, &c.insert)?;
        notify(&mut tx, &c.tunnel)?;
        tx.commit().map_err(backend)?;
        Ok(Committed { revision, inserted })
    }

    fn claim(&self, tunnel: &str, node: &str, ttl: Duration) -> Result<Option<Lease>> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(backend)?;
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        tx.execute(
            &format!(
                "INSERT INTO leases (tunnel, node, epoch, expires_at) \
                 SELECT $1, $2, 1, {CLOCK_MS} + $3 WHERE EXISTS (SELECT 1 FROM tunnels WHERE name = $1) \
                 ON CONFLICT (tunnel) DO UPDATE SET node = excluded.node, \
                 epoch = CASE WHEN leases.node = excluded.node THEN leases.epoch ELSE leases.epoch + 1 END, \
                 expires_at = excluded.expires_at \
                 WHERE leases.node = excluded.node OR leases.expires_at < {CLOCK_MS}"
            ),
            &[&tunnel, &node, &ttl],
        )
        .map_err(backend)?;
        let lease = tx
            .query_opt(
                "SELECT node, epoch FROM leases WHERE tunnel = $1",
                &[&tunnel],
            )
            .map_err(backend)?
            .map(|row| Lease {
                node: row.get(0),
                epoch: row.get(1),
            });
        tx.commit().map_err(backend)?;
        Ok(lease)
    }

    fn release(&self, tunnel: &str, node: &str) -> Result<()> {
        self.client()?
            .execute(
                "UPDATE leases SET expires_at = 0 WHERE tunnel = $1 AND node = $2",
                &[&tunnel, &node],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn heartbeat(&self, node: &NodeRecord) -> Result<()> {
        let mut client = self.client()?;
        let sql = format!(
            "INSERT INTO nodes ({NODE_COLUMNS}, last_seen) VALUES ($1, $2, $3, $4, $5, {CLOCK}) \
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, \
             started_at = excluded.started_at, stopped = excluded.stopped, \
             serving = excluded.serving, last_seen = excluded.last_seen"
        );
        Self::execute(&mut *client, &sql, &node_values(node))?;
        client
            .execute(
                &format!("DELETE FROM nodes WHERE last_seen < {CLOCK} - $1"),
                &[&FORGET_NODES_AFTER],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let sql = format!(
            "SELECT {NODE_COLUMNS}, last_seen, {CLOCK} - last_seen FROM nodes ORDER BY name"
        );
        Self::query(&mut *self.client()?, &sql, &vec![])?
            .into_iter()
            .map(node_from)
            .collect()
    }

    fn peer(&self, tunnel: &str, id: i64) -> Result<Option<PeerRecord>> {
        let sql = format!("SELECT {PEER_COLUMNS} FROM peers WHERE tunnel = $1 AND id = $2");
        Self::query(
            &mut *self.client()?,
            &sql,
            &vec![text(tunnel), Value::Int(Some(id))],
        )?
        .into_iter()
        .next()
        .map(peer_from)
        .transpose()
    }

    fn exclusively(&self, tunnel: &str, f: &mut dyn FnMut()) -> Result<()> {
        // A transaction's lock, on a connection of its own, held while `f` works on
        // others: it ends with that transaction however it ends (committed, rolled back
        // when dropped, or the connection lost), so it can never outlive this call.
        let mut client = self.client()?;
        let mut lock = client.transaction().map_err(backend)?;
        lock.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&TUNNEL_LOCKS, &tunnel],
        )
        .map_err(backend)?;
        f();
        if let Err(e) = lock.commit() {
            // `f`'s work is committed (or not) on its own; the lock is gone either way.
            tracing::warn!(tunnel, error = %e, "releasing a tunnel's write lock");
        }
        Ok(())
    }

    fn reachable(&self) -> Result<()> {
        self.client()?.simple_query("SELECT 1").map_err(backend)?;
        Ok(())
    }

    fn watch(&self, on: OnAnnounced) -> Result<Option<Watch>> {
        postgres_watch::spawn(self.config.clone(), on).map(Some)
    }
}
