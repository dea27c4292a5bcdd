//! The topology every pair runs on: two network namespaces joined by a veth pair. The
//! server end (iperf3 server, and the gateway in the cross pairs) is `s`, the client end
//! `c`. The addresses are private and exist only inside these namespaces, so no test
//! traffic can leave them.
//!
//! The namespaces live for the whole benchmark (pairs differ only in the daemons and
//! their tunnel interfaces) and are deleted by the guard's Drop, on error and on
//! interrupt too.

use super::process::{cleanup, command, run_ok};

/// One end of the topology.
#[derive(Debug, Clone)]
pub struct End {
    /// The namespace's name, for `ip netns exec`.
    pub namespace: String,
    /// Address on the veth (the underlay the tunnel's UDP runs over).
    pub underlay: &'static str,
    /// Address on the tunnel interface.
    pub tunnel: &'static str,
}

#[derive(Debug)]
pub struct Topology {
    pub server: End,
    pub client: End,
    /// Namespaces made so far, deleted on drop.
    made: Vec<String>,
}

const PREFIX: u8 = 24;

impl Topology {
    /// Makes `wgb<pid>s` and `wgb<pid>c` and the veth between them; the pid keeps them
    /// apart from another run's.
    pub fn create() -> Result<Self, String> {
        let pid = std::process::id();
        let mut topology = Self {
            server: End {
                namespace: format!("wgb{pid}s"),
                underlay: "192.168.77.1",
                tunnel: "10.77.0.1",
            },
            client: End {
                namespace: format!("wgb{pid}c"),
                underlay: "192.168.77.2",
                tunnel: "10.77.0.2",
            },
            made: Vec::new(),
        };
        for end in [topology.server.clone(), topology.client.clone()] {
            run_ok(command(None, "ip").args(["netns", "add", &end.namespace]))?;
            topology.made.push(end.namespace.clone());
            ip(&end, &["link", "set", "lo", "up"])?;
        }
        let (s, c) = (&topology.server, &topology.client);
        let (veth_s, veth_c) = (format!("vb{pid}s"), format!("vb{pid}c"));
        run_ok(command(None, "ip").args([
            "link",
            "add",
            &veth_s,
            "netns",
            &s.namespace,
            "type",
            "veth",
            "peer",
            "name",
            &veth_c,
            "netns",
            &c.namespace,
        ]))?;
        for (end, veth) in [(s, &veth_s), (c, &veth_c)] {
            let address = format!("{}/{PREFIX}", end.underlay);
            ip(end, &["addr", "add", &address, "dev", veth])?;
            ip(end, &["link", "set", veth, "up"])?;
        }
        Ok(topology)
    }
}

/// `ip <args>` inside the end's namespace.
pub fn ip(end: &End, args: &[&str]) -> Result<String, String> {
    run_ok(command(Some(&end.namespace), "ip").args(args))
}

/// The tunnel address with its prefix, for `ip addr add`.
pub fn tunnel_prefix(end: &End) -> String {
    format!("{}/{PREFIX}", end.tunnel)
}

impl Drop for Topology {
    /// Deleting a namespace removes the veth with it. Runs after every daemon guard has
    /// been dropped, so no process keeps a namespace alive.
    fn drop(&mut self) {
        for namespace in self.made.drain(..).rev() {
            if let Err(e) = cleanup(command(None, "ip").args(["netns", "del", &namespace])) {
                eprintln!("removing namespace {namespace}: {e}");
            }
        }
    }
}
