//! Facts about the machine and the software measured, recorded with the figures so a
//! result can be read (and compared) later without guessing where it came from.

use super::implementation::{Binaries, Implementation, version};
use super::process::{command, run};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

pub fn facts() -> Value {
    let cpu_model = crate::host::cpu_model();
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu_model,
        "kernel": first_line("uname", &["-r"]),
    })
}

/// Each implementation's version (or why there is none), iperf3's, and the git revision
/// of the working tree (with `-dirty` when it has changes), which the wiregate binary is
/// presumably built from.
pub fn versions(binaries: &Binaries) -> Value {
    let mut versions = serde_json::Map::new();
    for implementation in Implementation::ALL {
        let text = match implementation.binary(binaries) {
            Ok(binary) => version(&binary, "--version"),
            Err(e) => format!("missing: {e}"),
        };
        versions.insert(implementation.name().into(), json!(text));
    }
    versions.insert("iperf3".into(), json!(version(Path::new("iperf3"), "-v")));
    versions.insert("wg".into(), json!(version(Path::new("wg"), "--version")));
    versions.insert("wiregate_git".into(), json!(git_revision()));
    Value::Object(versions)
}

fn git_revision() -> Option<String> {
    let rev = first_line("git", &["rev-parse", "--short", "HEAD"])?;
    // No index refresh: reading must not write to the repository.
    let clean = run(
        command(None, "git")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .args(["diff", "--quiet", "HEAD", "--"]),
        Duration::from_secs(10),
    )
    .ok()?
    .status
    .success();
    Some(if clean { rev } else { format!("{rev}-dirty") })
}

fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let done = run(command(None, program).args(args), Duration::from_secs(10)).ok()?;
    done.status
        .success()
        .then(|| done.stdout.lines().next().unwrap_or("").trim().to_owned())
}
