//! The e2e tests need root, /dev/net/tun and a few programs. Missing any of them is a
//! failure with a clear message, never a silent skip.

use std::path::Path;
use std::sync::OnceLock;

const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("wg", "wireguard-tools"),
    ("wg-quick", "wireguard-tools"),
    ("wireguard-go", "wireguard-go"),
    ("iperf3", "iperf3"),
    ("ping", "iputils-ping"),
    ("sysctl", "procps"),
    ("kill", "procps"),
];

/// Panics (once per process, the same message every time) if the machine cannot run them.
pub fn require() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(problem) = CHECK.get_or_init(check) {
        panic!("{problem}");
    }
}

fn check() -> Result<(), String> {
    let mut problems = Vec::new();
    if !is_root() {
        problems
            .push("not running as root (network namespaces and TUN devices need it)".to_owned());
    }
    if !Path::new("/dev/net/tun").exists() {
        problems.push("/dev/net/tun does not exist".to_owned());
    }
    for (tool, package) in TOOLS {
        if !in_path(tool) {
            problems.push(format!(
                "`{tool}` not found in PATH (Debian package {package})"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the wiregate e2e tests cannot run on this machine:\n  - {}\nRun `tests/run` as root: it installs what is missing.",
            problems.join("\n  - ")
        ))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}
