//! Users, authentication and permissions, shared by every protocol front (sans-IO).
//!
//! [`Auth`] is the server's user directory (shared by all sessions, replaced on a config reload,
//! changed by `ACL SETUSER`/`DELUSER`), with the verified-password cache, the failed-login count
//! and the protected-mode setting. A connection's side is a [`Login`]: who it is, its failures in
//! a row, and the one password check it may have waiting. Checking a password is a
//! [`VerifyJob`] the host runs off the network thread; its [`Verdict`] comes back as an input.
//! With no users configured the `default` user is open (on, `nopass`, every permission), so a
//! server without users behaves as before.

pub mod acl;
mod login;
pub mod needs;
pub mod rules;
pub mod user;
mod verify;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub use login::{Begin, Login, Refusal};
pub use rules::{Broker, Denied, Name, NamePattern, Need, Op, Rules};
pub use user::{Password, User};
pub use verify::{CACHE_ENTRIES, Verdict, VerifiedCache, VerifyJob};

/// Redis's reply before a connection has authenticated.
pub const NOAUTH: &str = "NOAUTH Authentication required.";
/// Redis's reply to a wrong password, an unknown or a disabled user.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// Failed AUTHs in a row after which the connection is closed.
pub const MAX_FAILURES: u32 = 10;
/// The reply when the verification pool is saturated.
pub const BUSY: &str = "ERR too many password checks in progress; try again";
/// The protected-mode refusal (Redis's text, with Nexo's remedies), without the RESP framing.
pub const DENIED: &str = "DENIED Redis is running in protected mode because protected mode is enabled and no \
password is set for the default user. In this mode connections are only accepted from the loopback interface. \
If you want to connect from external computers to Nexo you may adopt one of the following solutions: \
1) Restart the server with '--protected-mode no' (NEXO_PROTECTED_MODE=no, key protected-mode), making sure \
it is not publicly accessible from the internet. 2) Set a password for the default user with \
'--requirepass' (NEXO_REQUIREPASS, key requirepass) or a [[users]] table named default. 3) Listen on the \
loopback interface only ('--bind 127.0.0.1'). NOTE: You only need to do one of the above things in order \
for the server to start accepting connections from the outside.";

/// The server's users and what every session shares about authentication.
#[derive(Debug)]
pub struct Auth {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// Bumped on every change, so logins re-read their user.
    generation: AtomicU64,
    cache: Mutex<VerifiedCache>,
    failed_logins: AtomicU64,
    /// Protected mode is on and the server listens on a non-loopback address.
    protected: bool,
    /// Seeded state the salts of run-time (`ACL SETUSER >pw`) passwords are drawn from.
    salt_state: Mutex<[u8; 32]>,
}

impl Default for Auth {
    fn default() -> Self {
        Self::new(Vec::new(), false, 0)
    }
}

impl Auth {
    /// A directory of `users` (an open `default` user is added when none is named so);
    /// `protected`: protected mode is on and a listener is not on loopback; `seed` seeds the
    /// salts of passwords set at run time.
    pub fn new(users: Vec<User>, protected: bool, seed: u64) -> Self {
        let auth = Self {
            users: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            cache: Mutex::new(VerifiedCache::default()),
            failed_logins: AtomicU64::new(0),
            protected,
            salt_state: Mutex::new(user::sha256(&seed.to_le_bytes())),
        };
        auth.replace(users);
        auth
    }

    /// Replaces every user (a config reload); run-time ACL changes are dropped.
    pub fn replace(&self, users: Vec<User>) {
        let mut map: BTreeMap<String, Arc<User>> =
            users.into_iter().map(|u| (u.name.clone(), Arc::new(u))).collect();
        map.entry("default".into()).or_insert_with(|| Arc::new(User::open_default()));
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = map;
        self.changed();
    }

    fn changed(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The change counter.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Adds or replaces one user (ACL SETUSER).
    pub fn set_user(&self, user: User) {
        self.users.write().unwrap_or_else(|e| e.into_inner()).insert(user.name.clone(), Arc::new(user));
        self.changed();
    }

    /// Removes users (ACL DELUSER); `default` stays. Returns how many were removed.
    pub fn delete_users(&self, names: &[&str]) -> usize {
        let mut map = self.users.write().unwrap_or_else(|e| e.into_inner());
        let removed = names.iter().filter(|n| **n != "default" && map.remove(**n).is_some()).count();
        drop(map);
        self.changed();
        removed
    }

    /// Whether any user has a password (the dashboard then asks for a login).
    pub fn any_password(&self) -> bool {
        self.users().iter().any(|u| u.enabled && !u.passwords.is_empty())
    }

    /// Whether a new connection must authenticate (the default user is not open).
    pub fn required(&self) -> bool {
        !self.user("default").is_some_and(|u| u.is_open())
    }

    /// Protected mode's decision for a connection from `peer`: refuse it when protected mode
    /// applies, the default user is open and the peer is not on loopback.
    pub fn denies_peer(&self, peer: IpAddr) -> bool {
        self.protected && !self.required() && !peer.to_canonical().is_loopback()
    }

    /// Counts one failed login.
    pub fn count_failed(&self) {
        self.failed_logins.fetch_add(1, Ordering::Relaxed);
    }

    /// Failed logins since start.
    pub fn failed_logins(&self) -> u64 {
        self.failed_logins.load(Ordering::Relaxed)
    }

    pub(crate) fn cached(&self, user: &str, digest: &[u8; 32]) -> bool {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).contains(user, digest)
    }

    pub(crate) fn remember(&self, user: &str, digest: [u8; 32]) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(user, digest);
    }

    /// 16 fresh salt bytes (a hash chain from the seed).
    pub fn next_salt(&self) -> [u8; 16] {
        let mut state = self.salt_state.lock().unwrap_or_else(|e| e.into_inner());
        *state = user::sha256(&*state);
        let mut salt = [0; 16];
        salt.copy_from_slice(&state[..16]);
        salt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn no_users_means_an_open_default() {
        let auth = Auth::default();
        assert!(!auth.required() && !auth.any_password());
        assert_eq!(auth.users().len(), 1);
        assert_eq!(auth.delete_users(&["default"]), 0);
    }

    #[test]
    fn protected_mode_refuses_only_non_loopback_peers_of_an_open_server() {
        let auth = Auth::new(Vec::new(), true, 1);
        assert!(auth.denies_peer(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20))));
        assert!(auth.denies_peer(IpAddr::V6("2001:db8::1".parse().unwrap())));
        assert!(!auth.denies_peer(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(!auth.denies_peer(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(!auth.denies_peer("::ffff:127.0.0.1".parse().unwrap()));
        let mut default = User::open_default();
        default.nopass = false;
        default.passwords.push(Password::Sha256(user::sha256(b"pw")));
        let auth = Auth::new(vec![default], true, 1);
        assert!(!auth.denies_peer(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), "a password lifts it");
        let open = Auth::new(Vec::new(), false, 1);
        assert!(!open.denies_peer(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), "--protected-mode no");
    }

    #[test]
    fn salts_differ() {
        let auth = Auth::default();
        assert_ne!(auth.next_salt(), auth.next_salt());
    }
}
