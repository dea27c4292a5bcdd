//! The systemd unit, deploy/systemd/wiregate.service, read by systemd's own tools:
//! `systemd-analyze verify` must have nothing to say about it, its exposure score
//! (`systemd-analyze security`) must not grow past the measured one, the flags its
//! ExecStart passes must be ones `wiregate serve` takes, and `systemd-sysusers` must make
//! its user from wiregate.sysusers.conf. The verify and security checks each have a twin
//! that feeds them a broken unit, so a check that stopped seeing anything would fail too.
//!
//! A missing systemd tool is a failure, never a skip: tests/run installs `systemd`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const UNIT: &str = include_str!("../systemd/wiregate.service");
const SYSUSERS: &str = include_str!("../systemd/wiregate.sysusers.conf");
const UNIT_NAME: &str = "wiregate.service";
/// Where the unit expects the binary; the tests put a freshly built one there instead.
const INSTALLED_BINARY: &str = "/usr/bin/wiregate";

/// `systemd-analyze security --offline=yes` on systemd 252 rates the unit 1.9; the score
/// is counted in tenths by `--threshold`. The margin absorbs small shifts of systemd's
/// weights between versions, not a dropped sandbox setting of weight.
const MEASURED_EXPOSURE_TENTHS: u32 = 19;
const EXPOSURE_MARGIN_TENTHS: u32 = 5;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("deploy/ is inside the workspace")
        .to_path_buf()
}

fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && program.starts_with("systemd-") => {
            panic!("{program} is not installed: `apt-get install systemd` (tests/run installs it)")
        }
        Err(e) => panic!("running {program}: {e}"),
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The `wiregate` binary, built by cargo if needed: cargo builds other packages'
/// binaries for no integration test of this one, and `verify` wants a real file where
/// ExecStart points. Up to date, this build is a no-op.
fn wiregate_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let output = run(Command::new(env!("CARGO"))
            .current_dir(workspace_root())
            .args(["build", "-p", "wiregate", "--bin", "wiregate"])
            .arg("--message-format=json-render-diagnostics"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let executable = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "wiregate")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from));
        match executable {
            Some(path) if output.status.success() => path,
            _ => panic!(
                "could not build the wiregate binary the unit runs (`cargo build -p wiregate` \
                 in {}):\n{}",
                workspace_root().display(),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    })
}

/// The unit as `verify` should see it: in a directory of its own, running the real binary.
fn unit_file(dir: &Path, unit: &str) -> PathBuf {
    let path = dir.join(UNIT_NAME);
    let binary = wiregate_binary().to_str().expect("a UTF-8 target path");
    std::fs::write(&path, unit.replace(INSTALLED_BINARY, binary)).expect("writing the unit");
    path
}

/// What `systemd-analyze verify` says about our unit. It also reports on other units of
/// the machine (those ours is ordered after); lines naming ours are the ones that count.
fn verify_findings(unit: &str) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = unit_file(dir.path(), unit);
    let output = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    let all = text(&output);
    let mut findings: Vec<String> = all
        .lines()
        .filter(|line| line.contains(UNIT_NAME))
        .map(str::to_owned)
        .collect();
    if !output.status.success() {
        findings.push(format!(
            "systemd-analyze verify exited with {}",
            output.status
        ));
    }
    (findings, all)
}

/// Whether `systemd-analyze security` keeps the unit within the measured exposure.
fn security_verdict(unit: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(UNIT_NAME);
    std::fs::write(&path, unit).expect("writing the unit");
    let threshold = MEASURED_EXPOSURE_TENTHS + EXPOSURE_MARGIN_TENTHS;
    let output = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--threshold={threshold}"))
        .arg(&path));
    (output.status.success(), text(&output))
}

/// The values of `key` in the unit, in order (keys such as After= may repeat).
fn directive<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn verify_reports_nothing_about_the_unit() {
    let (findings, all) = verify_findings(UNIT);
    assert!(
        findings.is_empty(),
        "systemd-analyze verify found problems in {UNIT_NAME}:\n{}\n\nits whole output:\n{all}",
        findings.join("\n")
    );
}

#[test]
fn verify_catches_a_broken_unit() {
    let broken = UNIT
        .replace("WatchdogSec=30s", "WatchdogSec=thirty")
        .replace("[Service]\n", "[Service]\nTyp=notify\n");
    let (findings, all) = verify_findings(&broken);
    for expected in ["Typ", "thirty"] {
        assert!(
            findings.iter().any(|f| f.contains(expected)),
            "systemd-analyze verify did not report the broken `{expected}` line:\n{all}"
        );
    }
}

#[test]
fn exposure_stays_at_the_measured_score() {
    let (within, output) = security_verdict(UNIT);
    assert!(
        within,
        "{UNIT_NAME} is rated more exposed than {}.{} (measured {}.{} plus a margin); \
         restore the sandbox or, for a deliberate change, measure again and update \
         deploy/systemd/README.md and this test:\n{output}",
        (MEASURED_EXPOSURE_TENTHS + EXPOSURE_MARGIN_TENTHS) / 10,
        (MEASURED_EXPOSURE_TENTHS + EXPOSURE_MARGIN_TENTHS) % 10,
        MEASURED_EXPOSURE_TENTHS / 10,
        MEASURED_EXPOSURE_TENTHS % 10,
    );
}

#[test]
fn exposure_check_catches_a_weakened_unit() {
    let weakened: String = UNIT
        .lines()
        .filter(|line| {
            ![
                "Protect",
                "Private",
                "Restrict",
                "SystemCall",
                "CapabilityBoundingSet",
            ]
            .iter()
            .any(|prefix| line.starts_with(prefix))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let (within, output) = security_verdict(&weakened);
    assert!(
        !within,
        "a unit without its sandbox passed the exposure threshold:\n{output}"
    );
}

#[test]
fn exec_start_flags_are_ones_wiregate_serve_takes() {
    let exec_start = directive(UNIT, "ExecStart");
    assert_eq!(exec_start.len(), 1, "one ExecStart: {exec_start:?}");
    let mut words = exec_start[0].split_whitespace();
    assert_eq!(words.next(), Some(INSTALLED_BINARY));
    assert_eq!(
        words.next(),
        Some("serve"),
        "the unit runs `wiregate serve`"
    );
    let help = run(Command::new(wiregate_binary()).args(["serve", "--help"]));
    let help = text(&help);
    let listed: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .collect();
    let flags: Vec<&str> = words.filter(|w| w.starts_with("--")).collect();
    for flag in &flags {
        assert!(
            listed.contains(flag),
            "ExecStart passes {flag}, which `wiregate serve --help` does not list:\n{help}"
        );
    }
    assert!(flags.contains(&"--config") && flags.contains(&"--state-dir"));
}

#[test]
fn unit_keeps_the_service_contract() {
    // What the daemon and its operators rely on, apart from the sandbox the score guards.
    for (key, value) in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "30s"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
        ("StateDirectory", "wiregate"),
        ("StateDirectoryMode", "0700"),
        ("ConfigurationDirectory", "wiregate"),
        ("RuntimeDirectory", "wireguard"),
        ("RuntimeDirectoryPreserve", "yes"),
        ("AmbientCapabilities", "CAP_NET_ADMIN CAP_NET_BIND_SERVICE"),
        (
            "CapabilityBoundingSet",
            "CAP_NET_ADMIN CAP_NET_BIND_SERVICE",
        ),
        ("DeviceAllow", "/dev/net/tun rw"),
        ("DevicePolicy", "closed"),
        ("UMask", "0077"),
    ] {
        assert_eq!(
            directive(UNIT, key),
            [value],
            "{UNIT_NAME}: {key}= should be {value}"
        );
    }
    assert!(
        directive(UNIT, "ExecStart")[0].contains("--state-dir ${STATE_DIRECTORY}"),
        "the state directory is the one StateDirectory= makes"
    );
}

#[test]
fn the_sysusers_file_makes_the_units_user() {
    // Applied to an empty root, not the machine's /etc.
    let root = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(root.path().join("etc")).expect("etc/");
    let conf = root.path().join("wiregate.conf");
    std::fs::write(&conf, SYSUSERS).expect("writing the sysusers file");
    let output = run(Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(&conf));
    assert!(
        output.status.success(),
        "systemd-sysusers:\n{}",
        text(&output)
    );
    for (key, file) in [("User", "etc/passwd"), ("Group", "etc/group")] {
        let made = std::fs::read_to_string(root.path().join(file)).expect("a database");
        let name = directive(UNIT, key);
        assert!(
            made.lines()
                .any(|l| Some(l.split(':').next().unwrap()) == name.first().copied()),
            "{key}={name:?} is not made by wiregate.sysusers.conf:\n{made}"
        );
    }
}
