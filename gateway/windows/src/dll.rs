//! `wireguard.dll`: found and, if pinned, hashed (`verify.rs`); its Authenticode signature
//! verified by Windows (`WinVerifyTrust`); loaded from that path only (never from the
//! search path, so no other copy can stand in); and the functions wiregate calls resolved.
//! The file is opened once, before it is read, and held open, shared for reading only,
//! until it is loaded: whoever can write its path cannot change, replace, rename or
//! delete it between the checks and the load, so the file checked is the file loaded.
//! Everything unsafe about the DLL is in this file.
#![allow(unsafe_code)]

use crate::verify::{self, LoadError};
use std::ffi::c_void;
use std::os::windows::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use windows_sys::Win32::Foundation::{FreeLibrary, HANDLE, HMODULE};
use windows_sys::Win32::Security::WinTrust::{
    WINTRUST_ACTION_GENERIC_VERIFY_V2, WINTRUST_DATA, WINTRUST_FILE_INFO, WTD_CHOICE_FILE,
    WTD_REVOKE_NONE, WTD_STATEACTION_CLOSE, WTD_STATEACTION_VERIFY, WTD_UI_NONE, WinVerifyTrust,
};
use windows_sys::Win32::System::LibraryLoader::{
    GetProcAddress, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR, LOAD_LIBRARY_SEARCH_SYSTEM32, LoadLibraryExW,
};
use windows_sys::core::GUID;

/// `path` as a NUL-terminated UTF-16 string.
pub(crate) fn wide(text: &std::ffi::OsStr) -> Vec<u16> {
    text.encode_wide().chain(Some(0)).collect()
}

/// The reason `WinVerifyTrust` gives, in words where it is a common one.
fn trust_reason(status: i32) -> String {
    let words = match status as u32 {
        0x800B_0100 => "the file is not signed",
        0x8009_6010 => "the signature does not match the file",
        0x800B_0109 => "the certificate chain ends in an untrusted root",
        0x800B_0101 => "a certificate has expired",
        0x800B_0111 => "the publisher is explicitly distrusted",
        _ => "",
    };
    format!(
        "WinVerifyTrust 0x{:08x}{}{words}",
        status as u32,
        if words.is_empty() { "" } else { ": " }
    )
}

/// Opens `path` so that, until the file is closed, others may read it but not write,
/// rename or delete it.
pub fn hold(path: &Path) -> Result<std::fs::File, LoadError> {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::FILE_SHARE_READ;
    std::fs::OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ)
        .open(path)
        .map_err(|e| verify::open_error(path, e))
}

/// Windows' own check of the Authenticode signature of `held` (the file at `path`):
/// valid, and chaining to a trusted root.
fn verify_signature(path: &Path, held: &std::fs::File) -> Result<(), LoadError> {
    use std::os::windows::io::AsRawHandle;
    let file_path = wide(path.as_os_str());
    let mut file = WINTRUST_FILE_INFO {
        cbStruct: size_of::<WINTRUST_FILE_INFO>() as u32,
        pcwszFilePath: file_path.as_ptr(),
        hFile: held.as_raw_handle(),
        pgKnownSubject: null_mut(),
    };
    let mut data = WINTRUST_DATA {
        cbStruct: size_of::<WINTRUST_DATA>() as u32,
        dwUIChoice: WTD_UI_NONE,
        fdwRevocationChecks: WTD_REVOKE_NONE,
        dwUnionChoice: WTD_CHOICE_FILE,
        dwStateAction: WTD_STATEACTION_VERIFY,
        ..WINTRUST_DATA::default()
    };
    data.Anonymous.pFile = &mut file;
    let call = |data: &mut WINTRUST_DATA| {
        let mut action: GUID = WINTRUST_ACTION_GENERIC_VERIFY_V2;
        let data: *mut c_void = (data as *mut WINTRUST_DATA).cast();
        // SAFETY: `data` and the `file` it points to (and its path) outlive the call.
        unsafe { WinVerifyTrust(null_mut(), &mut action, data) }
    };
    let status = call(&mut data);
    // Releases what the verification kept.
    data.dwStateAction = WTD_STATEACTION_CLOSE;
    call(&mut data);
    if status == 0 {
        Ok(())
    } else {
        Err(LoadError::Unsigned {
            path: path.to_path_buf(),
            reason: trust_reason(status),
        })
    }
}

// The functions of wireguard.h that wiregate calls.
type CreateAdapter = unsafe extern "system" fn(*const u16, *const u16, *const GUID) -> HANDLE;
type OpenAdapter = unsafe extern "system" fn(*const u16) -> HANDLE;
type CloseAdapter = unsafe extern "system" fn(HANDLE);
type GetAdapterLuid = unsafe extern "system" fn(HANDLE, *mut u64);
type GetRunningDriverVersion = unsafe extern "system" fn() -> u32;
type SetAdapterState = unsafe extern "system" fn(HANDLE, i32) -> i32;
type SetConfiguration = unsafe extern "system" fn(HANDLE, *const c_void, u32) -> i32;
type GetConfiguration = unsafe extern "system" fn(HANDLE, *mut c_void, *mut u32) -> i32;
type Logger = unsafe extern "system" fn(i32, u64, *const u16);
type SetLogger = unsafe extern "system" fn(Option<Logger>);
type SetAdapterLogging = unsafe extern "system" fn(HANDLE, i32) -> i32;

/// The resolved functions. All are resolved at load, so a DLL that is not WireGuardNT's
/// is refused at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Functions {
    pub create_adapter: CreateAdapter,
    pub open_adapter: OpenAdapter,
    pub close_adapter: CloseAdapter,
    pub get_adapter_luid: GetAdapterLuid,
    pub get_running_driver_version: GetRunningDriverVersion,
    pub set_adapter_state: SetAdapterState,
    pub set_configuration: SetConfiguration,
    pub get_configuration: GetConfiguration,
    pub set_logger: SetLogger,
    pub set_adapter_logging: SetAdapterLogging,
}

/// A loaded, verified `wireguard.dll`. Unloaded when dropped.
#[derive(Debug)]
pub struct WireGuardDll {
    module: HMODULE,
    path: PathBuf,
    pub(crate) functions: Functions,
}

// SAFETY: the module handle is only used to free the library; the DLL's functions are
// documented as callable from any thread.
unsafe impl Send for WireGuardDll {}
unsafe impl Sync for WireGuardDll {}

/// Resolves `name` (NUL-terminated) in `module` as a function of type `T`.
fn resolve<T: Copy>(module: HMODULE, path: &Path, name: &'static str) -> Result<T, LoadError> {
    debug_assert!(name.ends_with('\0'));
    debug_assert_eq!(size_of::<T>(), size_of::<usize>());
    // SAFETY: `name` is NUL-terminated; `module` is a loaded library.
    match unsafe { GetProcAddress(module, name.as_ptr()) } {
        // SAFETY: `T` is the function's type as wireguard.h declares it.
        Some(function) => Ok(unsafe { std::mem::transmute_copy::<_, T>(&function) }),
        None => Err(LoadError::MissingFunction {
            path: path.to_path_buf(),
            function: name.trim_end_matches('\0'),
        }),
    }
}

/// The DLL's and the driver's log, into ours (`WIREGUARD_LOGGER_CALLBACK`).
unsafe extern "system" fn log_message(level: i32, _timestamp: u64, message: *const u16) {
    if message.is_null() {
        return;
    }
    // SAFETY: the DLL passes a NUL-terminated UTF-16 string, valid during the call.
    let text = unsafe {
        let len = (0..).take_while(|&i| *message.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(message, len))
    };
    match level {
        0 => tracing::info!(target: "wireguard_nt", "{text}"),
        1 => tracing::warn!(target: "wireguard_nt", "{text}"),
        _ => tracing::error!(target: "wireguard_nt", "{text}"),
    }
}

impl WireGuardDll {
    /// Loads the DLL at `path` once it is found, matches `pin` (a SHA-256 in hex) if one
    /// is given, and carries a valid Authenticode signature.
    pub fn load(path: &Path, pin: Option<&str>) -> Result<Self, LoadError> {
        use std::io::Read;
        let mut held = hold(path)?;
        let mut bytes = Vec::new();
        held.read_to_end(&mut bytes)
            .map_err(|e| verify::open_error(path, e))?;
        verify::check_bytes(path, &bytes, pin)?;
        verify_signature(path, &held)?;
        let wide_path = wide(path.as_os_str());
        // SAFETY: a NUL-terminated path; the flags keep the DLL's own dependencies to its
        // directory and System32.
        let module = unsafe {
            LoadLibraryExW(
                wide_path.as_ptr(),
                null_mut(),
                LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32,
            )
        };
        if module.is_null() {
            return Err(LoadError::Load {
                path: path.to_path_buf(),
                source: std::io::Error::last_os_error(),
            });
        }
        // Mapped as an image now, which Windows itself keeps from being written.
        drop(held);
        let functions = (|| {
            Ok(Functions {
                create_adapter: resolve(module, path, "WireGuardCreateAdapter\0")?,
                open_adapter: resolve(module, path, "WireGuardOpenAdapter\0")?,
                close_adapter: resolve(module, path, "WireGuardCloseAdapter\0")?,
                get_adapter_luid: resolve(module, path, "WireGuardGetAdapterLUID\0")?,
                get_running_driver_version: resolve(
                    module,
                    path,
                    "WireGuardGetRunningDriverVersion\0",
                )?,
                set_adapter_state: resolve(module, path, "WireGuardSetAdapterState\0")?,
                set_configuration: resolve(module, path, "WireGuardSetConfiguration\0")?,
                get_configuration: resolve(module, path, "WireGuardGetConfiguration\0")?,
                set_logger: resolve(module, path, "WireGuardSetLogger\0")?,
                set_adapter_logging: resolve(module, path, "WireGuardSetAdapterLogging\0")?,
            })
        })();
        match functions {
            Ok(functions) => {
                // SAFETY: a function that stays valid while the process runs.
                unsafe { (functions.set_logger)(Some(log_message)) };
                Ok(Self {
                    module,
                    path: path.to_path_buf(),
                    functions,
                })
            }
            Err(e) => {
                // SAFETY: loaded above, used by nothing else.
                unsafe { FreeLibrary(module) };
                Err(e)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The running driver's version as "major.minor", or `None` if no driver runs yet.
    pub fn running_driver_version(&self) -> Option<String> {
        // SAFETY: takes no arguments.
        let version = unsafe { (self.functions.get_running_driver_version)() };
        (version != 0).then(|| format!("{}.{}", version >> 16, version & 0xffff))
    }
}

impl Drop for WireGuardDll {
    fn drop(&mut self) {
        // SAFETY: loaded by `load`; nothing uses its functions after the owner is gone.
        unsafe { FreeLibrary(self.module) };
    }
}
