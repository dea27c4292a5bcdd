//! The data planes this build has. On Linux: the kernel's WireGuard (`linux-kernel`) and
//! wiregate's own engine (`userspace`). Elsewhere none yet: a tunnel is reported failed
//! with the reason, and the control plane (store, API, metrics) runs as everywhere.

use wiregate_core::BackendFactory;

#[cfg(target_os = "linux")]
pub fn factory(shards: usize) -> Box<dyn BackendFactory> {
    Box::new(wiregate_kernel::KernelFactory {
        other: wiregate_dataplane::UserspaceFactory { shards },
    })
}

#[cfg(not(target_os = "linux"))]
pub fn factory(_shards: usize) -> Box<dyn BackendFactory> {
    Box::new(Unavailable)
}

/// Refuses every kind, saying why.
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
struct Unavailable;

#[cfg(not(target_os = "linux"))]
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
