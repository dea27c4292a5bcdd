//! Interface configuration over rtnetlink, for both Linux backends (the userspace engine's
//! TUN devices and the kernel's WireGuard links): a crate of its own so that the kernel
//! backend does not depend on the userspace engine.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod netconf;
#[cfg(target_os = "linux")]
pub use netconf::*;
