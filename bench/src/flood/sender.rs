//! The flooder: 148-byte handshake initiations at a gateway, at a set rate or as fast as
//! one core sends them, from source addresses of its own choosing (a raw socket writes
//! the IPv4 header), so that one process stands for thousands of hosts.
//!
//! Valid initiations are real ones from random static keys: their mac1 is right (it needs
//! only the gateway's public key), and every one is a stranger. Garbage is the same with
//! one byte of mac1 changed. Runs as its own process (`wiregate-bench flood-send`) in the
//! client's namespace, so that it can be stopped and its count read like any program's.

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::IoSlice;
use std::net::SocketAddrV4;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const INITIATION_LEN: usize = 148;
const HEADERS: usize = 20 + 8;
/// Distinct initiations cycled through.
const POOL: usize = 1024;
/// Datagrams per `sendmmsg`.
const BATCH: usize = 64;
/// The spoofed sources: 10.200.0.0 up; the gateway routes them back to the flooder's end.
pub const SOURCES_NET: &str = "10.200.0.0/16";
const FIRST_SOURCE: u32 = u32::from_be_bytes([10, 200, 0, 0]);

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Whether mac1 is right (else garbage).
    pub valid: bool,
    /// Initiations a second; None: as fast as one core sends them.
    pub rate: Option<u32>,
    /// Distinct source addresses (and ports), used in turn.
    pub sources: u32,
}

/// `count` initiations at the gateway whose public key is `gateway`, each from a fresh
/// random key; with one byte of mac1 changed unless `valid`.
fn initiations(gateway: [u8; 32], valid: bool) -> Vec<[u8; INITIATION_LEN]> {
    let gateway = x25519::PublicKey::from(gateway);
    let mut buf = [0u8; 256];
    (0..POOL)
        .map(|i| {
            let key = x25519::StaticSecret::random_from_rng(rand::rngs::OsRng);
            let mut tunn = Tunn::new(key, gateway, None, None, i as u32, None);
            let TunnResult::WriteToNetwork(m) = tunn.format_handshake_initiation(&mut buf, true)
            else {
                unreachable!("a fresh Tunn always makes an initiation")
            };
            let mut m: [u8; INITIATION_LEN] = m.try_into().expect("148 bytes");
            if !valid {
                m[116] ^= 0x01;
            }
            m
        })
        .collect()
}

/// One datagram as the raw socket sends it: IPv4 and UDP headers (the kernel fills in the
/// IPv4 length, identification and checksum; a zero UDP checksum means none), then the
/// initiation.
fn datagram(source: u32, to: SocketAddrV4, initiation: &[u8; INITIATION_LEN]) -> Vec<u8> {
    let mut d = vec![0u8; HEADERS + INITIATION_LEN];
    d[0] = 0x45;
    d[8] = 64;
    d[9] = 17;
    d[12..16].copy_from_slice(&(FIRST_SOURCE + source).to_be_bytes());
    d[16..20].copy_from_slice(&to.ip().octets());
    let port = 20_000 + (source % 40_000) as u16;
    d[20..22].copy_from_slice(&port.to_be_bytes());
    d[22..24].copy_from_slice(&to.port().to_be_bytes());
    d[24..26].copy_from_slice(&((8 + INITIATION_LEN) as u16).to_be_bytes());
    d[HEADERS..].copy_from_slice(initiation);
    d
}

/// Sends `flood` at `to` for `duration`; returns how many datagrams went.
pub fn send(
    gateway: [u8; 32],
    to: SocketAddrV4,
    flood: Flood,
    duration: Duration,
) -> Result<u64, String> {
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))
        .map_err(|e| format!("raw socket (needs root): {e}"))?;
    socket
        .set_header_included_v4(true)
        .map_err(|e| format!("IP_HDRINCL: {e}"))?;
    // Every combination of source and initiation that the cycle reaches, made once.
    let pool = initiations(gateway, flood.valid);
    let sources = flood.sources.max(1);
    let cycle = (sources as usize).clamp(POOL, 1 << 16);
    let datagrams: Vec<Vec<u8>> = (0..cycle)
        .map(|i| datagram(i as u32 % sources, to, &pool[i % POOL]))
        .collect();
    let address = SockaddrIn::from(to);
    let addresses = vec![Some(address); BATCH];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let interval = flood
        .rate
        .map(|rate| Duration::from_secs_f64(BATCH as f64 / f64::from(rate.max(1))));
    let start = Instant::now();
    let mut next = start;
    let mut sent = 0u64;
    let mut at = 0usize;
    while start.elapsed() < duration {
        let iovs: Vec<[IoSlice<'_>; 1]> = (0..BATCH)
            .map(|k| [IoSlice::new(&datagrams[(at + k) % cycle])])
            .collect();
        match sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &iovs,
            &addresses,
            [],
            MsgFlags::empty(),
        ) {
            Ok(results) => {
                let n = results.count();
                sent += n as u64;
                at = (at + n) % cycle;
            }
            // A full queue: the datagrams are lost, as on a link that is full.
            Err(nix::errno::Errno::ENOBUFS | nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(format!("sendmmsg: {e}")),
        }
        if let Some(interval) = interval {
            next += interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    }
    Ok(sent)
}
