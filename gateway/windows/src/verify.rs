//! What must hold before wiregate loads a `wireguard.dll`: it exists where configured, and,
//! when the operator pinned one, its SHA-256 is the pinned one. (Its Authenticode
//! signature is checked by Windows itself, in `dll.rs`.) wiregate never ships or signs the
//! DLL or the driver: it loads the official, signed one the operator installed.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{path}: wireguard.dll not found; get the official signed wireguard.dll (WireGuardNT) and set [windows] wireguard_dll to its path (docs/windows.md)"
    )]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: SHA-256 {actual} is not the pinned {pinned}; refusing to load it")]
    PinMismatch {
        path: PathBuf,
        pinned: String,
        actual: String,
    },
    #[error("[windows] wireguard_dll_sha256 {0:?} is not 64 hexadecimal digits")]
    BadPin(String),
    #[error("{path}: its Authenticode signature does not verify ({reason}); refusing to load it")]
    Unsigned { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Load {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: exports no {function}; not a WireGuardNT wireguard.dll")]
    MissingFunction {
        path: PathBuf,
        function: &'static str,
    },
}

/// Lower-case hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The error for a file that could not be opened or read.
pub fn open_error(path: &Path, e: std::io::Error) -> LoadError {
    if e.kind() == std::io::ErrorKind::NotFound {
        LoadError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        LoadError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Checks that `path` exists and, if `pin` is given, hashes to it.
pub fn check_file(path: &Path, pin: Option<&str>) -> Result<(), LoadError> {
    let bytes = std::fs::read(path).map_err(|e| open_error(path, e))?;
    check_bytes(path, &bytes, pin)
}

/// Checks that `bytes` (the file at `path`, as read) hash to `pin`, if one is given.
pub fn check_bytes(path: &Path, bytes: &[u8], pin: Option<&str>) -> Result<(), LoadError> {
    let pin = pin
        .map(|p| {
            let p = p.trim().to_ascii_lowercase();
            if p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(p)
            } else {
                Err(LoadError::BadPin(p))
            }
        })
        .transpose()?;
    if let Some(pinned) = pin {
        let actual = sha256_hex(bytes);
        if actual != pinned {
            return Err(LoadError::PinMismatch {
                path: path.to_path_buf(),
                pinned,
                actual,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_a_bad_pin_and_a_wrong_hash_are_refused() {
        let dir = std::env::temp_dir().join(format!("wiregate-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dll = dir.join("wireguard.dll");
        let missing = check_file(&dll, None).unwrap_err();
        assert!(matches!(missing, LoadError::Missing { .. }));
        assert!(missing.to_string().contains("wireguard.dll not found"));
        std::fs::write(&dll, b"MZ not really a DLL").unwrap();
        let hash = sha256_hex(b"MZ not really a DLL");
        check_file(&dll, None).unwrap();
        check_file(&dll, Some(&hash.to_uppercase())).unwrap();
        let other = sha256_hex(b"something else");
        assert!(matches!(
            check_file(&dll, Some(&other)),
            Err(LoadError::PinMismatch { .. })
        ));
        assert!(matches!(
            check_file(&dll, Some("abc")),
            Err(LoadError::BadPin(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
