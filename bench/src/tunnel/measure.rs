//! One run of one pair: set the tunnel up fresh, check it carries a ping, measure, tear
//! it down (the guards do, in reverse order: iperf3 server, then the daemons).

use super::daemon::Daemon;
use super::implementation::{Binaries, Implementation};
use super::iperf::{self, Udp};
use super::pair::Pair;
use super::ping;
use super::sustained::{self, Sustained};
use super::topology::Topology;
use super::wg::{self, KeyPair, Side};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a fresh tunnel has to carry its first ping (handshake included).
const FIRST_PING: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Seconds of each TCP test and of the unlimited UDP test.
    pub duration: u32,
    /// Seconds of each step of the sustained UDP search.
    pub probe: u32,
}

/// One run's figures: rates in bit/s.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub tcp1: f64,
    pub tcp4: f64,
    pub udp: Udp,
    pub sustained: Sustained,
    pub ping_ms: f64,
    /// CPU seconds the server end's daemon used during the TCP 1-stream test (None for
    /// the ceiling, which has none).
    pub cpu_server: Option<f64>,
    pub cpu_client: Option<f64>,
}

const GBIT: f64 = 1e9;

impl Figures {
    /// The figures that get a median, by the name they have in the JSON, in the units
    /// the table shows.
    pub fn named(&self) -> Vec<(&'static str, Option<f64>)> {
        vec![
            ("tcp1_gbps", Some(self.tcp1 / GBIT)),
            ("tcp4_gbps", Some(self.tcp4 / GBIT)),
            ("udp_received_gbps", Some(self.udp.received / GBIT)),
            ("udp_loss_percent", Some(self.udp.loss)),
            (
                "sustained_offered_gbps",
                Some(self.sustained.udp.offered / GBIT),
            ),
            (
                "sustained_received_gbps",
                Some(self.sustained.udp.received / GBIT),
            ),
            ("sustained_loss_percent", Some(self.sustained.udp.loss)),
            ("ping_avg_ms", Some(self.ping_ms)),
            ("cpu_server_s", self.cpu_server),
            ("cpu_client_s", self.cpu_client),
        ]
    }

    /// Everything, for the JSON: the named figures and the sustained search's details.
    pub fn to_json(self) -> Value {
        let mut object: serde_json::Map<String, Value> = self
            .named()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), json!(value)))
            .collect();
        object.insert("udp_offered_gbps".into(), json!(self.udp.offered / GBIT));
        object.insert(
            "sustained_target_gbps".into(),
            json!(self.sustained.target / GBIT),
        );
        object.insert("sustained_steps".into(), json!(self.sustained.steps));
        object.insert("sustained_found".into(), json!(self.sustained.found));
        Value::Object(object)
    }
}

/// The daemons of a pair, kept running while it is measured.
struct Tunnel {
    server: Daemon,
    client: Daemon,
}

pub fn measure(
    pair: Pair,
    topology: &Topology,
    binaries: &Binaries,
    settings: Settings,
) -> Result<Figures, String> {
    let (tunnel, target) = match pair {
        Pair::Ceiling => (None, topology.server.underlay),
        Pair::Tunnel { server, client } => (
            Some(set_up(server, client, topology, binaries)?),
            topology.server.tunnel,
        ),
    };
    let _server = iperf::Server::start(&topology.server, target)?;
    let client = iperf::Client {
        end: &topology.client,
        target,
    };
    tests(&client, tunnel.as_ref(), topology, settings).map_err(|e| match &tunnel {
        // A test that fails through a tunnel is most likely the tunnel's doing.
        Some(t) => format!("{e}\n{}", t.output()),
        None => e,
    })
}

fn tests(
    client: &iperf::Client,
    tunnel: Option<&Tunnel>,
    topology: &Topology,
    settings: Settings,
) -> Result<Figures, String> {
    let cpu = || -> Result<[Option<f64>; 2], String> {
        Ok(match tunnel {
            None => [None, None],
            Some(t) => [Some(t.server.cpu_seconds()?), Some(t.client.cpu_seconds()?)],
        })
    };
    let before = cpu()?;
    let tcp1 = client.tcp(1, settings.duration)?;
    let after = cpu()?;
    let used = |i: usize| Some(after[i]? - before[i]?);
    let tcp4 = client.tcp(4, settings.duration)?;
    let udp = client.udp(0.0, settings.duration)?;
    let sustained = sustained::search(client, udp, settings.probe)?;
    let ping_ms = ping::average_rtt_ms(&topology.client, client.target)?;
    Ok(Figures {
        tcp1,
        tcp4,
        udp,
        sustained,
        ping_ms,
        cpu_server: used(0),
        cpu_client: used(1),
    })
}

impl Tunnel {
    /// Both daemons' output so far, for error messages.
    fn output(&self) -> String {
        format!(
            "--- {} (server end):\n{}\n--- {} (client end):\n{}",
            self.server.implementation.name(),
            self.server.output_tail(),
            self.client.implementation.name(),
            self.client.output_tail()
        )
    }
}

/// Starts both daemons, configures them as each other's peer and waits for a ping to
/// cross. A tunnel that carries no ping fails with both daemons' output.
fn set_up(
    server: Implementation,
    client: Implementation,
    topology: &Topology,
    binaries: &Binaries,
) -> Result<Tunnel, String> {
    // Unique per tunnel: the UAPI sockets of both namespaces share /var/run/wireguard.
    static TUNNELS: AtomicU32 = AtomicU32::new(0);
    let n = TUNNELS.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let tunnel = Tunnel {
        server: Daemon::start(server, &topology.server, &format!("wgt{pid}s{n}"), binaries)?,
        client: Daemon::start(client, &topology.client, &format!("wgt{pid}c{n}"), binaries)?,
    };
    let keys = [KeyPair::generate(), KeyPair::generate()];
    let s = Side {
        end: &topology.server,
        interface: &tunnel.server.interface,
        keys: &keys[0],
    };
    let c = Side {
        end: &topology.client,
        interface: &tunnel.client.interface,
        keys: &keys[1],
    };
    wg::configure(&s, &c)
        .and_then(|()| wg::configure(&c, &s))
        .map_err(|e| format!("configuring the tunnel: {e}\n{}", tunnel.output()))?;
    ping::reachable(&topology.client, topology.server.tunnel, FIRST_PING)
        .map_err(|e| format!("the tunnel carries no ping: {e}\n{}", tunnel.output()))?;
    Ok(tunnel)
}
