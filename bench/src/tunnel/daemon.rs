//! One implementation's daemon on one end: started in the end's namespace, ready once
//! its UAPI socket exists, watched through /proc for CPU time, and stopped (SIGTERM,
//! then SIGKILL) when dropped, taking its TUN device with it.

use super::implementation::{Binaries, Implementation};
use super::process::{Program, command};
use super::topology::End;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a daemon may take to create its interface and socket.
const STARTUP: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Daemon {
    pub implementation: Implementation,
    pub interface: String,
    program: Program,
}

impl Daemon {
    pub fn start(
        implementation: Implementation,
        end: &End,
        interface: &str,
        binaries: &Binaries,
    ) -> Result<Self, String> {
        let binary = implementation.binary(binaries)?;
        let label = format!("{} {interface}", implementation.name());
        let program = Program::spawn(
            command(Some(&end.namespace), binary)
                .args(implementation.arguments(interface, binaries)),
            &label,
        )?;
        let mut daemon = Self {
            implementation,
            interface: interface.to_owned(),
            program,
        };
        daemon.wait_for_socket()?;
        Ok(daemon)
    }

    pub fn socket(&self) -> PathBuf {
        PathBuf::from(format!("/var/run/wireguard/{}.sock", self.interface))
    }

    fn wait_for_socket(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Some(status) = self.program.try_wait()? {
                return Err(format!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.implementation.name(),
                    self.output_tail()
                ));
            }
            if self.socket().exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "{} made no {} within {STARTUP:?}:\n{}",
            self.implementation.name(),
            self.socket().display(),
            self.output_tail()
        ))
    }

    /// What the daemon wrote so far, for error messages.
    pub fn output_tail(&self) -> String {
        self.program.output_tail()
    }

    pub fn pid(&self) -> u32 {
        self.program.pid()
    }

    /// CPU seconds (user + system, all threads) used so far.
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        crate::host::cpu(self.program.pid()).map(|cpu| cpu.total())
    }
}

impl Drop for Daemon {
    /// A daemon that had to be killed cannot remove its socket; a stale one would make
    /// `wg` talk to nobody, so it goes too.
    fn drop(&mut self) {
        self.program.stop();
        let _ = std::fs::remove_file(self.socket());
    }
}
