//! Loading `wireguard.dll` refuses what it must, under Wine: a missing DLL with the clear
//! error an operator can act on, a DLL whose SHA-256 is not the pinned one, and an
//! unsigned file (Windows' own WinVerifyTrust says so). And the file checked is the file
//! loaded: while it is held (from before it is read until it is loaded), it cannot be
//! written, renamed, replaced or deleted.

#![cfg(windows)]

use std::path::PathBuf;
use wiregate_windows::dll::{WireGuardDll, hold};
use wiregate_windows::verify::{LoadError, sha256_hex};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wiregate-dll-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_dll_says_where_to_get_one() {
    let path = scratch("missing").join("wireguard.dll");
    let error = WireGuardDll::load(&path, None).unwrap_err();
    assert!(matches!(error, LoadError::Missing { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("wireguard.dll not found") && text.contains("wireguard_dll"),
        "{text}"
    );
}

#[test]
fn an_unsigned_or_unpinned_dll_is_refused() {
    // Any unsigned PE file will do: this test's own executable, under the DLL's name.
    let path = scratch("unsigned").join("wireguard.dll");
    std::fs::copy(std::env::current_exe().unwrap(), &path).unwrap();
    let error = WireGuardDll::load(&path, None).unwrap_err();
    assert!(matches!(error, LoadError::Unsigned { .. }), "{error}");
    assert!(error.to_string().contains("Authenticode"), "{error}");
    let pin = sha256_hex(b"the official DLL's bytes");
    let error = WireGuardDll::load(&path, Some(&pin)).unwrap_err();
    assert!(matches!(error, LoadError::PinMismatch { .. }), "{error}");
}

#[test]
fn the_process_token_says_whether_it_is_elevated() {
    // Wine runs everything as an elevated administrator; on Windows this is what a
    // non-elevated start is refused by, before any adapter call.
    assert_eq!(wiregate_windows::elevation::is_elevated(), Some(true));
}

#[test]
fn a_held_dll_cannot_be_swapped_between_its_checks_and_its_load() {
    let dir = scratch("held");
    let path = dir.join("wireguard.dll");
    std::fs::write(&path, b"MZ the checked bytes").unwrap();
    let other = dir.join("other.dll");
    std::fs::write(&other, b"MZ other bytes").unwrap();
    let held = hold(&path).unwrap();
    assert!(
        std::fs::write(&path, b"MZ swapped").is_err(),
        "written while held"
    );
    assert!(
        std::fs::rename(&path, dir.join("moved.dll")).is_err(),
        "renamed while held"
    );
    assert!(
        std::fs::rename(&other, &path).is_err(),
        "replaced while held"
    );
    assert!(std::fs::remove_file(&path).is_err(), "deleted while held");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"MZ the checked bytes",
        "readable while held"
    );
    drop(held);
    std::fs::write(&path, b"MZ changed once let go").unwrap();
    assert!(matches!(
        hold(&dir.join("none.dll")),
        Err(LoadError::Missing { .. })
    ));
}
