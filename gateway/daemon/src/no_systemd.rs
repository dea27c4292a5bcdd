//! Where there is no systemd (Windows): the notifications `systemd.rs` sends are nothing.
//! The Windows service manager is told of the service's state by the service itself.

use std::sync::Arc;
use wiregate_control::ControlPlane;

pub fn ready(_status: &str) {}

pub fn stopping() {}

pub fn reloading() {}

pub fn start_watchdog(_plane: Arc<ControlPlane>, _stopped: impl Fn() -> bool + Send + 'static) {}
