//! One WireGuardNT adapter: opened if one of that name exists (left by a crash), else
//! created; brought up; configured and read back with buffers `encode.rs` and
//! `decode.rs` write and read; closed (and so removed, if created here) when dropped.
#![allow(unsafe_code)]

use crate::dll::{WireGuardDll, wide};
use std::ffi::c_void;
use std::io;
use std::sync::Arc;
use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_MORE_DATA, GetLastError, HANDLE};

/// `WIREGUARD_ADAPTER_STATE_UP`, `WIREGUARD_ADAPTER_LOG_ON`.
const STATE_UP: i32 = 1;
const LOG_ON: i32 = 1;
/// The adapters' tunnel type, as Windows shows it.
const TUNNEL_TYPE: &str = "wiregate";

/// The last Win32 error, with what an operator can do about the common one.
fn last_error(what: &str) -> io::Error {
    // SAFETY: reads the calling thread's last error.
    let code = unsafe { GetLastError() };
    if code == ERROR_ACCESS_DENIED {
        return io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{what}: access denied; wiregate must run as Administrator (or as its service) to manage WireGuardNT adapters"
            ),
        );
    }
    io::Error::other(format!(
        "{what}: {}",
        io::Error::from_raw_os_error(code as i32)
    ))
}

#[derive(Debug)]
pub struct Adapter {
    dll: Arc<WireGuardDll>,
    handle: HANDLE,
    /// The adapter's LUID, for the IP Helper API.
    pub luid: u64,
}

// SAFETY: the handle is used through the DLL's functions only, which may be called from
// any thread; `Backend` serialises configuration changes.
unsafe impl Send for Adapter {}
unsafe impl Sync for Adapter {}

impl Adapter {
    /// Opens the adapter `name`, or creates it.
    pub fn open_or_create(dll: Arc<WireGuardDll>, name: &str) -> io::Result<Self> {
        let f = dll.functions;
        let wide_name = wide(name.as_ref());
        // SAFETY: NUL-terminated names; a null GUID lets the driver choose one.
        let mut handle = unsafe { (f.open_adapter)(wide_name.as_ptr()) };
        if handle.is_null() {
            let tunnel_type = wide(TUNNEL_TYPE.as_ref());
            handle = unsafe {
                (f.create_adapter)(wide_name.as_ptr(), tunnel_type.as_ptr(), std::ptr::null())
            };
            if handle.is_null() {
                return Err(last_error(&format!("creating WireGuardNT adapter {name}")));
            }
        } else {
            tracing::info!(tunnel = name, "adopting the existing WireGuardNT adapter");
        }
        let mut adapter = Self {
            dll,
            handle,
            luid: 0,
        };
        // SAFETY: a valid handle and a writable u64.
        unsafe { (f.get_adapter_luid)(handle, &mut adapter.luid) };
        // SAFETY: a valid handle.
        if unsafe { (f.set_adapter_logging)(handle, LOG_ON) } == 0 {
            tracing::warn!(tunnel = name, error = %last_error("driver logging"), "no driver log for this adapter");
        }
        Ok(adapter)
    }

    pub fn up(&self) -> io::Result<()> {
        // SAFETY: a valid handle.
        if unsafe { (self.dll.functions.set_adapter_state)(self.handle, STATE_UP) } == 0 {
            return Err(last_error("bringing the adapter up"));
        }
        Ok(())
    }

    /// Hands `buffer` (from `encode`) to the driver.
    pub fn set_configuration(&self, buffer: &[u8]) -> io::Result<()> {
        let words = aligned(buffer);
        let len = u32::try_from(buffer.len()).map_err(io::Error::other)?;
        // SAFETY: `words` holds `len` bytes of a configuration, 8-byte aligned.
        let ok = unsafe {
            (self.dll.functions.set_configuration)(self.handle, words.as_ptr().cast(), len)
        };
        if ok == 0 {
            return Err(last_error("WireGuardSetConfiguration"));
        }
        Ok(())
    }

    /// The driver's configuration buffer (for `decode`), grown until it fits.
    pub fn configuration(&self) -> io::Result<Vec<u8>> {
        let mut len: u32 = 4096;
        loop {
            let mut words = vec![0u64; (len as usize).div_ceil(8)];
            let mut got = len;
            // SAFETY: `words` has room for `got` bytes, 8-byte aligned.
            let ok = unsafe {
                (self.dll.functions.get_configuration)(
                    self.handle,
                    words.as_mut_ptr().cast::<c_void>(),
                    &mut got,
                )
            };
            if ok != 0 {
                return Ok(bytes(&words, got as usize));
            }
            // SAFETY: reads the calling thread's last error.
            if unsafe { GetLastError() } != ERROR_MORE_DATA || got <= len {
                return Err(last_error("WireGuardGetConfiguration"));
            }
            len = got;
        }
    }
}

impl Drop for Adapter {
    /// Closes the adapter; the driver removes it if this process created it.
    fn drop(&mut self) {
        // SAFETY: a valid handle, closed once.
        unsafe { (self.dll.functions.close_adapter)(self.handle) };
    }
}

/// `bytes` in 8-byte-aligned memory, as the driver reads its buffers.
fn aligned(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_ne_bytes(word)
        })
        .collect()
}

/// The first `len` bytes of `words`.
fn bytes(words: &[u64], len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    out.truncate(len);
    out
}
