//! wiregate as a Windows service, as the systemd unit runs it on Linux:
//! `wiregate service install` registers it with the service control manager (automatic
//! start, LocalSystem, `wiregate.exe service run --config ...`), `uninstall` stops and
//! removes it, and `run` is what the manager starts: `serve`, reporting itself running
//! once the tunnels, the API and the metrics are up, and stopping on the manager's Stop
//! or Shutdown. Its log goes to `wiregate.log` in the state directory.

use crate::serve::{self, Stopper};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

pub const NAME: &str = "wiregate";
const DISPLAY_NAME: &str = "wiregate WireGuard gateway";
const DESCRIPTION: &str =
    "WireGuard tunnels (WireGuardNT) managed over HTTP: store, API, metrics and reconciliation.";

/// What `serve` is given when the manager starts the service.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

static ARGS: OnceLock<ServeArgs> = OnceLock::new();

/// Errors of the service control manager, with what to do about the common one.
fn explain(what: &str, e: windows_service::Error) -> String {
    let text = match &e {
        windows_service::Error::Winapi(io) if io.raw_os_error() == Some(5) => {
            "access denied: run it as Administrator".to_owned()
        }
        other => other.to_string(),
    };
    format!("{what}: {text}")
}

fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

pub fn install(args: ServeArgs) -> Result<(), String> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(|e| explain("connecting to the service control manager", e))?;
    let mut launch = vec![OsString::from("service"), OsString::from("run")];
    if let Some(config) = args.config {
        launch.extend([OsString::from("--config"), absolute(config).into()]);
    }
    if let Some(dir) = args.state_dir {
        launch.extend([OsString::from("--state-dir"), absolute(dir).into()]);
    }
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: std::env::current_exe().map_err(|e| e.to_string())?,
        launch_arguments: launch,
        dependencies: Vec::new(),
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(|e| explain("creating the wiregate service", e))?;
    service
        .set_description(DESCRIPTION)
        .map_err(|e| explain("describing the service", e))?;
    println!("installed the {NAME} service; start it with `sc start {NAME}`");
    Ok(())
}

pub fn uninstall() -> Result<(), String> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(|e| explain("connecting to the service control manager", e))?;
    let service = manager
        .open_service(
            NAME,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .map_err(|e| explain("opening the wiregate service", e))?;
    let status = service
        .query_status()
        .map_err(|e| explain("querying the service", e))?;
    if status.current_state != ServiceState::Stopped {
        service
            .stop()
            .map_err(|e| explain("stopping the service", e))?;
        for _ in 0..100 {
            let stopped = service
                .query_status()
                .is_ok_and(|s| s.current_state == ServiceState::Stopped);
            if stopped {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    service
        .delete()
        .map_err(|e| explain("removing the service", e))?;
    println!("removed the {NAME} service");
    Ok(())
}

define_windows_service!(ffi_service_main, service_main);

/// Hands the process to the service control manager (as the service's process).
pub fn run(args: ServeArgs) -> Result<(), String> {
    let _ = ARGS.set(args);
    service_dispatcher::start(NAME, ffi_service_main).map_err(|e| {
        explain(
            "starting as a service (run by the service control manager, not by hand)",
            e,
        )
    })
}

fn status(state: ServiceState, accept: ServiceControlAccept, exit: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::ServiceSpecific(exit),
        checkpoint: 0,
        wait_hint: Duration::from_secs(30),
        process_id: None,
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let args = ARGS.get().cloned().unwrap_or(ServeArgs {
        config: None,
        state_dir: None,
    });
    let stopper: std::sync::Arc<Mutex<Option<Stopper>>> = Default::default();
    let handler = {
        let stopper = stopper.clone();
        move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                if let Some(stop) = stopper.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    stop();
                }
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        }
    };
    let Ok(handle) = service_control_handler::register(NAME, handler) else {
        return;
    };
    let _ = handle.set_service_status(status(
        ServiceState::StartPending,
        ServiceControlAccept::empty(),
        0,
    ));
    let result = serve::run_with(
        args.config.as_deref(),
        None,
        args.state_dir.as_deref(),
        |stop| {
            *stopper.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
            let _ = handle.set_service_status(status(
                ServiceState::Running,
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
                0,
            ));
        },
    );
    if let Err(e) = &result {
        tracing::error!(error = %e, "the service stops");
    }
    let _ = handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        u32::from(result.is_err()),
    ));
}
