//! Private key files: base64 on one line, as `wg genkey` writes them, readable by the
//! owner only. A missing key is generated once and kept, so a tunnel's public key
//! survives restarts.

use crate::private_files;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use wiregate_core::PrivateKey;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

fn fail(path: &Path, message: impl ToString) -> Error {
    Error::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// More than any small secret file holds (`wg genkey` writes 45 bytes): a path that names
/// something else (`/dev/zero`, a log) is refused after this much, not read to the end.
const MAX_SECRET_FILE: u64 = 4096;

/// The text of a small file of secrets (a key, a store URL), refused if it is longer
/// than any such file.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {MAX_SECRET_FILE} bytes: not a key or secret file"),
        ));
    }
    Ok(text)
}

pub fn load(path: &Path) -> Result<PrivateKey, Error> {
    let text = read_small(path).map_err(|e| fail(path, e))?;
    private_files::warn_if_shared(path).map_err(|e| fail(path, e))?;
    PrivateKey::from_base64(&text).map_err(|e| fail(path, e))
}

/// Writes a new key to `path` (mode 0600, its directory 0700), which must not exist.
pub fn create(path: &Path, key: &PrivateKey) -> Result<(), Error> {
    create_secret(path, &key.expose_base64())?;
    tracing::info!(path = %path.display(), public_key = %key.public_key(), "generated a private key");
    Ok(())
}

/// Writes `secret` and a newline to a new file at `path`, readable by the owner only.
pub fn create_secret(path: &Path, secret: &str) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        private_files::create_dir(dir).map_err(|e| fail(dir, e))?;
    }
    // Written under a temporary name and linked into place, so a crash never leaves half
    // a secret.
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut file = private_files::create_file(&partial).map_err(|e| fail(&partial, e))?;
    writeln!(file, "{secret}")
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(&partial, e))?;
    // A key that appeared meanwhile is kept: link() refuses to replace it, unlike rename().
    std::fs::hard_link(&partial, path).map_err(|e| fail(path, e))?;
    let _ = std::fs::remove_file(&partial);
    if let Some(dir) = path.parent() {
        // The new name is durable only once its directory is.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/wg0.key");
        let key = PrivateKey::generate();
        create(&path, &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(load(&path).unwrap(), key);
        // An existing key is never overwritten.
        assert!(create(&path, &PrivateKey::generate()).is_err());
        assert_eq!(load(&path).unwrap(), key);
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not a key\n").unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(
            message.contains("bad.key") && message.contains("base64"),
            "{message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_path_to_something_endless_is_refused_not_read_to_the_end() {
        // /dev/zero never ends: read whole, it would take all memory.
        let message = load(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(message.contains("not a key or secret file"), "{message}");
    }
}
