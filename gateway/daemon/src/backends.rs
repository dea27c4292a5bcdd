//! The data planes this build has. On Linux: the kernel's WireGuard (`linux-kernel`) and
//! wiregate's own engine (`userspace`). On Windows: WireGuardNT (`windows-nt`). Elsewhere
//! none: a tunnel is reported failed with the reason, and the control plane (store, API,
//! metrics) runs as everywhere.

use crate::config::Config;
use wiregate_core::BackendFactory;

#[cfg(target_os = "linux")]
pub fn factory(_config: &Config, shards: usize) -> Box<dyn BackendFactory> {
    Box::new(wiregate_kernel::KernelFactory {
        other: wiregate_dataplane::UserspaceFactory { shards },
    })
}

#[cfg(windows)]
pub fn factory(config: &Config, _shards: usize) -> Box<dyn BackendFactory> {
    Box::new(wiregate_windows::WindowsFactory {
        dll: config.windows.wireguard_dll.clone(),
        pin: config.windows.wireguard_dll_sha256.clone(),
    })
}

#[cfg(not(any(target_os = "linux", windows)))]
pub fn factory(_config: &Config, _shards: usize) -> Box<dyn BackendFactory> {
    Box::new(Unavailable)
}

/// Refuses every kind, saying why.
#[cfg(not(any(target_os = "linux", windows)))]
#[derive(Debug)]
struct Unavailable;

#[cfg(not(any(target_os = "linux", windows)))]
impl BackendFactory for Unavailable {
    fn create(
        &self,
        kind: &str,
        _desired: &wiregate_core::TunnelConfig,
    ) -> Result<Box<dyn wiregate_core::Backend>, wiregate_core::BackendError> {
        Err(wiregate_core::BackendError::Unsupported(format!(
            "backend {kind:?} is not available on {}",
            std::env::consts::OS
        )))
    }
}
