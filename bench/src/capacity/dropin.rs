//! The gateway under test: `wiregate -f --shards N <iface>`, wiregate's wireguard-go
//! drop-in, started in the gateway's namespace and configured over its UAPI socket, as
//! `wg` would. Its CPU, memory and TUN counters are read from /proc; its own counters
//! from the `stats=1` UAPI extension.

use super::procfs::{self, Link};
use super::topology::{self, Topology};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The port the gateway listens on, in its own namespace.
pub const LISTEN_PORT: u16 = 51820;
/// The gateway's own address on its TUN: the source of what the encrypt phase sends.
pub const TUN_ADDRESS: &str = "10.0.0.1";
/// The peers' allowed IPs are /32s out of this, routed into the TUN.
pub const PEER_PREFIX: &str = "10.128.0.0/9";
/// The TUN's MTU: 1420, as wg-quick sets over a 1500-byte underlay.
pub const TUN_MTU: &str = "1420";
/// How long the UAPI socket may take to appear.
const STARTUP: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Dropin {
    child: Child,
    pub iface: String,
    log: tempfile::NamedTempFile,
}

impl Dropin {
    /// Starts the gateway with its interface up, addressed and routed, its key set and its
    /// port bound, and no peers.
    pub fn start(
        wiregate: &Path,
        topology: &Topology,
        iface: &str,
        shards: usize,
        private_key: &[u8; 32],
    ) -> Result<Self, String> {
        let log = tempfile::NamedTempFile::new().map_err(|e| format!("log file: {e}"))?;
        let out = log.reopen().map_err(|e| format!("log file: {e}"))?;
        let err = log.reopen().map_err(|e| format!("log file: {e}"))?;
        // `ip netns exec` execs the program, so the child's pid is wiregate's own.
        let child = Command::new("ip")
            .args(["netns", "exec", &topology.gateway_ns])
            .arg(wiregate)
            .args(["-f", "--shards", &shards.to_string(), iface])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", wiregate.display()))?;
        topology::register_pid(child.id() as i32);
        let mut gateway = Self {
            child,
            iface: iface.to_owned(),
            log,
        };
        gateway.wait_for_uapi()?;
        for args in [
            vec!["addr", "add", &format!("{TUN_ADDRESS}/32"), "dev", iface],
            vec!["link", "set", iface, "mtu", TUN_MTU, "up"],
            vec!["route", "add", PEER_PREFIX, "dev", iface],
        ] {
            topology.in_gateway(&args).map_err(|e| gateway.fail(&e))?;
        }
        let body = format!(
            "private_key={}\nlisten_port={LISTEN_PORT}\n",
            hex::encode(private_key)
        );
        gateway.set(&body)?;
        Ok(gateway)
    }

    fn socket_path(&self) -> String {
        format!("/var/run/wireguard/{}.sock", self.iface)
    }

    fn wait_for_uapi(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.fail(&format!("wiregate exited ({status})")));
            }
            if UnixStream::connect(self.socket_path()).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.fail(&format!("no UAPI socket within {STARTUP:?}")))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error message with the end of the gateway's log.
    pub fn fail(&self, what: &str) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("{what}\nwiregate's log ({}):\n{tail}", self.iface)
    }

    /// One UAPI operation; returns the lines before `errno=`, or the errno as an error.
    fn uapi(&self, request: &str) -> Result<Vec<String>, String> {
        let path = self.socket_path();
        let mut stream =
            UnixStream::connect(&path).map_err(|e| self.fail(&format!("{path}: {e}")))?;
        stream
            .write_all(request.as_bytes())
            .map_err(|e| self.fail(&format!("{path}: {e}")))?;
        let mut lines = Vec::new();
        for line in BufReader::new(stream).lines() {
            let line = line.map_err(|e| self.fail(&format!("{path}: {e}")))?;
            if let Some(errno) = line.strip_prefix("errno=") {
                if errno != "0" {
                    return Err(self.fail(&format!("UAPI answered errno={errno}")));
                }
                return Ok(lines);
            }
            lines.push(line);
        }
        Err(self.fail("the UAPI socket closed before errno="))
    }

    /// `set=1` with these `key=value` lines (each ending in a newline).
    pub fn set(&self, body: &str) -> Result<(), String> {
        self.uapi(&format!("set=1\n{body}\n")).map(drop)
    }

    /// `get=1`: the whole state, one `key=value` per line.
    pub fn get(&self) -> Result<Vec<String>, String> {
        self.uapi("get=1\n\n")
    }

    /// The `shard=total` line of `stats=1`, wiregate's own counters summed over shards.
    pub fn counters(&self) -> Result<Vec<(String, u64)>, String> {
        let lines = self.uapi("stats=1\n\n")?;
        let total = lines
            .iter()
            .find(|l| l.starts_with("shard=total"))
            .ok_or_else(|| self.fail("no shard=total line in stats=1"))?;
        Ok(total
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or(0)))
            .collect())
    }

    pub fn cpu_seconds(&self) -> Result<f64, String> {
        crate::host::cpu(self.pid())
            .map(|cpu| cpu.total())
            .map_err(|e| self.fail(&e))
    }

    pub fn rss_kib(&self) -> Result<u64, String> {
        crate::host::rss_kib(self.pid()).map_err(|e| self.fail(&e))
    }

    /// The TUN's counters.
    pub fn tun(&self) -> Result<Link, String> {
        procfs::link(self.pid(), &self.iface).map_err(|e| self.fail(&e))
    }

    /// The gateway namespace's UDP counters.
    pub fn udp(&self) -> Result<Vec<(String, u64)>, String> {
        procfs::udp(&self.pid().to_string()).map_err(|e| self.fail(&e))
    }

    /// SIGTERM, as an operator would; the interface and socket go with the process.
    pub fn stop(mut self) -> Result<(), String> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<(), String> {
        topology::unregister_pid(self.child.id() as i32);
        if crate::host::stop(&mut self.child, Duration::from_secs(10)) {
            return Err("wiregate did not stop within 10 s of SIGTERM; killed".into());
        }
        Ok(())
    }
}

impl Drop for Dropin {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}
