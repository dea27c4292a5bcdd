//! Process signals: SIGTERM and SIGINT stop the daemon cleanly (sockets removed, TUN
//! devices closed); SIGHUP reloads the configuration file. On Windows, Ctrl-C (and the
//! console's close) stops it; there is no SIGHUP.

/// From a thread of its own: `reload` on every SIGHUP, `stop` on the first SIGTERM or
/// SIGINT. A reload runs to its end before the next signal is looked at.
#[cfg(unix)]
pub fn handle(
    stop: impl FnOnce() + Send + 'static,
    reload: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
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

/// From a thread of its own: `stop` on the first Ctrl-C. `reload` has no signal here.
#[cfg(not(unix))]
pub fn handle(
    stop: impl FnOnce() + Send + 'static,
    reload: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    drop(reload);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
                tracing::info!("Ctrl-C: stopping");
                stop();
            }
        })?;
    Ok(())
}
