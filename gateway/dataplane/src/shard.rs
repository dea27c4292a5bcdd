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
use crate::io::{BatchSocket, BatchTun};
use crate::peer::{Identity, Peer, PeerSpec};
use crate::receive::RxBuffers;
use crate::routing::Routing;
use crate::send::SendBatch;
use crate::sessions::SessionIndices;
use crate::slotset::SlotSet;
use crate::stats::{ShardStats, bump};
use crate::tun_batch::{TunWriteBatch, WRITE_BATCH};
use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
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
    SetSocket(Box<dyn BatchSocket>),
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

/// A shard's sources, each with a flag: ready to be read, or left with work.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sources {
    pub udp: bool,
    pub tun: bool,
    pub inbox: bool,
}

impl Sources {
    pub const ALL: Self = Self {
        udp: true,
        tun: true,
        inbox: true,
    };

    pub fn any(self) -> bool {
        self.udp || self.tun || self.inbox
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
    pub udp: Box<dyn BatchSocket>,
    pub tun: Box<dyn BatchTun>,
    /// The shard's clock: the system's, read again before each batch (a pass may take a
    /// while under a flood, and the load signal counts in fractions of a second), or a
    /// simulation's, which only the simulation moves.
    pub now: Instant,
    pub simulated: bool,
    /// When the protocol timers run next.
    pub next_tick: Instant,
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
    /// When each source was last sent a cookie reply (`cookie.rs`).
    pub cookie_replies: crate::cookie::ReplyLimiter,
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

    /// Registers the shard's sources with its poller: both must have a descriptor.
    fn register(&self) -> io::Result<()> {
        let registry = self.poll.registry();
        let no_fd = || io::Error::new(io::ErrorKind::Unsupported, "a source without a descriptor");
        let udp = self.udp.poll_fd().ok_or_else(no_fd)?;
        registry.register(&mut SourceFd(&udp), UDP, Interest::READABLE)?;
        let tun = self.tun.poll_fd().ok_or_else(no_fd)?;
        registry.register(&mut SourceFd(&tun), TUN, Interest::READABLE)
    }

    /// The shard's thread: waits for its sources and makes a [`turn`](Self::turn) on each
    /// wake-up. Sources are edge-triggered, so each is drained to `WouldBlock` when it
    /// signals.
    pub fn run(mut self) -> Exit {
        if let Err(e) = self.register() {
            return Exit::TunGone(e);
        }
        self.now = Instant::now();
        self.next_tick = self.now + TIMER_TICK;
        self.refresh_mtu();
        let mut events = Events::with_capacity(16);
        let mut rx = RxBuffers::new();
        // Sources a bounded pass left with work: drained further without an event.
        let mut more = Sources::default();
        loop {
            // Queued initiations are opened between polls; while any wait, or a source
            // has work left, poll only looks at what arrived meanwhile.
            let busy = !self.handshakes.is_empty() || more.any();
            let timeout = if busy {
                Duration::ZERO
            } else {
                self.next_tick.saturating_duration_since(Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Exit::TunGone(e);
            }
            let mut ready = more;
            for event in events.iter() {
                match event.token() {
                    UDP => ready.udp = true,
                    TUN => ready.tun = true,
                    _ => {}
                }
            }
            self.read_clock();
            more = match self.turn(&mut rx, ready) {
                Ok(more) => more,
                Err(exit) => return exit,
            };
        }
    }

    /// One pass: the waiting commands and handoffs, the sources `ready` names (the inbox
    /// is looked at every time), the queued initiations, the timers if they are due at
    /// `self.now`, and the batch's output. Returns the sources left with work.
    pub fn turn(&mut self, rx: &mut RxBuffers, ready: Sources) -> Result<Sources, Exit> {
        // Commands and handoffs are looked at on every pass: a wake-up may have been
        // spent on a pass that ran out of budget.
        if self.take_commands() {
            return Err(Exit::Shutdown);
        }
        let inbox = self.take_handoffs().ok_or(Exit::Shutdown)?;
        let udp = ready.udp && self.drain_udp(rx);
        let tun = match ready.tun.then(|| self.drain_tun(rx)) {
            None => false,
            Some(Ok(more)) => more,
            Some(Err(e)) => {
                self.flush();
                return Err(Exit::TunGone(e));
            }
        };
        if !self.handshakes.is_empty() {
            self.open_initiations();
        }
        self.read_clock();
        if self.now >= self.next_tick {
            self.refresh_mtu();
            self.run_timers();
            self.next_tick = self.now + TIMER_TICK;
        }
        self.flush();
        Ok(Sources { udp, tun, inbox })
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
                        Peer::new(*spec, identity, None, &mut self.scratch)
                    }
                    Some(old) if old.spec.public_key == spec.public_key => {
                        Peer::rebuilt(*spec, identity, old, &mut self.scratch)
                    }
                    Some(_) => Peer::new(*spec, identity, None, &mut self.scratch),
                };
                // A persistent keepalive goes out at once, as the kernel's and
                // wireguard-go's do when one is configured (boringtun's first waits a
                // whole interval): with no session yet, it starts the handshake.
                let reach_out = peer.noise.is_some()
                    && peer.endpoint.is_some()
                    && peer.spec.persistent_keepalive.is_some();
                let generation = peer.spec.generation;
                if peer.noise.is_some() {
                    self.timed.insert(slot);
                }
                self.peers[slot] = Some(peer);
                if reach_out {
                    self.encrypt(slot as u32, generation, &[]);
                }
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
                        peer.reidentify(self.identity.as_deref(), &mut self.scratch);
                        if peer.noise.is_some() {
                            self.timed.insert(slot);
                        }
                    }
                }
            }
            Command::SetSocket(udp) => {
                // A socket without a descriptor is a double, driven without a poller.
                let registry = self.poll.registry();
                if let Some(old) = self.udp.poll_fd() {
                    let _ = registry.deregister(&mut SourceFd(&old));
                }
                let registered = udp.poll_fd().map_or(Ok(()), |new| {
                    registry.register(&mut SourceFd(&new), UDP, Interest::READABLE)
                });
                match registered {
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

    /// Brings `now` up to the system's time, unless the shard runs in simulated time.
    pub fn read_clock(&mut self) {
        if !self.simulated {
            self.now = Instant::now();
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
            self.out.flush(&*self.udp, &self.stats);
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
