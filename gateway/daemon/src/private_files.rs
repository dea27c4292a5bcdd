//! Files and directories only their owner may read: the state directory, key files, the
//! API token. On Unix by mode (0700, 0600). On Windows a new file takes its directory's
//! access list, and the state directory is created for Administrators and SYSTEM by the
//! service installation (docs/windows.md), so nothing is set here.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if needed and makes it the owner's only.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
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
    options.open(path)
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
