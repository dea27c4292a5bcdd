//! wireguard-go clients, each a foreground child process in a namespace of the test.

use crate::cmd::{self, wait_for};
use crate::names::unique;
use crate::netns::Netns;
use crate::wg::{Keypair, socket_path};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// How a client reaches one peer (in these tests: the gateway).
#[derive(Debug, Clone)]
pub struct PeerSetting {
    pub public_key: String,
    /// "ip:port", or `None` to wait for the peer to call.
    pub endpoint: Option<String>,
    pub allowed_ips: Vec<String>,
    pub preshared_key: Option<String>,
}

/// `wireguard-go -f <iface>` running in a namespace, configured with `wg set`. Dropping
/// it stops the process (SIGTERM, then SIGKILL) and removes its UAPI socket.
#[derive(Debug)]
pub struct WgGoClient {
    pub iface: String,
    pub keys: Keypair,
    pub listen_port: u16,
    ns_name: String,
    child: Child,
    dir: TempDir,
}

impl WgGoClient {
    /// Starts wireguard-go in `ns`, gives it `keys`, `listen_port` and `peer`, adds
    /// `addresses` (with prefix) to its interface and sets it up.
    pub fn start(
        ns: &Netns,
        keys: Keypair,
        listen_port: u16,
        addresses: &[String],
        peer: &PeerSetting,
    ) -> Self {
        let iface = unique("wgc");
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("wireguard-go.log");
        let log_file = fs::File::create(&log).expect("log file");
        let child = ns
            .command(&["wireguard-go", "-f", &iface])
            .env("LOG_LEVEL", "error")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("starting wireguard-go");
        let mut client = WgGoClient {
            iface,
            keys,
            listen_port,
            ns_name: ns.name().to_owned(),
            child,
            dir,
        };
        client.wait_ready();

        let key_file = client.write_secret("private.key", &client.keys.private);
        let port = listen_port.to_string();
        let allowed = peer.allowed_ips.join(",");
        let mut args = vec![
            "wg",
            "set",
            &client.iface,
            "private-key",
            key_file.to_str().expect("utf-8 path"),
            "listen-port",
            &port,
            "peer",
            &peer.public_key,
            "allowed-ips",
            &allowed,
            "persistent-keepalive",
            "0",
        ];
        let psk_file;
        if let Some(psk) = &peer.preshared_key {
            psk_file = client.write_secret("psk", psk);
            args.extend(["preshared-key", psk_file.to_str().expect("utf-8 path")]);
        }
        if let Some(endpoint) = &peer.endpoint {
            args.extend(["endpoint", endpoint.as_str()]);
        }
        ns.run(&args);
        for addr in addresses {
            ns.run(&["ip", "addr", "add", addr, "dev", &client.iface, "nodad"]);
        }
        ns.run(&["ip", "link", "set", &client.iface, "up"]);
        client
    }

    fn wait_ready(&mut self) {
        let socket = socket_path(&self.iface);
        let ready = wait_for(Duration::from_secs(10), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "wireguard-go for {} exited with {status}:\n{}",
                    self.iface,
                    self.log()
                );
            }
            socket.exists().then_some(())
        });
        assert!(
            ready.is_some(),
            "wireguard-go did not create {} within 10 s:\n{}",
            socket.display(),
            self.log()
        );
    }

    fn write_secret(&self, name: &str, value: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, format!("{value}\n")).expect("writing key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    fn wg_command(&self, args: &[&str]) -> Command {
        cmd::wg_in(&self.ns_name, args)
    }

    /// `wg <args>` for this client's namespace; panics on failure.
    pub fn wg(&self, args: &[&str]) -> String {
        cmd::run_cmd(&mut self.wg_command(args), None, cmd::TIMEOUT)
    }

    /// Moves the client to another UDP port (`wg set <iface> listen-port <port>`).
    pub fn set_listen_port(&mut self, port: u16) {
        self.wg(&["set", &self.iface, "listen-port", &port.to_string()]);
        self.listen_port = port;
    }

    /// When the client last completed a handshake with `peer` (0: never).
    pub fn latest_handshake(&self, peer: &str) -> u64 {
        let out = self.wg(&["show", &self.iface, "latest-handshakes"]);
        out.lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(key, _)| *key == peer)
            .and_then(|(_, time)| time.trim().parse().ok())
            .unwrap_or_else(|| panic!("peer {peer} missing from latest-handshakes:\n{out}"))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("wireguard-go.log")).unwrap_or_default()
    }
}

impl Drop for WgGoClient {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let show = cmd::exec(
                &mut self.wg_command(&["show", &self.iface]),
                None,
                Duration::from_secs(3),
            )
            .map(|o| o.stdout)
            .unwrap_or_else(|e| e);
            eprintln!(
                "=== wireguard-go client {} (netns {}) ===\n{show}--- log ---\n{}",
                self.iface,
                self.ns_name,
                self.log()
            );
        }
        cmd::signal(self.child.id(), "TERM");
        let exited = wait_for(Duration::from_secs(3), || {
            self.child.try_wait().ok().flatten()
        });
        if exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_file(socket_path(&self.iface));
    }
}
