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

/// `GET path` on the API at `port` with the test's token: the answer's text, or `None`
/// while nothing answers.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

const TOKEN: &str = "windows-test-token-0123456789";

/// A directory of this test's own.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wiregate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `dir/wiregate.toml`: state in `dir`, the API on `port` with [`TOKEN`], metrics on the
/// next port, then `rest`.
fn write_config(dir: &std::path::Path, port: u16, rest: &str) -> std::path::PathBuf {
    let config = dir.join("wiregate.toml");
    let text = format!(
        "state_dir = '{}'\n[api]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{TOKEN}\"]\n[metrics]\nlisten = \"127.0.0.1:{}\"\n{rest}",
        dir.join("state").display(),
        port + 1
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn a_windows_nt_tunnel_without_the_dll_fails_clearly_and_the_api_serves() {
    let dir = scratch("serve");
    let port = 18_000 + (std::process::id() % 1000) as u16;
    let config = write_config(
        &dir,
        port,
        &format!(
            r#"[windows]
wireguard_dll = '{dll}'
[[tunnel]]
name = "wgnt0"
listen_port = 51820
addresses = ["10.99.0.1/24"]
backend = "windows-nt"
"#,
            dll = dir.join("wireguard.dll").display(),
        ),
    );
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_wiregate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting wiregate.exe serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        if let Some(answer) = get(port, "/v1/tunnels/wgnt0")
            && answer.contains("\"failed\"")
        {
            break Some(answer);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = gateway.kill();
    let _ = gateway.wait();
    let answer = answer.expect("the tunnel was not reported failed within 30 s");
    assert!(
        answer.contains("wireguard.dll not found") && answer.contains("wireguard_dll"),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_service_installs_starts_serves_stops_and_uninstalls() {
    use windows_service::service::{ServiceAccess, ServiceState};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    let dir = scratch("service");
    let port = 19_000 + (std::process::id() % 1000) as u16;
    let config = write_config(&dir, port, "");
    let config_arg = config.to_str().unwrap();
    // A service left by an interrupted run would make the install fail.
    let _ = wiregate(&["service", "uninstall"]);
    let (ok, text) = wiregate(&["service", "install", "--config", config_arg]);
    assert!(ok, "{text}");
    let manager =
        ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).unwrap();
    let service = manager
        .open_service(
            "wiregate",
            ServiceAccess::QUERY_CONFIG | ServiceAccess::QUERY_STATUS | ServiceAccess::START,
        )
        .expect("the installed service");
    let installed = service.query_config().unwrap();
    let command = installed.executable_path.to_string_lossy().into_owned();
    assert!(
        command.contains("service run --config") && command.contains("wiregate.toml"),
        "{command}"
    );

    // Started by the service control manager, it serves; Stop stops it.
    service.start::<&str>(&[]).expect("starting the service");
    let wait = |state: ServiceState| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if service
                .query_status()
                .is_ok_and(|s| s.current_state == state)
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    assert!(
        wait(ServiceState::Running),
        "the service never reported running"
    );
    let health = get(port, "/v1/health").unwrap_or_default();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let control = manager
        .open_service(
            "wiregate",
            ServiceAccess::STOP | ServiceAccess::QUERY_STATUS,
        )
        .unwrap();
    control.stop().expect("stopping the service");
    assert!(wait(ServiceState::Stopped), "the service did not stop");

    // A deleted service goes once no handle to it is open.
    drop((service, control));
    let (ok, text) = wiregate(&["service", "uninstall"]);
    assert!(ok, "{text}");
    assert!(
        manager
            .open_service("wiregate", ServiceAccess::QUERY_STATUS)
            .is_err(),
        "the service is still registered"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
