//! Files and directories only their owner may read: the state directory, key files, the
//! API token, the store. On Unix by mode (0700, 0600). On Windows by access list: the
//! directory is created protected for SYSTEM and Administrators only, an existing one that
//! anyone else may change or that someone else owns is refused, and every secret file gets
//! the protected list too (`wiregate_windows::acl`).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if needed and makes it the owner's only; on Windows,
/// refuses an existing directory that others may change.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    #[cfg(windows)]
    return wiregate_windows::acl::create_private_dir(dir);
    #[cfg(not(windows))]
    {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
}

/// Creates (or truncates) `path` for writing, readable by its owner only.
pub fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    protect(path)?;
    Ok(file)
}

/// Gives an existing secret file (the store) its owner-only access: on Windows the
/// protected list; on Unix its mode is set where it is created.
pub fn protect(path: &Path) -> io::Result<()> {
    #[cfg(windows)]
    return wiregate_windows::acl::protect_file(path);
    #[cfg(not(windows))]
    {
        let _ = path;
        Ok(())
    }
}

/// Warns if others may read `path` (Unix modes only).
pub fn warn_if_shared(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "a secret file is readable by others; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
