//! ICMP echo through the tunnels, from inside a namespace.

use crate::netns::Netns;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a first contact may take: the first packets trigger the handshake.
pub const FIRST_CONTACT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    pub output: String,
}

/// One run of `ping -c <count> -i <interval> -W 1 -q <addr>` in `ns`.
pub fn ping_once(ns: &Netns, addr: &str, count: u32, interval: &str) -> PingResult {
    ping_sized(ns, addr, count, interval, 56)
}

/// `ping_once` with `size` bytes of ICMP payload (`-s`; the IP packet is 28 more).
pub fn ping_sized(ns: &Netns, addr: &str, count: u32, interval: &str, size: u32) -> PingResult {
    let outcome = ns.try_run(&[
        "ping",
        "-c",
        &count.to_string(),
        "-i",
        interval,
        "-s",
        &size.to_string(),
        "-W",
        "1",
        "-q",
        addr,
    ]);
    let output = format!("{}{}", outcome.stdout, outcome.stderr);
    // "3 packets transmitted, 3 received, 0% packet loss, time 403ms"
    let summary = output.lines().find(|l| l.contains("packets transmitted"));
    let number_before = |word: &str| -> u32 {
        summary
            .and_then(|line| {
                line.split(", ")
                    .find(|part| part.contains(word))
                    .and_then(|part| part.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    };
    PingResult {
        transmitted: number_before("transmitted"),
        received: number_before("received"),
        output,
    }
}

/// Pings until one run of `count` packets is answered in full, for up to 10 s.
pub fn try_ping(ns: &Netns, addr: &str, count: u32) -> Result<PingResult, PingResult> {
    try_ping_within(ns, addr, count, FIRST_CONTACT)
}

/// `try_ping` for up to `within`.
pub fn try_ping_within(
    ns: &Netns,
    addr: &str,
    count: u32,
    within: Duration,
) -> Result<PingResult, PingResult> {
    let deadline = Instant::now() + within;
    loop {
        let result = ping_once(ns, addr, count, "0.2");
        if result.transmitted == count && result.received == count {
            return Ok(result);
        }
        if Instant::now() >= deadline {
            return Err(result);
        }
        if result.transmitted == 0 {
            // ping gave up at once (no route yet, say): do not spin.
            sleep(Duration::from_millis(200));
        }
    }
}

/// Whether `addr` answers `count` pings from `ns` within about 10 s.
pub fn ping(ns: &Netns, addr: &str, count: u32) -> bool {
    try_ping(ns, addr, count).is_ok()
}

/// Panics unless `addr` answers 3 pings from `ns` within about 10 s.
pub fn must_ping(ns: &Netns, addr: &str) {
    must_ping_within(ns, addr, FIRST_CONTACT);
}

/// Panics unless `addr` answers 3 pings from `ns` within `within`.
pub fn must_ping_within(ns: &Netns, addr: &str, within: Duration) {
    if let Err(last) = try_ping_within(ns, addr, 3, within) {
        panic!(
            "no complete ping reply from {addr} in netns {} within {within:?}; last try:\n{}",
            ns.name(),
            last.output
        );
    }
}
