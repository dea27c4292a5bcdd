//! What a benchmark run found, per pair, and the plain-text table of medians.

use super::implementation::Implementation;
use super::measure::Figures;
use super::pair::Pair;

/// One pair's runs, or why it was not run.
#[derive(Debug)]
pub struct Outcome {
    pub pair: Pair,
    pub skipped: Option<String>,
    pub runs: Vec<Result<Figures, String>>,
}

impl Outcome {
    pub fn succeeded(&self) -> usize {
        self.runs.iter().filter(|r| r.is_ok()).count()
    }

    /// The median over the runs that succeeded of the figure `name` (see
    /// [`Figures::named`]).
    pub fn median(&self, name: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .runs
            .iter()
            .flatten()
            .filter_map(|f| f.named().into_iter().find(|(n, _)| *n == name)?.1)
            .collect();
        median(values)
    }
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The ratios asked of this benchmark: wiregate's TCP 1-stream median over wireguard-go's,
/// and over the faster of boringtun and gotatun (each facing itself).
pub fn ratios(outcomes: &[Outcome]) -> Vec<(&'static str, Option<f64>)> {
    let tcp1 = |i: Implementation| {
        outcomes
            .iter()
            .find(|o| {
                o.pair
                    == Pair::Tunnel {
                        server: i,
                        client: i,
                    }
            })
            .and_then(|o| o.median("tcp1_gbps"))
    };
    let wiregate = tcp1(Implementation::Wiregate);
    let rust_best = match (
        tcp1(Implementation::Boringtun),
        tcp1(Implementation::Gotatun),
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let ratio = |other: Option<f64>| Some(wiregate? / other.filter(|v| *v > 0.0)?);
    vec![
        (
            "wiregate/wireguard-go TCP1",
            ratio(tcp1(Implementation::WireguardGo)),
        ),
        ("wiregate/max(boringtun,gotatun) TCP1", ratio(rust_best)),
    ]
}

/// Columns of the table: heading, figure, decimals.
const COLUMNS: [(&str, &str, usize); 10] = [
    ("TCP1", "tcp1_gbps", 2),
    ("TCP4", "tcp4_gbps", 2),
    ("UDP rx", "udp_received_gbps", 2),
    ("loss%", "udp_loss_percent", 1),
    ("sust", "sustained_offered_gbps", 2),
    ("rx", "sustained_received_gbps", 2),
    ("loss%", "sustained_loss_percent", 1),
    ("ping ms", "ping_avg_ms", 3),
    ("CPU srv", "cpu_server_s", 2),
    ("CPU cli", "cpu_client_s", 2),
];

/// The table of medians, one row per pair, then the ratios and every failure in full.
pub fn table(outcomes: &[Outcome], runs: usize) -> String {
    let name_width = outcomes
        .iter()
        .map(|o| o.pair.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "Medians of {runs} run(s). Rates in Gbit/s. UDP rx/loss%: unlimited (-b 0); \
         sust: highest offered rate with < {}% loss, rx/loss% at that rate.\n\
         CPU srv/cli: CPU seconds of each end's daemon during the TCP1 test.\n\n",
        super::sustained::LOSS_LIMIT
    );
    text += &format!("{:<name_width$}", "pair");
    for (heading, _, _) in COLUMNS {
        text += &format!(" {heading:>7}");
    }
    text += "\n";
    for outcome in outcomes {
        text += &format!("{:<name_width$}", outcome.pair.name());
        if let Some(reason) = &outcome.skipped {
            text += &format!(" skipped: {reason}\n");
            continue;
        }
        if outcome.succeeded() == 0 {
            text += " failed (see below)\n";
            continue;
        }
        for (_, figure, decimals) in COLUMNS {
            match outcome.median(figure) {
                Some(v) => text += &format!(" {v:>7.decimals$}"),
                None => text += &format!(" {:>7}", "-"),
            }
        }
        if outcome.succeeded() < outcome.runs.len() {
            text += &format!("  ({} of {} runs)", outcome.succeeded(), outcome.runs.len());
        }
        text += "\n";
    }
    text += "\n";
    for (label, ratio) in ratios(outcomes) {
        match ratio {
            Some(r) => text += &format!("{label}: {r:.2}\n"),
            None => text += &format!("{label}: n/a\n"),
        }
    }
    for outcome in outcomes {
        let runs: Vec<&Figures> = outcome.runs.iter().flatten().collect();
        let missed = runs.iter().filter(|f| !f.sustained.found).count();
        if missed > 0 {
            text += &format!(
                "{}: no step stayed under {}% loss in {missed} of {} run(s); sust shows \
                 the lowest step tried.\n",
                outcome.pair.name(),
                super::sustained::LOSS_LIMIT,
                runs.len()
            );
        }
    }
    for outcome in outcomes {
        for (i, run) in outcome.runs.iter().enumerate() {
            if let Err(e) = run {
                text += &format!("\n{} run {} failed: {e}\n", outcome.pair.name(), i + 1);
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
