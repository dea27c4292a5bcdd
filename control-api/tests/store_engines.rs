//! The store's guarantees, the same for both engines: SQLite in a temporary file, and
//! PostgreSQL in the throwaway cluster that tests/run starts (its settings in
//! `WIREGATE_TEST_POSTGRES`; each test gets a database of its own). Records round-trip
//! exactly and survive reopening; a change is all or nothing; deleting a tunnel deletes its
//! peers; a tunnel that stops keeping private keys has none; writers racing on one tunnel
//! never both commit against one revision; a database newer than this wiregate is
//! refused. (Linux: the cluster is a local one of the test command.)
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicUsize, Ordering};
use wiregate_control::model::{NodeRecord, PeerRecord, Placement, TunnelRecord, now};
use wiregate_control::store::postgres::PostgresStore;
use wiregate_control::store::sqlite::SqliteStore;
use wiregate_control::store::{Change, Committed, Snapshot, Store, StoreError};
use wiregate_core::{PresharedKey, PrivateKey};

/// One engine: opens (again) the same database, and makes it claim a newer schema.
trait Engine {
    fn open(&self) -> Result<Box<dyn Store>, StoreError>;
    fn make_newer(&self);
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Engine for Sqlite {
    fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(SqliteStore::open(&self.path)?))
    }
    fn make_newer(&self) {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
}

struct Postgres {
    url: String,
}

/// The cluster tests/run started, or a clear failure.
fn cluster() -> String {
    std::env::var("WIREGATE_TEST_POSTGRES").expect(
        "WIREGATE_TEST_POSTGRES is not set: run the tests with tests/run, which starts a PostgreSQL cluster for them",
    )
}

impl Postgres {
    /// A fresh database in the cluster.
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let admin = cluster();
        let name = format!(
            "wgtest_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to the test cluster ({admin}): {e}"));
        // One statement each: a batch is a transaction, which these may not run in.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Self {
            url: format!("{admin} dbname={name}"),
        }
    }
}

impl Engine for Postgres {
    fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(PostgresStore::open(&self.url)?))
    }
    fn make_newer(&self) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client
            .batch_execute("UPDATE wiregate_schema SET version = 99")
            .unwrap();
    }
}

fn engines() -> Vec<(&'static str, Box<dyn Engine>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wiregate.db");
    vec![
        ("sqlite", Box::new(Sqlite { _dir: dir, path })),
        ("postgres", Box::new(Postgres::new())),
    ]
}

fn tunnel(name: &str) -> TunnelRecord {
    TunnelRecord {
        name: name.into(),
        listen_port: 51820,
        private_key: PrivateKey::generate(),
        addresses: vec!["10.8.0.1/24".parse().unwrap()],
        mtu: 1420,
        pools: vec!["10.8.0.0/24".parse().unwrap(), "fd08::/64".parse().unwrap()],
        public_endpoint: Some("vpn.example.com:51820".parse().unwrap()),
        dns: vec!["10.8.0.1".parse().unwrap(), "corp.example".parse().unwrap()],
        keep_private_keys: true,
        backend: "userspace".into(),
        created_at: now(),
        updated_at: now(),
        fwmark: 0x1234,
        routable: vec!["192.168.50.0/24".parse().unwrap()],
        placement: Placement::OneOf(vec!["gw-a".into(), "gw-b".into()]),
    }
}

fn peer(tunnel: &str, n: u8) -> PeerRecord {
    let key = PrivateKey::generate();
    PeerRecord {
        id: 0,
        tunnel: tunnel.into(),
        name: format!("peer{n}"),
        tags: vec!["a".into(), "b c".into()],
        public_key: key.public_key(),
        preshared_key: n.is_multiple_of(2).then(PresharedKey::generate),
        private_key: Some(key),
        addresses: vec![format!("10.8.0.{}/32", n + 2).parse().unwrap()],
        routes: vec![format!("192.168.50.{}/32", n).parse().unwrap()],
        endpoint: n
            .is_multiple_of(3)
            .then(|| "192.0.2.7:51820".parse().unwrap()),
        persistent_keepalive: (!n.is_multiple_of(2)).then_some(25),
        enabled: n != 1,
        expires_at: (n == 2).then_some(now() + 3600),
        created_at: now(),
        updated_at: now(),
    }
}

/// `peers` added to the tunnel as it is now.
fn add(store: &dyn Store, name: &str, peers: Vec<PeerRecord>) -> Result<Committed, StoreError> {
    let now = store.snapshot(name)?.expect("a stored tunnel");
    store.change(&Change {
        insert: peers,
        ..Change::to(&now)
    })
}

#[test]
fn records_round_trip_and_survive_reopening() {
    for (engine, e) in engines() {
        let store = e.open().unwrap();
        let t = tunnel("wg0");
        let first = store
            .insert_tunnel(&t, &(0..4).map(|n| peer("wg0", n)).collect::<Vec<_>>())
            .unwrap();
        let inserted = first.inserted;
        assert!(
            inserted.windows(2).all(|w| w[0].id < w[1].id),
            "{engine}: ids"
        );
        let mut changed = inserted[1].clone();
        changed.enabled = true;
        changed.routes.clear();
        let mut t2 = t.clone();
        t2.mtu = 1380;
        t2.public_endpoint = None;
        let before = store.snapshot("wg0").unwrap().unwrap();
        assert_eq!(before.revision, first.revision, "{engine}");
        let second = store
            .change(&Change {
                settings: Some(t2.clone()),
                update: vec![changed.clone()],
                delete: vec![inserted[0].id],
                ..Change::to(&before)
            })
            .unwrap();
        assert_ne!(second.revision, first.revision, "{engine}");
        drop(store);

        let store = e.open().unwrap();
        assert_eq!(store.tunnels().unwrap(), vec![t2.clone()], "{engine}");
        assert_eq!(store.tunnel("wg0").unwrap(), Some(t2.clone()), "{engine}");
        let mut expected = inserted.clone();
        expected[1] = changed;
        expected.remove(0);
        assert_eq!(
            store.snapshot("wg0").unwrap(),
            Some(Snapshot {
                tunnel: t2,
                revision: second.revision,
                peers: expected.clone()
            }),
            "{engine}"
        );
        assert_eq!(
            store.revision("wg0").unwrap(),
            Some(second.revision),
            "{engine}"
        );
        assert_eq!(
            store.peer("wg0", expected[1].id).unwrap().as_ref(),
            Some(&expected[1]),
            "{engine}"
        );
        assert_eq!(store.peer("wg0", inserted[0].id).unwrap(), None, "{engine}");
        assert_eq!(store.snapshot("nope").unwrap(), None, "{engine}");
    }
}

#[test]
fn changes_are_all_or_nothing_and_tunnels_take_their_peers() {
    for (engine, e) in engines() {
        let store = e.open().unwrap();
        store.insert_tunnel(&tunnel("wg0"), &[]).unwrap();
        let before = store.snapshot("wg0").unwrap().unwrap();
        let first = peer("wg0", 0);
        let mut batch: Vec<PeerRecord> = (1..50).map(|n| peer("wg0", n)).collect();
        batch.push(first.clone());
        batch.push(PeerRecord {
            name: "same key".into(),
            ..first
        });
        let error = store
            .change(&Change {
                insert: batch.clone(),
                settings: Some(TunnelRecord {
                    mtu: 1300,
                    ..before.tunnel.clone()
                }),
                ..Change::to(&before)
            })
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Conflict(_)),
            "{engine}: {error}"
        );
        assert_eq!(
            store.snapshot("wg0").unwrap().as_ref(),
            Some(&before),
            "{engine}: half a change stored"
        );
        assert!(
            matches!(
                store.insert_tunnel(&tunnel("wg0"), &[]),
                Err(StoreError::Conflict(_))
            ),
            "{engine}"
        );
        add(&*store, "wg0", batch[..10].to_vec()).unwrap();
        assert!(store.delete_tunnel("wg0").unwrap(), "{engine}");
        assert!(
            store.peers("wg0").unwrap().is_empty(),
            "{engine}: peers outlived their tunnel"
        );
        assert!(!store.delete_tunnel("wg0").unwrap(), "{engine}");
    }
}

#[test]
fn a_tunnel_that_stops_keeping_keys_has_none() {
    for (engine, e) in engines() {
        let store = e.open().unwrap();
        let mut t = tunnel("wg0");
        store
            .insert_tunnel(&t, &(0..3).map(|n| peer("wg0", n)).collect::<Vec<_>>())
            .unwrap();
        t.keep_private_keys = false;
        let now = store.snapshot("wg0").unwrap().unwrap();
        store
            .change(&Change {
                settings: Some(t),
                ..Change::to(&now)
            })
            .unwrap();
        let peers = e.open().unwrap().peers("wg0").unwrap();
        assert!(peers.iter().all(|p| p.private_key.is_none()), "{engine}");
    }
}

/// Writers with connections of their own (gateways sharing the database) allocate
/// addresses at the same moment, each the lowest one free in what it read: every
/// allocation validated against a revision someone else moved is refused and made again,
/// so all of them land and no address is given twice. A stale change never commits.
#[test]
fn concurrent_writers_never_both_commit_against_one_revision() {
    const WRITERS: usize = 4;
    const EACH: usize = 40;
    for (engine, e) in engines() {
        e.open()
            .unwrap()
            .insert_tunnel(&tunnel("wg0"), &[])
            .unwrap();
        let stale = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for w in 0..WRITERS {
                let store = e.open().unwrap();
                let stale = &stale;
                scope.spawn(move || {
                    for i in 0..EACH {
                        loop {
                            let now = store.snapshot("wg0").unwrap().unwrap();
                            let taken: Vec<u8> = now
                                .peers
                                .iter()
                                .map(|p| match p.addresses[0].addr() {
                                    std::net::IpAddr::V4(a) => a.octets()[3],
                                    std::net::IpAddr::V6(_) => unreachable!(),
                                })
                                .collect();
                            let free = (2..=254).find(|n| !taken.contains(n)).unwrap();
                            let mut p = peer("wg0", 0);
                            p.name = format!("w{w}-{i}");
                            p.addresses = vec![format!("10.8.0.{free}/32").parse().unwrap()];
                            p.routes.clear();
                            match store.change(&Change {
                                insert: vec![p],
                                ..Change::to(&now)
                            }) {
                                Ok(_) => break,
                                Err(StoreError::Stale(_)) => {
                                    stale.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                });
            }
        });
        let peers = e.open().unwrap().peers("wg0").unwrap();
        let mut addresses: Vec<_> = peers.iter().map(|p| p.addresses[0]).collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(peers.len(), WRITERS * EACH, "{engine}");
        assert_eq!(
            addresses.len(),
            WRITERS * EACH,
            "{engine}: an address given twice"
        );
        eprintln!(
            "{engine}: {} allocations, {} refused as stale and made again",
            WRITERS * EACH,
            stale.load(Ordering::Relaxed)
        );
    }
}

/// Nodes report by the store's clock; a report replaces the last; a node that says it
/// stopped is listed as such.
#[test]
fn nodes_report_and_are_listed() {
    for (engine, e) in engines() {
        let store = e.open().unwrap();
        let mut node = NodeRecord {
            name: "gw-b".into(),
            version: "1.2.3".into(),
            started_at: now() - 5,
            last_seen: 0,
            seen_ago: 0,
            stopped: false,
            serving: vec!["wg0".into()],
        };
        store.heartbeat(&node).unwrap();
        store
            .heartbeat(&NodeRecord {
                name: "gw-a".into(),
                ..node.clone()
            })
            .unwrap();
        node.serving = vec!["wg0".into(), "wg1".into()];
        node.stopped = true;
        store.heartbeat(&node).unwrap();
        let nodes = e.open().unwrap().nodes().unwrap();
        assert_eq!(nodes.len(), 2, "{engine}: {nodes:?}");
        assert_eq!(nodes[0].name, "gw-a", "{engine}");
        let b = &nodes[1];
        assert_eq!(
            (&b.version, b.started_at, b.stopped, &b.serving),
            (&node.version, node.started_at, true, &node.serving),
            "{engine}"
        );
        assert!((now() - b.last_seen).abs() <= 2, "{engine}: {b:?}");
        assert!((0..=2).contains(&b.seen_ago), "{engine}: {b:?}");
    }
}

/// A lease goes to one node at a time: renewed by its holder (same epoch), refused to
/// others while it runs, taken by another once released or run out (the epoch grows).
#[test]
fn leases_go_to_one_node_at_a_time() {
    use std::time::Duration;
    for (engine, e) in engines() {
        let store = e.open().unwrap();
        store.insert_tunnel(&tunnel("wg0"), &[]).unwrap();
        let long = Duration::from_secs(30);
        let lease = |node: &str, epoch| {
            Some(wiregate_control::store::Lease {
                node: node.into(),
                epoch,
            })
        };
        assert_eq!(
            store.claim("wg0", "gw-a", long).unwrap(),
            lease("gw-a", 1),
            "{engine}"
        );
        assert_eq!(
            store.claim("wg0", "gw-a", long).unwrap(),
            lease("gw-a", 1),
            "{engine}"
        );
        assert_eq!(
            store.claim("wg0", "gw-b", long).unwrap(),
            lease("gw-a", 1),
            "{engine}"
        );
        store.release("wg0", "gw-b").unwrap();
        assert_eq!(
            store.claim("wg0", "gw-b", long).unwrap(),
            lease("gw-a", 1),
            "{engine}"
        );
        store.release("wg0", "gw-a").unwrap();
        assert_eq!(
            store
                .claim("wg0", "gw-b", Duration::from_millis(200))
                .unwrap(),
            lease("gw-b", 2),
            "{engine}"
        );
        assert_eq!(
            store.claim("wg0", "gw-a", long).unwrap(),
            lease("gw-b", 2),
            "{engine}"
        );
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            store.claim("wg0", "gw-a", long).unwrap(),
            lease("gw-a", 3),
            "{engine}"
        );
        assert_eq!(store.claim("nope", "gw-a", long).unwrap(), None, "{engine}");
        store.delete_tunnel("wg0").unwrap();
        assert_eq!(
            store.claim("wg0", "gw-a", long).unwrap(),
            None,
            "{engine}: outlived its tunnel"
        );
    }
}

#[test]
fn a_newer_database_is_refused() {
    for (engine, e) in engines() {
        drop(e.open().unwrap());
        e.make_newer();
        let error = e.open().unwrap_err().to_string();
        assert!(
            error.contains("newer than this wiregate"),
            "{engine}: {error}"
        );
    }
}
