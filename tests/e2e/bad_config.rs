//! `wiregate serve` refuses bad configuration files: non-zero exit, within seconds, with a
//! message naming the problem, and nothing left behind.

use crate::gateway::{quote, serve_once};
use crate::names::unique;
use crate::netns::Netns;
use crate::wg::{Keypair, socket_path};

/// Runs serve on `toml` (with `{name}` standing for a fresh tunnel name) and checks that it
/// fails mentioning every one of `expected` (case-insensitively).
fn refused(toml: &str, expected: &[&str]) {
    let ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = unique("wgb");
    let toml = toml.replace("{name}", &quote(&name));
    let outcome = serve_once(&ns, &toml, dir.path());
    assert!(
        !outcome.success(),
        "wiregate serve accepted:\n{toml}\n{}",
        outcome.report()
    );
    let stderr = outcome.stderr.to_lowercase();
    for word in expected {
        assert!(
            stderr.contains(&word.to_lowercase()),
            "stderr does not mention {word:?} for:\n{toml}\n{}",
            outcome.report()
        );
    }
    assert!(
        !socket_path(&name).exists(),
        "a UAPI socket was left for {name}"
    );
    assert!(!ns.has_link(&name), "an interface {name} was left");
}

fn peer(allowed_ips: &str) -> String {
    format!(
        "\n[[tunnel.peer]]\npublic_key = {}\nallowed_ips = [{allowed_ips}]\n",
        quote(&Keypair::generate().public)
    )
}

fn tunnel(private_key: &str) -> String {
    format!(
        "[[tunnel]]\nname = {{name}}\nlisten_port = 51820\nprivate_key = {}\naddresses = [\"10.70.0.1/24\"]\n",
        quote(private_key)
    )
}

#[test]
fn invalid_private_key_is_refused() {
    refused(
        &(tunnel("not-a-valid-key") + &peer("\"10.70.0.2/32\"")),
        &["key"],
    );
}

#[test]
fn invalid_peer_key_is_refused() {
    let private = Keypair::generate().private;
    let toml = tunnel(&private)
        + "\n[[tunnel.peer]]\npublic_key = \"AAAA\"\nallowed_ips = [\"10.70.0.2/32\"]\n";
    refused(&toml, &["key"]);
}

#[test]
fn overlapping_allowed_ips_are_refused() {
    let private = Keypair::generate().private;
    let toml = tunnel(&private) + &peer("\"10.70.0.0/28\"") + &peer("\"10.70.0.7/32\"");
    refused(&toml, &["overlap"]);
}

#[test]
fn unknown_field_is_refused() {
    let private = Keypair::generate().private;
    let toml = tunnel(&private).replace("listen_port", "colour = \"blue\"\nlisten_port")
        + &peer("\"10.70.0.2/32\"");
    refused(&toml, &["unknown field", "colour"]);
}

#[test]
fn low_order_peer_key_is_refused() {
    let private = Keypair::generate().private;
    // p + 1 (2^255 - 18): a non-canonical encoding of the order-4 point u = 1.
    let mut low = [0xff_u8; 32];
    low[0] = 0xee;
    low[31] = 0x7f;
    let key = wiregate_core::PublicKey(low).to_base64();
    let toml = tunnel(&private)
        + &format!(
            "\n[[tunnel.peer]]\npublic_key = {}\nallowed_ips = [\"10.70.0.2/32\"]\n",
            quote(&key)
        );
    refused(
        &toml,
        &["low-order point", &format!("peer public_key \"{key}\"")],
    );
}
