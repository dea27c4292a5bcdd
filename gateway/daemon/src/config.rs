//! The `wiregate serve` configuration file (TOML), and the embedded default used when
//! none is given. Parsing turns it into validated [`TunnelConfig`]s; anything wrong is
//! reported with the file, the tunnel and the field, before anything is started.

use crate::keyfile;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use wiregate_control::metrics::PeerSeries;
use wiregate_core::config::DEFAULT_MTU;
use wiregate_core::{ConfigError, PeerConfig, PresharedKey, PrivateKey, PublicKey, TunnelConfig};

/// Where the store, key files and the API token live unless the file or `--state-dir`
/// says otherwise: `/var/lib/wiregate`, or `%ProgramData%\wiregate` on Windows (created
/// there for SYSTEM and Administrators only; see `private_files.rs`).
pub fn default_state_dir() -> PathBuf {
    #[cfg(windows)]
    {
        let data = std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
        PathBuf::from(data).join("wiregate")
    }
    #[cfg(not(windows))]
    PathBuf::from("/var/lib/wiregate")
}
/// The API listens on loopback unless told otherwise.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";
/// Metrics on loopback, on the port WireGuard exporters use, unless told otherwise.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9586";
/// Seconds between full reconcile passes (expiry, drift repair).
pub const DEFAULT_RECONCILE_INTERVAL: u64 = 10;

/// Used when `serve` is given no `--config`: one tunnel, a key generated on first start.
pub const EMBEDDED_DEFAULT: &str = r#"
[[tunnel]]
name = "wg0"
listen_port = 51820
addresses = ["10.99.0.1/24", "fd99::1/64"]
pools = ["10.99.0.0/24", "fd99::/64"]
"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    state_dir: Option<PathBuf>,
    shards: Option<usize>,
    reconcile_interval: Option<u64>,
    #[serde(default)]
    api: FileApi,
    #[serde(default)]
    metrics: FileMetrics,
    #[serde(default)]
    windows: FileWindows,
    #[serde(default)]
    store: FileStore,
    #[serde(default)]
    node: FileNode,
    #[serde(default, rename = "tunnel")]
    tunnels: Vec<FileTunnel>,
}

/// This gateway as a node of the fleet.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    /// Default: the host name.
    name: Option<String>,
}

/// Where the store is: SQLite in the state directory unless a PostgreSQL URL is given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    /// `postgres://user:password@host/db` or `host=... user=... dbname=...`.
    url: Option<String>,
    /// A file holding the URL, so that no password sits in this file.
    url_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApi {
    listen: Option<SocketAddr>,
    /// Admin tokens; without any, one is generated into `<state_dir>/api-token`.
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    read_only_tokens: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    /// Default true.
    enabled: Option<bool>,
    listen: Option<SocketAddr>,
    /// "all" (default), "none", or "top:N".
    peer_series: Option<String>,
}

/// The windows-nt backend's DLL (read on every system, used on Windows).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWindows {
    wireguard_dll: Option<PathBuf>,
    wireguard_dll_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTunnel {
    name: String,
    listen_port: u16,
    private_key: Option<String>,
    private_key_file: Option<PathBuf>,
    #[serde(default)]
    addresses: Vec<IpNet>,
    mtu: Option<u16>,
    #[serde(default)]
    fwmark: u32,
    #[serde(default)]
    pools: Vec<IpNet>,
    public_endpoint: Option<String>,
    #[serde(default)]
    dns: Vec<String>,
    #[serde(default)]
    keep_private_keys: bool,
    /// Networks behind peers that API peers may route (besides pools and own networks).
    #[serde(default)]
    routable: Vec<IpNet>,
    /// The data plane: "userspace" (the default) or "linux-kernel".
    backend: Option<String>,
    #[serde(default, rename = "peer")]
    peers: Vec<FilePeer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePeer {
    public_key: String,
    preshared_key: Option<String>,
    #[serde(default)]
    allowed_ips: Vec<IpNet>,
    endpoint: Option<SocketAddr>,
    persistent_keepalive: Option<u16>,
}

/// The whole configuration, resolved: keys loaded or generated, every tunnel validated.
#[derive(Debug)]
pub struct Config {
    pub state_dir: PathBuf,
    pub shards: Option<usize>,
    pub reconcile_interval: u64,
    pub api: ApiConfig,
    pub metrics: MetricsConfig,
    /// Checked everywhere, used by the windows-nt backend.
    #[cfg_attr(not(windows), allow(dead_code))]
    pub windows: WindowsConfig,
    pub store: StoreConfig,
    /// This gateway's node name (`[node] name`, else the host name).
    pub node: String,
    pub tunnels: Vec<ConfiguredTunnel>,
}

/// `[node] name`, else the host name; checked.
fn node_name(file: FileNode, origin: &str) -> Result<String, Error> {
    let (name, whence) = match file.name {
        Some(name) => (name, "[node] name"),
        None => (
            gethostname::gethostname().to_string_lossy().into_owned(),
            "the host name (the default [node] name)",
        ),
    };
    if wiregate_control::valid_node_name(&name) {
        Ok(name)
    } else {
        Err(Error::Parse {
            path: origin.to_owned(),
            message: format!(
                "{whence} {name:?} is not a node name: 1-63 letters, digits, '.', '-' or '_'"
            ),
        })
    }
}

/// The store engine.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `<state_dir>/wiregate.db`.
    Sqlite,
    /// A PostgreSQL URL (never printed: it may carry a password).
    Postgres(String),
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite => f.write_str("Sqlite"),
            Self::Postgres(_) => f.write_str("Postgres(<url>)"),
        }
    }
}

/// The environment variable that may hold the store's URL.
pub const STORE_URL_ENV: &str = "WIREGATE_STORE_URL";

impl StoreConfig {
    /// `url`, else the contents of `url_file`, else `WIREGATE_STORE_URL`, else SQLite.
    fn from_file(file: FileStore, origin: &str) -> Result<Self, Error> {
        let fail = |message: String| Error::Parse {
            path: origin.to_owned(),
            message,
        };
        let url = match (file.url, file.url_file) {
            (Some(_), Some(_)) => {
                return Err(fail("[store]: give url or url_file, not both".into()));
            }
            (Some(url), None) => Some(url),
            (None, Some(path)) => Some(
                keyfile::read_small(&path)
                    .map_err(|e| fail(format!("[store] url_file {}: {e}", path.display())))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => std::env::var(STORE_URL_ENV).ok(),
        };
        match url.filter(|u| !u.is_empty()) {
            None => Ok(Self::Sqlite),
            Some(url)
                if url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.contains('=') =>
            {
                Ok(Self::Postgres(url))
            }
            Some(_) => Err(fail(
                "[store] url must be a PostgreSQL URL (postgres://...) or key=value settings"
                    .into(),
            )),
        }
    }
}

#[derive(Debug, Clone)]
#[cfg_attr(not(windows), allow(dead_code))]
pub struct WindowsConfig {
    /// Default: `wireguard.dll` beside the wiregate executable.
    pub wireguard_dll: PathBuf,
    /// The SHA-256 (hex) the DLL must have, if pinned.
    pub wireguard_dll_sha256: Option<String>,
}

impl WindowsConfig {
    fn from_file(file: FileWindows) -> Self {
        let beside_us = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("wireguard.dll")))
            .unwrap_or_else(|| PathBuf::from("wireguard.dll"));
        Self {
            wireguard_dll: file.wireguard_dll.unwrap_or(beside_us),
            wireguard_dll_sha256: file.wireguard_dll_sha256,
        }
    }
}

#[derive(Debug)]
pub struct MetricsConfig {
    /// `None`: no metrics listener.
    pub listen: Option<SocketAddr>,
    pub peer_series: PeerSeries,
}

#[derive(Debug)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub tokens: Vec<String>,
    pub read_only_tokens: Vec<String>,
}

/// A tunnel of the file: its data-plane configuration and its control-plane settings.
#[derive(Debug)]
pub struct ConfiguredTunnel {
    pub config: TunnelConfig,
    pub pools: Vec<IpNet>,
    pub public_endpoint: Option<wiregate_core::Endpoint>,
    pub dns: Vec<wiregate_core::Host>,
    pub keep_private_keys: bool,
    pub routable: Vec<IpNet>,
    /// As the file names it; `None`: not named (the default on import, the stored
    /// choice afterwards).
    pub backend: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: tunnel {tunnel}: {message}")]
    Tunnel {
        path: String,
        tunnel: String,
        message: String,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        source: Box<ConfigError>,
    },
    #[error("{0}")]
    Key(#[from] keyfile::Error),
}

impl Config {
    pub fn load(path: Option<&Path>, state_dir: Option<&Path>) -> Result<Self, Error> {
        let (origin, text) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::Parse {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                (path.display().to_string(), text)
            }
            None => (
                "embedded default configuration".to_owned(),
                EMBEDDED_DEFAULT.to_owned(),
            ),
        };
        Self::parse(&origin, &text, state_dir)
    }

    /// Parses `text`; `origin` names it in errors. `state_dir` overrides the file's.
    pub fn parse(origin: &str, text: &str, state_dir: Option<&Path>) -> Result<Self, Error> {
        let file: FileConfig = toml::from_str(text).map_err(|e| Error::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        let state_dir = state_dir
            .map(Path::to_path_buf)
            .or(file.state_dir)
            .unwrap_or_else(default_state_dir);
        if let Some(shards) = file.shards {
            crate::shards(Some(shards)).map_err(|message| Error::Parse {
                path: origin.to_owned(),
                message,
            })?;
        }
        let mut names = HashSet::new();
        let mut ports = HashSet::new();
        let mut tunnels = Vec::with_capacity(file.tunnels.len());
        let mut to_write: Vec<(PathBuf, PrivateKey)> = Vec::new();
        for t in file.tunnels {
            let fail = |message: String| Error::Tunnel {
                path: origin.to_owned(),
                tunnel: t.name.clone(),
                message,
            };
            if !names.insert(t.name.clone()) {
                return Err(fail("the name is used by two tunnels".into()));
            }
            if t.listen_port != 0 && !ports.insert(t.listen_port) {
                return Err(fail(format!(
                    "listen_port {} is used by two tunnels",
                    t.listen_port
                )));
            }
            let private_key = match (&t.private_key, &t.private_key_file) {
                (Some(_), Some(_)) => {
                    return Err(fail(
                        "give private_key or private_key_file, not both".into(),
                    ));
                }
                (Some(inline), None) => PrivateKey::from_base64(inline)
                    .map_err(|e| fail(format!("private_key: {e}")))?,
                (None, Some(file)) => keyfile::load(file)?,
                (None, None) => {
                    if !wiregate_core::config::valid_interface_name(&t.name) {
                        return Err(Error::Invalid {
                            path: origin.to_owned(),
                            source: Box::new(ConfigError::BadName(t.name.clone())),
                        });
                    }
                    let path = state_dir.join(format!("{}.key", t.name));
                    if path.exists() {
                        keyfile::load(&path)?
                    } else {
                        // Kept in memory until the whole file has passed its checks, so a
                        // refused file leaves no key behind.
                        let key = PrivateKey::generate();
                        to_write.push((path, key.clone()));
                        key
                    }
                }
            };
            let mut peers = Vec::with_capacity(t.peers.len());
            for p in &t.peers {
                let public_key = PublicKey::from_base64(&p.public_key)
                    .and_then(PublicKey::usable)
                    .map_err(|e| fail(format!("peer public_key {:?}: {e}", p.public_key)))?;
                let preshared_key = p
                    .preshared_key
                    .as_deref()
                    .map(PresharedKey::from_base64)
                    .transpose()
                    .map_err(|e| fail(format!("peer {public_key}: preshared_key: {e}")))?;
                peers.push(PeerConfig {
                    public_key,
                    preshared_key,
                    allowed_ips: p.allowed_ips.clone(),
                    endpoint: p.endpoint,
                    persistent_keepalive: p.persistent_keepalive.filter(|&k| k != 0),
                });
            }
            let tunnel = TunnelConfig {
                name: t.name.clone(),
                listen_port: t.listen_port,
                private_key,
                addresses: t.addresses.clone(),
                mtu: t.mtu.unwrap_or(DEFAULT_MTU),
                fwmark: t.fwmark,
                peers,
            };
            tunnel.validate().map_err(|source| Error::Invalid {
                path: origin.to_owned(),
                source: Box::new(source),
            })?;
            let backend = t.backend.clone();
            if let Some(kind) = &backend
                && !wiregate_core::backend::KINDS.contains(&kind.as_str())
            {
                return Err(fail(format!(
                    "backend {kind:?} is not one of {:?}",
                    wiregate_core::backend::KINDS
                )));
            }
            tunnels.push(ConfiguredTunnel {
                config: tunnel,
                pools: t.pools.iter().map(IpNet::trunc).collect(),
                public_endpoint: t
                    .public_endpoint
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| fail(format!("public_endpoint: {e}")))?,
                dns: t
                    .dns
                    .iter()
                    .map(|text| text.parse())
                    .collect::<Result<_, _>>()
                    .map_err(|e| fail(format!("dns: {e}")))?,
                keep_private_keys: t.keep_private_keys,
                routable: t.routable.clone(),
                backend,
            });
        }
        for (path, key) in &to_write {
            keyfile::create(path, key)?;
        }
        if file.reconcile_interval == Some(0) {
            return Err(Error::Parse {
                path: origin.to_owned(),
                message: "reconcile_interval must be at least 1 (seconds)".into(),
            });
        }
        let api = ApiConfig {
            listen: file
                .api
                .listen
                .unwrap_or_else(|| DEFAULT_API_LISTEN.parse().expect("valid default")),
            tokens: file.api.tokens,
            read_only_tokens: file.api.read_only_tokens,
        };
        if api
            .tokens
            .iter()
            .chain(&api.read_only_tokens)
            .any(|t| t.len() < 16)
        {
            return Err(Error::Parse {
                path: origin.to_owned(),
                message: "API tokens must be at least 16 characters".into(),
            });
        }
        let metrics = MetricsConfig {
            listen: file.metrics.enabled.unwrap_or(true).then(|| {
                file.metrics
                    .listen
                    .unwrap_or_else(|| DEFAULT_METRICS_LISTEN.parse().expect("valid default"))
            }),
            peer_series: match &file.metrics.peer_series {
                Some(text) => text.parse().map_err(|message| Error::Parse {
                    path: origin.to_owned(),
                    message: format!("[metrics] {message}"),
                })?,
                None => PeerSeries::default(),
            },
        };
        if metrics.listen == Some(api.listen) {
            return Err(Error::Parse {
                path: origin.to_owned(),
                message: format!(
                    "[metrics] listen {} is the API's address; give it one of its own",
                    api.listen
                ),
            });
        }
        Ok(Config {
            state_dir,
            shards: file.shards,
            reconcile_interval: file
                .reconcile_interval
                .unwrap_or(DEFAULT_RECONCILE_INTERVAL),
            api,
            metrics,
            windows: WindowsConfig::from_file(file.windows),
            store: StoreConfig::from_file(file.store, origin)?,
            node: node_name(file.node, origin)?,
            tunnels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        PrivateKey::generate().public_key().to_base64()
    }

    fn parse(text: &str) -> Result<Config, Error> {
        let dir = tempfile::tempdir().unwrap();
        Config::parse("test.toml", text, Some(dir.path()))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_full_configuration() {
        let text = format!(
            r#"
            shards = 2
            [[tunnel]]
            name = "wg0"
            listen_port = 51820
            private_key = "{}"
            addresses = ["10.0.0.1/24", "fd00::1/64"]
            mtu = 1380
            [[tunnel.peer]]
            public_key = "{}"
            allowed_ips = ["10.0.0.2/32", "fd00::2/128"]
            endpoint = "192.0.2.7:51820"
            persistent_keepalive = 25
            [[tunnel]]
            name = "wg1"
            listen_port = 51821
            "#,
            PrivateKey::generate().expose_base64(),
            key()
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.shards, Some(2));
        assert_eq!(config.tunnels.len(), 2);
        let wg0 = &config.tunnels[0].config;
        assert_eq!(wg0.mtu, 1380);
        assert_eq!(wg0.peers[0].persistent_keepalive, Some(25));
        assert_eq!(config.tunnels[1].config.mtu, DEFAULT_MTU);
    }

    #[test]
    fn metrics_default_on_loopback_and_are_checked() {
        let config = parse("").unwrap();
        assert_eq!(
            config.metrics.listen,
            Some(DEFAULT_METRICS_LISTEN.parse().unwrap())
        );
        assert_eq!(config.metrics.peer_series, PeerSeries::All);
        let config = parse("[metrics]\nenabled = false").unwrap();
        assert_eq!(config.metrics.listen, None);
        let config = parse("[metrics]\npeer_series = \"top:50\"").unwrap();
        assert_eq!(config.metrics.peer_series, PeerSeries::Top(50));
        assert!(error("[metrics]\npeer_series = \"some\"").contains("peer_series \"some\""));
        assert!(
            error("[api]\nlisten = \"127.0.0.1:9586\"").contains("is the API's address"),
            "the default metrics address taken by the API"
        );
        assert!(error("[metrics]\nport = 1").contains("unknown field `port`"));
    }

    #[test]
    fn the_embedded_default_is_valid_and_generates_a_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = Config::parse("default", EMBEDDED_DEFAULT, Some(dir.path())).unwrap();
        let second = Config::parse("default", EMBEDDED_DEFAULT, Some(dir.path())).unwrap();
        assert_eq!(
            first.tunnels[0].config.private_key,
            second.tunnels[0].config.private_key
        );
    }

    #[test]
    fn a_refused_file_generates_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\n[[tunnel]]\nname = \"wg1\"\nlisten_port = 1";
        assert!(Config::parse("t", text, Some(dir.path())).is_err());
        assert!(!dir.path().join("wg0.key").exists());
    }

    #[test]
    fn reports_each_mistake_clearly() {
        let cases = [
            (
                "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\nbogus = 1",
                "unknown field `bogus`",
            ),
            (
                "shards = 0\n[[tunnel]]\nname = \"wg0\"\nlisten_port = 1",
                "shards must be between 1 and 64, not 0",
            ),
            (
                "[[tunnel]]\nname = \"wg0\"\nlisten_port = 99999",
                "listen_port",
            ),
            (
                "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\nprivate_key = \"short\"",
                "private_key",
            ),
            (
                "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\n[[tunnel]]\nname = \"wg0\"\nlisten_port = 2",
                "used by two tunnels",
            ),
            (
                "[[tunnel]]\nname = \"a\"\nlisten_port = 1\n[[tunnel]]\nname = \"b\"\nlisten_port = 1",
                "listen_port 1 is used by two",
            ),
            (
                "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\naddresses = [\"10.0.0.1/40\"]",
                "addresses",
            ),
            (
                "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\n[[tunnel.peer]]\npublic_key = \"nope\"",
                "public_key \"nope\"",
            ),
            (
                "[[tunnel]]\nname = \"a/b\"\nlisten_port = 1",
                "not a valid interface name",
            ),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(message.contains(expected), "{text:?}: {message}");
        }
        let overlap = format!(
            "[[tunnel]]\nname = \"wg0\"\nlisten_port = 1\n[[tunnel.peer]]\npublic_key = \"{}\"\nallowed_ips = [\"10.0.0.0/24\"]\n[[tunnel.peer]]\npublic_key = \"{}\"\nallowed_ips = [\"10.0.0.5/32\"]",
            key(),
            key()
        );
        assert!(error(&overlap).contains("overlaps"), "{}", error(&overlap));
    }

    #[test]
    fn client_facing_fields_accept_nothing_outside_their_syntax() {
        let tunnel =
            |field: &str| format!("[[tunnel]]\nname = \"wg5\"\nlisten_port = 1\n{field}\n");
        for (field, name) in [
            (r#"dns = ["10.61.0.1\nPostUp = touch /tmp/pwned"]"#, "dns"),
            (r#"dns = ["corp.example #"]"#, "dns"),
            (
                r#"public_endpoint = "vpn.example.net:51601\nPreUp = id""#,
                "public_endpoint",
            ),
            (r#"public_endpoint = "vpn.example.net""#, "public_endpoint"),
        ] {
            let message = error(&tunnel(field));
            assert!(
                message.contains("tunnel wg5") && message.contains(&format!("{name}: ")),
                "{field}: {message}"
            );
        }
        let fine = parse(&tunnel(
            "dns = [\"10.8.0.1\", \"corp.example\"]\npublic_endpoint = \"[2001:db8::1]:51820\"",
        ))
        .unwrap();
        assert_eq!(fine.tunnels[0].dns.len(), 2);
        assert_eq!(
            fine.tunnels[0]
                .public_endpoint
                .as_ref()
                .unwrap()
                .to_string(),
            "[2001:db8::1]:51820"
        );
    }

    #[test]
    fn low_order_peer_keys_are_refused_naming_the_tunnel_and_peer() {
        for bytes in wiregate_core::low_order::low_order_encodings() {
            let low = wiregate_core::PublicKey(bytes).to_base64();
            let text = format!(
                "[[tunnel]]\nname = \"wg7\"\nlisten_port = 1\n[[tunnel.peer]]\npublic_key = \"{}\"\n[[tunnel.peer]]\npublic_key = \"{low}\"",
                key()
            );
            let message = error(&text);
            for expected in [
                "test.toml",
                "tunnel wg7",
                &format!("peer public_key \"{low}\""),
                "low-order point",
            ] {
                assert!(message.contains(expected), "{expected:?} not in: {message}");
            }
        }
    }
}
