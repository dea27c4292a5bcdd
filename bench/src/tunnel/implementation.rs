//! The WireGuard implementations compared. All four are driven the same way, as
//! wireguard-go-compatible userspace daemons: started in the foreground with an interface
//! name, they create the TUN device and serve the UAPI socket
//! `/var/run/wireguard/<iface>.sock`, and `wg` and `ip` configure them from there. So the
//! only thing that differs between them is the command line.

use super::process::{command, run};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    Wiregate,
    WireguardGo,
    Boringtun,
    Gotatun,
    /// Upstream's newest wireguard-go (TUN offloads, UDP GSO/GRO), a static build.
    WireguardGoUpstream,
}

/// Where the binaries are, from the command line.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub wiregate: PathBuf,
    /// Where `bench/run` installs boringtun-cli and gotatun-cli.
    pub tools: PathBuf,
    /// wiregate's `--shards`; None: its default (one per core).
    pub wiregate_shards: Option<usize>,
    /// Upstream's wireguard-go.
    pub wireguard_go_upstream: PathBuf,
}

/// Where the newest upstream wireguard-go is kept, from the repository's root.
pub const WIREGUARD_GO_UPSTREAM: &str = "../shared/anchors/wireguard-go-0.0.20250522";

/// Debian's package puts it here.
const WIREGUARD_GO: &str = "/usr/bin/wireguard-go";

impl Implementation {
    pub const ALL: [Implementation; 4] = [
        Implementation::Wiregate,
        Implementation::WireguardGo,
        Implementation::Boringtun,
        Implementation::Gotatun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Wiregate => "wiregate",
            Self::WireguardGo => "wireguard-go",
            Self::Boringtun => "boringtun",
            Self::Gotatun => "gotatun",
            Self::WireguardGoUpstream => "wireguard-go-upstream",
        }
    }

    /// The binary, or why it cannot be run (the pairs that need it are then skipped).
    pub fn binary(self, binaries: &Binaries) -> Result<PathBuf, String> {
        let (path, hint) = match self {
            Self::Wiregate => (
                binaries.wiregate.clone(),
                "build it with `cargo build --release -p wiregate`",
            ),
            Self::WireguardGo => (
                PathBuf::from(WIREGUARD_GO),
                "install it with `apt-get install wireguard-go`",
            ),
            Self::Boringtun => (
                binaries.tools.join("boringtun-cli"),
                "`bench/run` installs it (cargo install boringtun-cli --version 0.7.1)",
            ),
            Self::Gotatun => (
                binaries.tools.join("gotatun"),
                "`bench/run` installs it (cargo install gotatun-cli --version 0.10.2)",
            ),
            Self::WireguardGoUpstream => (
                binaries.wireguard_go_upstream.clone(),
                "a static build of upstream wireguard-go (../shared/anchors/README.md)",
            ),
        };
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{} not found: {hint}", path.display()))
        }
    }

    /// The arguments that run it in the foreground for `interface`.
    pub fn arguments(self, interface: &str, binaries: &Binaries) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Self::Wiregate => {
                let mut args = vec!["--foreground".to_owned()];
                if let Some(shards) = binaries.wiregate_shards {
                    args.extend(["--shards".to_owned(), shards.to_string()]);
                }
                args
            }
            Self::WireguardGo | Self::WireguardGoUpstream => vec!["-f".into()],
            // One thread as asked of this comparison; we are root already, so there is
            // nothing to drop to (and dropping would lose the rights to the TUN device).
            Self::Boringtun => [
                "--foreground",
                "--threads",
                "1",
                "--disable-drop-privileges",
            ]
            .map(String::from)
            .to_vec(),
            Self::Gotatun => ["--foreground", "--disable-drop-privileges"]
                .map(String::from)
                .to_vec(),
        };
        args.push(interface.to_owned());
        args
    }
}

/// First line of `<binary> <flag>`, or why not.
pub fn version(binary: &Path, flag: &str) -> String {
    match run(command(None, binary).arg(flag), Duration::from_secs(5)) {
        Ok(done) => {
            let text = if done.stdout.trim().is_empty() {
                done.stderr
            } else {
                done.stdout
            };
            text.lines().next().unwrap_or("").trim().to_owned()
        }
        Err(e) => format!("unknown ({e})"),
    }
}
