//! Configuring a tunnel the way an operator would with any userspace implementation:
//! keys and the one peer through `wg set` (over the daemon's UAPI socket), then the
//! address, MTU and link state through `ip`.

use super::process::{command, run_ok};
use super::topology::{End, ip, tunnel_prefix};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use std::io::Write as _;
use x25519_dalek::{PublicKey, StaticSecret};

/// The UDP port each end listens on (each in its own namespace, so the same on both).
pub const LISTEN_PORT: u16 = 51820;
/// 1500 on the veth less the IPv4 and WireGuard overheads, as wg-quick sets it.
pub const MTU: &str = "1420";

/// A key pair, base64 as `wg` reads and prints keys.
#[derive(Debug)]
pub struct KeyPair {
    pub private: String,
    pub public: String,
}

impl KeyPair {
    /// The private key in a temporary file, as `wg` reads private keys only from files;
    /// it is deleted when the returned handle is dropped.
    pub fn private_key_file(&self) -> Result<tempfile::NamedTempFile, String> {
        let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("key file: {e}"))?;
        writeln!(file, "{}", self.private).map_err(|e| format!("key file: {e}"))?;
        Ok(file)
    }

    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        // Clamped as `wg genkey` does, so the key has the usual shape.
        secret[0] &= 248;
        secret[31] = (secret[31] & 127) | 64;
        let public = PublicKey::from(&StaticSecret::from(secret));
        Self {
            private: STANDARD.encode(secret),
            public: STANDARD.encode(public.as_bytes()),
        }
    }
}

/// One end's side of the tunnel: its interface and key, and the other end as its peer.
#[derive(Debug)]
pub struct Side<'a> {
    pub end: &'a End,
    pub interface: &'a str,
    pub keys: &'a KeyPair,
}

/// Gives `own` its key and `peer` as its only peer (endpoint on the underlay, the peer's
/// tunnel address as allowed IPs), then its address, MTU and link up.
pub fn configure(own: &Side, peer: &Side) -> Result<(), String> {
    let key_file = own.keys.private_key_file()?;
    let endpoint = format!("{}:{LISTEN_PORT}", peer.end.underlay);
    let allowed = format!("{}/32", peer.end.tunnel);
    run_ok(
        command(Some(&own.end.namespace), "wg")
            .args(["set", own.interface, "private-key"])
            .arg(key_file.path())
            .args(["listen-port", &LISTEN_PORT.to_string()])
            .args(["peer", &peer.keys.public, "endpoint", &endpoint])
            .args(["allowed-ips", &allowed]),
    )?;
    let address = tunnel_prefix(own.end);
    ip(own.end, &["addr", "add", &address, "dev", own.interface])?;
    ip(own.end, &["link", "set", own.interface, "mtu", MTU, "up"])?;
    Ok(())
}
