//! The data-directory lock: an exclusive `flock` on `<root>/LOCK`, held for the life of a
//! [`crate::FileStorage`], so two processes never write the same logs.
//!
//! The lock is advisory and released by the kernel when the file is closed, including when the
//! process dies, so a crash never leaves a stale lock. The holder writes its process id into the
//! file so the refused process can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StorageError;

/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// A held data-directory lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock of `root` without waiting.
    ///
    /// # Errors
    /// [`StorageError::Locked`] when another process (or another `FileStorage` of this process)
    /// holds it, [`StorageError::Io`] when the lock file cannot be opened or locked.
    pub(crate) fn acquire(root: &Path) -> Result<Self, StorageError> {
        let path = root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(StorageError::io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty() && s.len() <= 32);
                return Err(StorageError::Locked { dir: root.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(StorageError::io("lock", &path)(e)),
        }
        // The pid only helps the message of a refused process; failing to write it is harmless.
        let _ = file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DirLock { _file: file, path })
    }

    /// Path of the lock file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(first.path(), dir.path().join("LOCK"));
        let err = DirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("locked by another nexo process"), "{text}");
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        drop(first);
        assert!(DirLock::acquire(dir.path()).is_ok());
    }
}
