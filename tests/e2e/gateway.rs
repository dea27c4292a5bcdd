//! The gateway under test: its TOML configuration and a guard around `wiregate serve`.

use crate::cmd::{self, Outcome, wait_for};
use crate::netns::Netns;
use crate::stats::Stats;
use crate::wg::{Dump, Keypair, socket_path};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// The gateway binary: the one cargo built for this test, unless `WIREGATE_E2E_BIN`
/// names another (a release build, say).
pub fn bin() -> PathBuf {
    std::env::var_os("WIREGATE_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wiregate")))
}

/// Where a tunnel's private key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Inline(String),
    File(PathBuf),
    /// Neither: the gateway generates `<state_dir>/<name>.key`.
    Generated,
}

#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub public_key: String,
    pub allowed_ips: Vec<String>,
    pub preshared_key: Option<String>,
    pub endpoint: Option<String>,
    pub persistent_keepalive: Option<u16>,
}

impl PeerSpec {
    pub fn new(public_key: &str, allowed_ips: &[&str]) -> Self {
        PeerSpec {
            public_key: public_key.to_owned(),
            allowed_ips: allowed_ips.iter().map(|ip| (*ip).to_owned()).collect(),
            preshared_key: None,
            endpoint: None,
            persistent_keepalive: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TunnelSpec {
    pub name: String,
    pub listen_port: u16,
    pub key: KeySource,
    pub addresses: Vec<String>,
    pub mtu: Option<u16>,
    pub peers: Vec<PeerSpec>,
    /// `None`: the default (userspace).
    pub backend: Option<String>,
}

impl TunnelSpec {
    pub fn new(name: &str, listen_port: u16, keys: &Keypair, addresses: &[&str]) -> Self {
        TunnelSpec {
            name: name.to_owned(),
            listen_port,
            key: KeySource::Inline(keys.private.clone()),
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            mtu: None,
            peers: Vec::new(),
            backend: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// `None`: a directory inside the guard's tempdir, unless the arguments pass
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    pub shards: Option<u32>,
    /// The API's address in the gateway's namespace; `None`: the default, 127.0.0.1:8080.
    pub api_listen: Option<String>,
    /// Seconds between periodic reconcile passes; `None`: the default.
    pub reconcile_interval: Option<u64>,
    /// `[metrics] peer_series` ("all", "none", "top:N"); `None`: the default.
    pub peer_series: Option<String>,
    /// `[metrics] listen`; `None`: the default, 127.0.0.1:9586.
    pub metrics_listen: Option<String>,
    /// Environment for the process, beyond the test's own (not part of the file).
    pub env: Vec<(String, String)>,
    /// Admin tokens besides `API_TOKEN`.
    pub extra_tokens: Vec<String>,
    /// `[store] url`; `None`: SQLite in the state directory.
    pub store_url: Option<String>,
    /// `[node] name`; `None`: the host name.
    pub node_name: Option<String>,
    /// A /run/wireguard of its own (a tmpfs in the process's mount namespace), as in a
    /// container: several gateways on this host may then serve tunnels of one name (a
    /// fleet). `wg` and `wiregate stats` reach it through its namespaces.
    pub private_run: bool,
    pub tunnels: Vec<TunnelSpec>,
}

/// The admin token every test gateway is given, so tests can call its API.
pub const API_TOKEN: &str = "e2e-admin-token-0123456789";

impl GatewayConfig {
    pub fn new(tunnels: Vec<TunnelSpec>) -> Self {
        GatewayConfig {
            tunnels,
            ..Default::default()
        }
    }

    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        if let Some(dir) = &self.state_dir {
            writeln!(t, "state_dir = {}", quote(&dir.to_string_lossy())).unwrap();
        }
        if let Some(shards) = self.shards {
            writeln!(t, "shards = {shards}").unwrap();
        }
        if let Some(interval) = self.reconcile_interval {
            writeln!(t, "reconcile_interval = {interval}").unwrap();
        }
        let tokens: Vec<String> = std::iter::once(API_TOKEN.to_owned())
            .chain(self.extra_tokens.iter().cloned())
            .collect();
        writeln!(t, "\n[api]\ntokens = {}", list(&tokens)).unwrap();
        if let Some(listen) = &self.api_listen {
            writeln!(t, "listen = {}", quote(listen)).unwrap();
        }
        if self.peer_series.is_some() || self.metrics_listen.is_some() {
            writeln!(t, "\n[metrics]").unwrap();
        }
        if let Some(series) = &self.peer_series {
            writeln!(t, "peer_series = {}", quote(series)).unwrap();
        }
        if let Some(listen) = &self.metrics_listen {
            writeln!(t, "listen = {}", quote(listen)).unwrap();
        }
        if let Some(url) = &self.store_url {
            writeln!(t, "\n[store]\nurl = {}", quote(url)).unwrap();
        }
        if let Some(name) = &self.node_name {
            writeln!(t, "\n[node]\nname = {}", quote(name)).unwrap();
        }
        for tunnel in &self.tunnels {
            writeln!(t, "\n[[tunnel]]").unwrap();
            writeln!(t, "name = {}", quote(&tunnel.name)).unwrap();
            writeln!(t, "listen_port = {}", tunnel.listen_port).unwrap();
            match &tunnel.key {
                KeySource::Inline(key) => writeln!(t, "private_key = {}", quote(key)).unwrap(),
                KeySource::File(path) => {
                    writeln!(t, "private_key_file = {}", quote(&path.to_string_lossy())).unwrap();
                }
                KeySource::Generated => {}
            }
            writeln!(t, "addresses = {}", list(&tunnel.addresses)).unwrap();
            if let Some(mtu) = tunnel.mtu {
                writeln!(t, "mtu = {mtu}").unwrap();
            }
            if let Some(backend) = &tunnel.backend {
                writeln!(t, "backend = {}", quote(backend)).unwrap();
            }
            for peer in &tunnel.peers {
                writeln!(t, "\n[[tunnel.peer]]").unwrap();
                writeln!(t, "public_key = {}", quote(&peer.public_key)).unwrap();
                writeln!(t, "allowed_ips = {}", list(&peer.allowed_ips)).unwrap();
                if let Some(psk) = &peer.preshared_key {
                    writeln!(t, "preshared_key = {}", quote(psk)).unwrap();
                }
                if let Some(endpoint) = &peer.endpoint {
                    writeln!(t, "endpoint = {}", quote(endpoint)).unwrap();
                }
                if let Some(keepalive) = peer.persistent_keepalive {
                    writeln!(t, "persistent_keepalive = {keepalive}").unwrap();
                }
            }
        }
        t
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// `wiregate serve` running in a namespace. Dropping it sends SIGTERM (SIGKILL after 5 s);
/// if the test is failing, it first prints `wg show`, the stats and the gateway's stderr.
#[derive(Debug)]
pub struct Gateway {
    ns_name: String,
    /// Its /run/wireguard is its own (`GatewayConfig::private_run`).
    private_run: bool,
    tunnels: Vec<String>,
    /// Those of `tunnels` on the linux-kernel backend.
    kernel_tunnels: Vec<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl Gateway {
    /// Writes `config`, runs `wiregate serve --config FILE <args>` in `ns` and waits until
    /// every tunnel's UAPI socket answers `wg show` (10 s at most).
    pub fn start(ns: &Netns, config: &GatewayConfig, args: &[&str]) -> Self {
        let mut gateway = Self::spawn(ns, config, args);
        gateway.wait_ready();
        gateway
    }

    /// Like `start`, without waiting for the tunnels.
    pub fn spawn(ns: &Netns, config: &GatewayConfig, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config.clone();
        if config.state_dir.is_none() && !args.contains(&"--state-dir") {
            config.state_dir = Some(dir.path().join("state"));
        }
        let config_path = dir.path().join("wiregate.toml");
        fs::write(&config_path, config.to_toml()).expect("writing config");
        let stderr = fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let bin = bin();
        let serve = [bin.to_str().expect("utf-8 path"), "serve", "--config"];
        // `ip netns exec` gives the process a mount namespace of its own already: a tmpfs
        // mounted there is seen by it alone.
        let private = [
            "sh",
            "-c",
            "mkdir -p /run/wireguard && mount -t tmpfs wiregate-run /run/wireguard && exec \"$0\" \"$@\"",
        ];
        let mut command = if config.private_run {
            ns.command(&[&private[..], &serve[..]].concat())
        } else {
            ns.command(&serve)
        };
        let child = command
            .arg(&config_path)
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().expect("stderr log"))
            .stderr(stderr)
            .spawn()
            .expect("starting wiregate serve");
        Gateway {
            ns_name: ns.name().to_owned(),
            private_run: config.private_run,
            tunnels: config.tunnels.iter().map(|t| t.name.clone()).collect(),
            kernel_tunnels: config
                .tunnels
                .iter()
                .filter(|t| t.backend.as_deref() == Some("linux-kernel"))
                .map(|t| t.name.clone())
                .collect(),
            child: Some(child),
            dir,
        }
    }

    fn wait_ready(&mut self) {
        let kernel = self.kernel_tunnels.clone();
        for tunnel in self.tunnels.clone() {
            let ready = wait_for(Duration::from_secs(10), || {
                if let Some(status) = self.exited() {
                    panic!("wiregate serve exited with {status} before {tunnel} was ready");
                }
                // A kernel tunnel has no UAPI socket: `wg show` reads it over netlink.
                let answers =
                    (kernel.contains(&tunnel) || self.private_run || socket_path(&tunnel).exists())
                        && cmd::exec(
                            &mut self.wg_command(&["show", &tunnel]),
                            None,
                            Duration::from_secs(3),
                        )
                        .is_ok_and(|o| o.success());
                answers.then_some(())
            });
            assert!(
                ready.is_some(),
                "wiregate serve: tunnel {tunnel} not ready within 10 s ({} missing or `wg show {tunnel}` failing)",
                socket_path(&tunnel).display()
            );
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Calls the gateway's API from inside its namespace (with curl): returns the HTTP
    /// status and the body. `listen` is the API's address (`None`: the default).
    pub fn api(
        &self,
        listen: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        self.call_api(listen, method, path, body, cmd::TIMEOUT)
            .unwrap_or_else(|e| panic!("API call {method} {path} failed: {e}\n{}", self.stderr()))
    }

    /// `api` without a body, `None` while the API does not answer yet.
    pub fn try_api(&self, listen: Option<&str>, method: &str, path: &str) -> Option<(u16, String)> {
        self.call_api(listen, method, path, None, cmd::TIMEOUT).ok()
    }

    /// POSTs each of `bodies` to `path`, one after another on one connection (one curl
    /// for them all: a process per request would measure process starts); returns each
    /// answer's status, 0 for a request that got no answer (the gateway gone).
    pub fn post_many(&self, path: &str, bodies: &[String]) -> Vec<u16> {
        let url = format!("http://127.0.0.1:8080{path}");
        let mut config = String::new();
        for (i, body) in bodies.iter().enumerate() {
            if i > 0 {
                config.push_str("next\n");
            }
            let body = body.replace('\\', "\\\\").replace('"', "\\\"");
            writeln!(
                config,
                "url = \"{url}\"\nrequest = \"POST\"\nheader = \"Authorization: Bearer {API_TOKEN}\"\n\
                 header = \"Content-Type: application/json\"\ndata-binary = \"{body}\"\n\
                 output = \"/dev/null\"\nwrite-out = \"%{{http_code}}\\n\""
            )
            .unwrap();
        }
        let file = tempfile::NamedTempFile::new_in(self.dir.path())
            .expect("a file for the requests")
            .into_temp_path();
        fs::write(&file, config).expect("writing the requests");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns_name, "curl", "-sS", "-K"])
            .arg(&*file);
        let out = cmd::try_run_cmd(&mut cmd, None, Duration::from_secs(600)).stdout;
        out.lines()
            .map(|line| line.trim().parse().unwrap_or(0))
            .collect()
    }

    /// The status of a GET of `path` presenting `token`.
    pub fn status_as(&self, token: &str, path: &str) -> u16 {
        self.call_api_as(token, None, "GET", path, None, cmd::TIMEOUT)
            .unwrap_or_else(|e| panic!("API call GET {path} failed: {e}\n{}", self.stderr()))
            .0
    }

    /// `api` on the default address, expecting `status`: the answer, parsed.
    pub fn json(&self, method: &str, path: &str, body: Option<&str>, status: u16) -> Value {
        self.json_within(method, path, body, status, cmd::TIMEOUT)
    }

    /// `json` with a deadline of its own, for requests that take long (bulk ones, in an
    /// emulated VM).
    pub fn json_within(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        status: u16,
        within: Duration,
    ) -> Value {
        let (got, text) = self
            .call_api(None, method, path, body, within)
            .unwrap_or_else(|e| panic!("API call {method} {path} failed: {e}\n{}", self.stderr()));
        assert_eq!(got, status, "{method} {path}: {text}");
        if text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    }

    /// Waits (10 s at most) until the API reports tunnel `name` in `state` ("running",
    /// "failed"); returns the tunnel as the API gave it.
    pub fn wait_tunnel_state(&self, name: &str, state: &str) -> Value {
        let path = format!("/v1/tunnels/{name}");
        let mut last = String::new();
        let reached = wait_for(Duration::from_secs(10), || {
            let (status, body) = self.try_api(None, "GET", &path)?;
            last = body;
            let tunnel: Value = serde_json::from_str(&last).ok()?;
            (status == 200 && tunnel["status"]["state"] == state).then_some(tunnel)
        });
        reached.unwrap_or_else(|| {
            panic!(
                "tunnel {name} not {state} within 10 s; last answer: {last}\n{}",
                self.stderr()
            )
        })
    }

    /// Waits (10 s at most) until the API answers its health check.
    pub fn wait_for_api(&self) {
        let up = wait_for(Duration::from_secs(10), || {
            self.try_api(None, "GET", "/v1/health")
                .filter(|(s, _)| *s == 200)
        });
        assert!(up.is_some(), "API not up:\n{}", self.stderr());
    }

    fn call_api(
        &self,
        listen: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
        within: Duration,
    ) -> Result<(u16, String), String> {
        self.call_api_as(API_TOKEN, listen, method, path, body, within)
    }

    fn call_api_as(
        &self,
        token: &str,
        listen: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
        within: Duration,
    ) -> Result<(u16, String), String> {
        let url = format!("http://{}{path}", listen.unwrap_or("127.0.0.1:8080"));
        let auth = format!("Authorization: Bearer {token}");
        let mut args = vec![
            "ip",
            "netns",
            "exec",
            &self.ns_name,
            "curl",
            "-sS",
            "-X",
            method,
            "-H",
            &auth,
        ];
        // The body goes through stdin: a bulk request is larger than an argument may be.
        if body.is_some() {
            args.extend([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        args.extend(["-w", "\n%{http_code}", &url]);
        let outcome = cmd::try_run_cmd(&mut cmd::command(&args), body, within);
        if !outcome.success() {
            return Err(outcome.report());
        }
        let out = outcome.stdout;
        let (body, status) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
        Ok((status.trim().parse().unwrap_or(0), body.to_owned()))
    }

    /// The state directory the gateway was given (unless its arguments name another).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes `config` over the running gateway's file (its state directory kept), for a
    /// reload.
    pub fn rewrite_config(&self, config: &GatewayConfig) {
        let mut config = config.clone();
        if config.state_dir.is_none() {
            config.state_dir = Some(self.dir.path().join("state"));
        }
        self.write_config_text(&config.to_toml());
    }

    /// Writes `text` as the gateway's configuration file, whatever it is.
    pub fn write_config_text(&self, text: &str) {
        fs::write(self.dir.path().join("wiregate.toml"), text).expect("writing config");
    }

    /// Sends `signal` ("HUP") to the running gateway.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("gateway stopped");
        cmd::signal(child.id(), signal);
    }

    /// What the gateway printed so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// `args` run where the gateway runs: its network namespace (and its mount namespace,
    /// for a private /run/wireguard).
    fn command_in(&self, args: &[&str]) -> Command {
        if let (true, Some(child)) = (self.private_run, &self.child) {
            let pid = child.id().to_string();
            let mut cmd = Command::new("nsenter");
            cmd.args(["-t", &pid, "-m", "-n"]).args(args);
            cmd
        } else {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &self.ns_name]).args(args);
            cmd
        }
    }

    fn wg_command(&self, args: &[&str]) -> Command {
        self.command_in(&[&["wg"], args].concat())
    }

    /// `wg <args>` in the gateway's namespace; panics on failure.
    pub fn wg(&self, args: &[&str]) -> String {
        cmd::run_cmd(&mut self.wg_command(args), None, cmd::TIMEOUT)
    }

    /// `wg <args>`, whatever its exit status.
    pub fn try_wg(&self, args: &[&str]) -> Outcome {
        cmd::try_run_cmd(&mut self.wg_command(args), None, cmd::TIMEOUT)
    }

    pub fn dump(&self, tunnel: &str) -> Dump {
        Dump::parse(&self.wg(&["show", tunnel, "dump"]))
    }

    /// The public keys `wg show <tunnel> peers` lists, sorted.
    pub fn peers(&self, tunnel: &str) -> Vec<String> {
        let mut peers: Vec<String> = self
            .wg(&["show", tunnel, "peers"])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        peers.sort();
        peers
    }

    /// The endpoint `wg show <tunnel> endpoints` gives for `peer` ("(none)" if unknown).
    pub fn endpoint(&self, tunnel: &str, peer: &str) -> String {
        let out = self.wg(&["show", tunnel, "endpoints"]);
        out.lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(key, _)| *key == peer)
            .map(|(_, endpoint)| endpoint.trim().to_owned())
            .unwrap_or_else(|| {
                panic!("peer {peer} missing from `wg show {tunnel} endpoints`:\n{out}")
            })
    }

    fn stats_command(&self, tunnel: &str) -> Command {
        let bin = bin();
        self.command_in(&[bin.to_str().expect("utf-8 path"), "stats", tunnel])
    }

    /// `wiregate stats <tunnel>`, parsed.
    pub fn stats(&self, tunnel: &str) -> Stats {
        Stats::parse(&cmd::run_cmd(
            &mut self.stats_command(tunnel),
            None,
            cmd::TIMEOUT,
        ))
    }

    /// Sends `signal` ("TERM", "INT") and waits up to 10 s for the gateway to exit.
    pub fn stop(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("gateway already stopped");
        cmd::signal(child.id(), signal);
        match wait_for(Duration::from_secs(10), || child.try_wait().ok().flatten()) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wiregate serve did not exit within 10 s of SIG{signal}");
            }
        }
    }

    fn print_diagnostics(&self) {
        let mut text = format!("=== wiregate serve in netns {} ===\n", self.ns_name);
        for tunnel in &self.tunnels {
            for mut cmd in [
                self.wg_command(&["show", tunnel]),
                self.stats_command(tunnel),
            ] {
                let what = cmd::describe(&cmd);
                match cmd::exec(&mut cmd, None, Duration::from_secs(3)) {
                    Ok(outcome) => {
                        let _ =
                            write!(text, "--- {what} ---\n{}{}", outcome.stdout, outcome.stderr);
                    }
                    Err(e) => {
                        let _ = writeln!(text, "--- {what} ---\n{e}");
                    }
                }
            }
        }
        let _ = write!(text, "--- gateway stderr ---\n{}", self.stderr());
        eprintln!("{text}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_diagnostics();
        }
        if let Some(mut child) = self.child.take() {
            cmd::signal(child.id(), "TERM");
            if wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten()).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if !self.private_run {
            for tunnel in &self.tunnels {
                let _ = fs::remove_file(socket_path(tunnel));
            }
        }
    }
}

/// Runs `wiregate serve --config <toml>` in `ns` expecting it to refuse the configuration:
/// returns how it exited. Panics if it is still running after 10 s.
pub fn serve_once(ns: &Netns, toml: &str, dir: &Path) -> Outcome {
    let config = dir.join("wiregate.toml");
    fs::write(&config, toml).expect("writing config");
    let mut cmd = ns.command(&[bin().to_str().expect("utf-8 path"), "serve", "--config"]);
    cmd.arg(&config).arg("--state-dir").arg(dir.join("state"));
    cmd::exec(&mut cmd, None, Duration::from_secs(10)).unwrap_or_else(|e| {
        panic!("wiregate serve accepted a bad config and kept running:\n{toml}\n{e}")
    })
}

#[test]
fn config_renders_as_toml() {
    let mut tunnel = TunnelSpec {
        name: "wgt1".into(),
        listen_port: 51820,
        key: KeySource::Inline("cHJpdg==".into()),
        addresses: vec!["10.70.0.1/24".into(), "fd70::1/64".into()],
        mtu: Some(1400),
        peers: vec![PeerSpec::new("cHVi", &["10.70.0.2/32"])],
        backend: None,
    };
    tunnel.peers[0].endpoint = Some("10.200.1.2:51900".into());
    tunnel.peers[0].persistent_keepalive = Some(25);
    let config = GatewayConfig {
        state_dir: Some("/tmp/s".into()),
        shards: Some(2),
        api_listen: None,
        reconcile_interval: None,
        peer_series: None,
        metrics_listen: None,
        env: Vec::new(),
        extra_tokens: Vec::new(),
        store_url: None,
        node_name: None,
        private_run: false,
        tunnels: vec![tunnel],
    };
    let expected = r#"state_dir = "/tmp/s"
shards = 2

[api]
tokens = ["e2e-admin-token-0123456789"]

[[tunnel]]
name = "wgt1"
listen_port = 51820
private_key = "cHJpdg=="
addresses = ["10.70.0.1/24", "fd70::1/64"]
mtu = 1400

[[tunnel.peer]]
public_key = "cHVi"
allowed_ips = ["10.70.0.2/32"]
endpoint = "10.200.1.2:51900"
persistent_keepalive = 25
"#;
    assert_eq!(config.to_toml(), expected);
}
