//! TCP bulk transfers with iperf3.

use crate::cmd::{self, wait_for};
use crate::netns::Netns;
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::Duration;

/// `iperf3 -s -1 -B <addr>` in a namespace (it serves one test, then exits); killed on
/// drop if still running.
#[derive(Debug)]
pub struct Iperf3Server {
    child: Child,
}

impl Iperf3Server {
    /// Starts the server and waits (10 s at most) until it listens on `addr`:5201.
    pub fn start(ns: &Netns, addr: &str) -> Self {
        let mut child = ns
            .command(&["iperf3", "-s", "-1", "-B", addr])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting iperf3 -s");
        let listening = format!("{}:5201", bracket(addr));
        let ready = wait_for(Duration::from_secs(10), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("iperf3 -s -B {addr} exited with {status}");
            }
            ns.run(&["ss", "-H", "-l", "-t", "-n"])
                .contains(&listening)
                .then_some(())
        });
        assert!(
            ready.is_some(),
            "iperf3 -s did not listen on {listening} within 10 s"
        );
        Iperf3Server { child }
    }
}

impl Drop for Iperf3Server {
    fn drop(&mut self) {
        if wait_for(Duration::from_secs(2), || {
            self.child.try_wait().ok().flatten()
        })
        .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn bracket(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_owned()
    }
}

/// Runs `iperf3 -c <server> -J <args>` in `ns` (55 s at most) and returns
/// `end.sum_received.bytes`: what the receiving side got.
pub fn transfer(ns: &Netns, server: &str, args: &[&str]) -> u64 {
    let mut command = ns.command(&["iperf3", "-c", server, "-J", "--connect-timeout", "5000"]);
    command.args(args);
    let outcome = cmd::try_run_cmd(&mut command, None, Duration::from_secs(55));
    assert!(
        outcome.success(),
        "iperf3 client failed:\n{}",
        outcome.report()
    );
    sum_received_bytes(&outcome.stdout).unwrap_or_else(|| {
        panic!(
            "no end.sum_received.bytes in iperf3 output:\n{}",
            outcome.stdout
        )
    })
}

/// `iperf3 -J` output: every one-second interval moved data.
pub fn every_interval_moved_data(report: &str) -> Result<usize, String> {
    let report: Value =
        serde_json::from_str(report).map_err(|e| format!("iperf3 -J output: {e}: {report}"))?;
    let intervals = report["intervals"].as_array().cloned().unwrap_or_default();
    let stalled: Vec<usize> = intervals
        .iter()
        .enumerate()
        .filter(|(_, i)| i["sum"]["bytes"].as_u64().unwrap_or(0) == 0)
        .map(|(n, _)| n)
        .collect();
    if intervals.is_empty() || !stalled.is_empty() {
        return Err(format!(
            "intervals without data: {stalled:?} of {}",
            intervals.len()
        ));
    }
    Ok(intervals.len())
}

/// Finds `"bytes": N` in the `"sum_received"` object of the `"end"` section of iperf3's
/// JSON, without a JSON parser.
pub fn sum_received_bytes(json: &str) -> Option<u64> {
    let end = &json[json.find("\"end\"")?..];
    let sum = &end[end.find("\"sum_received\"")?..];
    let sum = &sum[..sum.find('}')?];
    let bytes = &sum[sum.find("\"bytes\"")? + "\"bytes\"".len()..];
    let digits: String = bytes
        .trim_start_matches([' ', ':', '\t', '\n'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn finds_received_bytes_in_the_end_section() {
    let json = r#"{
	"start":	{ "test_start": { "bytes": 104857600 } },
	"intervals":	[{ "sum": { "bytes": 1000 } }],
	"end":	{
		"streams":	[{ "receiver": { "bytes": 5 } }],
		"sum_sent":	{ "start": 0, "bytes":	104857600, "retransmits": 0 },
		"sum_received":	{ "start": 0, "end": 1.2, "seconds": 1.2, "bytes":	104857601, "bits_per_second": 7e8 }
	}
}"#;
    assert_eq!(sum_received_bytes(json), Some(104_857_601));
    assert_eq!(
        sum_received_bytes(r#"{"error": "unable to connect"}"#),
        None
    );
}
