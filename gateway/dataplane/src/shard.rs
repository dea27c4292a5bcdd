//! A shard: one thread that owns a UDP socket, a TUN queue, its peers and its buffers.
//!
//! Shards share nothing on the hot path. A packet that belongs to another shard's peer
//! (its receiver index or its allowed IP names that shard) is handed over in a batch
//! through the owner's inbox, which is bounded: a full inbox drops the batch. The control
//! plane talks to a shard through a command channel of its own, which never blocks the
//! sender, so a shard kept busy (by a flood, say) cannot stall the API, the metrics or
//! other tunnels; the shard takes every waiting command before each handoff batch, so a
//! packet handed over after a command was sent meets the shard as the command left it.
//!
//! Every pass over a source is bounded (`*_BUDGET`): a flood that keeps the socket full
//! cannot keep the shard from its commands, its inbox, the TUN or its timers. A source
//! left with work is drained further on the next pass without waiting for an event (the
//! sources are edge-triggered).

use crate::handoff::{Handoff, HandoffBatch};
use crate::handshake::HandshakeQueue;
use crate::peer::{Identity, Peer, PeerSpec};
use crate::routing::Routing;
use crate::send::SendBatch;
use crate::sessions::SessionIndices;
use crate::slotset::SlotSet;
use crate::stats::{ShardStats, bump};
use crate::tun::{TunQueue, TunWriteBatch, WRITE_BATCH};
use crate::udp::Udp;
use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a shard runs its peers' protocol timers (tunable). WireGuard's timers are
/// whole seconds (rekey 5 s, keepalive 10 s); a quarter second is precise enough.
pub(crate) const TIMER_TICK: Duration = Duration::from_millis(250);
/// Depth of a shard's inbox, in batches (tunable). A full inbox drops the handoff batch.
pub(crate) const INBOX_DEPTH: usize = 1024;
/// Handoff batches taken from the inbox in one pass (tunable).
const INBOX_BUDGET: usize = 64;

const UDP: Token = Token(0);
const TUN: Token = Token(1);
const WAKE: Token = Token(2);

/// What the control plane tells a shard.
#[derive(Debug)]
pub(crate) enum Command {
    /// Creates the peer at `spec.at.slot`, or rebuilds it (new sessions) if present.
    PutPeer(Box<PeerSpec>),
    SetEndpoint {
        slot: u32,
        endpoint: Option<SocketAddr>,
    },
    RemovePeer {
        slot: u32,
    },
    /// A new private key (or none): every peer's sessions are rebuilt.
    SetIdentity(Option<Arc<Identity>>),
    /// A new listening socket (the port changed).
    SetSocket(Udp),
    /// A new fwmark for the socket's datagrams.
    SetMark(u32),
    /// Stops the shard until the gate opens: a test hook standing for a shard that a
    /// flood keeps from its work (see [`crate::Device::stall_shard`]).
    Stall(Arc<crate::stall::Gate>),
    Shutdown,
}

/// How anyone reaches a shard: its command channel, its handoff inbox and the waker that
/// interrupts its poll.
#[derive(Debug, Clone)]
pub(crate) struct ShardLink {
    pub commands: Sender<Command>,
    pub handoffs: Sender<HandoffBatch>,
    pub waker: Arc<Waker>,
    /// The shard's counters: `commands_pending` counts what it has not taken yet.
    pub stats: Arc<ShardStats>,
}

impl ShardLink {
    /// Queues a command; never waits (the channel is unbounded, and commands are few:
    /// one per changed peer).
    pub fn command(&self, command: Command) {
        // Counted before it can be taken, so the count never dips below zero.
        bump(&self.stats.commands_pending, 1);
        if self.commands.send(command).is_ok() {
            let _ = self.waker.wake();
        } else {
            self.stats
                .commands_pending
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Why a shard's loop ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Shutdown,
    /// The TUN device went away (the interface was deleted) or failed.
    TunGone(io::Error),
}

pub(crate) struct Shard {
    pub id: u16,
    pub poll: Poll,
    pub udp: Udp,
    pub tun: TunQueue,
    pub commands: Receiver<Command>,
    pub inbox: Receiver<HandoffBatch>,
    pub links: Arc<[ShardLink]>,
    pub routing: Arc<ArcSwap<Routing>>,
    pub identity: Option<Arc<Identity>>,
    pub peers: Vec<Option<Peer>>,
    /// The receiver indices the wire sees for this shard's peers' sessions.
    pub sessions: SessionIndices,
    /// Slots whose peer may have Noise state: the only ones the timer pass visits. A slot
    /// is added wherever a `Tunn` may come to life and dropped by the pass once it has none.
    pub timed: SlotSet,
    pub stats: Arc<ShardStats>,
    pub out: SendBatch,
    /// Initiations waiting to be opened.
    pub handshakes: HandshakeQueue,
    /// Per-source limits on initiations under load, shared by the device's shards (a
    /// source's datagrams may reach any of them).
    pub ratelimit: Arc<std::sync::Mutex<crate::ratelimit::RateLimiter>>,
    /// Decrypted packets for the TUN queue, written (coalesced) at the end of a batch.
    pub tun_out: TunWriteBatch,
    /// Handoffs gathered during a batch, by destination shard.
    pub pending: Vec<HandoffBatch>,
    /// Decrypt/encrypt scratch space, one packet large.
    pub scratch: Vec<u8>,
    /// The TUN interface's MTU as last read, which padding must not pass. Read again at
    /// every timer tick: it may be changed behind us (wg-quick sets it after creating the
    /// interface), and a stale value costs at most a few bytes of padding for a while.
    pub mtu: usize,
}

/// What [`Shard::channel`] makes: the shard's ends, and the link everyone else keeps.
pub(crate) struct Channels {
    pub poll: Poll,
    pub link: ShardLink,
    pub commands: Receiver<Command>,
    pub inbox: Receiver<HandoffBatch>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shard({})", self.id)
    }
}

impl Shard {
    /// Creates a shard's poller, command channel and inbox; the shard itself is built on
    /// its thread.
    pub fn channel(stats: Arc<ShardStats>) -> io::Result<Channels> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let (handoffs, inbox) = crossbeam_channel::bounded(INBOX_DEPTH);
        let link = ShardLink {
            commands,
            handoffs,
            waker,
            stats,
        };
        Ok(Channels {
            poll,
            link,
            commands: command_rx,
            inbox,
        })
    }

    fn register(&self) -> io::Result<()> {
        let registry = self.poll.registry();
        let udp = self.udp.source().as_raw_fd();
        registry.register(&mut SourceFd(&udp), UDP, Interest::READABLE)?;
        let tun = self.tun.raw_fd();
        registry.register(&mut SourceFd(&tun), TUN, Interest::READABLE)
    }

    /// The shard's event loop. Sources are edge-triggered, so each is drained to
    /// `WouldBlock` when it signals.
    pub fn run(mut self) -> Exit {
        if let Err(e) = self.register() {
            return Exit::TunGone(e);
        }
        self.refresh_mtu();
        let mut events = Events::with_capacity(16);
        let mut rx = crate::receive::RxBuffers::new();
        let mut next_tick = Instant::now() + TIMER_TICK;
        // Sources a bounded pass left with work: drained further without an event.
        let (mut udp_more, mut tun_more, mut inbox_more) = (false, false, false);
        loop {
            // Queued initiations are opened between polls; while any wait, or a source
            // has work left, poll only looks at what arrived meanwhile.
            let busy = !self.handshakes.is_empty() || udp_more || tun_more || inbox_more;
            let timeout = if busy {
                Duration::ZERO
            } else {
                next_tick.saturating_duration_since(Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Exit::TunGone(e);
            }
            let (mut udp, mut tun) = (udp_more, tun_more);
            for event in events.iter() {
                match event.token() {
                    UDP => udp = true,
                    TUN => tun = true,
                    _ => {}
                }
            }
            // Commands and handoffs are looked at on every pass: a wake-up may have been
            // spent on a pass that ran out of budget.
            if self.take_commands() {
                return Exit::Shutdown;
            }
            match self.take_handoffs() {
                Some(more) => inbox_more = more,
                None => return Exit::Shutdown,
            }
            udp_more = udp && self.drain_udp(&mut rx);
            tun_more = match tun.then(|| self.drain_tun(&mut rx)) {
                None => false,
                Some(Ok(more)) => more,
                Some(Err(e)) => {
                    self.flush();
                    return Exit::TunGone(e);
                }
            };
            if !self.handshakes.is_empty() {
                self.open_initiations();
            }
            if Instant::now() >= next_tick {
                self.refresh_mtu();
                self.run_timers();
                next_tick = Instant::now() + TIMER_TICK;
            }
            self.flush();
        }
    }

    /// Applies every waiting command; true when told to shut down.
    fn take_commands(&mut self) -> bool {
        while let Ok(command) = self.commands.try_recv() {
            self.stats
                .commands_pending
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            match command {
                Command::Shutdown => return true,
                command => self.apply(command),
            }
        }
        false
    }

    /// Handles up to `INBOX_BUDGET` handoff batches, each after the commands sent before
    /// it. `Some(true)` if batches are left, `None` when told to shut down.
    fn take_handoffs(&mut self) -> Option<bool> {
        for _ in 0..INBOX_BUDGET {
            let Ok(batch) = self.inbox.try_recv() else {
                return Some(false);
            };
            if self.take_commands() {
                return None;
            }
            bump(&self.stats.handoffs_in, batch.len() as u64);
            let mut batch = batch;
            batch.for_each_mut(|handoff, data| match handoff {
                Handoff::Initiation {
                    slot,
                    generation,
                    from,
                } => self.deliver(slot, Some(generation), from, data),
                Handoff::Indexed { from } => self.deliver_indexed(from, data),
                Handoff::Tunnel { slot, generation } => self.encrypt(slot, generation, data),
            });
        }
        Some(!self.inbox.is_empty())
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::PutPeer(spec) => {
                let slot = spec.at.slot as usize;
                if self.peers.len() <= slot {
                    self.peers.resize_with(slot + 1, || None);
                }
                let identity = self.identity.as_deref();
                let old = self.peers[slot].take();
                if let Some(noise) = old.as_ref().and_then(|p| p.noise.as_deref()) {
                    self.sessions.forget(noise);
                }
                let peer = match old {
                    None => {
                        bump(&self.stats.peers, 1);
                        Peer::new(*spec, identity)
                    }
                    Some(old) if old.spec.public_key == spec.public_key => {
                        Peer::rebuilt(*spec, identity, old, &mut self.scratch)
                    }
                    Some(_) => Peer::new(*spec, identity),
                };
                if peer.noise.is_some() {
                    self.timed.insert(slot);
                }
                self.peers[slot] = Some(peer);
            }
            Command::SetEndpoint { slot, endpoint } => {
                if let Some(peer) = self.peer_mut(slot) {
                    peer.set_endpoint(endpoint);
                }
            }
            Command::RemovePeer { slot } => {
                if let Some(peer) = self.peers.get_mut(slot as usize).and_then(Option::take) {
                    if let Some(noise) = peer.noise.as_deref() {
                        self.sessions.forget(noise);
                    }
                    self.stats
                        .peers
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Command::SetIdentity(identity) => {
                self.identity = identity;
                for (slot, peer) in self.peers.iter_mut().enumerate() {
                    if let Some(peer) = peer {
                        if let Some(noise) = peer.noise.as_deref() {
                            self.sessions.forget(noise);
                        }
                        peer.reidentify(self.identity.as_deref());
                        if peer.noise.is_some() {
                            self.timed.insert(slot);
                        }
                    }
                }
            }
            Command::SetSocket(udp) => {
                let registry = self.poll.registry();
                let old = self.udp.source().as_raw_fd();
                let _ = registry.deregister(&mut SourceFd(&old));
                let new = udp.source().as_raw_fd();
                match registry.register(&mut SourceFd(&new), UDP, Interest::READABLE) {
                    Ok(()) => self.udp = udp,
                    Err(e) => {
                        tracing::error!(shard = self.id, error = %e, "cannot poll new socket")
                    }
                }
            }
            Command::SetMark(fwmark) => {
                if let Err(e) = self.udp.set_mark(fwmark) {
                    tracing::error!(shard = self.id, fwmark, error = %e, "cannot set fwmark");
                }
            }
            Command::Stall(gate) => gate.wait(),
            Command::Shutdown => {}
        }
    }

    /// Reads the interface's MTU again; keeps the last one if it cannot.
    pub fn refresh_mtu(&mut self) {
        if let Ok(mtu) = self.tun.mtu() {
            self.mtu = mtu.into();
        }
    }

    pub fn peer_mut(&mut self, slot: u32) -> Option<&mut Peer> {
        self.peers.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// Queues `handoff` for shard `to`, or counts it dropped if no such shard exists.
    pub fn hand_off(&mut self, to: u16, handoff: Handoff, data: &[u8]) {
        match self.pending.get_mut(usize::from(to)) {
            Some(batch) => batch.push(handoff, data),
            None => bump(&self.stats.drop_unknown_index, 1),
        }
    }

    /// Writes the decrypted packets gathered so far to the TUN queue.
    pub fn flush_tun(&mut self) {
        self.stats.tun_tx_batch.observe(self.tun_out.len());
        let refused = self.tun.write(&mut self.tun_out);
        bump(&self.stats.drop_io, refused as u64);
    }

    /// Writes the TUN batch if it is full; called after each packet is added to it.
    pub fn flush_tun_if_full(&mut self) {
        if self.tun_out.len() >= WRITE_BATCH {
            self.flush_tun();
        }
    }

    /// Sends the batch's datagrams, writes its decrypted packets, and hands its foreign
    /// packets to their shards.
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            self.out.flush(&self.udp, &self.stats);
        }
        if !self.tun_out.is_empty() {
            self.flush_tun();
        }
        for (shard, queue) in self.pending.iter_mut().enumerate() {
            if queue.is_empty() {
                continue;
            }
            let batch = queue.take();
            let n = batch.len() as u64;
            let link = &self.links[shard];
            match link.handoffs.try_send(batch) {
                Ok(()) => {
                    bump(&self.stats.handoffs_out, n);
                    let _ = link.waker.wake();
                }
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    bump(&self.stats.drop_queue_full, n)
                }
            }
        }
    }
}
