//! The Grafana dashboard (`grafana/wiregate-dashboard.json`) checked against the metrics
//! contract (docs/metrics.md) and by promtool: a dashboard whose queries name a metric
//! wiregate does not serve, or do not parse, shows empty panels and nobody notices.
//!
//! promtool missing is a failure, never a skip; `tests/run` installs it (Debian package
//! `prometheus`).

mod tools;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const DASHBOARD: &str = "grafana/wiregate-dashboard.json";
const METRICS_DOC: &str = "../docs/metrics.md";
const DATASOURCE: &str = "${datasource}";
const HISTOGRAM_SERIES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every panel, rows included, and the panels a collapsed row keeps inside it.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"]
        .as_array()
        .expect("`panels` is an array")
    {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

/// (panel title, expr) of every query of every panel.
fn exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                found.push((panel["title"].to_string(), expr.to_owned()));
            }
        }
    }
    found
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["templating"]["list"]
        .as_array()
        .expect("`templating.list` is an array")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no template variable `{name}`"))
}

/// A query variable's query: a string, or `{ "query": … }` as newer Grafana saves it.
fn variable_query(variable: &Value) -> &str {
    variable["query"]
        .as_str()
        .or_else(|| variable["query"]["query"].as_str())
        .unwrap_or_else(|| panic!("variable {} has no query", variable["name"]))
}

/// Metric name → type, from the first two columns of docs/metrics.md's tables.
fn documented_metrics() -> BTreeMap<String, String> {
    let mut metrics = BTreeMap::new();
    for line in read(METRICS_DOC).lines() {
        let mut cells = line.split('|').map(str::trim).skip(1);
        let (Some(name), Some(kind)) = (cells.next(), cells.next()) else {
            continue;
        };
        if let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) {
            metrics.insert(name.to_owned(), kind.to_owned());
        }
    }
    metrics
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The wiregate/wireguard metric names in a query, with the byte offset after each.
/// A histogram's `_bucket`/`_sum`/`_count` series count as the histogram.
fn metric_names(expr: &str, documented: &BTreeMap<String, String>) -> Vec<(String, usize)> {
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        let starts_name = rest.starts_with("wiregate_") || rest.starts_with("wireguard_");
        if !starts_name || (i > 0 && is_name_char(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let end = i + rest
            .bytes()
            .take_while(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            .count();
        let series = &expr[i..end];
        let histogram = HISTOGRAM_SERIES.iter().find_map(|suffix| {
            let base = series.strip_suffix(suffix)?;
            (documented.get(base)? == "histogram").then_some(base)
        });
        found.push((histogram.unwrap_or(series).to_owned(), end));
        i = end;
    }
    found
}

/// The range after a series name at `at`, past an optional `{…}` selector: `[range]`.
fn range_after(expr: &str, at: usize) -> Option<&str> {
    let mut rest = expr[at..].trim_start();
    if rest.starts_with('{') {
        let mut quoted = false;
        let close = rest.char_indices().find_map(|(i, c)| {
            match c {
                '"' => quoted = !quoted,
                '}' if !quoted => return Some(i),
                _ => {}
            }
            None
        })?;
        rest = rest[close + 1..].trim_start();
    }
    let range = rest.strip_prefix('[')?;
    Some(&range[..range.find(']')?])
}

/// `expr` as plain PromQL: Grafana's range macros become 5m, template variables `.*`.
fn as_promql(expr: &str) -> String {
    let mut promql = expr.to_owned();
    for macro_name in ["$__rate_interval", "$__interval", "$__range"] {
        promql = promql.replace(macro_name, "5m");
    }
    let mut out = String::new();
    let mut rest = promql.as_str();
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let name_len = if let Some(braced) = after.strip_prefix('{') {
            braced.find('}').map_or(0, |close| close + 2)
        } else {
            after.bytes().take_while(|&c| is_name_char(c)).count()
        };
        out.push_str(if name_len == 0 { "$" } else { ".*" });
        rest = &after[name_len..];
    }
    out.push_str(rest);
    out
}

#[test]
fn it_is_a_dashboard_with_the_template_variables() {
    let dashboard = dashboard();
    for key in ["title", "uid"] {
        let text = dashboard[key].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "dashboard has no {key}");
    }
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    assert!(panels(&dashboard).iter().any(|p| !is_row(p)), "no panels");

    let datasource = variable(&dashboard, "datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    let interface = variable(&dashboard, "interface");
    let query = variable_query(interface).replace(' ', "");
    assert!(
        query.starts_with("label_values(wiregate_tunnel_up") && query.ends_with(",interface)"),
        "interface variable query: {query}"
    );
    assert_eq!(
        interface["multi"], true,
        "interface variable is not multi-value"
    );
    assert_eq!(
        interface["includeAll"], true,
        "interface variable has no All"
    );
    variable(&dashboard, "peer");
}

#[test]
fn panel_ids_are_unique_and_every_query_uses_the_datasource_variable() {
    let dashboard = dashboard();
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = &panel["title"];
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel {title} has no id"));
        assert!(
            ids.insert(id),
            "panel id {id} is used twice (again by {title})"
        );
        if is_row(panel) {
            continue; // A row only groups panels: it queries nothing.
        }
        assert_eq!(panel["datasource"]["uid"], DATASOURCE, "panel {title}");
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        for target in targets.unwrap_or_else(|| panic!("panel {title} has no queries")) {
            assert_eq!(
                target["datasource"]["uid"], DATASOURCE,
                "a query of panel {title}"
            );
        }
    }
    for name in ["instance", "interface", "peer"] {
        let datasource = &variable(&dashboard, name)["datasource"]["uid"];
        assert_eq!(datasource, DATASOURCE, "variable {name}");
    }
}

#[test]
fn every_metric_is_documented_and_every_documented_metric_is_shown() {
    let dashboard = dashboard();
    let documented = documented_metrics();
    assert!(
        documented.contains_key("wiregate_tunnel_up"),
        "no metrics parsed from {METRICS_DOC}"
    );
    let mut queries: Vec<(String, String)> = exprs(&dashboard);
    for name in ["instance", "interface", "peer"] {
        let query = variable_query(variable(&dashboard, name)).to_owned();
        queries.push((format!("variable {name}"), query));
    }
    let mut used = BTreeSet::new();
    for (title, expr) in &queries {
        for (metric, _) in metric_names(expr, &documented) {
            assert!(
                documented.contains_key(&metric),
                "panel {title} uses {metric}, which {METRICS_DOC} does not define"
            );
            used.insert(metric);
        }
    }
    let unshown: Vec<&String> = documented
        .keys()
        .filter(|m| m.starts_with("wiregate_") || m.starts_with("wireguard_"))
        .filter(|m| !used.contains(*m))
        .collect();
    assert!(unshown.is_empty(), "metrics no panel shows: {unshown:?}");
}

#[test]
fn counters_are_only_read_as_rates_over_grafana_intervals() {
    let dashboard = dashboard();
    let documented = documented_metrics();
    for (title, expr) in exprs(&dashboard) {
        for (metric, end) in metric_names(&expr, &documented) {
            if !matches!(
                documented.get(&metric).map(String::as_str),
                Some("counter" | "histogram")
            ) {
                continue;
            }
            let range = range_after(&expr, end);
            assert!(
                matches!(range, Some("$__rate_interval" | "$__range")),
                "panel {title}: counter {metric} must be a range over $__rate_interval or \
                 $__range (for rate/increase), found {range:?} in: {expr}"
            );
        }
    }
}

#[test]
fn every_query_parses_as_promql() {
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = exprs(&dashboard());
    for (i, (_, expr)) in queries.iter().enumerate() {
        let quoted = Value::String(as_promql(expr)).to_string(); // JSON strings are YAML too.
        write!(
            rules,
            "      - record: dashboard_query_{i}\n        expr: {quoted}\n"
        )
        .unwrap();
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let file = std::env::temp_dir().join(format!(
        "wiregate-dashboard-queries-{}-{nanos}.yml",
        std::process::id()
    ));
    std::fs::write(&file, &rules).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
    let (ok, printed) = tools::promtool(&["check", "rules"], &file);
    let _ = std::fs::remove_file(&file);
    assert!(
        ok,
        "promtool rejects a dashboard query:\n{printed}\nqueries as checked:\n{rules}"
    );
    assert!(
        printed.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "promtool did not check all {} queries:\n{printed}",
        queries.len()
    );
}

#[test]
fn grafana_macros_and_variables_become_promql() {
    assert_eq!(
        as_promql(r#"rate(x{a=~"$interface", b=~"${peer}"}[$__rate_interval]) $ 1"#),
        r#"rate(x{a=~".*", b=~".*"}[5m]) $ 1"#
    );
}

#[test]
fn the_json_is_what_dashboard_py_writes() {
    let script = path("grafana/dashboard.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--stdout")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 {}: {e} (tests/run installs python3)",
                script.display()
            )
        });
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout) == read(DASHBOARD),
        "{DASHBOARD} is not what grafana/dashboard.py writes: edit the script, run it, commit both"
    );
}
