//! The stock `wg` tool against the running gateway: show, dump, set, remove, showconf and
//! setconf, and refused changes that must leave the configuration as it was.

use crate::gateway::{Gateway, GatewayConfig, PeerSpec, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::{self, Keypair, uapi, uapi_errno};
use std::fs;

#[test]
fn wg_tool_shows_and_changes_the_running_gateway() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let psk = wg::genpsk();
    let mut with_psk = SiteSpec::hub(1, 2, &gw_keys.public);
    with_psk.preshared_key = Some(psk.clone());
    let sites = [
        Site::new(&gw_ns, &with_psk),
        Site::new(&gw_ns, &SiteSpec::hub(2, 3, &gw_keys.public)),
    ];
    // A configured peer that never shows up.
    let ghost = Keypair::generate();
    let mut ghost_peer = PeerSpec::new(&ghost.public, &["10.70.0.40/32", "10.80.0.0/16"]);
    ghost_peer.persistent_keepalive = Some(25);

    let name = unique("wgw");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers = sites.iter().map(Site::gateway_peer).collect();
    tunnel.peers.push(ghost_peer);
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);

    // `wg show <t>` lists the interface and every configured peer.
    let show = gw.wg(&["show", &name]);
    assert!(show.contains(&format!("interface: {name}")), "{show}");
    assert!(
        show.contains(&format!("public key: {}", gw_keys.public)),
        "{show}"
    );
    assert!(
        show.contains(&format!("listening port: {GW_PORT}")),
        "{show}"
    );
    for key in [
        &sites[0].client.keys.public,
        &sites[1].client.keys.public,
        &ghost.public,
    ] {
        assert!(
            show.contains(&format!("peer: {key}")),
            "peer {key} missing:\n{show}"
        );
    }

    for site in &sites {
        must_ping(&site.ns, "10.70.0.1");
    }

    // `wg show <t> dump`: every field.
    let dump = gw.dump(&name);
    assert_eq!(dump.private_key, gw_keys.private);
    assert_eq!(dump.public_key, gw_keys.public);
    assert_eq!(dump.listen_port, GW_PORT);
    assert_eq!(dump.fwmark, "off");
    assert_eq!(dump.peers.len(), 3, "{dump:#?}");
    for (site, expected_psk) in sites.iter().zip([psk.as_str(), "(none)"]) {
        let peer = dump.peer(&site.client.keys.public);
        assert_eq!(peer.preshared_key, expected_psk);
        assert_eq!(peer.endpoint, site.endpoint());
        let mut allowed_ips = site.gateway_peer().allowed_ips;
        allowed_ips.sort();
        assert_eq!(peer.allowed_ips, allowed_ips);
        assert!(peer.latest_handshake > 0, "{peer:?}");
        assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0, "{peer:?}");
        assert_eq!(peer.persistent_keepalive, "off");
    }
    let peer = dump.peer(&ghost.public);
    assert_eq!(
        (
            peer.preshared_key.as_str(),
            peer.endpoint.as_str(),
            peer.latest_handshake
        ),
        ("(none)", "(none)", 0)
    );
    assert_eq!(peer.allowed_ips, ["10.70.0.40/32", "10.80.0.0/16"]);
    assert_eq!((peer.rx_bytes, peer.tx_bytes), (0, 0));
    assert_eq!(peer.persistent_keepalive, "25");

    // `wg set` adds a peer, `remove` removes it.
    let newcomer = Keypair::generate().public;
    gw.wg(&[
        "set",
        &name,
        "peer",
        &newcomer,
        "allowed-ips",
        "10.70.0.50/32",
    ]);
    let peers = gw.peers(&name);
    assert!(peers.contains(&newcomer), "added peer missing: {peers:?}");
    assert_eq!(
        gw.dump(&name).peer(&newcomer).allowed_ips,
        ["10.70.0.50/32"]
    );
    gw.wg(&["set", &name, "peer", &newcomer, "remove"]);
    let mut expected = vec![
        sites[0].client.keys.public.clone(),
        sites[1].client.keys.public.clone(),
        ghost.public.clone(),
    ];
    expected.sort();
    assert_eq!(gw.peers(&name), expected, "after removing {newcomer}");

    // `wg showconf` fed back with `wg setconf` leaves the same configuration.
    let before = gw.dump(&name).config();
    let conf = gw.wg(&["showconf", &name]);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf_path = dir.path().join(format!("{name}.conf"));
    fs::write(&conf_path, &conf).expect("writing showconf output");
    gw.wg(&["setconf", &name, conf_path.to_str().expect("utf-8 path")]);
    assert_eq!(
        gw.dump(&name).config(),
        before,
        "setconf of showconf changed the configuration:\n{conf}"
    );
    // The tunnel still works (the gateway may have to handshake again).
    for site in &sites {
        must_ping(&gw_ns, site.ip(0));
    }

    // Refused changes leave everything as it was.
    let before = gw.dump(&name).config();
    let known = &sites[1].client.keys.public;
    for args in [
        vec!["set", &name, "peer", known, "allowed-ips", "10.70.0.0/33"],
        vec![
            "set",
            &name,
            "peer",
            "not-a-key",
            "allowed-ips",
            "10.70.0.60/32",
        ],
        vec!["set", &name, "private-key", "/nonexistent/key"],
    ] {
        let outcome = gw.try_wg(&args);
        assert!(!outcome.success(), "`wg {}` succeeded", args.join(" "));
    }
    // The same, straight to the UAPI socket, past `wg`'s own checks.
    let known_hex = wg::base64_to_hex(known);
    for request in [
        format!("set=1\npublic_key={known_hex}\nallowed_ip=10.70.0.0/33\n\n"),
        format!("set=1\npublic_key={known_hex}\nendpoint=10.200.2.2:notaport\n\n"),
        "set=1\nprivate_key=zz\n\n".to_owned(),
        "set=1\nlisten_port=notaport\n\n".to_owned(),
        "set=1\nno_such_key=1\n\n".to_owned(),
    ] {
        let answer = uapi(&name, &request);
        assert_ne!(
            uapi_errno(&answer),
            0,
            "UAPI accepted {request:?}: {answer:?}"
        );
    }
    assert_eq!(
        gw.dump(&name).config(),
        before,
        "a refused change altered the configuration"
    );
    // The socket still answers ordinary requests.
    let answer = uapi(&name, "get=1\n\n");
    assert_eq!(uapi_errno(&answer), 0, "{answer}");
    assert!(
        answer.contains(&format!("listen_port={GW_PORT}\n")),
        "{answer}"
    );
}
