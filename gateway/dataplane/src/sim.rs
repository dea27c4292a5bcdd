//! The engine in one thread, over the in-memory doubles of [`crate::memory`], on a clock
//! the caller moves: a real [`Device`] (the same control side, shards, handoffs and
//! protocol code as on a host) whose shards take turns when told to instead of waiting
//! on a poller. Nothing needs root, and an hour of protocol time takes no time at all.
//!
//! The engine's own clock is this one. boringtun's `Tunn` keeps its own (`Instant::now`,
//! or with its `mock-instant` feature a clock a test moves): [`Engine::with_clock`] moves
//! that one in the same steps.

use crate::device::{Device, DeviceError, SocketFactory};
use crate::index_cipher::IndexCipher;
use crate::io::BatchSocket;
use crate::memory::{Arriving, Leaving, MemorySocket, MemoryTun};
use crate::receive::RxBuffers;
use crate::shard::{Shard, Sources, TIMER_TICK};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Turns of every shard after which [`Engine::run`] gives up on reaching quiet: far more
/// than any exchange of messages needs, so reaching it means the engine loops.
const MAX_ROUNDS: usize = 10_000;
/// Datagrams one segmented send may carry, as a kernel with UDP GSO takes.
const GSO_SEGMENTS: usize = 64;
/// The MTU of the simulated TUN device (WireGuard's default).
const MTU: u16 = wiregate_core::config::DEFAULT_MTU;

/// Sockets made in memory; the engine finds its shards' current ones here.
#[derive(Debug, Clone, Default)]
struct MemorySockets {
    bound: Arc<Mutex<Vec<MemorySocket>>>,
}

impl SocketFactory for MemorySockets {
    fn bind(
        &self,
        port: u16,
        count: usize,
        _fwmark: u32,
        _indices: &IndexCipher,
    ) -> io::Result<Vec<Box<dyn BatchSocket>>> {
        // Port 0 is whatever the system picks; WireGuard's own is as good as any.
        let port = if port == 0 { 51820 } else { port };
        let sockets: Vec<MemorySocket> = (0..count)
            .map(|_| MemorySocket::new(port, GSO_SEGMENTS))
            .collect();
        *self.bound.lock().unwrap_or_else(|e| e.into_inner()) = sockets.clone();
        Ok(sockets
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn BatchSocket>)
            .collect())
    }

    fn check_mark(&self, _fwmark: u32) -> io::Result<()> {
        Ok(())
    }
}

/// A device whose shards run when the caller says, in simulated time.
pub struct Engine {
    device: Arc<Device>,
    shards: Vec<Shard>,
    sockets: MemorySockets,
    tuns: Vec<MemoryTun>,
    rx: RxBuffers,
    now: Instant,
    /// Moved along with the engine's clock (boringtun's, in a simulation).
    clock: Option<Box<dyn FnMut(Duration)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({} shards)", self.shards.len())
    }
}

/// A datagram an engine sent, and the shard that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub shard: usize,
    pub datagram: Leaving,
}

impl Engine {
    /// A device named `name` with `shards` shards, listening on `listen_port` (0: 51820),
    /// with no key and no peers: configure it through [`Engine::device`].
    pub fn new(name: &str, shards: usize, listen_port: u16) -> Result<Self, DeviceError> {
        let tuns: Vec<MemoryTun> = (0..shards.max(1)).map(|_| MemoryTun::new(MTU)).collect();
        let queues = tuns.iter().map(|t| Box::new(t.clone()) as _).collect();
        let sockets = MemorySockets::default();
        let (device, mut shards) =
            Device::assemble(name, queues, listen_port, Box::new(sockets.clone()))?;
        for shard in &mut shards {
            shard.simulated = true;
        }
        let now = shards.first().map_or_else(Instant::now, |s| s.now);
        Ok(Self {
            device,
            shards,
            sockets,
            tuns,
            rx: RxBuffers::new(),
            now,
            clock: None,
        })
    }

    /// Moves `clock` by each step the engine's clock moves (see the module's note).
    pub fn with_clock(mut self, clock: impl FnMut(Duration) + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The engine's time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A datagram reaches shard `shard`'s socket (as the kernel's steering put it there;
    /// any shard is allowed: a wrong one hands it over). Out-of-range shards wrap.
    pub fn arrive(&self, shard: usize, datagram: Arriving) {
        self.socket(shard).arrive(datagram);
    }

    /// The host routes `packet` into the tunnel through shard `shard`'s TUN queue.
    pub fn send_plaintext(&self, shard: usize, packet: Vec<u8>) {
        self.tuns[shard % self.tuns.len()].send(packet);
    }

    /// What the shards sent since the last call, shard by shard, each in order.
    pub fn take_sent(&self) -> Vec<Sent> {
        (0..self.shards.len())
            .flat_map(|shard| {
                self.socket(shard)
                    .take_left()
                    .into_iter()
                    .map(move |datagram| Sent { shard, datagram })
            })
            .collect()
    }

    /// What the shards decrypted and wrote to the TUN device since the last call.
    pub fn take_written(&self) -> Vec<Vec<u8>> {
        self.tuns.iter().flat_map(MemoryTun::take_written).collect()
    }

    fn socket(&self, shard: usize) -> MemorySocket {
        let bound = self.sockets.bound.lock().unwrap_or_else(|e| e.into_inner());
        bound[shard % bound.len()].clone()
    }

    /// Lets every shard take turns until none has anything left to do: commands,
    /// handoffs, datagrams, plaintext and queued initiations. Timers run if they are due.
    ///
    /// Panics if the shards never fall quiet (a loop in the engine).
    pub fn run(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut busy = false;
            for shard in &mut self.shards {
                shard.now = self.now;
                if let Ok(more) = shard.turn(&mut self.rx, Sources::ALL) {
                    busy |= more.any();
                }
            }
            if !busy && self.quiet() {
                return;
            }
        }
        panic!("the engine did not fall quiet in {MAX_ROUNDS} rounds");
    }

    fn quiet(&self) -> bool {
        let shards = self
            .shards
            .iter()
            .all(|s| s.handshakes.is_empty() && s.inbox.is_empty() && s.commands.is_empty());
        let sockets = (0..self.shards.len()).all(|s| !self.socket(s).has_arriving());
        shards && sockets && self.tuns.iter().all(|t| !t.has_outbound())
    }

    /// Moves the clock on by `by`, a timer tick at a time, running the shards at each.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while self.now < end {
            let step = TIMER_TICK.min(end - self.now);
            self.now += step;
            if let Some(clock) = self.clock.as_mut() {
                clock(step);
            }
            self.run();
        }
    }
}
