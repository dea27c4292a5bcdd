//! The gateway under test: the real `wiregate serve`, with a state directory and a config
//! of its own (no tunnels, the API on loopback with a fixed token), watched through /proc
//! for its CPU time and peak memory, and stopped with SIGTERM as an operator would.

use crate::client::Client;
use crate::host::{self, Cpu};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The API's address: fixed, since the namespace is ours alone.
const LISTEN: &str = "127.0.0.1:8080";
const TOKEN: &str = "wiregate-bench-admin-token";
/// How long the gateway has between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long the API may take to come up.
const STARTUP: Duration = Duration::from_secs(15);

/// The wiregate binary at `path`, made absolute; a missing one says how to build it.
pub fn binary(path: &Path) -> Result<std::path::PathBuf, String> {
    path.canonicalize().map_err(|e| {
        format!(
            "{}: {e} (build it: cargo build --release -p wiregate)",
            path.display()
        )
    })
}

#[derive(Debug)]
pub struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
}

impl Gateway {
    /// With `store_url`, the store is that PostgreSQL database (empty), else SQLite.
    pub fn start(wiregate: &Path, store_url: Option<&str>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let config = dir.path().join("wiregate.toml");
        let mut text = format!(
            "state_dir = {:?}\n\n[api]\nlisten = \"{LISTEN}\"\ntokens = [\"{TOKEN}\"]\n",
            dir.path().join("state")
        );
        if let Some(url) = store_url {
            text.push_str(&format!("\n[store]\nurl = {url:?}\n"));
        }
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        let log = std::fs::File::create(dir.path().join("wiregate.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let child = Command::new(wiregate)
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", wiregate.display()))?;
        let mut gateway = Self { child, dir };
        gateway.wait_for_api()?;
        Ok(gateway)
    }

    fn wait_for_api(&mut self) -> Result<(), String> {
        let client = self.client();
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("wiregate exited ({status}):\n{}", self.log()));
            }
            if client.probe("/v1/health") == Ok(200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "the API did not come up within {STARTUP:?}:\n{}",
            self.log()
        ))
    }

    pub fn client(&self) -> Client {
        Client::new(format!("http://{LISTEN}"), TOKEN)
    }

    /// The gateway's log so far (the end of it), for error messages.
    pub fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("wiregate.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn proc_file(&self, name: &str) -> Result<String, String> {
        let path = format!("/proc/{}/{name}", self.child.id());
        std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
    }

    pub fn cpu(&self) -> Result<Cpu, String> {
        host::cpu(self.child.id())
    }

    /// Peak resident set size (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, String> {
        let status = self.proc_file("status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmHWM in /proc/PID/status".into())
    }

    /// How many peers the tunnel's data plane carries, asked over its UAPI socket (as
    /// `wg show` would): proof that created peers reached the data plane.
    pub fn data_plane_peers(&self, tunnel: &str) -> Result<usize, String> {
        let path = format!("/var/run/wireguard/{tunnel}.sock");
        let mut stream = UnixStream::connect(&path).map_err(|e| format!("{path}: {e}"))?;
        stream
            .write_all(b"get=1\n\n")
            .map_err(|e| format!("{path}: {e}"))?;
        let mut peers = 0;
        for line in BufReader::new(stream).lines() {
            let line = line.map_err(|e| format!("{path}: {e}"))?;
            if line.starts_with("public_key=") {
                peers += 1;
            }
            if line.is_empty() {
                break;
            }
        }
        Ok(peers)
    }

    /// Stops the gateway with SIGTERM (it removes its interfaces on the way out).
    pub fn stop(mut self) -> Result<(), String> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<(), String> {
        if host::stop(&mut self.child, STOP_GRACE) {
            return Err("wiregate did not stop within 10 s of SIGTERM; killed".into());
        }
        Ok(())
    }
}

impl Drop for Gateway {
    /// A run that fails half-way must not leave a gateway behind.
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}
