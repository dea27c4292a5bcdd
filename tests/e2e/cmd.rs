//! Running external programs with a deadline and capturing what they print.
//!
//! Output goes to anonymous temporary files rather than pipes, so a program that leaves a
//! daemon behind holding its stdout (as `wg-quick up` does) cannot make a test hang.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Deadline for ordinary commands (`ip`, `wg`, ...): a gateway that accepts a UAPI
/// connection and never answers must fail the test, not hang it.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished program did.
#[derive(Debug)]
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Everything about the run, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// The command line, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// A `Command` from an argument vector (`args[0]` is the program).
pub fn command(args: &[&str]) -> Command {
    let (program, rest) = args.split_first().expect("empty command line");
    let mut cmd = Command::new(program);
    cmd.args(rest);
    cmd
}

/// `wg <args>` run inside the network namespace `ns`.
pub fn wg_in(ns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "wg"]).args(args);
    cmd
}

/// Runs `cmd` to completion with `input` on its stdin. Never panics: an error is returned
/// if it could not start or outlived `timeout` (it is killed then).
pub fn exec(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> Result<Outcome, String> {
    let what = describe(cmd);
    let io_err = |e: std::io::Error| format!("`{what}`: {e}");
    let stdin = match input {
        Some(text) => {
            let mut file = tempfile::tempfile().map_err(io_err)?;
            file.write_all(text.as_bytes()).map_err(io_err)?;
            file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            Stdio::from(file)
        }
        None => Stdio::null(),
    };
    let mut out = tempfile::tempfile().map_err(io_err)?;
    let mut err = tempfile::tempfile().map_err(io_err)?;
    cmd.stdin(stdin)
        .stdout(out.try_clone().map_err(io_err)?)
        .stderr(err.try_clone().map_err(io_err)?);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{what}`: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for `{what}`: {e}")),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`{what}` did not finish within {timeout:?}; it was killed\n--- stdout ---\n{}\n--- stderr ---\n{}",
                read_all(&mut out),
                read_all(&mut err)
            ));
        }
        sleep(Duration::from_millis(10));
    };
    Ok(Outcome {
        what,
        status,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    })
}

fn read_all(file: &mut File) -> String {
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(0)).is_ok() {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `cmd`; panics if it could not start or timed out, whatever its exit status.
pub fn try_run_cmd(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> Outcome {
    exec(cmd, input, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd` and returns its stdout; panics with its stderr if it failed.
pub fn run_cmd(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> String {
    let outcome = try_run_cmd(cmd, input, timeout);
    assert!(outcome.success(), "{}", outcome.report());
    outcome.stdout
}

/// `run_cmd` for an argument vector with the default deadline.
pub fn run(args: &[&str]) -> String {
    run_cmd(&mut command(args), None, TIMEOUT)
}

/// `try_run_cmd` for an argument vector with the default deadline.
pub fn try_run(args: &[&str]) -> Outcome {
    try_run_cmd(&mut command(args), None, TIMEOUT)
}

/// Sends `signal` (a name such as "TERM") to one process we started. Never panics.
pub fn signal(pid: u32, signal: &str) {
    let pid = pid.to_string();
    let _ = exec(
        &mut command(&["kill", "-s", signal, &pid]),
        None,
        Duration::from_secs(5),
    );
}

/// Polls `check` every 50 ms until it returns `Some` or `within` has passed.
pub fn wait_for<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(50));
    }
}

/// Held by the tests that load the machine (bulk transfers, ping bursts) so that they do
/// not run at the same time and make each other's timing-sensitive checks flaky.
pub fn heavy_traffic() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
