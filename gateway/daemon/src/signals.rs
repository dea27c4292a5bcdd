//! Process signals: SIGTERM and SIGINT stop the daemon cleanly (sockets removed, TUN
//! devices closed); SIGHUP is reported and otherwise ignored until configuration reload
//! exists.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Calls `stop` on the first SIGTERM or SIGINT, from a thread of its own.
pub fn on_termination(stop: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    tracing::warn!(
                        "SIGHUP: configuration reload is not implemented yet; nothing changed"
                    );
                    continue;
                }
                tracing::info!(signal, "stopping");
                stop();
                return;
            }
        })?;
    Ok(())
}
