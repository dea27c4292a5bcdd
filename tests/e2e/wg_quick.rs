//! wiregate as wg-quick's userspace implementation (the wireguard-go drop-in).

use crate::cmd::{self, wait_for};
use crate::gateway::bin;
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{Site, SiteSpec};
use crate::wg::{Keypair, socket_path};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PORT: u16 = 51830;

/// `wg-quick down` on drop, unless the test already took the interface down.
#[derive(Debug)]
struct Up<'a> {
    ns: &'a Netns,
    conf: PathBuf,
    iface: String,
    up: bool,
}

impl Up<'_> {
    fn run(ns: &Netns, action: &str, conf: &Path) -> cmd::Outcome {
        let implementation = format!("WG_QUICK_USERSPACE_IMPLEMENTATION={}", bin().display());
        let conf = conf.to_str().expect("utf-8 path");
        cmd::try_run_cmd(
            &mut ns.command(&["env", &implementation, "wg-quick", action, conf]),
            None,
            Duration::from_secs(30),
        )
    }
}

impl Drop for Up<'_> {
    fn drop(&mut self) {
        if self.up {
            let implementation = format!("WG_QUICK_USERSPACE_IMPLEMENTATION={}", bin().display());
            let conf = self.conf.to_string_lossy().into_owned();
            let _ = cmd::exec(
                &mut self
                    .ns
                    .command(&["env", &implementation, "wg-quick", "down", &conf]),
                None,
                Duration::from_secs(10),
            );
        }
        let _ = fs::remove_file(socket_path(&self.iface));
    }
}

#[test]
fn wg_quick_up_and_down_with_wiregate() {
    up_ping_down("10.72.0.2/32", false);
}

/// A full tunnel: wg-quick routes everything through the interface and keeps the tunnel's
/// own datagrams out of it by their fwmark, which only works if wiregate marks them. The
/// peer's endpoint is behind the default route (not on the link), as on a real host, so
/// that the datagrams have no other way out.
#[test]
fn wg_quick_full_tunnel_relies_on_fwmark() {
    up_ping_down("0.0.0.0/0", true);
}

fn up_ping_down(allowed_ips: &str, endpoint_via_default_route: bool) {
    let ns = Netns::new();
    let keys = Keypair::generate();
    let site = Site::new(
        &ns,
        &SiteSpec {
            link: 1,
            addresses: vec!["10.72.0.2/24".into()],
            routes: vec!["10.72.0.0/24".into()],
            gateway_key: keys.public.clone(),
            gateway_port: PORT,
            preshared_key: None,
        },
    );
    let endpoint = if endpoint_via_default_route {
        site.ns
            .run(&["ip", "addr", "add", "10.201.0.2/32", "dev", "lo"]);
        ns.run(&["ip", "route", "add", "default", "via", "10.200.1.2"]);
        format!("10.201.0.2:{}", site.client.listen_port)
    } else {
        site.endpoint()
    };
    let iface = unique("wgq");
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join(format!("{iface}.conf"));
    fs::write(
        &conf,
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = 10.72.0.1/24\nListenPort = {PORT}\n\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = {allowed_ips}\nEndpoint = {}\n",
            keys.private, site.client.keys.public, endpoint
        ),
    )
    .expect("writing wg-quick config");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).expect("chmod");

    let outcome = Up::run(&ns, "up", &conf);
    let mut up = Up {
        ns: &ns,
        conf: conf.clone(),
        iface: iface.clone(),
        up: true,
    };
    assert!(
        outcome.success(),
        "wg-quick up failed:\n{}",
        outcome.report()
    );
    assert!(ns.has_link(&iface), "wg-quick up left no interface {iface}");
    assert!(socket_path(&iface).exists(), "no UAPI socket for {iface}");

    must_ping(&ns, site.ip(0));
    must_ping(&site.ns, "10.72.0.1");
    let dump = crate::wg::Dump::parse(&ns.run(&["wg", "show", &iface, "dump"]));
    assert_eq!(dump.public_key, keys.public);
    assert_eq!(dump.listen_port, PORT);
    let peer = dump.peer(&site.client.keys.public);
    assert_eq!(peer.endpoint, endpoint);
    assert!(peer.latest_handshake > 0, "{peer:?}");
    let link = ns.run(&["ip", "-o", "link", "show", "dev", &iface]);
    assert!(
        link.contains("mtu 1420"),
        "wg-quick's MTU not applied: {link}"
    );

    let outcome = Up::run(&ns, "down", &conf);
    up.up = false;
    assert!(
        outcome.success(),
        "wg-quick down failed:\n{}",
        outcome.report()
    );
    assert!(
        !ns.has_link(&iface),
        "{iface} still exists after wg-quick down"
    );
    // Like wireguard-go, the daemon goes with its interface.
    let socket = socket_path(&iface);
    assert!(
        wait_for(Duration::from_secs(5), || (!socket.exists()).then_some(())).is_some(),
        "{} still exists 5 s after wg-quick down",
        socket.display()
    );
    assert!(
        wait_for(Duration::from_secs(5), || ns
            .pids()
            .is_empty()
            .then_some(()))
        .is_some(),
        "the wiregate daemon still runs 5 s after wg-quick down (pids {:?})",
        ns.pids()
    );
}
