//! The UAPI socket: `/var/run/wireguard/<name>.sock`, served on a thread of its own, one
//! short-lived thread per connection (connections are rare: each `wg` call is one).
//!
//! Besides `get=1` and `set=1`, it answers `stats=1` (a wiregate extension that `wg`
//! never sends) with per-shard counters, for `wiregate stats`.

use crate::device::{Device, DeviceError};
use crate::stats::ShardCounters;
use crate::uapi::{self, ERRNO_INVALID, ERRNO_IO, ERRNO_PORT_IN_USE, UapiError};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const SOCKET_DIR: &str = "/var/run/wireguard";
/// A client that sends nothing for this long is disconnected (tunable).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest request line accepted; `wg` sends short lines.
const MAX_LINE: usize = 4096;

pub fn socket_path(name: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{name}.sock"))
}

/// The listening socket of one device. Dropping it stops listening and removes the file.
#[derive(Debug)]
pub struct UapiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

impl UapiServer {
    pub fn start(device: Arc<Device>) -> io::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(SOCKET_DIR)?;
        let path = socket_path(device.name());
        // A socket left by a process that died is in the way; one that answers is not ours.
        if UnixStream::connect(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is served by another process", path.display()),
            ));
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name(format!("{}/uapi", device.name()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let device = device.clone();
                    let _ = std::thread::Builder::new()
                        .name("uapi-conn".into())
                        .spawn(move || serve(&device, stream));
                }
            })?;
        Ok(Self { path, stop })
    }
}

impl Drop for UapiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = UnixStream::connect(&self.path); // wakes the accept loop
        let _ = std::fs::remove_file(&self.path);
    }
}

fn read_line<R: BufRead>(reader: &mut R, line: &mut String) -> io::Result<bool> {
    line.clear();
    let n = io::Read::take(reader, MAX_LINE as u64).read_line(line)?;
    if n == 0 {
        return Ok(false);
    }
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request line too long",
        ));
    }
    line.pop();
    Ok(true)
}

fn serve(device: &Device, stream: UnixStream) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = io::BufWriter::new(write_half);
    let mut line = String::new();
    while let Ok(true) = read_line(&mut reader, &mut line) {
        let answer = match line.as_str() {
            "get=1" | "stats=1" => {
                let op = line.clone();
                // The operation ends with a blank line.
                match read_line(&mut reader, &mut line) {
                    Ok(true) if line.is_empty() => {}
                    _ => return,
                }
                if op == "get=1" {
                    Ok(uapi::format_get(&device.report()))
                } else {
                    Ok(format_stats(&device.shard_counters()))
                }
            }
            "set=1" => {
                let mut body = Vec::new();
                loop {
                    match read_line(&mut reader, &mut line) {
                        Ok(true) if line.is_empty() => break,
                        Ok(true) => body.push(line.clone()),
                        _ => return,
                    }
                }
                set(device, &body).map(|()| String::new())
            }
            _ => return, // not the protocol: hang up, as wireguard-go does
        };
        let (body, errno) = match answer {
            Ok(body) => (body, 0),
            Err(e) => {
                tracing::warn!(device = device.name(), error = %e.message, "uapi set refused");
                (String::new(), e.errno)
            }
        };
        if write!(writer, "{body}errno={errno}\n\n")
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

fn set(device: &Device, body: &[String]) -> Result<(), UapiError> {
    let lines: Vec<&str> = body.iter().map(String::as_str).collect();
    let request = uapi::parse_set(&lines)?;
    device.update(|current| Ok(uapi::apply_set(current, &request)))
}

impl From<DeviceError> for UapiError {
    fn from(e: DeviceError) -> Self {
        let errno = match &e {
            DeviceError::Port { source, .. } if source.kind() == io::ErrorKind::AddrInUse => {
                ERRNO_PORT_IN_USE
            }
            DeviceError::Full(_) => ERRNO_INVALID,
            _ => ERRNO_IO,
        };
        UapiError {
            errno,
            message: e.to_string(),
        }
    }
}

/// One line per shard and a `shard=total` line: `shard=N key=value ...`.
pub fn format_stats(shards: &[ShardCounters]) -> String {
    let mut out = String::new();
    let mut total = ShardCounters::default();
    let mut line = |label: &str, counters: &ShardCounters| {
        let _ = write!(out, "shard={label}");
        for (name, value) in counters.fields() {
            let _ = write!(out, " {name}={value}");
        }
        out.push('\n');
    };
    for (i, counters) in shards.iter().enumerate() {
        line(&i.to_string(), counters);
        total.add(counters);
    }
    line("total", &total);
    out
}

/// Asks a running device for its per-shard counters (the `stats=1` extension).
pub fn query_stats(name: &str) -> io::Result<String> {
    let mut stream = UnixStream::connect(socket_path(name))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", socket_path(name).display())))?;
    stream.write_all(b"stats=1\n\n")?;
    let mut reader = BufReader::new(stream);
    let mut out = String::new();
    let mut line = String::new();
    while read_line(&mut reader, &mut line)? {
        if let Some(errno) = line.strip_prefix("errno=") {
            if errno != "0" {
                return Err(io::Error::other(format!("device answered errno={errno}")));
            }
            return Ok(out);
        }
        out.push_str(&line);
        out.push('\n');
    }
    Err(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "device closed the connection",
    ))
}
