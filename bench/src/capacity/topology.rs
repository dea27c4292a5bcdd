//! Two network namespaces joined by a veth pair: the gateway's and the load generator's.
//! Nothing the benchmark sends leaves them. They are named after our pid, and removed when
//! the `Topology` is dropped, or by the signal watcher on SIGINT/SIGTERM (a `Drop` does not
//! run when a signal ends the process).

use super::datapool::BLACKHOLE_PREFIX;
use crate::netns::ip;
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// The underlay: private addresses on the veth pair, nothing else on the link.
pub const GATEWAY_UNDERLAY: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 1);
pub const GENERATOR_UNDERLAY: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 2);

/// What the signal watcher removes: namespaces made and gateways started, as they come
/// and go. Shared with the main thread, which registers and unregisters them.
static LEFTOVERS: Mutex<Leftovers> = Mutex::new(Leftovers {
    namespaces: Vec::new(),
    pids: Vec::new(),
});

#[derive(Debug)]
struct Leftovers {
    namespaces: Vec<String>,
    pids: Vec<i32>,
}

#[derive(Debug)]
pub struct Topology {
    /// Where the gateway runs.
    pub gateway_ns: String,
    /// Where the load generator runs: this process's main thread enters it.
    pub generator_ns: String,
}

impl Topology {
    /// Makes both namespaces and the veth pair, and starts the signal watcher. Call it
    /// before spawning any thread: `enter_generator` then moves the main thread, and every
    /// thread spawned afterwards (rayon's included) inherits the generator's namespace.
    pub fn create() -> Result<Self, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("needs root: it makes network namespaces, and wiregate a TUN".into());
        }
        watch_signals()?;
        let pid = std::process::id();
        let topology = Self {
            gateway_ns: format!("wgcap{pid}gw"),
            generator_ns: format!("wgcap{pid}gen"),
        };
        for ns in [&topology.gateway_ns, &topology.generator_ns] {
            ip(&["netns", "add", ns])?;
            lock().namespaces.push(ns.clone());
        }
        let (gw, gen_) = (&topology.gateway_ns, &topology.generator_ns);
        let (veth_gw, veth_gen) = (format!("wgc{pid}a"), format!("wgc{pid}b"));
        ip(&[
            "link", "add", &veth_gw, "netns", gw, "type", "veth", "peer", "name", &veth_gen,
            "netns", gen_,
        ])?;
        for (ns, dev, addr) in [
            (gw, &veth_gw, GATEWAY_UNDERLAY),
            (gen_, &veth_gen, GENERATOR_UNDERLAY),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // Forwarding on, so that a packet for the blackhole route is dropped silently
        // (with forwarding off the kernel answers it with an ICMP error, through the
        // tunnel). No IPv6 on new interfaces: the kernel's own IPv6 chatter on the TUN
        // would mix with the benchmark's packets in its counters.
        ip(&[
            "netns",
            "exec",
            gw,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])?;
        ip(&["-n", gw, "route", "add", "blackhole", BLACKHOLE_PREFIX])?;
        Ok(topology)
    }

    /// Moves the calling thread into the generator's namespace.
    pub fn enter_generator(&self) -> Result<(), String> {
        enter(&self.generator_ns)
    }

    /// Runs a command inside the gateway's namespace (addresses, routes, sysctls).
    pub fn in_gateway(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.gateway_ns.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }
}

/// Moves the calling thread (only it: setns is per thread) into a named namespace.
pub fn enter(ns: &str) -> Result<(), String> {
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns({path}): {e}"))
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.gateway_ns, &self.generator_ns] {
            let _ = ip(&["netns", "del", ns]);
            lock().namespaces.retain(|n| n != ns);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Leftovers> {
    LEFTOVERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A gateway process to stop if a signal ends the run.
pub fn register_pid(pid: i32) {
    lock().pids.push(pid);
}

pub fn unregister_pid(pid: i32) {
    lock().pids.retain(|p| *p != pid);
}

/// On SIGINT or SIGTERM: stop the gateways, remove the namespaces, exit 130.
fn watch_signals() -> Result<(), String> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("capacity-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("wiregate-bench: signal {signal}, cleaning up");
                let leftovers = lock();
                for pid in &leftovers.pids {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
                }
                std::thread::sleep(std::time::Duration::from_millis(300));
                for pid in &leftovers.pids {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                }
                for ns in &leftovers.namespaces {
                    let _ = ip(&["netns", "del", ns]);
                }
                std::process::exit(130);
            }
        })
        .map_err(|e| format!("signal thread: {e}"))?;
    Ok(())
}
