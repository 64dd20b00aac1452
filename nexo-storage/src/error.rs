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
            StorageError::Io { source, .. } => Some(source),
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
}
