//! `Type=notify` as systemd sees it: a datagram socket in `NOTIFY_SOCKET` receives READY=1
//! only once the tunnel's interface and UAPI socket exist and the API answers, WATCHDOG=1
//! at half of `WATCHDOG_USEC`, and STOPPING=1 on SIGTERM.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::topo::GW_PORT;
use crate::wg::{Keypair, socket_path};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The next notification, or `None` after `within`.
fn next(socket: &UnixDatagram, within: Duration) -> Option<String> {
    socket.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn ready_after_the_tunnels_then_watchdog_pings_then_stopping() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).expect("notify socket");
    let name = unique("wgn");
    let tunnel = TunnelSpec::new(&name, GW_PORT, &Keypair::generate(), &["10.70.0.1/24"]);
    let mut config = GatewayConfig::new(vec![tunnel]);
    config.env = vec![
        ("NOTIFY_SOCKET".into(), path.to_string_lossy().into_owned()),
        ("WATCHDOG_USEC".into(), "400000".into()),
    ];
    let mut gw = Gateway::spawn(&ns, &config, &[]);

    let first = next(&socket, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no notification within 10 s:\n{}", gw.stderr()));
    assert!(
        first.contains("READY=1"),
        "the first notification: {first:?}"
    );
    // At READY=1 everything must already be up: nothing here waits.
    assert!(ns.has_link(&name), "READY=1 before the tunnel's interface");
    assert!(
        socket_path(&name).exists(),
        "READY=1 before the UAPI socket"
    );
    assert_eq!(
        gw.try_api(None, "GET", "/v1/health")
            .map(|(status, _)| status),
        Some(200),
        "READY=1 before the API answers"
    );

    // Pings at half of 400 ms: at least 3 in a second.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(1) {
        match next(&socket, Duration::from_millis(500)) {
            Some(message) if message.contains("WATCHDOG=1") => pings += 1,
            Some(other) => panic!("unexpected notification {other:?}"),
            None => break,
        }
    }
    assert!(pings >= 3, "{pings} watchdog pings in a second");

    let status = gw.stop("TERM");
    assert!(status.success(), "{status}\n{}", gw.stderr());
    let mut seen = Vec::new();
    while let Some(message) = next(&socket, Duration::from_millis(200)) {
        seen.push(message);
    }
    assert!(
        seen.iter().any(|m| m.contains("STOPPING=1")),
        "no STOPPING=1 after SIGTERM: {seen:?}"
    );
}
