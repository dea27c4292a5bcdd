//! iperf3: a server kept for the whole of a pair on the server end, and clients on the
//! client end whose JSON report (`-J`) gives the figures. Data flows client to server,
//! so the client end encrypts and the server end (the gateway, in the cross pairs)
//! decrypts.
//!
//! Fields read, as iperf3 3.12 writes them: TCP `end.sum_received.bits_per_second`
//! (what the server received); UDP `end.sum.bits_per_second` (what the client sent),
//! `end.sum.lost_percent` (from the server's count) and `end.sum_received.bits_per_second`
//! (what arrived).

use super::process::{Program, command, run};
use super::topology::End;
use serde_json::Value;
use std::time::Duration;

/// A UDP payload that fills a 1420-byte tunnel MTU: 1420 - 20 (IPv4) - 8 (UDP).
pub const UDP_PAYLOAD: &str = "1392";
/// Tries while the server is not listening yet (or still closing the previous test).
const ATTEMPTS: u32 = 20;
/// Beyond the test's own duration: connection, the end-of-test exchange, slow teardown.
const SLACK: Duration = Duration::from_secs(20);

/// The server, bound to the address tests are sent to.
#[derive(Debug)]
pub struct Server {
    _program: Program,
}

impl Server {
    pub fn start(end: &End, address: &str) -> Result<Self, String> {
        let program = Program::spawn(
            command(Some(&end.namespace), "iperf3").args(["-s", "-B", address]),
            "iperf3 server",
        )?;
        Ok(Self { _program: program })
    }
}

/// Where the tests run from, and where to.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub end: &'a End,
    pub target: &'a str,
}

/// A UDP test's figures, in bit/s and percent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Udp {
    pub offered: f64,
    pub received: f64,
    pub loss: f64,
}

impl Client<'_> {
    /// TCP with `streams` parallel streams: bit/s received.
    pub fn tcp(&self, streams: u32, seconds: u32) -> Result<f64, String> {
        let report = self.test(&["-P", &streams.to_string()], seconds)?;
        number(&report, &["end", "sum_received", "bits_per_second"])
    }

    /// UDP at `rate` bit/s (0: as fast as the client can send).
    pub fn udp(&self, rate: f64, seconds: u32) -> Result<Udp, String> {
        let rate = format!("{rate:.0}");
        let report = self.test(&["-u", "-l", UDP_PAYLOAD, "-b", &rate], seconds)?;
        let offered = number(&report, &["end", "sum", "bits_per_second"])?;
        let loss = number(&report, &["end", "sum", "lost_percent"])?;
        // Older iperf3 has no sum_received for UDP: what was sent, less what was lost.
        let received = number(&report, &["end", "sum_received", "bits_per_second"])
            .unwrap_or(offered * (1.0 - loss / 100.0));
        Ok(Udp {
            offered,
            received,
            loss,
        })
    }

    /// Runs one client and returns its JSON report, retrying while the server is not
    /// ready for it.
    fn test(&self, extra: &[&str], seconds: u32) -> Result<Value, String> {
        let timeout = Duration::from_secs(seconds.into()) + SLACK;
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let done = run(
                command(Some(&self.end.namespace), "iperf3")
                    .args(["-c", self.target, "-J", "--connect-timeout", "2000"])
                    .args(["-t", &seconds.to_string()])
                    .args(extra),
                timeout,
            )?;
            let report: Value = serde_json::from_str(&done.stdout)
                .map_err(|e| format!("iperf3 wrote no JSON ({e}): {}", done.stderr.trim()))?;
            match report.get("error").and_then(Value::as_str) {
                None if done.status.success() => return Ok(report),
                None => last = format!("exited with {}", done.status),
                Some(error) => last = error.to_owned(),
            }
            let retry = last.contains("unable to connect") || last.contains("busy");
            if !retry {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("iperf3 {}: {last}", extra.join(" ")))
    }
}

fn number(report: &Value, path: &[&str]) -> Result<f64, String> {
    path.iter()
        .try_fold(report, |v, key| v.get(key))
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("iperf3's report has no {}", path.join(".")))
}
