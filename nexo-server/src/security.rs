//! Start-up side of authentication: the users the settings describe (`[[users]]`,
//! `--requirepass`), hashed with fresh salts; protected mode's inputs; and the small pool that
//! runs password checks (Argon2, tens of milliseconds each) off the network threads.
//!
//! The decisions themselves (who may do what, NOAUTH, protected mode per peer) are
//! `nexo_session::auth`'s; this module only builds the directory and runs the KDF.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use nexo_engine::ConnId;
use nexo_session::auth::{Auth, Password, User, Verdict, VerifyJob};

use crate::clock::Clock;
use crate::logging::RateLimited;
use crate::settings::Settings;

/// Password checks that may wait for a pool thread; more are answered "try again".
pub const VERIFY_QUEUE: usize = 256;
/// Threads of the verification pool.
pub const VERIFY_THREADS: usize = 2;

/// 16 bytes from the operating system's random source (`getrandom`), for password salts and the
/// verify cache's key.
///
/// # Errors
/// The OS has no random source to give (the server refuses to start rather than salt weakly).
pub fn os_salt() -> Result<[u8; 16], String> {
    let mut salt = [0; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("cannot read random bytes from the OS: {e}"))?;
    Ok(salt)
}

/// The users the settings describe: the config file's `[[users]]` tables (plain passwords
/// hashed here) and, with `--requirepass`, that password on the `default` user (the open
/// `default` user with every permission when the file names none).
///
/// # Errors
/// A user does not check out or a password cannot be hashed (longer than the maximum).
pub fn users(settings: &Settings) -> Result<Vec<User>, String> {
    let hash = |plain: &[u8]| Password::hash(plain, &os_salt()?);
    let mut users = Vec::new();
    for spec in &settings.effective.users {
        users.push(spec.to_user(hash).map_err(|e| format!("user '{}': {e}", spec.name))?);
    }
    if let Some(plain) = settings.requirepass.as_deref().filter(|p| !p.is_empty()) {
        let password = hash(plain.as_bytes()).map_err(|e| format!("requirepass: {e}"))?;
        if !users.iter().any(|u| u.name == "default") {
            users.push(User::open_default());
        }
        if let Some(default) = users.iter_mut().find(|u| u.name == "default") {
            default.passwords.push(password);
            default.nopass = false;
        }
    }
    Ok(users)
}

/// The directory every session shares; protected mode applies when it is on and the server
/// listens beyond loopback.
///
/// # Errors
/// As [`users`].
pub fn auth(settings: &Settings) -> Result<Arc<Auth>, String> {
    let protected = settings.protected_mode && !settings.bind.is_loopback();
    let salt = os_salt()?;
    let seed = u64::from_le_bytes(salt[..8].try_into().unwrap_or_default());
    let auth = Auth::new(users(settings)?, protected, seed);
    if protected && !auth.required() {
        tracing::warn!(
            "protected mode: listening on {} with no password for the default user; only loopback clients are served \
             (set --requirepass, or --protected-mode no)",
            settings.bind
        );
    } else if !settings.bind.is_loopback() && !auth.required() {
        tracing::warn!(
            "listening on {} with no password and protected mode off: anyone who reaches it may use it",
            settings.bind
        );
    }
    let auth = Arc::new(auth);
    let _ = RUNNING.set(Arc::clone(&auth));
    Ok(auth)
}

/// The directory in use, for the SIGHUP reload.
static RUNNING: std::sync::OnceLock<Arc<Auth>> = std::sync::OnceLock::new();

/// Failed logins counted by the running directory (0 before one runs).
pub fn failed_logins() -> u64 {
    RUNNING.get().map_or(0, |auth| auth.failed_logins())
}

/// SIGHUP: the users of the reloaded settings replace the running ones (and any run-time ACL
/// change); false when no directory is running or the new settings do not hash.
pub fn reload(newer: &Settings) -> bool {
    let Some(auth) = RUNNING.get() else { return false };
    match users(newer) {
        Ok(users) => {
            auth.replace(users);
            true
        }
        Err(e) => {
            tracing::error!("SIGHUP: {e}; keeping the running users");
            false
        }
    }
}

type Done = Box<dyn FnOnce(Verdict) + Send>;

/// A few threads that run [`VerifyJob`]s; a bounded queue in front.
#[derive(Debug, Clone)]
pub struct VerifyPool {
    tx: SyncSender<(VerifyJob, DoneBox)>,
}

struct DoneBox(Done);

impl std::fmt::Debug for DoneBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DoneBox")
    }
}

impl VerifyPool {
    /// Starts `threads` threads.
    ///
    /// # Errors
    /// A thread cannot be spawned.
    pub fn start(threads: usize, clock: Clock) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<(VerifyJob, DoneBox)>(VERIFY_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let log = Arc::new(Mutex::new(RateLimited::new(1_000)));
        for i in 0..threads.max(1) {
            let (rx, log) = (Arc::clone(&rx), Arc::clone(&log));
            std::thread::Builder::new().name(format!("nexo-auth-{i}")).spawn(move || {
                loop {
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((job, done)) = next else { return };
                    let verdict = job.run();
                    if !verdict.ok() {
                        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(left_out) = log.allow(clock.now().mono_ms) {
                            tracing::warn!(
                                "failed login for user '{}' ({left_out} more since the last line)",
                                verdict.user().escape_default()
                            );
                        }
                    }
                    (done.0)(verdict);
                }
            })?;
        }
        Ok(Self { tx })
    }

    /// Queues every password check `session` asks for; `deliver` gets each verdict.
    pub fn submit_from(
        &self,
        session: &mut nexo_session::Session,
        deliver: &(impl Fn(Verdict) + Clone + Send + 'static),
    ) {
        while let Some(job) = session.poll_verify() {
            self.submit(job, deliver.clone());
        }
    }

    /// Queues `job`; `done` gets its verdict (at once, "busy", when the queue is full).
    pub fn submit(&self, job: VerifyJob, done: impl FnOnce(Verdict) + Send + 'static) {
        if let Err(e) = self.tx.try_send((job, DoneBox(Box::new(done)))) {
            let (job, done) = match e {
                std::sync::mpsc::TrySendError::Full(pair)
                | std::sync::mpsc::TrySendError::Disconnected(pair) => pair,
            };
            (done.0)(job.busy());
        }
    }
}

/// Verdicts for one event loop (the mio network thread): the pool posts them here and wakes it.
pub struct Mailbox {
    pool: VerifyPool,
    tx: std::sync::mpsc::Sender<(ConnId, Verdict)>,
    rx: Receiver<(ConnId, Verdict)>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").field("pool", &self.pool).finish_non_exhaustive()
    }
}

impl Mailbox {
    /// A mailbox on `pool`; `wake` wakes the loop after each verdict.
    pub fn new(pool: VerifyPool, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        Self { pool, tx, rx, wake: Arc::new(wake) }
    }

    /// Runs `job` for connection `conn`.
    pub fn submit(&self, conn: ConnId, job: VerifyJob) {
        let (tx, wake) = (self.tx.clone(), Arc::clone(&self.wake));
        self.pool.submit(job, move |verdict| {
            let _ = tx.send((conn, verdict));
            wake();
        });
    }

    /// The next verdict that came back.
    pub fn try_recv(&self) -> Option<(ConnId, Verdict)> {
        self.rx.try_recv().ok()
    }
}
