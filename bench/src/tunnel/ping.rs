//! ping through the tunnel: the check that a pair works before it is measured, and the
//! round-trip time.

use super::process::{command, run};
use super::topology::End;
use std::time::{Duration, Instant};

/// Pings sent for the RTT figure, and the gap between them (below 0.2 s needs root).
const COUNT: &str = "100";
const INTERVAL: &str = "0.01";

/// Waits until `target` answers, for at most `within` (the first ping also waits for
/// the handshake).
pub fn reachable(end: &End, target: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let done = run(
            command(Some(&end.namespace), "ping").args(["-c", "1", "-W", "1", "-q", target]),
            Duration::from_secs(5),
        )?;
        if done.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("no answer from {target} within {within:?}"));
        }
        // ping may fail at once (no route yet): do not spin.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Average round-trip time in milliseconds, from ping's summary line
/// `rtt min/avg/max/mdev = 0.048/0.101/0.300/0.099 ms`.
pub fn average_rtt_ms(end: &End, target: &str) -> Result<f64, String> {
    let done = run(
        command(Some(&end.namespace), "ping").args(["-c", COUNT, "-i", INTERVAL, "-q", target]),
        Duration::from_secs(30),
    )?;
    done.stdout
        .lines()
        .find_map(|l| l.split_once(" = ").filter(|(k, _)| k.starts_with("rtt")))
        .and_then(|(_, v)| v.split('/').nth(1)?.parse().ok())
        .ok_or_else(|| format!("ping gave no RTT: {}{}", done.stdout, done.stderr))
}
