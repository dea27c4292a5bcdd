//! What `wiregate serve` sets up, where its keys come from, and that SIGTERM and SIGINT
//! stop it cleanly.

use crate::gateway::{Gateway, GatewayConfig, KeySource, PeerSpec, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::wg::{self, Keypair, socket_path};
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn link_flags(line: &str) -> Vec<String> {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn serve_sets_up_tunnels_keeps_its_key_and_stops_cleanly() {
    let ns = Netns::new();
    let state = tempfile::tempdir().expect("tempdir");
    let state_arg = state.path().to_str().expect("utf-8 path").to_owned();
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let file_keys = Keypair::generate();
    let key_file = keys_dir.path().join("tunnel.key");
    fs::write(&key_file, format!("{}\n", file_keys.private)).expect("writing key");
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).expect("chmod");

    let t1 = unique("wgl");
    let t2 = unique("wgl");
    let peer = PeerSpec::new(
        &Keypair::generate().public,
        &["10.70.0.2/32", "10.99.0.0/16", "fd99::/64"],
    );
    let config = GatewayConfig::new(vec![
        TunnelSpec {
            name: t1.clone(),
            listen_port: 51820,
            key: KeySource::Generated,
            addresses: vec!["10.70.0.1/24".into(), "fd70::1/64".into()],
            mtu: None,
            peers: vec![peer],
            backend: None,
        },
        TunnelSpec {
            name: t2.clone(),
            listen_port: 51821,
            key: KeySource::File(key_file),
            addresses: vec!["10.71.0.1/24".into()],
            mtu: Some(1380),
            peers: vec![],
            backend: None,
        },
    ]);
    let mut gw = Gateway::start(&ns, &config, &["--state-dir", &state_arg]);

    // Keys: generated into the state dir (0600), or read from the file.
    let generated = state.path().join(format!("{t1}.key"));
    let mode = fs::metadata(&generated)
        .unwrap_or_else(|e| panic!("no generated key {}: {e}", generated.display()))
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "{} has mode {mode:o}",
        generated.display()
    );
    let generated_pub = wg::pubkey(fs::read_to_string(&generated).expect("key").trim());
    assert_eq!(gw.wg(&["show", &t1, "public-key"]).trim(), generated_pub);
    assert_eq!(gw.wg(&["show", &t2, "public-key"]).trim(), file_keys.public);
    assert_eq!(gw.wg(&["show", &t2, "listen-port"]).trim(), "51821");

    // Interfaces: up, with their MTU, addresses and routes to the peers' allowed IPs.
    for (tunnel, mtu) in [(&t1, "mtu 1420"), (&t2, "mtu 1380")] {
        let link = ns.run(&["ip", "-o", "link", "show", "dev", tunnel]);
        assert!(
            link_flags(&link).contains(&"UP".to_owned()),
            "{tunnel} is not up: {link}"
        );
        assert!(link.contains(mtu), "{tunnel} should have {mtu}: {link}");
    }
    let addrs = ns.run(&["ip", "-o", "addr", "show", "dev", &t1]);
    for addr in ["10.70.0.1/24", "fd70::1/64"] {
        assert!(addrs.contains(addr), "{t1} lacks {addr}:\n{addrs}");
    }
    assert!(
        ns.run(&["ip", "-o", "addr", "show", "dev", &t2])
            .contains("10.71.0.1/24")
    );
    for (family, addr) in [("-4", "10.99.1.1"), ("-6", "fd99::1")] {
        let route = ns.run(&["ip", family, "route", "get", addr]);
        assert!(
            route.contains(&format!("dev {t1} ")),
            "{addr} is not routed to {t1}: {route}"
        );
    }

    // SIGTERM: exit 0, sockets and interfaces gone.
    let status = gw.stop("TERM");
    assert!(
        status.success(),
        "exit {status} on SIGTERM:\n{}",
        gw.stderr()
    );
    for tunnel in [&t1, &t2] {
        assert!(
            !socket_path(tunnel).exists(),
            "{tunnel}'s socket left after SIGTERM"
        );
        assert!(!ns.has_link(tunnel), "{tunnel} left after SIGTERM");
    }
    drop(gw);

    // A restart keeps the generated key; SIGINT stops it as cleanly.
    let mut gw = Gateway::start(&ns, &config, &["--state-dir", &state_arg]);
    assert_eq!(
        gw.wg(&["show", &t1, "public-key"]).trim(),
        generated_pub,
        "the key changed"
    );
    let status = gw.stop("INT");
    assert!(
        status.success(),
        "exit {status} on SIGINT:\n{}",
        gw.stderr()
    );
    for tunnel in [&t1, &t2] {
        assert!(
            !socket_path(tunnel).exists(),
            "{tunnel}'s socket left after SIGINT"
        );
        assert!(!ns.has_link(tunnel), "{tunnel} left after SIGINT");
    }
}
