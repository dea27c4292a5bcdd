//! The `linux-kernel` backend: a tunnel whose data plane is the kernel's WireGuard
//! device, behind the same [`Backend`] trait as the userspace one.
//!
//! `apply` reads the device back from the kernel every time and sends only the
//! difference (`plan.rs`), so it also repairs drift: a peer changed or removed behind
//! wiregate's back (`wg set`) is put back by the next reconcile pass.

use crate::dump::KernelDevice;
use crate::{genl, plan};
use std::io;
use std::sync::Mutex;
use wiregate_core::{Backend, BackendError, BackendFactory, TunnelConfig, TunnelState};
use wiregate_netconf as netconf;

/// What an operator sees when the kernel cannot do it.
pub const NO_KERNEL_SUPPORT: &str =
    "this kernel has no WireGuard support; use backend = \"userspace\"";

#[derive(Debug)]
pub struct KernelTunnel {
    name: String,
    /// What `apply` last configured on the interface, to change only the difference.
    applied: Mutex<Option<TunnelConfig>>,
}

impl KernelTunnel {
    /// Creates the `wireguard` link `config.name` (or adopts one that exists, after a
    /// crash) and applies `config`.
    pub fn create(config: &TunnelConfig) -> Result<Self, BackendError> {
        config.validate()?;
        let name = &config.name;
        match netconf::link_kind(name) {
            Ok(Some(kind)) if kind == "wireguard" => {
                tracing::info!(tunnel = %name, "adopting the existing WireGuard link");
            }
            Ok(kind) => {
                return Err(BackendError::Unsupported(format!(
                    "{name} exists and is not a WireGuard link ({}); remove it or rename the tunnel",
                    kind.as_deref().unwrap_or("no kind")
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                netconf::add_wireguard_link(name).map_err(|e| match e.raw_os_error() {
                    Some(libc::EOPNOTSUPP) => BackendError::Unsupported(NO_KERNEL_SUPPORT.into()),
                    _ => BackendError::io("creating the link", e),
                })?;
            }
            Err(e) => return Err(BackendError::io("looking up the link", e)),
        }
        let tunnel = Self {
            name: name.clone(),
            applied: Mutex::new(None),
        };
        tunnel.apply(config)?;
        Ok(tunnel)
    }

    fn device(&self) -> Result<KernelDevice, BackendError> {
        let dump = genl::get_device(&self.name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => BackendError::Unsupported(NO_KERNEL_SUPPORT.into()),
            _ => BackendError::io("reading the WireGuard device", e),
        })?;
        Ok(KernelDevice::from_dump(&dump))
    }
}

impl Backend for KernelTunnel {
    fn kind(&self) -> &'static str {
        "linux-kernel"
    }

    fn apply(&self, desired: &TunnelConfig) -> Result<(), BackendError> {
        desired.validate()?;
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let messages = plan::plan(&self.device()?, desired);
        if !messages.is_empty() && applied.is_some() {
            tracing::info!(tunnel = %self.name, messages = messages.len(), "changing the kernel's WireGuard device");
        }
        genl::set_device(messages)
            .map_err(|e| BackendError::io("configuring the WireGuard device", e))?;
        netconf::sync_interface(applied.as_ref(), desired)?;
        *applied = Some(desired.clone());
        Ok(())
    }

    fn state(&self) -> Result<TunnelState, BackendError> {
        let device = self.device()?;
        let public_key = device
            .public_key
            .ok_or_else(|| BackendError::Unsupported("the tunnel has no private key".into()))?;
        Ok(TunnelState {
            name: self.name.clone(),
            public_key,
            listen_port: device.listen_port,
            peers: device.peers.iter().map(|p| p.state()).collect(),
        })
    }
}

impl Drop for KernelTunnel {
    /// The link goes with the tunnel, and its addresses and routes with it.
    fn drop(&mut self) {
        if let Err(e) = netconf::delete_link(&self.name) {
            tracing::warn!(tunnel = %self.name, error = %e, "could not delete the WireGuard link");
        }
    }
}

/// Creates `linux-kernel` tunnels, and hands every other kind to `other`.
#[derive(Debug)]
pub struct KernelFactory<F> {
    pub other: F,
}

impl<F: BackendFactory> BackendFactory for KernelFactory<F> {
    fn create(&self, kind: &str, desired: &TunnelConfig) -> Result<Box<dyn Backend>, BackendError> {
        if kind == "linux-kernel" {
            Ok(Box::new(KernelTunnel::create(desired)?))
        } else {
            self.other.create(kind, desired)
        }
    }
}
