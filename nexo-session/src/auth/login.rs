//! One connection's authentication state: the user it acts as (re-read whenever the directory
//! changes), its failed AUTHs in a row and the password check it may be waiting for.

use std::sync::Arc;

use super::rules::{Denied, Need, Rules};
use super::user::{MAX_PASSWORD_BYTES, MAX_USER_BYTES, User, sha256};
use super::verify::{Verdict, VerifyJob};
use super::{Auth, MAX_FAILURES};

/// Why a request may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not authenticated.
    NoAuth,
    /// Authenticated, but not allowed.
    Denied(Denied),
}

/// What starting a login gave.
#[derive(Debug)]
pub enum Begin {
    /// Decided at once (a `nopass` user, a cached pair, bad input): logged in or not.
    Done(bool),
    /// Run this job and hand its verdict to [`Login::finish`].
    Verify(VerifyJob),
}

/// A connection's authentication state.
#[derive(Debug)]
pub struct Login {
    auth: Arc<Auth>,
    user: Option<Arc<User>>,
    generation: u64,
    /// The user may do everything: checks are skipped.
    unrestricted: bool,
    failures: u32,
    pending: Option<u64>,
    next_token: u64,
}

impl Login {
    /// A fresh connection: logged in as `default` when that user is open.
    pub fn new(auth: Arc<Auth>) -> Self {
        let generation = auth.generation();
        let user = auth.user("default").filter(|u| u.is_open());
        let mut login =
            Self { auth, user, generation, unrestricted: false, failures: 0, pending: None, next_token: 1 };
        login.unrestricted = login.user.as_ref().is_some_and(|u| u.rules == Rules::all());
        login
    }

    /// The shared directory.
    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    /// Re-reads the user after a directory change (a removed or disabled user is logged out).
    fn refresh(&mut self) {
        let generation = self.auth.generation();
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        self.user = self.user.as_ref().and_then(|u| self.auth.user(&u.name)).filter(|u| u.enabled);
        self.unrestricted = self.user.as_ref().is_some_and(|u| u.rules == Rules::all());
    }

    /// The user this connection acts as, if authenticated.
    pub fn user(&mut self) -> Option<&Arc<User>> {
        self.refresh();
        self.user.as_ref()
    }

    /// The user name for replies (`default` before any login).
    pub fn user_name(&mut self) -> String {
        self.user().map_or_else(|| "default".to_owned(), |u| u.name.clone())
    }

    /// Logged in as a user who may do everything (checks can be skipped).
    pub fn unrestricted(&mut self) -> bool {
        self.refresh();
        self.user.is_some() && self.unrestricted
    }

    /// Whether the connection may run requests at all.
    pub fn authenticated(&mut self) -> bool {
        self.user().is_some()
    }

    /// Checks one request's need (`None`: it needs nothing but a login).
    ///
    /// # Errors
    /// [`Refusal::NoAuth`] before a login, [`Refusal::Denied`] past the user's rules.
    pub fn check(&mut self, need: Option<&Need<'_>>) -> Result<(), Refusal> {
        self.refresh();
        let Some(user) = &self.user else { return Err(Refusal::NoAuth) };
        match need {
            Some(need) if !self.unrestricted => user.rules.check(need).map_err(Refusal::Denied),
            _ => Ok(()),
        }
    }

    /// Whether a password check is waiting (the session reads nothing more until it is back).
    pub fn pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts logging in as `user` with `password`.
    pub fn begin(&mut self, user: &[u8], password: &[u8]) -> Begin {
        let name = match std::str::from_utf8(user) {
            Ok(name) if name.len() <= MAX_USER_BYTES && password.len() <= MAX_PASSWORD_BYTES => name,
            _ => return Begin::Done(self.settle(None)),
        };
        let found = self.auth.user(name);
        if let Some(found) = found.as_ref().filter(|u| u.is_open()) {
            return Begin::Done(self.settle(Some(Arc::clone(found))));
        }
        let digest = sha256(password);
        if let Some(found) = found.as_ref().filter(|u| u.enabled && self.auth.cached(name, &digest)) {
            return Begin::Done(self.settle(Some(Arc::clone(found))));
        }
        let token = self.next_token;
        self.next_token += 1;
        self.pending = Some(token);
        let (passwords, refuse) = match &found {
            Some(u) => (u.passwords.clone(), !u.enabled),
            None => (Vec::new(), true),
        };
        Begin::Verify(VerifyJob::new(token, name, password, passwords, refuse))
    }

    /// A verdict came back; `Some(logged_in)` when it answers this login's pending check.
    pub fn finish(&mut self, verdict: &Verdict) -> Option<bool> {
        if self.pending != Some(verdict.token) {
            return None;
        }
        self.pending = None;
        if verdict.busy() {
            return Some(false);
        }
        let user = verdict.ok().then(|| self.auth.user(verdict.user())).flatten().filter(|u| u.enabled);
        if user.is_some() {
            self.auth.remember(verdict.user(), verdict.digest);
        }
        Some(self.settle(user))
    }

    fn settle(&mut self, user: Option<Arc<User>>) -> bool {
        let Some(user) = user else {
            self.failures += 1;
            self.auth.count_failed();
            return false;
        };
        self.failures = 0;
        self.generation = self.auth.generation();
        self.unrestricted = user.rules == Rules::all();
        self.user = Some(user);
        true
    }

    /// Ten failed AUTHs in a row: the connection should close.
    pub fn too_many_failures(&self) -> bool {
        self.failures >= MAX_FAILURES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rules::{Broker, Name, NamePattern, Op};
    use crate::auth::user::Password;

    fn directory() -> Arc<Auth> {
        let mut default = User::open_default();
        default.nopass = false;
        default.passwords.push(Password::Sha256(sha256(b"root")));
        let mut app = User::new("app");
        app.enabled = true;
        app.passwords.push(Password::Sha256(sha256(b"apppw")));
        app.rules.brokers.add_broker(Broker::Store);
        app.rules.ops.add_op(Op::Read);
        app.rules.keys.push(NamePattern::new("app:*", true, true).unwrap());
        Arc::new(Auth::new(vec![default, app], false, 7))
    }

    fn verify(login: &mut Login, user: &[u8], pw: &[u8]) -> bool {
        match login.begin(user, pw) {
            Begin::Done(ok) => ok,
            Begin::Verify(job) => {
                assert!(login.pending());
                login.finish(&job.run()).unwrap()
            }
        }
    }

    #[test]
    fn login_then_rules_apply_and_cache_skips_the_kdf() {
        let auth = directory();
        let mut login = Login::new(Arc::clone(&auth));
        let get = Need::new(Broker::Store, &[Op::Read]).on([Name::Exact(b"app:1")]);
        assert_eq!(login.check(Some(&get)), Err(Refusal::NoAuth));
        assert!(!verify(&mut login, b"app", b"nope"));
        assert!(!verify(&mut login, b"ghost", b"apppw"));
        assert!(!verify(&mut login, &[0xff], b"apppw"));
        assert_eq!(auth.failed_logins(), 3);
        assert!(verify(&mut login, b"app", b"apppw"));
        assert_eq!(login.check(Some(&get)), Ok(()));
        let set = Need::new(Broker::Store, &[Op::Write]).on([Name::Exact(b"app:1")]);
        assert!(matches!(login.check(Some(&set)), Err(Refusal::Denied(_))));
        let mut again = Login::new(Arc::clone(&auth));
        assert!(matches!(again.begin(b"app", b"apppw"), Begin::Done(true)), "cached");
        auth.delete_users(&["app"]);
        assert_eq!(login.check(Some(&get)), Err(Refusal::NoAuth), "a deleted user is logged out");
    }

    #[test]
    fn ten_failures_in_a_row() {
        let mut login = Login::new(directory());
        for _ in 0..9 {
            assert!(!verify(&mut login, b"default", b"bad"));
        }
        assert!(!login.too_many_failures());
        assert!(!verify(&mut login, b"default", b"bad"));
        assert!(login.too_many_failures());
        let open = Login::new(Arc::new(Auth::default()));
        assert!(open.user.is_some() && open.unrestricted);
    }
}
