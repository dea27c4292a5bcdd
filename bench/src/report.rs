//! The figures: per phase the wall time, the rate, request latencies and the gateway's CPU
//! time over the phase; printed as a table and, on request, written as JSON.

use crate::host::Cpu;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Latencies of the requests of a phase, in milliseconds.
#[derive(Debug)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// Mean of the first and of the last tenth of the requests, in order: whether a
    /// request gets slower as the tunnel fills up.
    pub first_tenth: f64,
    pub last_tenth: f64,
}

impl Latency {
    /// `None` for fewer than ten requests: too few for percentiles.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.len() < 10 {
            return None;
        }
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let mut sorted = ms.clone();
        sorted.sort_by(f64::total_cmp);
        // Nearest rank: the smallest sample with at least p % of samples at or below it.
        let rank = |p: f64| sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1) - 1];
        let tenth = ms.len() / 10;
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        Some(Self {
            p50: rank(50.0),
            p99: rank(99.0),
            max: sorted[sorted.len() - 1],
            first_tenth: mean(&ms[..tenth]),
            last_tenth: mean(&ms[ms.len() - tenth..]),
        })
    }
}

#[derive(Debug)]
pub struct Phase {
    pub name: &'static str,
    /// Peers created (or listed) in the phase.
    pub peers: usize,
    pub requests: usize,
    pub wall: Duration,
    /// The gateway's CPU time over the phase.
    pub cpu: Cpu,
    /// The gateway's peak RSS (VmHWM) at the end of the phase: which phase grew it.
    pub peak_rss_kib: u64,
    pub latency: Option<Latency>,
}

impl Phase {
    /// Rates only mean something for phases that made requests (not the idle one).
    fn peers_per_second(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.peers as f64 / self.wall.as_secs_f64())
    }

    fn requests_per_second(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.requests as f64 / self.wall.as_secs_f64())
    }
}

#[derive(Debug)]
pub struct Report {
    pub phases: Vec<Phase>,
    /// Of the gateway process, at the end of the run.
    pub peak_rss_kib: u64,
    pub cpu_total: Cpu,
    /// /proc/loadavg before and after: the machine may be shared.
    pub load: (String, String),
}

/// CPU seconds come in clock ticks (1/100 s): more digits would be noise.
fn centi(seconds: f64) -> f64 {
    (seconds * 100.0).round() / 100.0
}

/// The machine, for the record: cores, CPU model, kernel.
fn machine() -> Value {
    let cpu = crate::host::cpu_model().unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "kernel": kernel.trim(),
    })
}

impl Report {
    pub fn print(&self) {
        println!(
            "{:<32} {:>6} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>12} {:>9}",
            "phase",
            "peers",
            "reqs",
            "wall s",
            "peers/s",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "1st10%",
            "last10%",
            "cpu u+s s",
            "peak MiB"
        );
        for p in &self.phases {
            let lat = |f: fn(&Latency) -> f64| {
                p.latency
                    .as_ref()
                    .map_or("-".to_owned(), |l| format!("{:.2}", f(l)))
            };
            let rate = |r: Option<f64>, digits: usize| {
                r.map_or("-".to_owned(), |r| format!("{r:.digits$}"))
            };
            println!(
                "{:<32} {:>6} {:>6} {:>9.3} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>12} {:>9}",
                p.name,
                p.peers,
                p.requests,
                p.wall.as_secs_f64(),
                rate(p.peers_per_second(), 0),
                rate(p.requests_per_second(), 1),
                lat(|l| l.p50),
                lat(|l| l.p99),
                lat(|l| l.max),
                lat(|l| l.first_tenth),
                lat(|l| l.last_tenth),
                format!("{:.2}+{:.2}", p.cpu.user, p.cpu.system),
                format!("{:.1}", p.peak_rss_kib as f64 / 1024.0),
            );
        }
        println!(
            "wiregate: peak RSS {:.1} MiB, CPU {:.2} s user + {:.2} s system over the whole run",
            self.peak_rss_kib as f64 / 1024.0,
            self.cpu_total.user,
            self.cpu_total.system
        );
        println!(
            "load average before: {}; after: {}",
            self.load.0, self.load.1
        );
    }

    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "peers": p.peers,
                    "requests": p.requests,
                    "wall_seconds": p.wall.as_secs_f64(),
                    "peers_per_second": p.peers_per_second(),
                    "requests_per_second": p.requests_per_second(),
                    "cpu_user_seconds": centi(p.cpu.user),
                    "cpu_system_seconds": centi(p.cpu.system),
                    "peak_rss_kib": p.peak_rss_kib,
                    "latency_ms": p.latency.as_ref().map(|l| json!({
                        "p50": l.p50,
                        "p99": l.p99,
                        "max": l.max,
                        "mean_first_tenth": l.first_tenth,
                        "mean_last_tenth": l.last_tenth,
                    })),
                })
            })
            .collect();
        let report = json!({
            "benchmark": "provision",
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "machine": machine(),
            "loadavg_before": self.load.0,
            "loadavg_after": self.load.1,
            "phases": phases,
            "wiregate": {
                "peak_rss_kib": self.peak_rss_kib,
                "cpu_user_seconds": centi(self.cpu_total.user),
                "cpu_system_seconds": centi(self.cpu_total.system),
            },
        });
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_tenths_keep_order() {
        // 1..=100 ms, in order: the last requests are the slow ones.
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&samples).unwrap();
        assert_eq!((l.p50, l.p99, l.max), (50.0, 99.0, 100.0));
        assert_eq!((l.first_tenth, l.last_tenth), (5.5, 95.5));
        assert!(Latency::of(&samples[..9]).is_none());
    }
}
