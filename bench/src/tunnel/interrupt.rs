//! Ctrl-C and SIGTERM. The benchmark must never leave namespaces or daemons behind, so a
//! signal does not end the process: it stops the programs the benchmark is running, the
//! step waiting on them fails, and the error unwinds through the guards (daemons stopped,
//! namespaces deleted) as any other error would.
//!
//! The state is process-wide because signals are: the set of running programs is a
//! global that [`crate::tunnel::process`] keeps up to date.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Pids of the programs running now (daemons, iperf3, ping), signalled on interrupt.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Starts the thread that waits for SIGINT and SIGTERM. Call once, before anything is
/// started. The first signal stops the running programs with SIGTERM, a second one with
/// SIGKILL.
pub fn install() -> Result<(), String> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                let again = INTERRUPTED.swap(true, Ordering::SeqCst);
                eprintln!("interrupted: stopping and cleaning up");
                let signal = if again {
                    Signal::SIGKILL
                } else {
                    Signal::SIGTERM
                };
                for &pid in RUNNING.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    let _ = kill(Pid::from_raw(pid as i32), signal);
                }
            }
        })
        .map_err(|e| format!("signal thread: {e}"))?;
    Ok(())
}

/// Fails once a signal has come: checked before each step starts anything new.
pub fn check() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

pub fn track(pid: u32) {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

/// Called once the program has been waited for, so its pid (free for reuse) is never
/// signalled.
pub fn untrack(pid: u32) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&p| p != pid);
}
