//! PostgreSQL's announcements: every commit to a tunnel notifies the channel
//! [`CHANGES`] with the tunnel's name and the commit time (`notify`), and each gateway
//! listens on a connection of its own (`spawn`), so a change made through any gateway
//! reaches the others in milliseconds. A notification is delivered only to sessions
//! listening when it is sent: after a lost connection the watch announces
//! [`Announced::Anything`] once it is back, and the periodic reconcile is the backstop.

use super::{Announced, OnAnnounced, Result, StoreError, Watch};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient, NoTls};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wiregate_core::stop::Stop;

/// The channel of tunnel changes.
const CHANGES: &str = "wiregate_changes";
/// How long the watch waits for a notification before it checks that it should go on,
/// and how often a silent connection is checked for life.
const POLL: Duration = Duration::from_millis(200);
const PROBE: Duration = Duration::from_secs(5);
/// Between attempts to reconnect.
const RETRY: Duration = Duration::from_millis(500);

/// Announces, within the caller's transaction (so only if it commits), a change to
/// `tunnel`.
pub(super) fn notify(tx: &mut impl GenericClient, tunnel: &str) -> Result<()> {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANGES, &format!("{tunnel} {micros}")],
    )
    .map(drop)
    .map_err(|e| StoreError::Backend(format!("announcing a change: {e}")))
}

/// A payload as `notify` wrote it; a tunnel name has no spaces (it is an interface name).
fn parse(payload: &str) -> Option<Announced> {
    let (name, micros) = payload.split_once(' ')?;
    let at = UNIX_EPOCH + Duration::from_micros(micros.parse().ok()?);
    Some(Announced::Tunnel {
        name: name.to_owned(),
        at,
    })
}

pub(super) fn spawn(config: postgres::Config, on: OnAnnounced) -> Result<Watch> {
    Watch::spawn("store-watch", move |stop| watch(&config, &on, stop))
        .map_err(|e| StoreError::Backend(format!("starting the store watch: {e}")))
}

fn watch(config: &postgres::Config, on: &OnAnnounced, stop: &Stop) {
    let mut lost: Option<String> = None;
    while !stop.is_stopped() {
        let listening = config.connect(NoTls).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {CHANGES}"))?;
            Ok(client)
        });
        match listening {
            Ok(mut client) => {
                if lost.take().is_some() {
                    tracing::info!("store watch: listening again");
                }
                // Whatever was committed while nobody listened.
                on(Announced::Anything);
                if let Err(e) = listen(&mut client, on, stop) {
                    tracing::warn!(error = %e, "store watch: connection lost; reconnecting");
                    lost = Some(e);
                }
            }
            Err(e) => {
                if lost.is_none() {
                    tracing::warn!(error = %e, "store watch: cannot connect; retrying");
                }
                lost = Some(e.to_string());
                if stop.wait(RETRY) {
                    return;
                }
            }
        }
    }
}

/// Delivers notifications until told to stop, or until the connection fails.
fn listen(client: &mut Client, on: &OnAnnounced, stop: &Stop) -> std::result::Result<(), String> {
    let mut silent = Duration::ZERO;
    while !stop.is_stopped() {
        let next = client.notifications().timeout_iter(POLL).next();
        match next {
            Ok(Some(note)) => {
                silent = Duration::ZERO;
                match parse(note.payload()) {
                    Some(announced) => on(announced),
                    None => tracing::warn!(
                        payload = note.payload(),
                        "store watch: unknown announcement"
                    ),
                }
            }
            // A server that shut down said so and closed the connection.
            Ok(None) if client.is_closed() => return Err("the server closed the connection".into()),
            Ok(None) => {
                silent += POLL;
                // A connection whose server went away without a word is found out here.
                if silent >= PROBE {
                    silent = Duration::ZERO;
                    client.simple_query("SELECT 1").map_err(|e| e.to_string())?;
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_as_written() {
        assert_eq!(
            parse("wg0 1700000000123456"),
            Some(Announced::Tunnel {
                name: "wg0".into(),
                at: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            })
        );
        assert_eq!(parse("wg0"), None);
        assert_eq!(parse("wg0 soon"), None);
    }
}
