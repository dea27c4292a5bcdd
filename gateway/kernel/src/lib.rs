//! wiregate's `linux-kernel` backend: the kernel's own WireGuard module as the data plane,
//! configured over netlink (the link over rtnetlink, the device over the `wireguard`
//! generic netlink family), with wiregate's API, store and reconciliation on top.
//!
//! Changes are incremental (`plan.rs`): sessions of untouched peers survive every apply.
//!
//! Linux only: on other systems the crate is empty.
#![cfg(target_os = "linux")]

mod backend;
mod dump;
mod genl;
mod plan;

pub use backend::{KernelFactory, KernelTunnel, NO_KERNEL_SUPPORT};
