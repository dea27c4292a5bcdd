//! `capacity`: what one wiregate gateway can take. A load generator in a namespace of its
//! own speaks real WireGuard as thousands of simulated peers to the gateway (the drop-in,
//! `wiregate -f`) in another, over a veth pair. Phases:
//!
//! 1. calibrate: X25519 and ChaCha20-Poly1305 limits of one core, in this process;
//! 2. handshake: acceptance rate in a closed loop, then every peer at once (cookies);
//! 3. decrypt: encrypted data from many peers, as fast as the generator can send;
//! 4. encrypt: plaintext into the gateway's TUN, to be encrypted to the peers;
//! 5. scale: memory per idle and active peer, and CPU per packet with few or many peers.
//!
//! Everything the generator sends is made before a timed part starts, so the timed parts
//! only send bytes and count replies: the gateway is what is measured.

mod calibrate;
mod datapool;
mod decrypt;
mod dropin;
mod encrypt;
mod fleet;
mod handshake;
mod initiator;
mod json;
mod measure;
mod pace;
mod procfs;
mod report;
mod scale;
mod svg;
mod topology;
mod udp;

use calibrate::Calibration;
use dropin::Dropin;
use fleet::Fleet;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use topology::Topology;
use udp::Pool;

/// Options of the capacity benchmark.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wiregate binary to run.
    #[arg(long, default_value = "target/release/wiregate")]
    wiregate: PathBuf,
    /// Gateway shards; default: one per core.
    #[arg(long)]
    shards: Option<usize>,
    /// Peers configured in the handshake, decrypt and encrypt phases.
    #[arg(long, default_value_t = 10_000)]
    peers: usize,
    /// Peers that send in the decrypt and encrypt phases; default: all of --peers.
    #[arg(long)]
    active: Option<usize>,
    /// Phases to run, in this order whatever the order given.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "calibrate,handshake,decrypt,encrypt,scale"
    )]
    phases: Vec<Phase>,
    /// Configured peers for the memory measurements of the scale phase.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    scale: Vec<usize>,
    /// Seconds of each throughput phase (acceptance, decrypt, encrypt) at most.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Initiations outstanding in the acceptance test (the gateway turns to cookies at
    /// 512 queued per shard).
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Encrypted packets made ahead for the decrypt phase (1452 bytes each). A counter is
    /// never sent twice, so this bounds the phase: it ends when the pool is sent.
    #[arg(long, default_value_t = 3_000_000)]
    pool: usize,
    /// Packets the decrypt phase's sender keeps in flight (sent, not yet written to the
    /// TUN): enough to keep the gateway busy, few enough that the sender does not spend the
    /// machine's CPU on packets the gateway would drop at its sockets.
    #[arg(long, default_value_t = 4096)]
    data_window: usize,
    /// Packets each peer sends back to back in the decrypt phase, one measurement per
    /// value: 1 interleaves all peers packet by packet (every packet touches another
    /// peer's state, and no two can be coalesced on the TUN), larger values are flows
    /// sending in bursts, as TCP does.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    bursts: Vec<usize>,
    /// Decrypt measurements per burst size, each with a fresh gateway; the report's
    /// figure is their median (one run on a shared 2-core machine moves by ±5 %).
    #[arg(long, default_value_t = 3)]
    decrypt_runs: usize,
    /// The same for the encrypt phase's sender (sent, not yet received by the generator):
    /// below what the TUN's rings hold (wiregate asks for 1000 per queue, a queue per shard),
    /// which drop what does not fit.
    #[arg(long, default_value_t = 1024)]
    encrypt_window: usize,
    /// Send data as fast as the senders can instead (no windows).
    #[arg(long)]
    flood: bool,
    /// Generator UDP sockets (source ports) the peers share.
    #[arg(long, default_value_t = 64)]
    sockets: usize,
    /// Packets the 10 peers of the per-packet cost measurement send, as fast as the
    /// gateway takes them (the decrypt phase's window): per-wakeup costs amortize, so the
    /// figure is the packet's own cost and repeats within a few per cent.
    #[arg(long, default_value_t = 1_000_000)]
    cost_packets: usize,
    /// Offer the cost measurement's packets at this rate (packets/s) instead, below
    /// saturation. The figure then includes a wakeup every few packets and varies more.
    #[arg(long)]
    cost_rate: Option<f64>,
    /// Seconds of the idle baseline beside each cost measurement.
    #[arg(long, default_value_t = 5.0)]
    cost_seconds: f64,
    /// How long the scale phase may spend handshaking all configured peers.
    #[arg(long, default_value_t = 120.0)]
    activate_seconds: f64,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write SVG plots into this directory.
    #[arg(long)]
    svg_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Phase {
    Calibrate,
    Handshake,
    Decrypt,
    Encrypt,
    Scale,
}

/// What every phase works with.
pub struct Context<'a> {
    pub args: &'a Args,
    pub shards: usize,
    pub topology: Topology,
    pub fleet: Fleet,
    pub udp: Pool,
    pub calibration: Calibration,
    gateways_started: usize,
}

impl Context<'_> {
    /// Starts a gateway with the first `peers` of the fleet configured; returns it and how
    /// long the UAPI `set` of the peers took.
    pub fn start_gateway(&mut self, peers: usize) -> Result<(Dropin, Duration), String> {
        self.gateways_started += 1;
        let iface = format!("wgc{}n{}", std::process::id(), self.gateways_started);
        let key = self.fleet.gateway_secret.to_bytes();
        let gateway = Dropin::start(
            &self.args.wiregate,
            &self.topology,
            &iface,
            self.shards,
            &key,
        )?;
        let start = Instant::now();
        if peers > 0 {
            gateway.set(&self.fleet.uapi_peers(peers))?;
        }
        let took = start.elapsed();
        let configured = gateway
            .get()?
            .iter()
            .filter(|l| l.starts_with("public_key="))
            .count();
        if configured != peers {
            return Err(gateway.fail(&format!(
                "the gateway reports {configured} peers after a set of {peers}"
            )));
        }
        Ok((gateway, took))
    }

    pub fn active(&self) -> usize {
        self.args
            .active
            .unwrap_or(self.args.peers)
            .min(self.args.peers)
    }
}

fn progress(message: &str) {
    eprintln!("[capacity] {message}");
}

pub fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let mut phases = args.phases.clone();
    phases.sort();
    phases.dedup();
    if args.peers == 0 || args.sockets == 0 || args.duration <= 0.0 {
        return Err("--peers, --sockets and --duration must be positive".into());
    }
    if !args.wiregate.exists() {
        return Err(format!(
            "{} not found (build it with `cargo build --release -p wiregate`, and run from \
             the repository root)",
            args.wiregate.display()
        ));
    }
    let shards = args
        .shards
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let topology = Topology::create()?;
    topology.enter_generator()?;
    progress("calibrating one core (X25519, ChaCha20-Poly1305)");
    let calibration = calibrate::measure();
    let largest = if phases.contains(&Phase::Scale) {
        args.scale
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(args.peers)
    } else {
        args.peers
    };
    progress(&format!("making {largest} peer keys"));
    let fleet = Fleet::generate(largest);
    let gateway = SocketAddrV4::new(topology::GATEWAY_UNDERLAY, dropin::LISTEN_PORT);
    let udp = Pool::open(args.sockets, gateway)?;
    let mut ctx = Context {
        args,
        shards,
        topology,
        fleet,
        udp,
        calibration,
        gateways_started: 0,
    };
    let mut report = report::Report::new(args, shards, &phases, calibration);
    for phase in &phases {
        match phase {
            Phase::Calibrate => {}
            Phase::Handshake => report.handshake = Some(handshake::run(&mut ctx)?),
            Phase::Decrypt => report.decrypt = decrypt::run(&mut ctx)?,
            Phase::Encrypt => report.encrypt = Some(encrypt::run(&mut ctx)?),
            Phase::Scale => report.scale = Some(scale::run(&mut ctx)?),
        }
    }
    report.wall = started.elapsed();
    report.print();
    if let Some(path) = &args.json {
        report.write_json(path)?;
    }
    if let Some(dir) = &args.svg_dir {
        report.write_svgs(dir)?;
    }
    Ok(())
}
