//! Telling systemd how the daemon is doing (`Type=notify`): READY=1 once the tunnels,
//! the API and the metrics are up (and again after a reload, which RELOADING=1 opens),
//! STOPPING=1 on the way out, and, when the unit sets `WatchdogSec=`, WATCHDOG=1 at half
//! the interval for as long as the reconcile loop answers. Without `NOTIFY_SOCKET` (not
//! under systemd) every call does nothing. (Unix only; `no_systemd.rs` stands in
//! elsewhere.)

use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;
use wiregate_control::ControlPlane;

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

pub fn reloading() {
    // systemd 253+ wants the reload's start time with it (`Type=notify-reload`); older
    // ones take RELOADING=1 alone.
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// The watchdog interval the unit asked for, as `sd_watchdog_enabled(3)` reads it: an
/// unset `WATCHDOG_PID` means this process (sd-notify's own reader insists on one).
fn watchdog_usec() -> Option<u64> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let ours = match std::env::var("WATCHDOG_PID") {
        Ok(pid) => pid.parse() == Ok(std::process::id()),
        Err(_) => true,
    };
    (ours && usec > 0).then_some(usec)
}

/// Starts the watchdog pings if the unit asked for them (`WATCHDOG_USEC`). A ping is sent
/// only once no reconcile pass runs: a daemon stuck in a pass stops pinging
/// and systemd restarts it.
pub fn start_watchdog(plane: Arc<ControlPlane>, stopped: impl Fn() -> bool + Send + 'static) {
    let Some(usec) = watchdog_usec() else {
        return;
    };
    let interval = Duration::from_micros(usec / 2);
    tracing::info!(?interval, "systemd watchdog");
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            while !stopped() {
                plane.wait_until_idle();
                notify(&[NotifyState::Watchdog]);
                std::thread::sleep(interval);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the watchdog thread");
    }
}
