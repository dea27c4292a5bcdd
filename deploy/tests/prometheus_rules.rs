//! The alert rules (`prometheus/wiregate-alerts.yml`) checked by the tool Prometheus itself
//! uses: `promtool check rules` for syntax and PromQL, `promtool test rules` for behaviour.
//! Text checks on top keep the unit tests honest: every alert has a case that fires it and
//! one that must stay quiet, and every alert links a runbook section that exists.
//!
//! promtool missing is a failure, never a skip: a skipped check would let broken rules
//! through unnoticed. `tests/run` installs it (Debian package `prometheus`).

mod tools;

use std::path::PathBuf;

const RULES: &str = "prometheus/wiregate-alerts.yml";
const RULE_TESTS: &str = "prometheus/wiregate-alerts.test.yml";

/// The runbook sections of docs/operations.md, one per alert name.
const RUNBOOK_ANCHORS: [&str; 7] = [
    "alert-wiregatedown",
    "alert-wiregatetunneldown",
    "alert-wiregatepeerhandshakestale",
    "alert-wiregatedroprate",
    "alert-wiregateunderload",
    "alert-wiregatereconcilefailing",
    "alert-wiregatenodelost",
];

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs promtool on one of the deployment files.
fn promtool(args: &[&str], file: &str) -> (bool, String) {
    tools::promtool(args, &path(file))
}

/// One alerting rule as written in the rules file: its name and its lines.
struct AlertRule {
    name: String,
    text: Vec<String>,
}

/// The alerting rules, split at each `- alert:` (a `- record:` ends one too).
fn alert_rules(rules: &str) -> Vec<AlertRule> {
    let mut found: Vec<AlertRule> = Vec::new();
    let mut current: Option<AlertRule> = None;
    for line in rules.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            found.extend(current.take());
            current = Some(AlertRule {
                name: name.trim().to_owned(),
                text: Vec::new(),
            });
        } else if trimmed.starts_with("- record:") {
            found.extend(current.take());
        } else if let Some(rule) = current.as_mut() {
            rule.text.push(trimmed.to_owned());
        }
    }
    found.extend(current);
    found
}

/// A rule's value for `key:` (the first line that starts with it).
fn value<'a>(rule: &'a AlertRule, key: &str) -> Option<&'a str> {
    rule.text
        .iter()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

/// Test cases of the unit test file: (alert name, whether it expects the alert to fire).
/// A case's `exp_alerts: []` expects silence; a list (or a YAML alias of one) expects
/// those alerts.
fn test_cases(tests: &str) -> Vec<(String, bool)> {
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    let mut cases = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("alertname:") else {
            continue;
        };
        let expected = lines[i + 1..]
            .iter()
            .find_map(|l| l.strip_prefix("exp_alerts:"))
            .unwrap_or_else(|| panic!("test case for {name} has no exp_alerts"));
        cases.push((name.trim().to_owned(), expected.trim() != "[]"));
    }
    cases
}

#[test]
fn promtool_check_rules_accepts_the_rules() {
    let (ok, printed) = promtool(&["check", "rules"], RULES);
    assert!(ok, "promtool check rules {RULES} failed:\n{printed}");
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    let (ok, printed) = promtool(&["test", "rules"], RULE_TESTS);
    assert!(ok, "promtool test rules {RULE_TESTS} failed:\n{printed}");
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_test_case() {
    let alerts: Vec<String> = alert_rules(&read(RULES))
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert!(!alerts.is_empty(), "no alerting rules found in {RULES}");
    let cases = test_cases(&read(RULE_TESTS));
    for alert in &alerts {
        for (fires, what) in [(true, "fires it"), (false, "expects no alert")] {
            assert!(
                cases.iter().any(|(name, f)| name == alert && *f == fires),
                "{RULE_TESTS} has no test case for {alert} that {what}"
            );
        }
    }
    // A case naming an alert that does not exist expects nothing and passes vacuously.
    for (name, _) in &cases {
        assert!(
            alerts.contains(name),
            "{RULE_TESTS} tests {name}, which {RULES} does not define"
        );
    }
}

#[test]
fn every_alert_has_severity_annotations_and_a_known_runbook() {
    let rules = alert_rules(&read(RULES));
    assert!(!rules.is_empty(), "no alerting rules found in {RULES}");
    for rule in &rules {
        let name = &rule.name;
        assert!(value(rule, "for").is_some(), "{name} has no `for:`");
        let severity = value(rule, "severity");
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?}, expected critical or warning"
        );
        for annotation in ["summary", "description"] {
            assert!(
                value(rule, annotation).is_some(),
                "{name} has no {annotation}"
            );
        }
        let runbook =
            value(rule, "runbook_url").unwrap_or_else(|| panic!("{name}: no runbook_url"));
        let anchor = runbook
            .strip_prefix("docs/operations.md#")
            .unwrap_or_else(|| panic!("{name}: runbook_url {runbook} is not docs/operations.md#…"));
        assert!(
            RUNBOOK_ANCHORS.contains(&anchor),
            "{name}: runbook anchor {anchor} is not one of {RUNBOOK_ANCHORS:?}"
        );
    }
}
