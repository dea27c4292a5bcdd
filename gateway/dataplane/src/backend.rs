//! The userspace backend: a [`Device`] plus what `wg-quick` would otherwise do around it
//! (the interface's MTU, addresses and routes) and its UAPI socket, behind the
//! [`Backend`] trait.

use crate::device::{Device, DeviceConfig, DeviceError};
use crate::netconf;
use crate::stats::ShardCounters;
use crate::uapi_server::UapiServer;
use std::sync::{Arc, Mutex};
use wiregate_core::{
    Backend, BackendError, BackendFactory, BatchSizes, DataPlaneStats, PeerState, ShardLoad,
    TunnelConfig, TunnelState,
};

#[derive(Debug)]
pub struct UserspaceTunnel {
    device: Arc<Device>,
    _uapi: UapiServer,
    /// What `apply` last configured on the interface, to change only the difference.
    applied: Mutex<Option<TunnelConfig>>,
    /// A shard held by the test hook [`STALL_ENV`], released before shutdown.
    stall: Mutex<Option<crate::ShardStall>>,
}

/// Test hook: `<tunnel>:<shard>` stops that shard of that tunnel from its creation on, as a
/// flood that never lets it return to its work would, so that end-to-end tests can show
/// the API, metrics and other tunnels unaffected. Never set in production.
pub const STALL_ENV: &str = "WIREGATE_TEST_STALL_SHARD";

/// The shard [`STALL_ENV`] names for tunnel `name`, if any.
fn stalled_shard(name: &str) -> Option<usize> {
    let value = std::env::var(STALL_ENV).ok()?;
    let (tunnel, shard) = value.split_once(':')?;
    (tunnel == name).then(|| shard.parse().ok()).flatten()
}

fn device_error(e: DeviceError) -> BackendError {
    match e {
        DeviceError::Port { port, source } => BackendError::io(format!("UDP port {port}"), source),
        other => BackendError::Unsupported(other.to_string()),
    }
}

impl UserspaceTunnel {
    /// Creates the TUN interface with `shards` queues, starts the shards and the UAPI
    /// socket, and applies `config`.
    pub fn create(config: &TunnelConfig, shards: usize) -> Result<Self, BackendError> {
        config.validate()?;
        let queues = crate::tun::open(&config.name, shards)
            .map_err(|e| BackendError::io("setting up", e))?;
        let device =
            Device::start(&config.name, queues, config.listen_port).map_err(device_error)?;
        let uapi =
            UapiServer::start(device.clone()).map_err(|e| BackendError::io("UAPI socket", e))?;
        let tunnel = Self {
            device,
            _uapi: uapi,
            applied: Mutex::new(None),
            stall: Mutex::new(None),
        };
        tunnel.apply(config)?;
        if let Some(shard) = stalled_shard(&config.name) {
            tracing::warn!(tunnel = %config.name, shard, "test hook: shard stalled");
            *tunnel.stall.lock().unwrap_or_else(|e| e.into_inner()) =
                tunnel.device.stall_shard(shard);
        }
        Ok(tunnel)
    }

    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }
}

impl Backend for UserspaceTunnel {
    fn kind(&self) -> &'static str {
        "userspace"
    }

    fn apply(&self, desired: &TunnelConfig) -> Result<(), BackendError> {
        desired.validate()?;
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let new = DeviceConfig {
            private_key: Some(desired.private_key.clone()),
            listen_port: desired.listen_port,
            fwmark: desired.fwmark,
            peers: desired.peers.clone(),
        };
        self.device.commit(new, &[]).map_err(device_error)?;
        netconf::sync_interface(applied.as_ref(), desired)?;
        *applied = Some(desired.clone());
        Ok(())
    }

    fn data_plane_stats(&self) -> Option<DataPlaneStats> {
        Some(data_plane_stats(
            &self.device.shard_counters(),
            self.device.under_load(),
            self.device.batch_sizes(),
        ))
    }

    fn state(&self) -> Result<TunnelState, BackendError> {
        let report = self.device.report();
        let public_key = report
            .private_key
            .as_ref()
            .map(|k| k.public_key())
            .ok_or_else(|| BackendError::Unsupported("the tunnel has no private key".into()))?;
        Ok(TunnelState {
            name: self.device.name().to_owned(),
            public_key,
            listen_port: report.listen_port,
            peers: report
                .peers
                .into_iter()
                .map(|p| PeerState {
                    public_key: p.config.public_key,
                    endpoint: p.endpoint,
                    allowed_ips: p.config.allowed_ips,
                    persistent_keepalive: p.config.persistent_keepalive,
                    has_preshared_key: p.config.preshared_key.is_some(),
                    last_handshake: p.last_handshake,
                    rx_bytes: p.rx_bytes,
                    tx_bytes: p.tx_bytes,
                })
                .collect(),
        })
    }
}

/// The shard counters as the control plane's metrics read them.
fn data_plane_stats(
    shards: &[ShardCounters],
    under_load: bool,
    batches: Vec<BatchSizes>,
) -> DataPlaneStats {
    let mut total = ShardCounters::default();
    for shard in shards {
        total.add(shard);
    }
    let drops = total
        .fields()
        .into_iter()
        .filter_map(|(name, value)| name.strip_prefix("drop_").map(|reason| (reason, value)))
        .collect();
    DataPlaneStats {
        handshakes_completed: total.handshakes,
        handshake_initiations_received: total.handshake_initiations,
        handshake_initiations_sent: total.handshake_initiations_sent,
        handshakes_failed: total.handshake_failures,
        cookie_replies_sent: total.cookie_replies,
        under_load,
        drops,
        shards: shards
            .iter()
            .map(|s| ShardLoad {
                peers: s.peers,
                rx_packets: s.rx_data_packets,
                rx_bytes: s.rx_bytes,
                tx_packets: s.tx_data_packets,
                tx_bytes: s.tx_bytes,
            })
            .collect(),
        batches,
    }
}

impl Drop for UserspaceTunnel {
    /// The interface goes with the tunnel: the shards stop and close their TUN queues.
    fn drop(&mut self) {
        drop(self.stall.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.device.shutdown();
    }
}

/// Creates userspace tunnels with a fixed number of shards each.
#[derive(Debug, Clone, Copy)]
pub struct UserspaceFactory {
    pub shards: usize,
}

impl BackendFactory for UserspaceFactory {
    fn create(&self, kind: &str, desired: &TunnelConfig) -> Result<Box<dyn Backend>, BackendError> {
        if kind != "userspace" {
            return Err(BackendError::Unsupported(format!(
                "backend {kind:?} is not available on {}",
                std::env::consts::OS
            )));
        }
        Ok(Box::new(UserspaceTunnel::create(desired, self.shards)?))
    }
}
