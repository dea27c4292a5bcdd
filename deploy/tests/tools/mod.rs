//! The external checkers the deployment tests run. A missing one is a failure that says
//! how to install it, never a skip.

use std::path::Path;
use std::process::Command;

/// `promtool <args> <file>`: whether it succeeded, and everything it printed.
pub fn promtool(args: &[&str], file: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}). It comes with Debian's `prometheus` package, which \
                 tests/run installs; or: apt-get install --no-install-recommends prometheus"
            )
        });
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}
