//! Readings of the gateway around a timed part: its CPU time, its TUN's counters, its
//! namespace's UDP counters and its own counters, and what changed in between.

use super::datapool::{INNER_LEN, PAYLOAD_LEN};
use super::dropin::Dropin;
use super::procfs::{self, Link};
use std::time::{Duration, Instant};

/// How long `settle` waits at most for the TUN's counters to stop moving.
const SETTLE_MAX: Duration = Duration::from_secs(5);
const SETTLE_STEP: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    cpu: f64,
    tun: Link,
    udp: Vec<(String, u64)>,
    counters: Vec<(String, u64)>,
}

impl Snapshot {
    pub fn take(gateway: &Dropin) -> Result<Self, String> {
        Ok(Self {
            at: Instant::now(),
            cpu: gateway.cpu_seconds()?,
            tun: gateway.tun()?,
            udp: gateway.udp()?,
            counters: gateway.counters()?,
        })
    }
}

/// Waits until the gateway has written or read its last packet (its TUN's counters stay
/// still for one step) and returns the reading from when they last moved.
pub fn settle(gateway: &Dropin) -> Result<Snapshot, String> {
    let deadline = Instant::now() + SETTLE_MAX;
    let mut last = Snapshot::take(gateway)?;
    loop {
        std::thread::sleep(SETTLE_STEP);
        let now = Snapshot::take(gateway)?;
        let still = now.tun.rx_bytes == last.tun.rx_bytes && now.tun.tx_bytes == last.tun.tx_bytes;
        if still || Instant::now() > deadline {
            return Ok(last);
        }
        last = now;
    }
}

#[derive(Debug, Clone)]
pub struct Delta {
    pub wall: f64,
    pub cpu: f64,
    pub tun: Link,
    udp_before: Vec<(String, u64)>,
    udp_after: Vec<(String, u64)>,
    counters_before: Vec<(String, u64)>,
    counters_after: Vec<(String, u64)>,
}

impl Delta {
    pub fn between(before: &Snapshot, after: &Snapshot) -> Self {
        Self {
            wall: (after.at - before.at).as_secs_f64(),
            cpu: after.cpu - before.cpu,
            tun: after.tun.since(before.tun),
            udp_before: before.udp.clone(),
            udp_after: after.udp.clone(),
            counters_before: before.counters.clone(),
            counters_after: after.counters.clone(),
        }
    }

    /// Gateway cores busy on average.
    pub fn cores(&self) -> f64 {
        self.cpu / self.wall
    }

    /// Growth of a UDP counter of the gateway's namespace (RcvbufErrors, ...).
    pub fn udp(&self, name: &str) -> u64 {
        procfs::delta(&self.udp_before, &self.udp_after, name)
    }

    /// Growth of one of wiregate's own counters (drop_decrypt, cookie_replies, ...).
    pub fn counter(&self, name: &str) -> u64 {
        procfs::delta(&self.counters_before, &self.counters_after, name)
    }

    /// wiregate's counters whose name starts with `drop_` and that grew, with the growth.
    pub fn drops(&self) -> Vec<(String, u64)> {
        self.counters_after
            .iter()
            .filter(|(n, _)| n.starts_with("drop_"))
            .map(|(n, _)| (n.clone(), self.counter(n)))
            .filter(|(_, d)| *d > 0)
            .collect()
    }
}

/// How many of the benchmark's inner packets crossed the TUN, from its byte and packet
/// counts. The TUN counts one packet per write, and wiregate writes (and the kernel
/// hands it) either one 1420-byte packet or a GSO super-packet: one 28-byte IPv4/UDP
/// header and k payloads of 1392 bytes. So bytes − 28 × writes is a whole number of
/// payloads; when it is not, something else crossed the TUN and the figure is refused.
pub fn inner_packets(bytes: u64, writes: u64) -> Result<u64, String> {
    let header = (INNER_LEN - PAYLOAD_LEN) as u64;
    let payload = bytes
        .checked_sub(header * writes)
        .ok_or_else(|| format!("TUN counted {writes} packets but only {bytes} bytes"))?;
    if payload % PAYLOAD_LEN as u64 != 0 {
        return Err(format!(
            "TUN counted {bytes} bytes in {writes} packets: not made of the benchmark's \
             {INNER_LEN}-byte packets (other traffic on the TUN?)"
        ));
    }
    Ok(payload / PAYLOAD_LEN as u64)
}

/// Inner packets the gateway wrote to its TUN over `delta`, checked against the `sent`
/// data packets: none at all, or more than were sent, means the figure is wrong. Errors
/// carry the gateway's log and name the `phase`.
pub fn delivered_to_tun(
    gateway: &Dropin,
    delta: &Delta,
    sent: usize,
    phase: &str,
) -> Result<u64, String> {
    let delivered = inner_packets(delta.tun.rx_bytes, delta.tun.rx_packets)
        .map_err(|e| gateway.fail(&format!("{phase}: {e}")))?;
    if delivered == 0 || delivered > sent as u64 {
        return Err(gateway.fail(&format!(
            "{phase}: the gateway wrote {delivered} packets to its TUN for {sent} sent"
        )));
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_packets_counts_segments_of_super_packets() {
        // Three single packets and one super-packet of five.
        let bytes = 3 * INNER_LEN as u64 + 28 + 5 * PAYLOAD_LEN as u64;
        assert_eq!(inner_packets(bytes, 4), Ok(8));
        assert!(inner_packets(bytes + 60, 4).is_err());
    }
}
