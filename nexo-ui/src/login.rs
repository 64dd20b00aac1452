//! Dashboard login: the session table, the login form's check, and what each request may see.
//!
//! When any user has a password, the page is a login form and the JSON API (and `/metrics`
//! unless `--metrics-public`) answers 401 until the browser presents the session cookie the
//! form's POST set: a random 256-bit token, `HttpOnly; SameSite=Strict`, kept (as its SHA-256)
//! in a bounded table with an expiry. Each session holds a `nexo_session::auth::Login`, so the
//! dashboard applies the same permissions as the protocols (a reload that removes or disables
//! the user logs it out). Password checks run on tokio's blocking pool, at most
//! [`CONCURRENT_CHECKS`] at once. HTTP Basic is not accepted: the dashboard has no TLS.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nexo_session::auth::user::{hex, sha256};
use nexo_session::auth::{Auth, Begin, Login, Need, Refusal};
use tokio::sync::Semaphore;

/// The cookie's name.
pub const COOKIE: &str = "nexo_session";
/// Sessions kept at once; a new login past it drops the one closest to expiry.
pub const MAX_SESSIONS: usize = 1024;
/// How long a session lasts after its login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Password checks the dashboard runs at once; more answer 503.
pub const CONCURRENT_CHECKS: usize = 2;
/// Longest login form body read.
pub const MAX_FORM_BYTES: usize = 4096;

/// What a request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No login is needed, or the session is valid.
    Allowed,
    /// A login is needed and the request has no valid session.
    NoSession,
    /// Logged in, but the user lacks a permission (the text names it).
    Denied(String),
}

struct Session {
    login: Login,
    /// Milliseconds of the server's monotonic clock.
    expires_ms: u64,
}

/// The dashboard's side of authentication.
pub struct Security {
    auth: Arc<Auth>,
    metrics_public: bool,
    sessions: Mutex<BTreeMap<String, Session>>,
    checks: Semaphore,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security").field("metrics_public", &self.metrics_public).finish_non_exhaustive()
    }
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong password, unknown or disabled user.
    Wrong,
    /// Too many checks in progress.
    Busy,
}

impl Security {
    /// The dashboard's security over `auth`; `metrics_public` leaves `/metrics` open.
    pub fn new(auth: Arc<Auth>, metrics_public: bool) -> Self {
        Self { auth, metrics_public, sessions: Mutex::default(), checks: Semaphore::new(CONCURRENT_CHECKS) }
    }

    /// Whether the dashboard asks for a login now (some user has a password).
    pub fn required(&self) -> bool {
        self.auth.any_password()
    }

    /// Whether `/metrics` is open without a login.
    pub fn metrics_public(&self) -> bool {
        self.metrics_public
    }

    fn sessions(&self) -> MutexGuard<'_, BTreeMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a request with `cookie_header` (the `Cookie` header, if any) may do at `now_ms` (the
    /// server's monotonic clock); `need`: the permission its answer requires beyond a login.
    pub fn access(&self, cookie_header: Option<&str>, need: Option<&Need<'_>>, now_ms: u64) -> Access {
        if !self.required() {
            return Access::Allowed;
        }
        let Some(key) = cookie_header.and_then(token_of).map(|t| hex(&sha256(t.as_bytes()))) else {
            return Access::NoSession;
        };
        let mut sessions = self.sessions();
        let Some(session) = sessions.get_mut(&key).filter(|s| s.expires_ms > now_ms) else {
            sessions.remove(&key);
            return Access::NoSession;
        };
        match session.login.check(need) {
            Ok(()) => Access::Allowed,
            Err(Refusal::NoAuth) => {
                sessions.remove(&key);
                Access::NoSession
            }
            Err(Refusal::Denied(denied)) => Access::Denied(denied.v1_text()),
        }
    }

    /// Checks `user` and `password` (off this thread) and opens a session at `now_ms`; its token.
    ///
    /// # Errors
    /// [`LoginError::Wrong`] (counted as a failed login) or [`LoginError::Busy`].
    pub async fn log_in(&self, user: &str, password: &str, now_ms: u64) -> Result<String, LoginError> {
        let mut login = Login::new(Arc::clone(&self.auth));
        let ok = match login.begin(user.as_bytes(), password.as_bytes()) {
            Begin::Done(ok) => ok,
            Begin::Verify(job) => {
                let Ok(_permit) = self.checks.try_acquire() else { return Err(LoginError::Busy) };
                let verdict =
                    tokio::task::spawn_blocking(move || job.run()).await.map_err(|_| LoginError::Busy)?;
                login.finish(&verdict).unwrap_or(false)
            }
        };
        if !ok || !login.authenticated() {
            tracing::warn!("dashboard: failed login for user '{}'", user.escape_default());
            return Err(LoginError::Wrong);
        }
        let token = fresh_token().map_err(|_| LoginError::Busy)?;
        let mut sessions = self.sessions();
        sessions.retain(|_, s| s.expires_ms > now_ms);
        while sessions.len() >= MAX_SESSIONS {
            let soonest = sessions.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| k.clone());
            let Some(soonest) = soonest else { break };
            sessions.remove(&soonest);
        }
        sessions.insert(
            hex(&sha256(token.as_bytes())),
            Session { login, expires_ms: now_ms.saturating_add(ttl_ms()) },
        );
        Ok(token)
    }

    /// Ends the session of `cookie_header`, if any.
    pub fn log_out(&self, cookie_header: Option<&str>) {
        if let Some(token) = cookie_header.and_then(token_of) {
            self.sessions().remove(&hex(&sha256(token.as_bytes())));
        }
    }

    /// Sessions open now (expired ones included until they are swept).
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }
}

/// [`SESSION_TTL`] in milliseconds.
fn ttl_ms() -> u64 {
    u64::try_from(SESSION_TTL.as_millis()).unwrap_or(u64::MAX)
}

/// The `Set-Cookie` value for `token`.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.as_secs())
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session token in a `Cookie` header.
fn token_of(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// 32 bytes from the OS, as hex.
fn fresh_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexo_session::auth::{Broker, Name, Op, Password, User};

    fn security() -> Security {
        let mut reader = User::new("reader");
        reader.enabled = true;
        reader.passwords.push(Password::from_stored(&hex(&sha256(b"pw"))).unwrap());
        reader.rules.brokers.add_broker(Broker::Store);
        reader.rules.ops.add_op(Op::Read);
        reader.rules.keys.push(nexo_session::auth::NamePattern::new("pub:*", true, false).unwrap());
        Security::new(Arc::new(Auth::new(vec![reader], false, 1)), false)
    }

    #[tokio::test]
    async fn a_session_cookie_opens_the_api_and_permissions_apply() {
        let sec = security();
        let now = 1_000u64;
        assert!(sec.required());
        assert_eq!(sec.access(None, None, now), Access::NoSession);
        assert_eq!(sec.access(Some("nexo_session=forged"), None, now), Access::NoSession);
        assert_eq!(sec.log_in("reader", "nope", now).await, Err(LoginError::Wrong));
        assert_eq!(sec.log_in("ghost", "pw", now).await, Err(LoginError::Wrong));
        let token = sec.log_in("reader", "pw", now).await.unwrap();
        assert_eq!(token.len(), 64);
        let cookie = format!("theme=dark; {COOKIE}={token}");
        assert_eq!(sec.access(Some(&cookie), None, now), Access::Allowed);
        let public = Need::new(Broker::Store, &[Op::Read]).on([Name::Exact(b"pub:1")]);
        let secret = Need::new(Broker::Store, &[Op::Read]).on([Name::Exact(b"secret")]);
        assert_eq!(sec.access(Some(&cookie), Some(&public), now), Access::Allowed);
        assert!(
            matches!(sec.access(Some(&cookie), Some(&secret), now), Access::Denied(t) if t.contains("store:read"))
        );
        assert_eq!(sec.access(Some(&cookie), None, now + ttl_ms()), Access::NoSession, "expired");
        assert_eq!(sec.session_count(), 0);
    }

    #[tokio::test]
    async fn the_table_is_bounded_and_logout_ends_a_session() {
        let sec = security();
        let now = 1_000u64;
        let mut last = String::new();
        for i in 0..(MAX_SESSIONS as u64 + 5) {
            last = sec.log_in("reader", "pw", now + i).await.unwrap();
        }
        assert_eq!(sec.session_count(), MAX_SESSIONS);
        let cookie = format!("{COOKIE}={last}");
        assert_eq!(sec.access(Some(&cookie), None, now), Access::Allowed);
        sec.log_out(Some(&cookie));
        assert_eq!(sec.access(Some(&cookie), None, now), Access::NoSession);
    }

    #[test]
    fn with_no_password_everything_is_open() {
        let sec = Security::new(Arc::new(Auth::default()), false);
        assert!(!sec.required());
        assert_eq!(sec.access(None, None, 0), Access::Allowed);
        assert!(set_cookie("t").contains("HttpOnly; SameSite=Strict"));
    }
}
