//! The encrypt phase: a sender thread in the gateway's namespace sends plaintext UDP
//! (1392-byte payloads, so 1420-byte packets) to the active peers' allowed IPs, which are
//! routed into the gateway's TUN; the gateway encrypts them to the peers' endpoints (the
//! generator's sockets), where they are counted. Losses are located by stage: the
//! sender's refused sends, the TUN's drops, wiregate's counters, and the generator's
//! socket drops.

use super::datapool::{DATA_LEN, INNER_LEN, PAYLOAD_LEN};
use super::dropin::TUN_ADDRESS;
use super::fleet::Fleet;
use super::measure::{self, Delta, Snapshot};
use super::pace::{Pace, Pacer};
use super::{Context, initiator, procfs, progress, topology};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, sendmmsg, setsockopt, sockopt};
use std::io::IoSlice;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Messages per sendmmsg of the sender.
const BATCH: usize = 64;
/// Where the plaintext goes on the peer's side (discard); never delivered anyway.
const PORT: u16 = 9;
/// After the sender stops, how long with nothing arriving ends the count.
const QUIET: Duration = Duration::from_millis(300);
const TYPE_DATA: u8 = 4;

#[derive(Debug, Clone)]
pub struct Results {
    pub configured: usize,
    pub active: usize,
    pub sent: u64,
    /// sendmmsg calls the kernel refused (ENOBUFS and the like): packets not sent.
    pub send_refused: u64,
    /// Packets the gateway read from its TUN.
    pub tun_read: u64,
    pub tun_dropped: u64,
    /// Encrypted data datagrams the generator received, and anything else it received.
    pub received: u64,
    pub received_other: u64,
    /// The sender's window (packets in flight), or None when it flooded.
    pub window: Option<usize>,
    pub write_offs: u64,
    /// Datagrams the generator's full sockets dropped.
    pub generator_rcvbuf_errors: u64,
    pub gateway: Delta,
}

impl Results {
    pub fn packets_per_second(&self) -> f64 {
        self.received as f64 / self.gateway.wall
    }

    pub fn gbit_per_second(&self) -> f64 {
        self.packets_per_second() * INNER_LEN as f64 * 8.0 / 1e9
    }

    pub fn bytes_per_second(&self) -> f64 {
        self.packets_per_second() * INNER_LEN as f64
    }
}

pub fn run(ctx: &mut Context) -> Result<Results, String> {
    let (configured, active) = (ctx.args.peers, ctx.active());
    let (gateway, _) = ctx.start_gateway(configured)?;
    progress(&format!("encrypt: sessions for {active} peers"));
    let peers: Vec<usize> = (0..active).collect();
    let (sessions, _) =
        initiator::establish(&mut ctx.udp, &ctx.fleet, &peers, Duration::from_secs(60))?;
    if sessions.len() != active {
        return Err(gateway.fail(&format!(
            "encrypt: {} of {active} peers got a session",
            sessions.len()
        )));
    }
    // The keepalives that confirm the sessions must be in before data goes out.
    std::thread::sleep(Duration::from_millis(300));
    progress(&format!("encrypt: sending for {} s", ctx.args.duration));
    let deadline = Duration::from_secs_f64(ctx.args.duration);
    let ns = ctx.topology.gateway_ns.clone();
    let generator_before = procfs::udp("self")?;
    let before = Snapshot::take(&gateway)?;
    let start = Instant::now();
    // What the sender's window counts as done: encrypted packets received here.
    let arrived = Arc::new(AtomicU64::new(0));
    let window = (!ctx.args.flood).then_some(ctx.args.encrypt_window);
    let sender = {
        let arrived = arrived.clone();
        std::thread::Builder::new()
            .name("capacity-encrypt-sender".into())
            .spawn(move || send(&ns, active, deadline, window, arrived))
            .map_err(|e| format!("sender thread: {e}"))?
    };
    let (mut received, mut received_other) = (0u64, 0u64);
    let mut last = Instant::now();
    loop {
        for socket in ctx.udp.wait(10)? {
            ctx.udp.drain(socket, |d| {
                if d.len() == DATA_LEN && d[0] == TYPE_DATA {
                    received += 1;
                } else {
                    received_other += 1;
                }
            })?;
            arrived.store(received, Ordering::Relaxed);
            last = Instant::now();
        }
        if sender.is_finished() && last.elapsed() > QUIET {
            break;
        }
    }
    let (sent, send_refused, write_offs) =
        sender.join().map_err(|_| "the sender thread panicked")??;
    let after = measure::settle(&gateway)?;
    let mut delta = Delta::between(&before, &after);
    // The phase lasts until the last encrypted packet arrived.
    delta.wall = (last - start).as_secs_f64();
    let generator_after = procfs::udp("self")?;
    let tun_read = measure::inner_packets(delta.tun.tx_bytes, delta.tun.tx_packets)
        .map_err(|e| gateway.fail(&format!("encrypt: {e}")))?;
    if received == 0 || received > sent {
        return Err(gateway.fail(&format!(
            "encrypt: {received} encrypted packets arrived for {sent} sent"
        )));
    }
    let results = Results {
        configured,
        active,
        sent,
        send_refused,
        tun_read,
        tun_dropped: delta.tun.tx_dropped,
        received,
        received_other,
        window,
        write_offs,
        generator_rcvbuf_errors: procfs::delta(&generator_before, &generator_after, "RcvbufErrors"),
        gateway: delta,
    };
    gateway.stop()?;
    Ok(results)
}

/// The sender: enters the gateway's namespace (this thread only) and sends to the peers
/// in turn until `deadline`, keeping at most `window` packets not yet `arrived` at the
/// generator. Returns packets sent, packets refused, and windows written off.
fn send(
    ns: &str,
    active: usize,
    deadline: Duration,
    window: Option<usize>,
    arrived: Arc<AtomicU64>,
) -> Result<(u64, u64, u64), String> {
    topology::enter(ns)?;
    let socket =
        UdpSocket::bind((TUN_ADDRESS, 0)).map_err(|e| format!("bind {TUN_ADDRESS}: {e}"))?;
    setsockopt(&socket, sockopt::SndBufForce, &(8 << 20))
        .map_err(|e| format!("SO_SNDBUFFORCE: {e}"))?;
    let payload = [0u8; PAYLOAD_LEN];
    let slices: Vec<[IoSlice; 1]> = (0..BATCH).map(|_| [IoSlice::new(&payload)]).collect();
    let addresses: Vec<Option<SockaddrIn>> = (0..active)
        .map(|p| {
            Some(SockaddrIn::from(SocketAddrV4::new(
                Fleet::allowed_ip(p),
                PORT,
            )))
        })
        .collect();
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let (mut sent, mut refused, mut next) = (0u64, 0u64, 0usize);
    let mut pacer = Pacer::new(match window {
        Some(packets) => Pace::Window {
            packets,
            done: Box::new(move || arrived.load(Ordering::Relaxed)),
        },
        None => Pace::Flood,
    });
    let start = Instant::now();
    while start.elapsed() < deadline {
        let n = BATCH.min(active - next).min(pacer.allowance(sent));
        if n == 0 {
            continue;
        }
        let to = &addresses[next..next + n];
        match sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices[..n],
            to,
            [],
            MsgFlags::empty(),
        ) {
            Ok(results) => {
                let done = results.count();
                sent += done as u64;
                next = (next + done) % active;
            }
            Err(Errno::EINTR) => {}
            Err(Errno::ENOBUFS | Errno::EAGAIN) => {
                refused += 1;
                next = (next + 1) % active;
            }
            Err(e) => return Err(format!("sendmmsg into the TUN: {e}")),
        }
    }
    Ok((sent, refused, pacer.write_offs))
}
