//! The crate's one error type, [`StorageError`].
//!
//! Every `Display` text reads well after `Storage unavailable: `, which is how the runtimes show
//! it to clients and in logs. This module only describes errors; it decides nothing.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::name::LogName;

/// What went wrong in a storage call.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O call failed. Returned as such only where nothing was written (opening, listing,
    /// reading); a failed write, fsync, create or delete fences the log and answers
    /// [`StorageError::Failed`] instead.
    Io {
        /// What was being done (`"read"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Data that must be valid (a sealed segment) failed validation while being read.
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// Byte offset of the bad data in that file.
        offset: u64,
        /// What was wrong.
        why: String,
    },
    /// The log is fenced: a write or fsync failed earlier, so its durable state is unknown. Every
    /// later call on it answers this until the process restarts and recovers it. An fsync is
    /// never retried (a retry could report success for data the kernel already dropped).
    Failed {
        /// The fenced log.
        log: LogName,
        /// The failure that fenced it.
        why: String,
    },
    /// A write or file creation was refused for a reason that passes: no space left on the
    /// device or quota (ENOSPC, EDQUOT), or too many open files (EMFILE, ENFILE). Nothing was
    /// lost and the log is **not** fenced: appended records stay buffered (a partly written
    /// buffer is cut back first) and a later call retries. A failed fsync is never this.
    Transient {
        /// What was being done (`"write"`, `"create"`, ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The log has not been opened with [`crate::Storage::open`] (or was removed).
    NotOpen {
        /// The log named in the call.
        log: LogName,
    },
    /// Another process holds the data directory's lock.
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// What the holder wrote into the lock file (its process id), if readable.
        holder: Option<String>,
    },
    /// A record's payload is larger than [`crate::record::MAX_PAYLOAD_BYTES`]; nothing was
    /// written and the log is not fenced.
    TooLarge {
        /// The log named in the call.
        log: LogName,
        /// Size of the refused payload.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

impl StorageError {
    /// Builds the mapper for an `io::Error` from `op` on `path`.
    pub(crate) fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StorageError + 'p {
        move |source| StorageError::Io { op, path: path.to_path_buf(), source }
    }

    /// Like [`StorageError::io`], but a refusal that passes (disk full, out of file descriptors)
    /// becomes [`StorageError::Transient`]. Only for writes and creations that leave nothing
    /// behind when they fail (or whose partial result the caller removes); never for an fsync.
    pub(crate) fn io_or_transient<'p>(
        op: &'static str,
        path: &'p Path,
    ) -> impl FnOnce(io::Error) -> StorageError + 'p {
        move |source| {
            if passes(&source) {
                StorageError::Transient { op, path: path.to_path_buf(), source }
            } else {
                StorageError::Io { op, path: path.to_path_buf(), source }
            }
        }
    }

    /// Whether a later call may succeed where this one failed, with nothing lost: see
    /// [`StorageError::Transient`]. The log is not fenced.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Transient { .. })
    }

    /// Whether this error, raised while changing a log, leaves its on-disk state unknown (so the
    /// log must be fenced).
    pub(crate) fn fences(&self) -> bool {
        matches!(self, StorageError::Io { .. } | StorageError::Corrupt { .. })
    }

    /// Whether the log is fenced ([`StorageError::Failed`]): the runtime reports itself unhealthy.
    pub fn is_failed(&self) -> bool {
        matches!(self, StorageError::Failed { .. })
    }
}

/// Whether an OS error is a refusal that passes: no space (ENOSPC, EDQUOT) or no file descriptor
/// (EMFILE, ENFILE; 24 and 23 on Linux and the BSDs).
fn passes(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
        || matches!(e.raw_os_error(), Some(23 | 24))
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { op, path, source } => write!(f, "{op} {} failed: {source}", path.display()),
            StorageError::Corrupt { path, offset, why } => {
                write!(f, "corrupt data in {} at byte {offset}: {why}", path.display())
            }
            StorageError::Failed { log, why } => {
                write!(
                    f,
                    "log '{log}' refuses writes after an I/O failure ({why}); restart once the disk is fixed"
                )
            }
            StorageError::Transient { op, path, source } => {
                write!(f, "{op} {} failed: {source}; nothing was lost, it is retried", path.display())
            }
            StorageError::NotOpen { log } => write!(f, "log '{log}' is not open"),
            StorageError::Locked { dir, holder } => {
                write!(f, "data directory {} is locked by another nexo process", dir.display())?;
                if let Some(holder) = holder {
                    write!(f, " (pid {holder})")?;
                }
                f.write_str("; stop it or choose another data directory")
            }
            StorageError::TooLarge { log, bytes, max } => {
                write!(f, "a record of {bytes} bytes for log '{log}' exceeds the limit of {max} bytes")
            }
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } | StorageError::Transient { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_follow_storage_unavailable() {
        let log = LogName::new("queue-jobs").unwrap();
        let failed = StorageError::Failed { log: log.clone(), why: "fsync /d/x.log failed: EIO".into() };
        assert_eq!(
            format!("Storage unavailable: {failed}"),
            "Storage unavailable: log 'queue-jobs' refuses writes after an I/O failure \
             (fsync /d/x.log failed: EIO); restart once the disk is fixed"
        );
        assert!(failed.is_failed());
        let locked = StorageError::Locked { dir: "/data".into(), holder: Some("42".into()) };
        assert_eq!(
            locked.to_string(),
            "data directory /data is locked by another nexo process (pid 42); stop it or choose another data directory"
        );
        let io = StorageError::io("fsync", Path::new("/d/a.log"))(io::Error::other("boom"));
        assert_eq!(io.to_string(), "fsync /d/a.log failed: boom");
        assert!(io.fences());
        assert!(!StorageError::NotOpen { log }.fences());
    }

    #[test]
    fn disk_full_and_out_of_descriptors_pass() {
        let path = Path::new("/d/a.log");
        for (errno, transient) in [(28, true), (24, true), (23, true), (5, false), (13, false)] {
            let e = StorageError::io_or_transient("write", path)(io::Error::from_raw_os_error(errno));
            assert_eq!((e.is_transient(), e.fences()), (transient, !transient), "errno {errno}: {e}");
        }
        let fsync = StorageError::io("fsync", path)(io::Error::from_raw_os_error(28));
        assert!(fsync.fences() && !fsync.is_transient(), "a failed fsync always fences");
    }
}
