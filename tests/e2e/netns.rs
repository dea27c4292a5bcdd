//! Network namespaces owned by a test, and veth links between them.

use crate::cmd::{self, Outcome, TIMEOUT};
use crate::names::unique;
use crate::prereq;
use std::process::Command;
use std::time::Duration;

/// A network namespace that exists as long as this guard: dropping it kills every process
/// still inside and deletes it (which also removes its interfaces).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace with `lo` up.
    pub fn new() -> Self {
        prereq::require();
        let name = unique("e2e-");
        cmd::run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `args` run inside the namespace (`ip netns exec NS args...`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        cmd
    }

    /// Runs `args` inside the namespace and returns stdout; panics with stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        cmd::run_cmd(&mut self.command(args), None, TIMEOUT)
    }

    /// Runs `args` inside the namespace, whatever its exit status.
    pub fn try_run(&self, args: &[&str]) -> Outcome {
        cmd::try_run_cmd(&mut self.command(args), None, TIMEOUT)
    }

    /// Lets the namespace route between its interfaces (IPv4 and IPv6).
    pub fn enable_forwarding(&self) {
        self.run(&[
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ]);
    }

    /// Whether an interface of that name exists in the namespace.
    pub fn has_link(&self, name: &str) -> bool {
        cmd::try_run(&["ip", "-n", &self.name, "link", "show", "dev", name]).success()
    }

    /// Whether this kernel can make a `wireguard` link (has the module); leaves none.
    pub fn has_kernel_wireguard(&self) -> bool {
        let made = self
            .try_run(&["ip", "link", "add", "wgprobe0", "type", "wireguard"])
            .success();
        if made {
            self.run(&["ip", "link", "del", "wgprobe0"]);
        }
        made
    }

    /// `ip -d link show dev <name>`: the link's details, its kind among them
    /// ("wireguard", "tun").
    pub fn link_details(&self, name: &str) -> String {
        self.run(&["ip", "-d", "link", "show", "dev", name])
    }

    /// The ids of the processes running in the namespace.
    pub fn pids(&self) -> Vec<u32> {
        cmd::exec(
            &mut cmd::command(&["ip", "netns", "pids", &self.name]),
            None,
            Duration::from_secs(10),
        )
        .map(|outcome| {
            outcome
                .stdout
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Everything in here was started by this test.
        for pid in self.pids() {
            cmd::signal(pid, "KILL");
        }
        cmd::wait_for(Duration::from_secs(5), || {
            self.pids().is_empty().then_some(())
        });
        let _ = cmd::exec(
            &mut cmd::command(&["ip", "netns", "del", &self.name]),
            None,
            Duration::from_secs(10),
        );
    }
}

/// Connects `a` and `b` with a veth pair, gives each end its address (with prefix, such
/// as "10.200.1.1/24") and sets both up.
pub fn link(a: &Netns, a_addr: &str, b: &Netns, b_addr: &str) {
    let a_end = unique("va");
    let b_end = unique("vb");
    cmd::run(&[
        "ip",
        "-n",
        a.name(),
        "link",
        "add",
        &a_end,
        "type",
        "veth",
        "peer",
        "name",
        &b_end,
        "netns",
        b.name(),
    ]);
    for (ns, end, addr) in [(a, &a_end, a_addr), (b, &b_end, b_addr)] {
        cmd::run(&[
            "ip",
            "-n",
            ns.name(),
            "addr",
            "add",
            addr,
            "dev",
            end,
            "nodad",
        ]);
        cmd::run(&["ip", "-n", ns.name(), "link", "set", end, "up"]);
    }
}
