//! WireGuard keys, `wg show <iface> dump` parsing and raw UAPI requests.

use crate::cmd::{self, TIMEOUT};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Keypair {
    pub private: String,
    pub public: String,
}

impl Keypair {
    pub fn generate() -> Self {
        let private = cmd::run(&["wg", "genkey"]).trim().to_owned();
        let public = pubkey(&private);
        Keypair { private, public }
    }
}

/// The public key of a base64 private key, as `wg pubkey` computes it.
pub fn pubkey(private: &str) -> String {
    cmd::run_cmd(&mut cmd::command(&["wg", "pubkey"]), Some(private), TIMEOUT)
        .trim()
        .to_owned()
}

/// A fresh preshared key.
pub fn genpsk() -> String {
    cmd::run(&["wg", "genpsk"]).trim().to_owned()
}

/// Where a WireGuard implementation serves its UAPI for `iface`.
pub fn socket_path(iface: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/wireguard/{iface}.sock"))
}

/// Decodes standard base64 (as WireGuard keys are written) to lowercase hex, as UAPI wants.
pub fn base64_to_hex(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut hex = String::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {text}")) as u32;
        bits = (bits << 6) | value;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            hex.push_str(&format!("{:02x}", (bits >> nbits) & 0xff));
        }
    }
    hex
}

/// Sends one raw UAPI request (`get=1\n\n`, `set=1\n...\n\n`) and returns the answer.
pub fn uapi(iface: &str, request: &str) -> String {
    let path = socket_path(iface);
    let mut stream = UnixStream::connect(&path)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", path.display()));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .write_all(request.as_bytes())
        .expect("writing UAPI request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("no complete UAPI answer for {request:?}: {e}"));
        answer.extend_from_slice(&buf[..n]);
        if n == 0 || answer.ends_with(b"\n\n") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The `errno=N` of a UAPI answer; panics if there is none.
pub fn uapi_errno(answer: &str) -> i64 {
    answer
        .lines()
        .find_map(|line| line.strip_prefix("errno="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("UAPI answer without errno: {answer:?}"))
}

/// `wg show <iface> dump`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub private_key: String,
    pub public_key: String,
    pub listen_port: u16,
    pub fwmark: String,
    pub peers: Vec<DumpPeer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpPeer {
    pub public_key: String,
    pub preshared_key: String,
    pub endpoint: String,
    /// Sorted, "(none)" left out.
    pub allowed_ips: Vec<String>,
    pub latest_handshake: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub persistent_keepalive: String,
}

impl Dump {
    pub fn parse(text: &str) -> Dump {
        let mut lines = text.lines().filter(|line| !line.trim().is_empty());
        let first: Vec<&str> = lines
            .next()
            .unwrap_or_else(|| panic!("empty dump"))
            .split('\t')
            .collect();
        assert_eq!(first.len(), 4, "bad interface line in dump:\n{text}");
        let number = |field: &str| -> u64 {
            field
                .parse()
                .unwrap_or_else(|_| panic!("{field:?} is not a number in dump:\n{text}"))
        };
        let peers = lines
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 8, "bad peer line {line:?} in dump:\n{text}");
                let mut allowed_ips: Vec<String> = f[3]
                    .split(',')
                    .filter(|ip| *ip != "(none)" && !ip.is_empty())
                    .map(str::to_owned)
                    .collect();
                allowed_ips.sort();
                DumpPeer {
                    public_key: f[0].to_owned(),
                    preshared_key: f[1].to_owned(),
                    endpoint: f[2].to_owned(),
                    allowed_ips,
                    latest_handshake: number(f[4]),
                    rx_bytes: number(f[5]),
                    tx_bytes: number(f[6]),
                    persistent_keepalive: f[7].to_owned(),
                }
            })
            .collect();
        Dump {
            private_key: first[0].to_owned(),
            public_key: first[1].to_owned(),
            listen_port: u16::try_from(number(first[2])).expect("port"),
            fwmark: first[3].to_owned(),
            peers,
        }
    }

    pub fn peer(&self, public_key: &str) -> &DumpPeer {
        self.peers
            .iter()
            .find(|p| p.public_key == public_key)
            .unwrap_or_else(|| panic!("peer {public_key} not in dump: {self:#?}"))
    }

    /// The configuration only: peers sorted, handshake times and byte counters zeroed.
    pub fn config(&self) -> Dump {
        let mut config = self.clone();
        for peer in &mut config.peers {
            peer.latest_handshake = 0;
            peer.rx_bytes = 0;
            peer.tx_bytes = 0;
        }
        config.peers.sort_by(|a, b| a.public_key.cmp(&b.public_key));
        config
    }
}

#[test]
fn base64_keys_decode_to_hex() {
    assert_eq!(
        base64_to_hex("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        "00".repeat(32)
    );
    assert_eq!(
        base64_to_hex("hewNb6pw94/tlN9AyOmnMyv4VnVTfpyOsCgnFLz4M1o="),
        "85ec0d6faa70f78fed94df40c8e9a7332bf85675537e9c8eb0282714bcf8335a"
    );
}

#[test]
fn dump_parses_interface_and_peers() {
    let text = "UJo870w6=\tCfQufGNa=\t51820\toff\n\
                hewNb6pw=\t(none)\t10.200.1.2:51900\tfd70::2/128,10.70.0.2/32\t1795323480\t964\t908\toff\n\
                other=\tpsk=\t(none)\t(none)\t0\t0\t0\t25\n";
    let dump = Dump::parse(text);
    assert_eq!(dump.public_key, "CfQufGNa=");
    assert_eq!(dump.listen_port, 51820);
    assert_eq!(dump.peers.len(), 2);
    let peer = dump.peer("hewNb6pw=");
    assert_eq!(peer.allowed_ips, ["10.70.0.2/32", "fd70::2/128"]);
    assert_eq!(
        (peer.latest_handshake, peer.rx_bytes, peer.tx_bytes),
        (1795323480, 964, 908)
    );
    let other = dump.peer("other=");
    assert!(other.allowed_ips.is_empty());
    assert_eq!(other.persistent_keepalive, "25");
    assert_eq!(dump.config().peers[0].rx_bytes, 0);
}
