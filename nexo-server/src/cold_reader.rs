//! The cold-read thread: carries out a broker's disk reads (stream messages no longer in memory)
//! away from the thread that owns the broker, so a slow read never delays appends, fsyncs or
//! replies of any topic.
//!
//! A [`BrokerDriver`](crate::BrokerDriver) with a [`ColdReader`] turns each `Output::Read` into a
//! [`DetachedRead`] (the storage opens the files there, so retention deleting a segment meanwhile
//! cannot take the records away) and queues it here; the answer goes back through the runtime's
//! [`Completion`], which hands it to the broker as [`BrokerInput::ReadDone`](crate::BrokerInput).
//!
//! Bounded: at most [`READS_QUEUED_MAX`] reads wait; when the queue is full the driver reads in
//! place instead (slower for the broker, never lost). The thread ends once the driver drops its
//! reader (at shutdown, or when the driver goes) and the queued reads are answered.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use nexo_engine::StoredRecord;
use nexo_storage::{DetachedRead, IndexCache};

/// Reads queued for the thread before the driver reads in place.
pub const READS_QUEUED_MAX: usize = 256;

/// Hands a finished read (its token and its records, or why it failed) back to the broker's
/// thread or task. Called on the cold-read thread.
pub type Completion = Arc<dyn Fn(u64, Result<Vec<StoredRecord>, String>) + Send + Sync>;

struct Job {
    token: u64,
    read: DetachedRead,
}

/// The handle a driver keeps: where reads go.
pub struct ColdReader {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for ColdReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ColdReader")
    }
}

impl ColdReader {
    /// Starts the thread `nexo-<name>`; every read's answer goes to `complete`.
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn spawn(name: &str, complete: Completion) -> std::io::Result<Self> {
        let (jobs, rx) = sync_channel(READS_QUEUED_MAX);
        std::thread::Builder::new().name(format!("nexo-{name}")).spawn(move || serve(&rx, &complete))?;
        Ok(Self { jobs })
    }

    /// Queues `read`; gives it back when the queue is full or the thread is gone (the caller
    /// then reads in place).
    pub(crate) fn submit(&self, token: u64, read: DetachedRead) -> Result<(), DetachedRead> {
        self.jobs.try_send(Job { token, read }).map_err(|e| match e {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => job.read,
        })
    }
}

fn serve(rx: &Receiver<Job>, complete: &Completion) {
    let mut indexes = IndexCache::default();
    while let Ok(Job { token, read }) = rx.recv() {
        let result = read.run(&mut indexes).map(into_stored).map_err(|e| e.to_string());
        complete(token, result);
    }
}

/// Storage records as the engine takes them.
pub(crate) fn into_stored(records: Vec<nexo_storage::Record>) -> Vec<StoredRecord> {
    records
        .into_iter()
        .map(|r| StoredRecord { seq: r.seq, timestamp_ms: r.timestamp_ms, payload: r.payload })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use nexo_storage::{FileStorage, LogConfig, LogName, Storage};

    use super::*;

    #[test]
    fn reads_run_on_the_thread_and_answer_through_the_completion() {
        let root = tempfile::tempdir().unwrap();
        let mut storage = FileStorage::open_dir(root.path()).unwrap();
        let log = LogName::new("t").unwrap();
        storage.open(&log, LogConfig::default()).unwrap();
        for i in 0..10u64 {
            storage.append(&log, i, format!("m{i}").as_bytes()).unwrap();
        }
        storage.sync(&log).unwrap();
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let complete: Completion = Arc::new(move |token, result| {
            let thread = std::thread::current().name().map(str::to_owned);
            tx.lock().unwrap().send((token, result, thread)).unwrap();
        });
        let reader = ColdReader::spawn("test-reader", complete).unwrap();
        let read = storage.detach_read(&log, 4, 3, 1 << 20).unwrap().unwrap();
        reader.submit(7, read).unwrap();
        let (token, result, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(token, 7);
        let seqs: Vec<u64> = result.unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [4, 5, 6]);
        assert_eq!(thread.as_deref(), Some("nexo-test-reader"));
        drop(reader);
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_err(), "the thread ends with its handle");
    }
}
