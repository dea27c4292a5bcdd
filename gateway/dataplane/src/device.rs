//! A userspace WireGuard device: one tunnel's shards, and the control side that changes
//! its configuration and reads its state.
//!
//! The device keeps the configuration it last applied. A change is computed in full
//! (a new [`DeviceConfig`]), then applied as a diff: new peers are placed on the least
//! loaded shard, changed peers are rebuilt, removed peers are dropped, and a new routing
//! snapshot is published. Peers that did not change keep their sessions. All control
//! calls are serialised by one mutex; the data path never takes it.

use crate::index::{MAX_SHARDS, MAX_SLOTS, PeerRef};
use crate::index_cipher::IndexCipher;
use crate::io::{BatchSocket, BatchTun};
use crate::peer::{Identity, PeerSpec};
use crate::routing::{Owner, Routing};
use crate::sessions::SessionIndices;
use crate::shard::{Command, Exit, Shard, ShardLink};
use crate::stats::{PeerStats, ShardCounters, ShardStats};
use crate::tun::TunQueue;
use crate::tun_batch::TunWriteBatch;
use crate::udp::Udp;
use arc_swap::ArcSwap;
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;
use wiregate_core::BatchSizes;
use wiregate_core::{PeerConfig, PublicKey};

pub use crate::config::{DeviceConfig, DeviceReport, PeerReport};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot listen on UDP port {port}: {source}")]
    Port { port: u16, source: io::Error },
    #[error("cannot set fwmark {fwmark}: {source}")]
    Mark { fwmark: u32, source: io::Error },
    #[error("shard {0} is full ({MAX_SLOTS} peers)")]
    Full(u16),
    #[error("the device has shut down")]
    Closed,
}

/// Where a configured peer lives and what it reports.
#[derive(Debug)]
struct Placement {
    at: PeerRef,
    /// Which placement of the slot this is (see `routing::Owner`).
    generation: u32,
    stats: Arc<PeerStats>,
}

#[derive(Debug)]
struct State {
    config: DeviceConfig,
    /// Kept across commits: its rate limiter holds the cookie secret peers were given.
    identity: Option<Arc<Identity>>,
    bound_port: u16,
    placed: FxHashMap<PublicKey, Placement>,
    /// Free slots (reused first) and the next never-used slot, per shard.
    free: Vec<Vec<u32>>,
    next_slot: Vec<u32>,
    load: Vec<usize>,
    /// The generation the next placement gets (wrapping: a packet would have to be in
    /// flight through four billion placements to be mistaken).
    next_generation: u32,
}

impl State {
    fn place(&mut self) -> Result<PeerRef, DeviceError> {
        let shard = (0..self.load.len())
            .min_by_key(|&s| self.load[s])
            .unwrap_or(0);
        let slot = match self.free[shard].pop() {
            Some(slot) => slot,
            None if (self.next_slot[shard] as usize) < MAX_SLOTS => {
                self.next_slot[shard] += 1;
                self.next_slot[shard] - 1
            }
            None => return Err(DeviceError::Full(shard as u16)),
        };
        self.load[shard] += 1;
        Ok(PeerRef {
            shard: shard as u16,
            slot,
        })
    }

    fn release(&mut self, at: PeerRef) {
        self.load[at.shard as usize] -= 1;
        self.free[at.shard as usize].push(at.slot);
    }
}

/// Set once when the device stops, with the reason; waited on by its owner.
#[derive(Debug, Default)]
struct Lifecycle {
    stopped: Mutex<Option<String>>,
    changed: Condvar,
}

#[derive(Debug)]
pub struct Device {
    name: String,
    state: Mutex<State>,
    routing: Arc<ArcSwap<Routing>>,
    links: Arc<[ShardLink]>,
    stats: Vec<Arc<ShardStats>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lifecycle: Arc<Lifecycle>,
    /// The key of the device's receiver indices (`index_cipher.rs`): its shards' and its
    /// sockets' steering program's.
    indices: Arc<IndexCipher>,
    /// Where new sockets come from when the port changes.
    sockets: Box<dyn SocketFactory>,
}

/// Where a device's sockets come from: the host's (`udp.rs`), or memory in a simulation.
pub(crate) trait SocketFactory: Send + Sync + std::fmt::Debug {
    /// `count` sockets sharing `port` (0: one the system picks), steered by `indices`.
    fn bind(
        &self,
        port: u16,
        count: usize,
        fwmark: u32,
        indices: &IndexCipher,
    ) -> io::Result<Vec<Box<dyn BatchSocket>>>;

    /// Whether `fwmark` may be set, tried so that a refusal changes nothing.
    fn check_mark(&self, fwmark: u32) -> io::Result<()>;
}

/// The host's sockets.
#[derive(Debug)]
struct HostSockets;

impl SocketFactory for HostSockets {
    fn bind(
        &self,
        port: u16,
        count: usize,
        fwmark: u32,
        indices: &IndexCipher,
    ) -> io::Result<Vec<Box<dyn BatchSocket>>> {
        let sockets = Udp::bind_group(port, count, fwmark, indices)?;
        Ok(sockets
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn BatchSocket>)
            .collect())
    }

    fn check_mark(&self, fwmark: u32) -> io::Result<()> {
        Udp::check_mark(fwmark)
    }
}

impl Device {
    /// Starts a device with one shard per TUN queue, listening on `listen_port`, with no
    /// key and no peers. Configure it with [`Device::commit`].
    pub fn start(
        name: &str,
        queues: Vec<TunQueue>,
        listen_port: u16,
    ) -> Result<Arc<Self>, DeviceError> {
        let queues = queues
            .into_iter()
            .map(|q| Box::new(q) as Box<dyn BatchTun>)
            .collect();
        let (device, shards) = Self::assemble(name, queues, listen_port, Box::new(HostSockets))?;
        let mut threads = Vec::with_capacity(shards.len());
        for shard in shards {
            let lifecycle = device.lifecycle.clone();
            let thread_name = format!("{name}/shard{}", shard.id);
            let handle = std::thread::Builder::new()
                .name(thread_name)
                .spawn(move || {
                    let reason = match shard.run() {
                        Exit::Shutdown => "shut down".to_owned(),
                        Exit::TunGone(e) => format!("TUN device closed: {e}"),
                    };
                    let mut stopped = lifecycle.stopped.lock().unwrap_or_else(|e| e.into_inner());
                    stopped.get_or_insert(reason);
                    lifecycle.changed.notify_all();
                })
                .map_err(|source| DeviceError::Port {
                    port: listen_port,
                    source,
                })?;
            threads.push(handle);
        }
        *device.threads.lock().unwrap_or_else(|e| e.into_inner()) = threads;
        tracing::info!(
            device = name,
            shards = device.links.len(),
            port = device.lock().bound_port,
            "device started"
        );
        Ok(device)
    }

    /// Builds a device and its shards, one per TUN queue, without running them: the
    /// caller runs each (a thread each, or a simulation's steps).
    pub(crate) fn assemble(
        name: &str,
        queues: Vec<Box<dyn BatchTun>>,
        listen_port: u16,
        sockets: Box<dyn SocketFactory>,
    ) -> Result<(Arc<Self>, Vec<Shard>), DeviceError> {
        let port_error = |source| DeviceError::Port {
            port: listen_port,
            source,
        };
        let shards = queues.len().clamp(1, MAX_SHARDS);
        let indices = Arc::new(IndexCipher::random());
        let udps = sockets
            .bind(listen_port, shards, 0, &indices)
            .map_err(port_error)?;
        let bound_port = udps[0].local_port().map_err(port_error)?;
        let routing = Arc::new(ArcSwap::from_pointee(Routing::default()));
        let ratelimit = Arc::new(std::sync::Mutex::new(
            crate::ratelimit::RateLimiter::default(),
        ));
        let stats: Vec<Arc<ShardStats>> = (0..shards).map(|_| Arc::default()).collect();
        let channels = stats
            .iter()
            .map(|s| Shard::channel(s.clone()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(port_error)?;
        let links: Arc<[ShardLink]> = channels.iter().map(|c| c.link.clone()).collect();
        let now = Instant::now();
        let mut built = Vec::with_capacity(shards);
        for (id, ((channels, udp), tun)) in channels.into_iter().zip(udps).zip(queues).enumerate() {
            built.push(Shard {
                id: id as u16,
                poll: channels.poll,
                udp,
                tun,
                now,
                simulated: false,
                next_tick: now + crate::shard::TIMER_TICK,
                commands: channels.commands,
                inbox: channels.inbox,
                links: links.clone(),
                routing: routing.clone(),
                identity: None,
                peers: Vec::new(),
                sessions: SessionIndices::new(id as u16, indices.clone()),
                timed: Default::default(),
                stats: stats[id].clone(),
                out: crate::send::SendBatch::new(),
                tun_out: TunWriteBatch::default(),
                handshakes: Default::default(),
                cookie_replies: Default::default(),
                ratelimit: ratelimit.clone(),
                pending: (0..shards).map(|_| Default::default()).collect(),
                scratch: vec![0; wiregate_core::protocol::MAX_IP_PACKET + 256],
                mtu: wiregate_core::config::DEFAULT_MTU.into(),
            });
        }
        let state = State {
            config: DeviceConfig {
                listen_port,
                ..DeviceConfig::default()
            },
            identity: None,
            bound_port,
            placed: FxHashMap::default(),
            free: vec![Vec::new(); shards],
            next_slot: vec![0; shards],
            load: vec![0; shards],
            next_generation: 0,
        };
        let device = Arc::new(Self {
            name: name.to_owned(),
            state: Mutex::new(state),
            routing,
            links,
            stats,
            threads: Mutex::new(Vec::new()),
            lifecycle: Arc::new(Lifecycle::default()),
            indices,
            sockets,
        });
        Ok((device, built))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration last applied.
    pub fn config(&self) -> DeviceConfig {
        self.lock().config.clone()
    }

    /// Makes the device match `new`, changing only what differs. `endpoints_set` names
    /// peers whose endpoint was set explicitly (by `wg set`) and must be applied even if it
    /// equals the configured one, overriding roaming.
    pub fn commit(
        &self,
        new: DeviceConfig,
        endpoints_set: &[PublicKey],
    ) -> Result<(), DeviceError> {
        self.update(|_| Ok::<_, DeviceError>((new, endpoints_set.to_vec())))
    }

    /// Read-modify-write: `change` computes the new configuration (and the peers whose
    /// endpoint it sets explicitly) from the current one, under the device's lock, so two
    /// writers cannot lose each other's changes.
    pub fn update<E: From<DeviceError>>(
        &self,
        change: impl FnOnce(&DeviceConfig) -> Result<(DeviceConfig, Vec<PublicKey>), E>,
    ) -> Result<(), E> {
        if self.stopped().is_some() {
            return Err(DeviceError::Closed.into());
        }
        let mut state = self.lock();
        let (new, endpoints_set) = change(&state.config)?;
        Ok(self.apply(&mut state, new, &endpoints_set)?)
    }

    fn apply(
        &self,
        state: &mut State,
        new: DeviceConfig,
        endpoints_set: &[PublicKey],
    ) -> Result<(), DeviceError> {
        // Everything that can fail comes first, so a failure changes nothing.
        let sockets = if new.listen_port != state.config.listen_port {
            let sockets = self
                .sockets
                .bind(new.listen_port, self.links.len(), new.fwmark, &self.indices)
                .map_err(|source| DeviceError::Port {
                    port: new.listen_port,
                    source,
                })?;
            Some(sockets)
        } else {
            None
        };
        let mark_changed = new.fwmark != state.config.fwmark;
        if mark_changed {
            self.sockets
                .check_mark(new.fwmark)
                .map_err(|source| DeviceError::Mark {
                    fwmark: new.fwmark,
                    source,
                })?;
        }
        let new_keys: FxHashMap<PublicKey, ()> =
            new.peers.iter().map(|p| (p.public_key, ())).collect();
        let added = new
            .peers
            .iter()
            .filter(|p| !state.placed.contains_key(&p.public_key))
            .count();
        let free: usize = (0..self.links.len())
            .map(|s| state.free[s].len() + MAX_SLOTS - state.next_slot[s] as usize)
            .sum();
        if added > free {
            return Err(DeviceError::Full(0));
        }
        let old = std::mem::take(&mut state.config);
        let old_peers: FxHashMap<PublicKey, &PeerConfig> =
            old.peers.iter().map(|p| (p.public_key, p)).collect();
        let removed: Vec<PublicKey> = old
            .peers
            .iter()
            .filter(|p| !new_keys.contains_key(&p.public_key))
            .map(|p| p.public_key)
            .collect();

        let identity_changed = new.private_key != old.private_key;
        let identity = if identity_changed {
            new.private_key.as_ref().map(|k| Arc::new(Identity::new(k)))
        } else {
            state.identity.clone()
        };
        let mut commands: Vec<(u16, Command)> = Vec::new();
        if identity_changed {
            for shard in 0..self.links.len() {
                commands.push((shard as u16, Command::SetIdentity(identity.clone())));
            }
        }
        for peer in &new.peers {
            let previous = old_peers.get(&peer.public_key).copied();
            let rebuild = match previous {
                None => true,
                Some(p) => {
                    p.preshared_key != peer.preshared_key
                        || p.persistent_keepalive != peer.persistent_keepalive
                }
            };
            let endpoint_changed = previous.is_some_and(|p| p.endpoint != peer.endpoint)
                || endpoints_set.contains(&peer.public_key);
            let placement = match state.placed.get(&peer.public_key) {
                Some(p) => Placement {
                    at: p.at,
                    generation: p.generation,
                    stats: p.stats.clone(),
                },
                None => {
                    let at = state.place()?;
                    let generation = state.next_generation;
                    state.next_generation = generation.wrapping_add(1);
                    let stats = Arc::new(PeerStats::default());
                    state.placed.insert(
                        peer.public_key,
                        Placement {
                            at,
                            generation,
                            stats: stats.clone(),
                        },
                    );
                    Placement {
                        at,
                        generation,
                        stats,
                    }
                }
            };
            if rebuild {
                // A rebuilt peer keeps its roamed endpoint unless a new one was given.
                let endpoint = if endpoint_changed || previous.is_none() {
                    peer.endpoint
                } else {
                    placement.stats.endpoint().or(peer.endpoint)
                };
                let spec = PeerSpec {
                    at: placement.at,
                    generation: placement.generation,
                    public_key: peer.public_key,
                    preshared_key: peer.preshared_key.clone(),
                    persistent_keepalive: peer.persistent_keepalive,
                    endpoint,
                    stats: placement.stats,
                };
                commands.push((placement.at.shard, Command::PutPeer(Box::new(spec))));
            } else if endpoint_changed {
                commands.push((
                    placement.at.shard,
                    Command::SetEndpoint {
                        slot: placement.at.slot,
                        endpoint: peer.endpoint,
                    },
                ));
            }
        }

        if mark_changed {
            for shard in 0..self.links.len() {
                commands.push((shard as u16, Command::SetMark(new.fwmark)));
            }
        }
        // Slots of removed peers are freed only now, so that no peer added by this same
        // commit takes one while the published routing still points there.
        for key in &removed {
            if let Some(placement) = state.placed.remove(key) {
                state.release(placement.at);
                commands.push((
                    placement.at.shard,
                    Command::RemovePeer {
                        slot: placement.at.slot,
                    },
                ));
            }
        }

        // Publish routing after the commands that create peers are queued (a handoff to
        // a new peer then finds it), and before removed peers disappear.
        let (creating, rest): (Vec<_>, Vec<_>) = commands
            .into_iter()
            .partition(|(_, c)| matches!(c, Command::SetIdentity(_) | Command::PutPeer(_)));
        for (shard, command) in creating {
            self.links[shard as usize].command(command);
        }
        self.routing.store(Arc::new(build_routing(
            &new,
            &state.placed,
            identity.clone(),
        )));
        for (shard, command) in rest {
            self.links[shard as usize].command(command);
        }
        if let Some(sockets) = sockets {
            state.bound_port = sockets[0].local_port().unwrap_or(new.listen_port);
            for (link, udp) in self.links.iter().zip(sockets) {
                link.command(Command::SetSocket(udp));
            }
            tracing::info!(device = %self.name, port = state.bound_port, "listening on a new port");
        }
        state.identity = identity;
        state.config = new;
        Ok(())
    }

    /// The configuration and what the data plane observed, peer by peer.
    pub fn report(&self) -> DeviceReport {
        let state = self.lock();
        let peers = state
            .config
            .peers
            .iter()
            .map(|config| {
                let stats = state.placed.get(&config.public_key).map(|p| &p.stats);
                PeerReport {
                    config: config.clone(),
                    endpoint: stats.and_then(|s| s.endpoint()).or(config.endpoint),
                    last_handshake: stats.and_then(|s| s.last_handshake()),
                    rx_bytes: stats
                        .map_or(0, |s| s.rx_bytes.load(std::sync::atomic::Ordering::Relaxed)),
                    tx_bytes: stats
                        .map_or(0, |s| s.tx_bytes.load(std::sync::atomic::Ordering::Relaxed)),
                }
            })
            .collect();
        DeviceReport {
            private_key: state.config.private_key.clone(),
            listen_port: state.bound_port,
            fwmark: state.config.fwmark,
            peers,
        }
    }

    /// Counters of each shard, in shard order.
    pub fn shard_counters(&self) -> Vec<ShardCounters> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// The batch-size histograms, summed over the shards.
    pub fn batch_sizes(&self) -> Vec<BatchSizes> {
        let Some(first) = self.stats.first() else {
            return Vec::new();
        };
        first
            .batches()
            .iter()
            .enumerate()
            .map(|(i, &(io, direction, _))| {
                let mut sizes = BatchSizes {
                    io,
                    direction,
                    ..BatchSizes::default()
                };
                for shard in &self.stats {
                    shard.batches()[i].2.add_to(&mut sizes);
                }
                sizes
            })
            .collect()
    }

    /// Whether any shard answers initiations with cookies now.
    pub fn under_load(&self) -> bool {
        let now = std::time::SystemTime::now();
        self.stats.iter().any(|s| s.under_load(now))
    }

    /// Why the device stopped, if it has.
    pub fn stopped(&self) -> Option<String> {
        self.lifecycle
            .stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Blocks until the device stops (shutdown, or its TUN device went away).
    pub fn wait(&self) -> String {
        let mut stopped = self
            .lifecycle
            .stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(reason) = stopped.as_ref() {
                return reason.clone();
            }
            stopped = self
                .lifecycle
                .changed
                .wait(stopped)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops shard `shard` until the returned guard is dropped, as a flood that never
    /// lets it return to its commands would. A test hook; `None` for no such shard.
    #[doc(hidden)]
    pub fn stall_shard(&self, shard: usize) -> Option<crate::ShardStall> {
        let gate = Arc::new(crate::stall::Gate::default());
        self.links.get(shard)?.command(Command::Stall(gate.clone()));
        Some(crate::ShardStall { gate })
    }

    /// Stops every shard and waits for their threads.
    pub fn shutdown(&self) {
        for link in self.links.iter() {
            link.command(Command::Shutdown);
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn build_routing(
    config: &DeviceConfig,
    placed: &FxHashMap<PublicKey, Placement>,
    identity: Option<Arc<Identity>>,
) -> Routing {
    let mut routing = Routing {
        identity,
        ..Routing::default()
    };
    for peer in &config.peers {
        let Some(placement) = placed.get(&peer.public_key) else {
            continue;
        };
        let owner = Owner {
            at: placement.at,
            generation: placement.generation,
        };
        routing.by_key.insert(peer.public_key.0, owner);
        for net in &peer.allowed_ips {
            routing.allowed.insert(IpNet::trunc(net), owner);
        }
    }
    routing
}
