//! The chart as its tests see it: tests/chart/render.py run on deploy/helm/wiregate with
//! a values file, and the objects of its report found by kind, name and port.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `None` is the chart's defaults; the others are files of the chart's ci/.
pub const VALUES_FILES: [Option<&str>; 4] = [
    None,
    Some("ci/full-values.yaml"),
    Some("ci/existing-secret-values.yaml"),
    Some("ci/fleet-values.yaml"),
];
/// Where the chart mounts the tunnels' key files (templates/_helpers.tpl).
pub const KEY_DIR: &str = "/etc/wiregate/keys";

pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("helm/wiregate")
}

/// The report of tests/chart/render.py for the chart with these values: a file of the
/// chart's, or YAML text.
pub fn render(file: Option<&str>, inline: Option<&str>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chart/render.py");
    let mut command = Command::new("python3");
    command.arg(&script).arg(chart_dir());
    if let Some(file) = file {
        command.arg(chart_dir().join(file));
    } else if inline.is_some() {
        command.arg("-");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to render the chart ({e}): apt-get install python3")
        });
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(inline.unwrap_or("").as_bytes())
        .expect("writing the values");
    drop(stdin);
    let output = child.wait_with_output().expect("waiting for render.py");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "render.py failed (values {file:?}):\n{stderr}"
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("render.py printed no report ({e}):\n{stderr}"))
}

/// The chart rendered with one of VALUES_FILES, without complaint. Each is rendered
/// once for all the tests.
pub fn rendered(file: Option<&str>) -> &'static Value {
    static REPORTS: OnceLock<Vec<Value>> = OnceLock::new();
    let reports = REPORTS.get_or_init(|| VALUES_FILES.iter().map(|f| render(*f, None)).collect());
    let report = &reports[VALUES_FILES
        .iter()
        .position(|f| *f == file)
        .expect("a values file")];
    assert!(
        report["render_error"].is_null(),
        "values {file:?}: {}",
        report["render_error"]
    );
    report
}

pub fn objects<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| &d["object"])
        .filter(|o| o["kind"] == kind)
        .collect()
}

pub fn one<'a>(report: &'a Value, kind: &str) -> &'a Value {
    let found = objects(report, kind);
    assert_eq!(found.len(), 1, "one {kind} expected, found {}", found.len());
    found[0]
}

pub fn service<'a>(report: &'a Value, component: &str) -> &'a Value {
    objects(report, "Service")
        .into_iter()
        .find(|s| s["metadata"]["labels"]["app.kubernetes.io/component"] == component)
        .unwrap_or_else(|| panic!("no Service of component {component}"))
}

pub fn container(report: &Value) -> &Value {
    &one(report, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
}

pub fn pod_volume<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    one(report, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

pub fn mount_path<'a>(report: &'a Value, volume: &str) -> Option<&'a str> {
    container(report)["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == volume)?["mountPath"]
        .as_str()
}

pub fn container_port(report: &Value, name: &str) -> (u64, String) {
    let port = container(report)["ports"]
        .as_array()
        .expect("container ports")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no container port named {name}"));
    (
        port["containerPort"].as_u64().expect("a port number"),
        port["protocol"].as_str().unwrap_or("TCP").to_owned(),
    )
}

pub fn configmap_text(report: &Value) -> &str {
    one(report, "ConfigMap")["data"]["wiregate.toml"]
        .as_str()
        .expect("wiregate.toml in the ConfigMap")
}

pub fn config(report: &Value) -> toml::Table {
    configmap_text(report)
        .parse()
        .unwrap_or_else(|e| panic!("wiregate.toml is not TOML: {e}\n{}", configmap_text(report)))
}

pub fn tunnels(config: &toml::Table) -> &Vec<toml::Value> {
    config["tunnel"].as_array().expect("[[tunnel]] entries")
}

pub fn env_var<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    container(report)["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}
