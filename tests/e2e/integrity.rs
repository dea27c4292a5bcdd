//! Every byte arrives intact through the offload paths. The gateway coalesces decrypted
//! TCP segments before it writes them to its TUN (marking them checksum-partial, so the
//! kernel no longer verifies them) and splits the kernel's TCP super-packets before it
//! encrypts them: a mistake in either would corrupt data without TCP noticing. So a
//! deterministic pseudo-random stream is hashed where it is sent and where it is
//! received, in both directions, over IPv4 and IPv6.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

/// Receives one connection on (argv[1], argv[2]), prints its length and SHA-256.
const RECEIVER: &str = r#"
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
    n += len(d)
print(n, h.hexdigest(), flush=True)
"#;

/// Sends argv[3] MiB of seeded pseudo-random bytes to (argv[1], argv[2]), prints their
/// length and SHA-256.
const SENDER: &str = r#"
import hashlib, random, socket, sys
r, h, n = random.Random(7), hashlib.sha256(), 0
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for _ in range(int(sys.argv[3])):
    d = r.randbytes(1 << 20)
    c.sendall(d)
    h.update(d)
    n += len(d)
c.shutdown(socket.SHUT_WR)
c.recv(1)
print(n, h.hexdigest(), flush=True)
"#;

/// Sends `mib` MiB from `from` to `to` listening on `addr`, and returns what each side
/// says it sent and received.
fn send(from: &Netns, to: &Netns, addr: &str, mib: u32) -> (String, String) {
    let mut receiver = to
        .command(&["python3", "-c", RECEIVER, addr, "5300"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 receiver");
    let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    let ready = lines.next().and_then(Result::ok);
    assert_eq!(
        ready.as_deref(),
        Some("ready"),
        "the receiver did not start"
    );
    let sent = from.run(&["python3", "-c", SENDER, addr, "5300", &mib.to_string()]);
    let received = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = receiver.wait();
    (sent.trim().to_string(), received.trim().to_string())
}

#[test]
fn bulk_tcp_arrives_intact_both_ways() {
    let _exclusive = crate::cmd::heavy_traffic();
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 2, &gw_keys.public));
    let name = unique("wgi");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers = vec![site.gateway_peer()];
    let _gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    must_ping(&site.ns, "10.70.0.1");

    for (from, to, addr, what) in [
        (&site.ns, &gw_ns, "10.70.0.1", "client to gateway, IPv4"),
        (&gw_ns, &site.ns, site.ip(0), "gateway to client, IPv4"),
        (&site.ns, &gw_ns, "fd70::1", "client to gateway, IPv6"),
        (&gw_ns, &site.ns, site.ip(1), "gateway to client, IPv6"),
    ] {
        let (sent, received) = send(from, to, addr, 48);
        assert!(
            sent.starts_with("50331648 "),
            "{what}: sender said {sent:?}"
        );
        assert_eq!(received, sent, "{what}: the stream arrived changed");
    }
}
