//! Access lists for wiregate's state on Windows: the state directory (the store, key files,
//! the API token) belongs to SYSTEM and Administrators only. A directory created with
//! inherited permissions would give Authenticated Users modify rights (a new folder under
//! `C:\`) or every user read rights (under `C:\ProgramData`), and a user who planted an
//! `api-token` there before the first start would own the API. So the directory is
//! created with a protected access list (nothing inherited), every secret file is given
//! one too, and an existing directory that anyone else may write, or that someone else
//! owns, is refused. Everything unsafe about access lists is in this file.
#![allow(unsafe_code)]

use crate::acl_check::{Entry, Security, judge};
use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::ptr::null_mut;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_ALREADY_EXISTS, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW, SDDL_REVISION_1,
    SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACL, DACL_SECURITY_INFORMATION, GetAce, GetSecurityDescriptorDacl,
    GetTokenInformation, INHERIT_ONLY_ACE, OWNER_SECURITY_INFORMATION,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES,
    TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// SYSTEM and Administrators, full control, nothing inherited; a directory's entries are
/// inherited by what is created in it.
const DIRECTORY: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
const FILE: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";

fn wide(text: &OsStr) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    text.encode_wide().chain(Some(0)).collect()
}

/// A security descriptor parsed from SDDL, freed when dropped.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    fn parse(sddl: &str) -> io::Result<Self> {
        let text = wide(OsStr::new(sddl));
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: a NUL-terminated string; `sd` is written on success.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(sd))
    }

    fn dacl(&self) -> io::Result<*mut ACL> {
        let (mut present, mut defaulted, mut dacl) = (0, 0, null_mut());
        // SAFETY: a descriptor from `parse`; the outputs are written on success.
        let ok =
            unsafe { GetSecurityDescriptorDacl(self.0, &mut present, &mut dacl, &mut defaulted) };
        if ok == 0 || present == 0 {
            return Err(io::Error::other("no access list in the descriptor"));
        }
        Ok(dacl)
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by the system with LocalAlloc, freed once.
        unsafe { LocalFree(self.0) };
    }
}

/// A string SID, or the error.
fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text = null_mut();
    // SAFETY: `sid` is a valid SID; `text` is written on success.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a NUL-terminated string the system allocated, freed once after the copy.
    let string = unsafe { from_wide(text) };
    unsafe { LocalFree(text.cast()) };
    Ok(string)
}

/// Copies a NUL-terminated UTF-16 string.
///
/// # Safety
/// `text` must point to a NUL-terminated UTF-16 string.
unsafe fn from_wide(text: *const u16) -> String {
    // SAFETY: the caller's promise.
    unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    }
}

/// The SID of the user this process runs as.
fn current_user() -> io::Result<String> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the current process's pseudo-handle; `token` is written on success.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buffer = vec![0u64; 64];
    let mut len = 0u32;
    // SAFETY: `buffer` is writable for the size passed, and 8-byte aligned for TOKEN_USER.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            (buffer.len() * 8) as u32,
            &mut len,
        )
    };
    // SAFETY: opened above, closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into it.
    let user = unsafe { &*buffer.as_ptr().cast::<TOKEN_USER>() };
    sid_string(user.User.Sid)
}

/// Creates `dir` (its parents as need be) with the protected directory access list, or
/// checks an existing one with [`check_private_dir`].
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let descriptor = Descriptor::parse(DIRECTORY)?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let path = wide(dir.as_os_str());
    // SAFETY: a NUL-terminated path; `attributes` and its descriptor outlive the call.
    if unsafe { CreateDirectoryW(path.as_ptr(), &attributes) } == 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(ERROR_ALREADY_EXISTS as i32) {
            return Err(error);
        }
    }
    check_private_dir(dir)
}

/// Gives an existing file the protected file access list (SYSTEM and Administrators).
pub fn protect_file(path: &Path) -> io::Result<()> {
    set_dacl_sddl(path, FILE)
}

fn security(path: &Path) -> io::Result<Security> {
    let name = wide(path.as_os_str());
    let (mut owner, mut dacl, mut sd): (PSID, *mut ACL, PSECURITY_DESCRIPTOR) =
        (null_mut(), null_mut(), null_mut());
    // SAFETY: a NUL-terminated path; the outputs are written on success and point into
    // `sd`, which is freed below, after they were read.
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            null_mut(),
            &mut dacl,
            null_mut(),
            &mut sd,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let read = || -> io::Result<Security> {
        let owner = sid_string(owner)?;
        if dacl.is_null() {
            return Ok(Security {
                owner,
                allowed: None,
            });
        }
        // SAFETY: a valid access list of the descriptor.
        let count = unsafe { (*dacl).AceCount };
        let mut allowed = Vec::new();
        for i in 0..u32::from(count) {
            let mut ace = null_mut();
            // SAFETY: `i` is below the list's count; `ace` points into the list.
            if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: every entry starts with an ACE_HEADER; an allow entry (type 0) is
            // an ACCESS_ALLOWED_ACE whose SID starts at `SidStart`.
            let entry = unsafe { &*ace.cast::<ACCESS_ALLOWED_ACE>() };
            if entry.Header.AceType != 0 {
                continue;
            }
            let sid = (&raw const entry.SidStart).cast_mut().cast();
            allowed.push(Entry {
                sid: sid_string(sid)?,
                mask: entry.Mask,
                inherit_only: u32::from(entry.Header.AceFlags) & INHERIT_ONLY_ACE != 0,
            });
        }
        Ok(Security {
            owner,
            allowed: Some(allowed),
        })
    };
    let result = read();
    // SAFETY: allocated by GetNamedSecurityInfoW, freed once, after its last use.
    unsafe { LocalFree(sd) };
    result
}

/// Refuses a state directory that anyone but SYSTEM, Administrators or this process's
/// user may change, or that anyone else owns (see `acl_check.rs`).
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    judge(&security(dir)?, &current_user()?).map_err(|why| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: {why}; the state directory holds private keys and the API token, so it must belong to SYSTEM or Administrators alone (delete it, or give it a protected access list for them only, and start again)",
                dir.display()
            ),
        )
    })
}

/// The object's access list in SDDL, as Windows writes it: for tests and diagnostics.
pub fn dacl_sddl(path: &Path) -> io::Result<String> {
    let name = wide(path.as_os_str());
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: a NUL-terminated path; `sd` is written on success.
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            &mut sd,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let sd = Descriptor(sd);
    let mut text = null_mut();
    // SAFETY: a descriptor from the system; `text` is written on success.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd.0,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a NUL-terminated string the system allocated, freed once after the copy.
    let sddl = unsafe { from_wide(text) };
    unsafe { LocalFree(text.cast()) };
    Ok(sddl)
}

/// Sets an object's access list from SDDL, protected from inheritance.
pub fn set_dacl_sddl(path: &Path, sddl: &str) -> io::Result<()> {
    let descriptor = Descriptor::parse(sddl)?;
    let dacl = descriptor.dacl()?;
    let name = wide(path.as_os_str());
    // SAFETY: a NUL-terminated path and an access list that outlives the call.
    let status = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            dacl,
            null_mut(),
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    Ok(())
}
