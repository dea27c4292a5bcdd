//! The `wiregate tunnel` / `wiregate peer` command line against a running gateway.

use crate::cmd;
use crate::gateway::{API_TOKEN, Gateway, GatewayConfig, bin};
use crate::names::unique;
use crate::netns::Netns;
use std::time::Duration;

fn wiregate(ns: &Netns, args: &[&str]) -> cmd::Outcome {
    let mut command = ns.command(&[bin().to_str().expect("utf-8 path")]);
    command.args(args).args(["--token", API_TOKEN]);
    cmd::try_run_cmd(&mut command, None, Duration::from_secs(20))
}

fn ok(ns: &Netns, args: &[&str]) -> String {
    let outcome = wiregate(ns, args);
    assert!(
        outcome.success(),
        "wiregate {}:\n{}",
        args.join(" "),
        outcome.report()
    );
    outcome.stdout
}

#[test]
fn the_cli_manages_tunnels_and_peers() {
    let ns = Netns::new();
    let gw = Gateway::spawn(&ns, &GatewayConfig::new(vec![]), &[]);
    gw.wait_for_api();

    let tunnel = unique("wgcli");
    ok(
        &ns,
        &[
            "tunnel",
            "add",
            &tunnel,
            "--port",
            "51820",
            "--address",
            "10.70.0.1/24",
            "--pool",
            "10.70.0.0/24",
            "--endpoint",
            "192.0.2.1:51820",
        ],
    );
    let list = ok(&ns, &["tunnel", "list"]);
    assert!(list.contains(&tunnel) && list.contains("running"), "{list}");

    let added = ok(&ns, &["peer", "add", &tunnel, "laptop", "--psk", "--qr"]);
    assert!(
        added.contains("PrivateKey = ") && added.contains("Address = 10.70.0.2/32"),
        "{added}"
    );
    assert!(added.contains('█'), "no QR code printed:\n{added}");
    let peers = ok(&ns, &["peer", "list", &tunnel]);
    assert!(
        peers.contains("laptop") && peers.contains("10.70.0.2/32"),
        "{peers}"
    );
    let json = ok(&ns, &["peer", "show", &tunnel, "1", "--json"]);
    assert!(json.contains("\"has_preshared_key\": true"), "{json}");
    let config = ok(&ns, &["peer", "config", &tunnel, "1"]);
    assert!(config.contains("Endpoint = 192.0.2.1:51820"), "{config}");
    assert!(ok(&ns, &["peer", "disable", &tunnel, "1"]).contains("enabled: false"));

    // Mistakes: a clear message and a failing exit status.
    let bad = wiregate(&ns, &["peer", "add", &tunnel, "x", "--public-key", "nope"]);
    assert!(
        !bad.success() && bad.stderr.contains("invalid_key"),
        "{}",
        bad.report()
    );
    let missing = wiregate(&ns, &["peer", "rm", &tunnel, "99"]);
    assert!(
        !missing.success() && missing.stderr.contains("not_found"),
        "{}",
        missing.report()
    );

    ok(&ns, &["peer", "rm", &tunnel, "1"]);
    assert!(!ok(&ns, &["peer", "list", &tunnel]).contains("laptop"));
    ok(&ns, &["tunnel", "rm", &tunnel]);
    assert!(!ns.has_link(&tunnel), "the tunnel's interface outlived it");
}

#[test]
fn the_cli_refuses_low_order_keys() {
    let ns = Netns::new();
    let gw = Gateway::spawn(&ns, &GatewayConfig::new(vec![]), &[]);
    gw.wait_for_api();
    let tunnel = unique("wgcli");
    ok(&ns, &["tunnel", "add", &tunnel, "--port", "51820"]);
    for bytes in wiregate_core::low_order::low_order_encodings() {
        let key = wiregate_core::PublicKey(bytes).to_base64();
        let refused = wiregate(&ns, &["peer", "add", &tunnel, "low", "--public-key", &key]);
        assert!(
            !refused.success()
                && refused.stderr.contains("invalid_key")
                && refused.stderr.contains("low-order point"),
            "{key}: {}",
            refused.report()
        );
    }
    assert!(!ok(&ns, &["peer", "list", &tunnel]).contains("low"));
}
