//! The control plane the API target sends its requests to.

use wiregate_control::{ControlPlane, Settings, StoreLocation};
use wiregate_dataplane::UserspaceFactory;

pub const ADMIN_TOKEN: &str = "fuzz-admin-token";

/// A control plane over a fresh SQLite store (in memory-backed `/dev/shm` where there is
/// one: the store syncs every write), holding tunnel `wg0` and its peer 1.
pub struct Gateway {
    pub router: axum::Router,
    _plane: ControlPlane,
    _dir: tempfile::TempDir,
}

impl Gateway {
    pub fn open() -> Gateway {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temporary directory");
        let plane = ControlPlane::open(Settings {
            store: StoreLocation::Sqlite(dir.path().join("wiregate.db")),
            node: "fuzz".into(),
            backends: Box::new(UserspaceFactory { shards: 2 }),
            admin_tokens: vec![ADMIN_TOKEN.into()],
            read_only_tokens: Vec::new(),
        })
        .expect("the control plane opens");
        let control = plane.control();
        let tunnel = serde_json::from_value(serde_json::json!({
            "name": "wg0", "listen_port": 0,
            "addresses": ["10.7.0.1/24", "fd07::1/64"],
            "pools": ["10.7.0.0/24", "fd07::/64"]
        }))
        .expect("a tunnel");
        control.create_tunnel(tunnel).expect("wg0 is created");
        let peer = serde_json::from_value(serde_json::json!({"name": "first"})).expect("a peer");
        control
            .create_peers("wg0", vec![peer])
            .expect("peer 1 is created");
        Gateway {
            router: plane.api(),
            _plane: plane,
            _dir: dir,
        }
    }
}
