//! Process signals: SIGTERM and SIGINT stop the daemon cleanly (sockets removed, TUN
//! devices closed); SIGHUP reloads the configuration file.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// From a thread of its own: `reload` on every SIGHUP, `stop` on the first SIGTERM or
/// SIGINT. A reload runs to its end before the next signal is looked at.
pub fn handle(
    stop: impl FnOnce() + Send + 'static,
    reload: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    tracing::info!("SIGHUP: reloading the configuration");
                    reload();
                    continue;
                }
                tracing::info!(signal, "stopping");
                stop();
                return;
            }
        })?;
    Ok(())
}
