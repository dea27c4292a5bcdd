//! The gateway's `/metrics`, fetched from inside its namespace and parsed: enough of the
//! text format to find samples by name and labels.

use crate::cmd;
use crate::netns::Netns;
use std::collections::BTreeMap;

/// The default metrics address in the gateway's namespace.
pub const METRICS: &str = "127.0.0.1:9586";

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

/// `name{a="x",b="y"} 1.5`; label values as the exposition escapes them.
fn parse_line(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}')?;
            let mut labels = BTreeMap::new();
            let mut rest = body;
            while let Some((key, after)) = rest.split_once("=\"") {
                let end = after.find('"')?;
                labels.insert(
                    key.trim_start_matches(',').to_owned(),
                    after[..end].to_owned(),
                );
                rest = &after[end + 1..];
            }
            (name, labels)
        }
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

impl Scrape {
    /// Fetches `/metrics` from `ns` (at `METRICS`).
    pub fn fetch(ns: &Netns) -> Scrape {
        let url = format!("http://{METRICS}/metrics");
        let text = ns.run(&["curl", "-sS", "--fail", &url]);
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| parse_line(l).unwrap_or_else(|| panic!("unparsable sample line {l:?}")))
            .collect();
        Scrape { text, samples }
    }

    /// Samples of `name` whose labels include every pair of `labels`.
    pub fn find<'a>(&'a self, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one sample of `name` with `labels`; panics unless there is exactly one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).as_slice() {
            [one] => one.value,
            found => panic!(
                "{} samples of {name} {labels:?}, not one:\n{}",
                found.len(),
                self.text
            ),
        }
    }

    /// The sum of every sample of `name` with `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|s| s.value).sum()
    }

    /// `promtool check metrics` on the text: the exposition's own linter.
    pub fn promtool_check(&self) -> cmd::Outcome {
        cmd::try_run_cmd(
            &mut cmd::command(&["promtool", "check", "metrics"]),
            Some(&self.text),
            cmd::TIMEOUT,
        )
    }
}

#[test]
fn parses_samples_with_and_without_labels() {
    let s = parse_line(
        r#"wireguard_sent_bytes_total{interface="wg0",allowed_ips="10.0.0.2/32,fd00::2/128"} 1072"#,
    )
    .unwrap();
    assert_eq!(s.name, "wireguard_sent_bytes_total");
    assert_eq!(s.labels["interface"], "wg0");
    assert_eq!(s.labels["allowed_ips"], "10.0.0.2/32,fd00::2/128");
    assert_eq!(s.value, 1072.0);
    let s = parse_line("wiregate_reconcile_passes_total 3").unwrap();
    assert!(s.labels.is_empty());
    assert_eq!(s.value, 3.0);
}
