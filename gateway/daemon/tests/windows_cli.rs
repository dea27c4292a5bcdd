//! `wiregate.exe`, built for Windows and run under Wine by `tests/windows/run`: it starts,
//! prints its help, and says plainly what it cannot do there yet (Linux's data planes).

#![cfg(windows)]

use std::process::Command;

fn wiregate(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wiregate"))
        .args(args)
        .output()
        .expect("running wiregate.exe");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn help_lists_the_commands() {
    let (ok, text) = wiregate(&["--help"]);
    assert!(ok, "{text}");
    for command in ["serve", "tunnel", "peer"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn linux_only_commands_say_so() {
    let (ok, text) = wiregate(&["stats", "wg0"]);
    assert!(!ok);
    assert!(text.contains("runs on Linux only"), "{text}");
    let (ok, text) = wiregate(&["wg0"]);
    assert!(!ok);
    assert!(
        text.contains("drop-in") && text.contains("Linux only"),
        "{text}"
    );
}
