//! Low-order public keys (every X25519 result with them is zero, so a handshake with one is
//! readable and forgeable by anyone): `wg set` may configure them, as with the kernel, but
//! the gateway never sends a datagram to such a peer, whatever its endpoint, keepalive or
//! traffic; the CLI refuses them (the file and the API are in `bad_config` and the API
//! tests).

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::{self, Netns};
use crate::wg::Keypair;
use std::process::{Child, Stdio};
use wiregate_core::PublicKey;
use wiregate_core::low_order::low_order_encodings;

const LISTEN_ADDR: &str = "10.200.1.2";
const LISTEN_PORT: &str = "51999";

/// Counts the datagrams that reach `LISTEN_ADDR:LISTEN_PORT` in `ns` for `seconds`,
/// printing their lengths when done.
fn listen(ns: &Netns, seconds: f64) -> Child {
    let script = "import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.1)
end = time.time() + float(sys.argv[3])
sizes = []
print('ready', flush=True)
while time.time() < end:
    try:
        sizes.append(len(s.recv(65535)))
    except socket.timeout:
        pass
print(' '.join(map(str, sizes)))";
    let mut command = ns.command(&["python3", "-c", script]);
    command.args([LISTEN_ADDR, LISTEN_PORT, &seconds.to_string()]);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 (tests/run installs it)");
    // Wait for the bind: the first line.
    let mut line = [0u8; 6];
    std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut line)
        .expect("the listener did not start");
    child
}

/// The lengths of the datagrams a `listen` child received.
fn received(child: Child) -> Vec<usize> {
    let output = child.wait_with_output().expect("listener");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|n| n.parse().expect("a length"))
        .collect()
}

#[test]
fn wg_set_accepts_low_order_keys_but_not_a_datagram_leaves_for_them() {
    let gw_ns = Netns::new();
    let far = Netns::new();
    netns::link(&gw_ns, "10.200.1.1/24", &far, &format!("{LISTEN_ADDR}/24"));
    let gw_keys = Keypair::generate();
    let name = unique("wglo");
    let tunnel = TunnelSpec::new(&name, 51820, &gw_keys, &["10.70.0.1/24"]);
    let mut config = GatewayConfig::new(vec![tunnel]);
    config.shards = Some(2);
    let gw = Gateway::start(&gw_ns, &config, &[]);
    let endpoint = format!("{LISTEN_ADDR}:{LISTEN_PORT}");

    let listener = listen(&far, 4.0);
    let keys: Vec<String> = low_order_encodings()
        .map(|bytes| PublicKey(bytes).to_base64())
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let allowed = format!("10.70.0.{}/32", 100 + i);
        gw.wg(&[
            "set",
            &name,
            "peer",
            key,
            "endpoint",
            &endpoint,
            "persistent-keepalive",
            "1",
            "allowed-ips",
            &allowed,
        ]);
    }
    // Accepted, as the kernel accepts them.
    let mut listed = gw.peers(&name);
    let mut expected = keys.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "wg set refused a low-order key");
    // Traffic for every one of them, which would start a handshake with any other peer.
    let pings = format!(
        "for i in $(seq 100 {}); do ping -c 2 -i 0.2 -W 1 10.70.0.$i >/dev/null & done; wait",
        100 + keys.len() - 1
    );
    gw_ns.try_run(&["sh", "-c", &pings]);
    let got = received(listener);
    assert!(
        got.is_empty(),
        "datagrams sent to low-order peers (lengths {got:?})"
    );
    let stats = gw.stats(&name);
    assert_eq!(
        stats.get("total", "handshake_initiations_sent"),
        0,
        "{}",
        stats.raw
    );
    assert!(
        stats.get("total", "drop_low_order_key") > 0,
        "{}",
        stats.raw
    );
    assert!(
        gw.stderr().contains("low-order point"),
        "no warning logged:\n{}",
        gw.stderr()
    );

    // The control: an ordinary peer at the same endpoint is reached at once.
    let listener = listen(&far, 3.0);
    let ordinary = Keypair::generate().public;
    gw.wg(&[
        "set",
        &name,
        "peer",
        &ordinary,
        "endpoint",
        &endpoint,
        "persistent-keepalive",
        "1",
        "allowed-ips",
        "10.70.0.99/32",
    ]);
    let got = received(listener);
    assert!(
        got.contains(&wiregate_core::protocol::HANDSHAKE_INITIATION_LEN),
        "no initiation reached the listener for an ordinary peer ({got:?}): the listener proves nothing"
    );
}
