//! Running programs inside a namespace (`ip netns exec`, which execs, so the pid we get
//! is the program's own): short commands waited for with a deadline, and long-running
//! ones (daemons, the iperf3 server) behind a guard that stops them when dropped.
//!
//! Output goes to temporary files rather than pipes: nothing has to drain them while we
//! wait, and a daemon's log stays readable after it died. We read them through a file
//! description of our own, so reading never moves the offset the program writes at.

use super::interrupt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::NamedTempFile;

/// How long a program has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(20);

/// `ip netns exec <namespace> <program>`, or the program itself with no namespace.
pub fn command(namespace: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match namespace {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A finished short command.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to the end, killing it at `timeout`. A non-zero exit is not an error
/// here (iperf3 reports its failures as JSON on stdout): callers look at `status`.
pub fn run(command: &mut Command, timeout: Duration) -> Result<Finished, String> {
    interrupt::check()?;
    finish(command, timeout)
}

/// Runs a cleanup step (removing what a run made), on interrupt too, and fails with its
/// stderr unless it exits with 0.
pub fn cleanup(command: &mut Command) -> Result<(), String> {
    let what = describe(command);
    let done = finish(command, Duration::from_secs(10))?;
    if done.status.success() {
        Ok(())
    } else {
        Err(format!("`{what}` failed: {}", done.stderr.trim()))
    }
}

fn finish(command: &mut Command, timeout: Duration) -> Result<Finished, String> {
    let what = describe(command);
    let mut program = Program::start(command, &what)?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = program.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            program.stop();
            return Err(format!("`{what}` did not finish within {timeout:?}"));
        }
        std::thread::sleep(POLL);
    };
    Ok(Finished {
        status,
        stdout: read_all(&program.stdout),
        stderr: read_all(&program.stderr),
    })
}

/// Runs `command` and fails with its stderr unless it exits with 0.
pub fn run_ok(command: &mut Command) -> Result<String, String> {
    let what = describe(command);
    let done = run(command, Duration::from_secs(20))?;
    if done.status.success() {
        Ok(done.stdout)
    } else {
        Err(format!(
            "`{what}` failed ({}): {}",
            done.status,
            done.stderr.trim()
        ))
    }
}

/// A running program, stopped (SIGTERM, then SIGKILL after [`GRACE`]) when dropped.
#[derive(Debug)]
pub struct Program {
    child: Child,
    label: String,
    stdout: NamedTempFile,
    stderr: NamedTempFile,
    exited: Option<ExitStatus>,
}

impl Program {
    pub fn spawn(command: &mut Command, label: &str) -> Result<Self, String> {
        interrupt::check()?;
        Self::start(command, label)
    }

    fn start(command: &mut Command, label: &str) -> Result<Self, String> {
        let stdout = NamedTempFile::new().map_err(temporary_file)?;
        let stderr = NamedTempFile::new().map_err(temporary_file)?;
        let reopen = |f: &NamedTempFile| f.reopen().map_err(temporary_file);
        let child = command
            .stdin(Stdio::null())
            .stdout(reopen(&stdout)?)
            .stderr(reopen(&stderr)?)
            .spawn()
            .map_err(|e| format!("starting `{label}`: {e}"))?;
        interrupt::track(child.id());
        Ok(Self {
            child,
            label: label.to_owned(),
            stdout,
            stderr,
            exited: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status once it has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, String> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(|e| format!("waiting for `{}`: {e}", self.label))?;
            if self.exited.is_some() {
                interrupt::untrack(self.child.id());
            }
        }
        Ok(self.exited)
    }

    /// The last lines of what it wrote (stdout and stderr), for error messages.
    pub fn output_tail(&self) -> String {
        let text = read_all(&self.stdout) + &read_all(&self.stderr);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops it and waits for it; true if it took SIGKILL.
    pub fn stop(&mut self) -> bool {
        if !matches!(self.try_wait(), Ok(None)) {
            return false;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if !matches!(self.try_wait(), Ok(None)) {
                return false;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
        interrupt::untrack(self.child.id());
        true
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if self.stop() {
            eprintln!("`{}` ignored SIGTERM; killed", self.label);
        }
    }
}

fn temporary_file(e: std::io::Error) -> String {
    format!("temporary file: {e}")
}

fn read_all(file: &NamedTempFile) -> String {
    std::fs::read_to_string(file.path()).unwrap_or_default()
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
