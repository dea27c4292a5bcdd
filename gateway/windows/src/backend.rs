//! The `windows-nt` backend: a tunnel whose data plane is a WireGuardNT adapter. `apply`
//! reads the driver's configuration back, sends only the difference (`plan.rs`), and
//! brings the adapter's MTU, addresses and routes in line (`ipconfig.rs`); so it also
//! repairs drift.

use crate::adapter::Adapter;
use crate::dll::WireGuardDll;
use crate::{decode, encode, ipconfig, plan, state};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wiregate_core::{Backend, BackendError, BackendFactory, TunnelConfig, TunnelState};

#[derive(Debug)]
pub struct WindowsTunnel {
    name: String,
    adapter: Adapter,
    /// What `apply` last configured on the adapter's IP side.
    applied: Mutex<Option<TunnelConfig>>,
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |e| BackendError::io(context, e)
}

impl WindowsTunnel {
    pub fn create(dll: Arc<WireGuardDll>, config: &TunnelConfig) -> Result<Self, BackendError> {
        config.validate()?;
        let adapter = Adapter::open_or_create(dll, &config.name).map_err(io("the adapter"))?;
        let tunnel = Self {
            name: config.name.clone(),
            adapter,
            applied: Mutex::new(None),
        };
        tunnel.apply(config)?;
        tunnel.adapter.up().map_err(io("the adapter"))?;
        Ok(tunnel)
    }

    fn current(&self) -> Result<crate::Configuration, BackendError> {
        let buffer = self
            .adapter
            .configuration()
            .map_err(io("reading the adapter"))?;
        decode(&buffer)
            .map_err(|e| BackendError::Unsupported(format!("the driver's configuration: {e}")))
    }
}

impl Backend for WindowsTunnel {
    fn kind(&self) -> &'static str {
        "windows-nt"
    }

    fn apply(&self, desired: &TunnelConfig) -> Result<(), BackendError> {
        desired.validate()?;
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(change) = plan::plan(&self.current()?, desired) {
            tracing::info!(tunnel = %self.name, peers = change.peers.len(), "changing the WireGuardNT adapter");
            self.adapter
                .set_configuration(&encode(&change))
                .map_err(io("configuring the adapter"))?;
        }
        ipconfig::sync(self.adapter.luid, applied.as_ref(), desired)
            .map_err(io("the adapter's addresses and routes"))?;
        *applied = Some(desired.clone());
        Ok(())
    }

    fn state(&self) -> Result<TunnelState, BackendError> {
        Ok(state::tunnel_state(&self.name, &self.current()?))
    }
}

/// Creates `windows-nt` tunnels, loading (and verifying) `wireguard.dll` for each: a DLL
/// installed after a failure is picked up by the next reconcile pass.
#[derive(Debug, Clone)]
pub struct WindowsFactory {
    pub dll: PathBuf,
    /// SHA-256 (hex) the DLL must have, if pinned.
    pub pin: Option<String>,
}

impl BackendFactory for WindowsFactory {
    fn create(&self, kind: &str, desired: &TunnelConfig) -> Result<Box<dyn Backend>, BackendError> {
        if kind != "windows-nt" {
            return Err(BackendError::Unsupported(format!(
                "backend {kind:?} is not available on Windows; use \"windows-nt\""
            )));
        }
        if crate::elevation::is_elevated() == Some(false) {
            return Err(BackendError::Unsupported(
                crate::elevation::NOT_ELEVATED.into(),
            ));
        }
        let dll = WireGuardDll::load(&self.dll, self.pin.as_deref())
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        match dll.running_driver_version() {
            Some(version) => {
                tracing::info!(dll = %self.dll.display(), driver = %version, "WireGuardNT")
            }
            None => {
                tracing::info!(dll = %self.dll.display(), "WireGuardNT (the driver starts with the first adapter)")
            }
        }
        Ok(Box::new(WindowsTunnel::create(Arc::new(dll), desired)?))
    }
}
