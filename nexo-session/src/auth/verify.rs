//! Password verification as work for the host: a [`VerifyJob`] the session emits, run by the
//! runtime on a small pool (Argon2 costs tens of milliseconds), and the [`Verdict`] the runtime
//! hands back to the session as an input. A bounded cache of recently verified
//! (user, SHA-256 of password) pairs lets reconnect storms skip the KDF.

use std::collections::VecDeque;
use std::sync::OnceLock;

use subtle::ConstantTimeEq;

use super::user::{Password, sha256};

/// Pairs the cache keeps (oldest dropped first).
pub const CACHE_ENTRIES: usize = 1024;

/// One password check to run off the network thread.
#[derive(Debug)]
pub struct VerifyJob {
    pub(crate) token: u64,
    user: String,
    plain: Vec<u8>,
    passwords: Vec<Password>,
    /// The user is unknown or off: the KDF still runs (same cost), the answer is no.
    refuse: bool,
}

impl VerifyJob {
    pub(crate) fn new(token: u64, user: &str, plain: &[u8], passwords: Vec<Password>, refuse: bool) -> Self {
        Self { token, user: user.to_owned(), plain: plain.to_vec(), passwords, refuse }
    }

    /// The user name (for logs; never the password).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Runs the KDF (blocking, CPU-bound).
    pub fn run(self) -> Verdict {
        let ok = if self.refuse || self.passwords.is_empty() {
            let _ = dummy().verify(&self.plain);
            false
        } else {
            // Every hash is tried, so the time does not say which one matched.
            self.passwords.iter().fold(false, |ok, p| p.verify(&self.plain) | ok)
        };
        Verdict { token: self.token, user: self.user, ok, busy: false, digest: sha256(&self.plain) }
    }

    /// The verdict when the pool is full: refused without counting as a wrong password.
    pub fn busy(self) -> Verdict {
        Verdict { token: self.token, user: self.user, ok: false, busy: true, digest: [0; 32] }
    }
}

/// A hash no password is checked against except to spend the same time for unknown users.
fn dummy() -> &'static Password {
    static DUMMY: OnceLock<Password> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Password::hash(b"nexo: no such user", b"nexo-dummy-salt!").unwrap_or(Password::Sha256([0; 32]))
    })
}

/// The outcome of a [`VerifyJob`], handed back to the session that emitted it.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub(crate) token: u64,
    user: String,
    ok: bool,
    busy: bool,
    pub(crate) digest: [u8; 32],
}

impl Verdict {
    /// Whether the password was right.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// The pool was full; nothing was checked.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

/// Recently verified (user, SHA-256 of password) pairs, bounded; cleared whenever users change.
#[derive(Debug, Default)]
pub struct VerifiedCache {
    entries: VecDeque<(String, [u8; 32])>,
}

impl VerifiedCache {
    /// Whether `user` recently logged in with a password whose SHA-256 is `digest`
    /// (digests are compared in constant time).
    pub fn contains(&self, user: &str, digest: &[u8; 32]) -> bool {
        self.entries
            .iter()
            .filter(|(u, _)| u == user)
            .fold(false, |hit, (_, d)| bool::from(d.ct_eq(digest)) | hit)
    }

    /// Remembers a verified pair, dropping the oldest past [`CACHE_ENTRIES`].
    pub fn insert(&mut self, user: &str, digest: [u8; 32]) {
        if self.contains(user, &digest) {
            return;
        }
        if self.entries.len() >= CACHE_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back((user.to_owned(), digest));
    }

    /// Forgets everything (a user or password changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Pairs held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn jobs_check_every_hash_and_refuse_unknown_users() {
        let pw = Password::Sha256(sha256(b"right"));
        assert!(VerifyJob::new(1, "u", b"right", vec![pw.clone()], false).run().ok());
        assert!(!VerifyJob::new(1, "u", b"wrong", vec![pw.clone()], false).run().ok());
        assert!(!VerifyJob::new(1, "u", b"right", vec![pw], true).run().ok());
        let busy = VerifyJob::new(2, "u", b"x", vec![], false).busy();
        assert!(busy.busy() && !busy.ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn cache_is_bounded_and_exact(pairs in proptest::collection::vec((0u8..4, any::<u8>()), 0..1500)) {
            let mut cache = VerifiedCache::default();
            for (user, byte) in &pairs {
                cache.insert(&user.to_string(), [*byte; 32]);
                prop_assert!(cache.len() <= CACHE_ENTRIES);
                prop_assert!(cache.contains(&user.to_string(), &[*byte; 32]));
                prop_assert!(!cache.contains("nobody", &[*byte; 32]));
            }
        }
    }
}
