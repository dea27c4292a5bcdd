//! The linux-kernel backend against the kernel's own WireGuard module, in a network
//! namespace of the test's own. This machine's kernel has none, so `tests/run` runs these
//! under a kernel that has it, in a VM (`tests/kernel-vm`).
#![cfg(target_os = "linux")]

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::process::Command;
use wiregate_core::{Backend, PeerConfig, PresharedKey, PrivateKey, TunnelConfig};
use wiregate_kernel::KernelTunnel;
use wiregate_netconf as netconf;

fn enter_namespace() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("this test needs root: it makes a network namespace");
    netconf::configure_link("lo", 65_535, &[]).expect("loopback up");
}

fn wg(args: &[&str]) {
    let out = Command::new("wg")
        .args(args)
        .output()
        .expect("wg (wireguard-tools)");
    assert!(
        out.status.success(),
        "wg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 5,000 peers: one address each, every 250th also 120 routed prefixes; some with a
/// preshared key, an endpoint and a keepalive.
fn big_tunnel() -> TunnelConfig {
    let peers = (0..5000u32)
        .map(|n| {
            let mut p = PeerConfig::new(PrivateKey::generate().public_key());
            let host: IpNet = format!("10.99.{}.{}/32", n / 250, n % 250 + 1)
                .parse()
                .unwrap();
            p.allowed_ips = vec![host];
            if n % 250 == 0 {
                p.allowed_ips.extend((0..120u32).map(|i| {
                    format!("172.{}.{}.0/24", 16 + n / 250, i)
                        .parse::<IpNet>()
                        .unwrap()
                }));
            }
            if n % 7 == 0 {
                p.preshared_key = Some(PresharedKey::generate());
                p.endpoint = Some(
                    format!("192.0.2.{}:{}", n % 200 + 1, 40000 + n)
                        .parse()
                        .unwrap(),
                );
                p.persistent_keepalive = Some(25);
            }
            p
        })
        .collect();
    TunnelConfig {
        name: "wgk5k".into(),
        listen_port: 51820,
        private_key: PrivateKey::generate(),
        addresses: vec!["10.99.255.254/16".parse().unwrap()],
        mtu: 1420,
        fwmark: 0,
        peers,
    }
}

/// Asserts the kernel's device is `want`, peer by peer.
fn assert_matches(tunnel: &KernelTunnel, want: &TunnelConfig) {
    let state = tunnel.state().expect("state");
    assert_eq!(state.public_key, want.private_key.public_key());
    assert_eq!(state.listen_port, want.listen_port);
    let got: BTreeMap<_, _> = state.peers.iter().map(|p| (p.public_key, p)).collect();
    assert_eq!(got.len(), want.peers.len(), "peer count");
    for p in &want.peers {
        let have = got
            .get(&p.public_key)
            .unwrap_or_else(|| panic!("peer {} missing", p.public_key));
        let mut ips = have.allowed_ips.clone();
        let mut expected = p.allowed_ips.clone();
        ips.sort();
        expected.sort();
        assert_eq!(ips, expected, "allowed IPs of {}", p.public_key);
        assert_eq!(have.persistent_keepalive, p.persistent_keepalive);
        assert_eq!(have.has_preshared_key, p.preshared_key.is_some());
        if p.endpoint.is_some() {
            assert_eq!(have.endpoint, p.endpoint);
        }
    }
}

#[test]
#[ignore = "needs a kernel with WireGuard: tests/run runs it under tests/kernel-vm"]
fn in_kernel_five_thousand_peers_read_back_exactly_and_drift_is_repaired() {
    enter_namespace();
    let mut config = big_tunnel();
    let tunnel = KernelTunnel::create(&config).expect("a kernel WireGuard tunnel");
    assert_matches(&tunnel, &config);
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "dev", "wgk5k"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).lines().count();
    assert!(
        routes >= 20 * 120,
        "routes for the peers' prefixes: {routes}"
    );

    // Behind wiregate's back: a peer removed, another's allowed IPs replaced.
    let (a, b) = (
        config.peers[1].public_key.to_base64(),
        config.peers[2].public_key.to_base64(),
    );
    wg(&["set", "wgk5k", "peer", &a, "remove"]);
    wg(&["set", "wgk5k", "peer", &b, "allowed-ips", "10.250.0.1/32"]);
    tunnel.apply(&config).expect("the reconcile pass");
    assert_matches(&tunnel, &config);

    // A change of a few peers, as the API makes them.
    config.peers.remove(3);
    config.peers[4]
        .allowed_ips
        .push("10.251.0.0/24".parse().unwrap());
    config
        .peers
        .push(PeerConfig::new(PrivateKey::generate().public_key()));
    tunnel.apply(&config).expect("an incremental change");
    assert_matches(&tunnel, &config);

    drop(tunnel);
    let link = Command::new("ip")
        .args(["link", "show", "wgk5k"])
        .output()
        .unwrap();
    assert!(!link.status.success(), "the link goes with the tunnel");
}
