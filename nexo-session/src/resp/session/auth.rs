//! AUTH, HELLO's AUTH option, ACL and the permission checks of a RESP session.
//!
//! Owns the RESP side of a connection's [`Login`]: NOAUTH before a login, NOPERM when a
//! request's need is past the user's rules, AUTH and `HELLO ... AUTH` (a password check is an
//! [`Action::Verify`] whose verdict comes back through [`RespSession::handle_verified`]; the
//! session parses nothing more until then, so later commands run as the new user), and
//! `ACL WHOAMI/CAT/USERS/LIST/GETUSER/SETUSER/DELUSER` on the shared directory. Redis's texts.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nexo_proto::Reply;
use nexo_proto::resp::Version;
use nexo_proto::resp::encode as enc;

use super::super::info;
use super::super::outbound::{Expect, Slot};
use super::RespSession;
use crate::auth::{self, Auth, Begin, Broker, Login, Need, Op, Refusal, Verdict, acl};
use crate::resp::Action;

/// HELLO without AUTH on a connection that must authenticate.
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol \
version at the same time";
/// AUTH with one argument while the default user has no password.
const NO_PASSWORD_SET: &str = "ERR AUTH <password> called without any password configured for the default \
user. Are you sure your configuration is correct?";

/// A RESP connection's authentication state.
#[derive(Debug, Default)]
pub(crate) struct RespAuth {
    /// `None` until the session is given one: then an open directory of its own.
    login: Option<Login>,
    /// The AUTH or HELLO waiting for its verdict: the slot id, and HELLO's version.
    pending: Option<(u32, Option<Version>)>,
    /// The command being handled (for NOPERM texts).
    command: &'static str,
}

impl RespAuth {
    /// A password check is out: parse nothing more.
    pub(crate) fn pending(&self) -> bool {
        self.pending.is_some()
    }
}

impl RespSession {
    /// Makes this session use `login` (the server's directory).
    pub fn set_login(&mut self, login: Login) {
        self.auth.login = Some(login);
    }

    /// A password check is out: nothing more is parsed until its verdict.
    pub fn auth_pending(&self) -> bool {
        self.auth.pending()
    }

    fn login(&mut self) -> &mut Login {
        self.auth.login.get_or_insert_with(|| Login::new(Arc::new(Auth::default())))
    }

    /// NOAUTH before a login except for AUTH, HELLO, QUIT and RESET; remembers the command.
    pub(super) fn admitted(&mut self, name: &'static str, rest: &[Bytes], out: &mut Vec<Action>) -> bool {
        self.auth.command = name;
        if self.login().authenticated() {
            return true;
        }
        let hello_with_auth = rest.iter().any(|a| a.eq_ignore_ascii_case(b"AUTH"));
        match name {
            "auth" | "quit" | "reset" => true,
            "hello" if hello_with_auth => true,
            "hello" => {
                self.error(out, HELLO_NOAUTH);
                false
            }
            _ => {
                self.error(out, auth::NOAUTH);
                false
            }
        }
    }

    /// Checks a request's need; answers NOPERM (or NOAUTH) and returns false when refused.
    pub(super) fn permitted(&mut self, need: Option<Need<'_>>, out: &mut Vec<Action>) -> bool {
        let command = self.auth.command;
        let login = self.login();
        if login.unrestricted() {
            return true;
        }
        let refusal = match login.check(need.as_ref()) {
            Ok(()) => return true,
            Err(Refusal::NoAuth) => auth::NOAUTH.to_owned(),
            Err(Refusal::Denied(denied)) => denied.resp_text(&login.user_name(), command),
        };
        self.error(out, &refusal);
        false
    }

    /// `AUTH [user] password`.
    pub(super) fn auth_command(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        let (user, password) = match rest {
            [password] => {
                if self.login().auth().user("default").is_some_and(|u| u.nopass) {
                    return self.error(out, NO_PASSWORD_SET);
                }
                (Bytes::from_static(b"default"), password.clone())
            }
            [user, password] => (user.clone(), password.clone()),
            _ => return self.error(out, super::super::commands::SYNTAX),
        };
        self.log_in(&user, &password, None, out);
    }

    /// `HELLO <version> AUTH user pass`: the HELLO reply once the password checks out.
    pub(super) fn hello_auth(&mut self, version: Version, user: &Bytes, pass: &Bytes, out: &mut Vec<Action>) {
        self.log_in(user, pass, Some(version), out);
    }

    fn log_in(&mut self, user: &[u8], password: &[u8], hello: Option<Version>, out: &mut Vec<Action>) {
        match self.login().begin(user, password) {
            Begin::Done(true) => {
                if let Some(version) = hello {
                    self.version = version;
                    let mut b = BytesMut::new();
                    info::hello(&mut b, version, self.conn.0);
                    return self.local(out, b);
                }
                self.simple(out, "OK");
            }
            Begin::Done(false) => {
                self.error(out, auth::WRONGPASS);
                if self.login().too_many_failures() {
                    self.close(out);
                }
            }
            Begin::Verify(job) => {
                let id = self.next_id();
                let expect = match hello {
                    Some(version) => {
                        let mut b = BytesMut::new();
                        info::hello(&mut b, version, self.conn.0);
                        Expect::Local(b.freeze())
                    }
                    None => Expect::Ok,
                };
                out.push(Action::Slot(Slot { id: Some(id), expect, version: hello.unwrap_or(self.version) }));
                out.push(Action::Verify(job));
                self.auth.pending = Some((id, hello));
            }
        }
    }

    /// A verdict for this session's pending check: the slot id and its reply, and whether the
    /// connection must now close (ten failures in a row). `None` when it answers nothing here.
    pub fn handle_verified(&mut self, verdict: &Verdict) -> Option<(u32, Reply, bool)> {
        let (id, hello) = self.auth.pending?;
        let ok = self.login().finish(verdict)?;
        self.auth.pending = None;
        if ok {
            if let Some(version) = hello {
                self.version = version;
            }
            return Some((id, Reply::Ok, false));
        }
        let text = if verdict.busy() { auth::BUSY } else { auth::WRONGPASS };
        let close = self.login().too_many_failures();
        if close {
            self.closed = true;
        }
        Some((id, Reply::Err(text.into()), close))
    }

    /// `ACL <subcommand> ...`.
    pub(super) fn acl(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        let sub = rest[0].to_ascii_lowercase();
        let sub = String::from_utf8_lossy(&sub).into_owned();
        let mut b = BytesMut::new();
        match (sub.as_str(), rest.len()) {
            ("whoami", 1) => {
                let name = self.login().user_name();
                enc::bulk(&mut b, name.as_bytes());
            }
            ("cat", 1) => {
                enc::array(&mut b, Op::ALL.len());
                Op::ALL.iter().for_each(|op| enc::bulk(&mut b, op.name().as_bytes()));
            }
            ("cat", 2) => match Op::parse(&String::from_utf8_lossy(&rest[1])) {
                Some(_) => enc::array(&mut b, 0),
                None => {
                    let text = format!("ERR Unknown category '{}'", String::from_utf8_lossy(&rest[1]));
                    return self.error(out, &text);
                }
            },
            ("users" | "list", 1) | ("getuser", 2) | ("setuser", 2..) | ("deluser", 2..) => {
                if !self.acl_admin(&sub, out) {
                    return;
                }
                if let Err(e) = self.acl_admin_command(&sub, &rest[1..], &mut b) {
                    return self.error(out, &e);
                }
            }
            ("whoami" | "cat" | "users" | "list" | "getuser" | "setuser" | "deluser", _) => {
                return self.error(out, &super::super::commands::wrong_arity(&format!("acl|{sub}")));
            }
            _ => {
                let shown = String::from_utf8_lossy(&rest[0]);
                return self.error(out, &format!("ERR unknown subcommand '{shown}'. Try ACL HELP."));
            }
        }
        self.local(out, b);
    }

    fn acl_admin(&mut self, sub: &str, out: &mut Vec<Action>) -> bool {
        let need = Need::new(Broker::Admin, &[Op::Admin]);
        let login = self.login();
        if let Err(Refusal::Denied(_)) = login.check(Some(&need)) {
            let text = format!(
                "NOPERM User {} has no permissions to run the 'acl|{sub}' command",
                login.user_name()
            );
            self.error(out, &text);
            return false;
        }
        true
    }

    fn acl_admin_command(&mut self, sub: &str, args: &[Bytes], b: &mut BytesMut) -> Result<(), String> {
        let version = self.version;
        let directory = Arc::clone(self.login().auth());
        match sub {
            "users" => {
                let users = directory.users();
                enc::array(b, users.len());
                users.iter().for_each(|u| enc::bulk(b, u.name.as_bytes()));
            }
            "list" => {
                let users = directory.users();
                enc::array(b, users.len());
                users.iter().for_each(|u| enc::bulk(b, acl::list_line(u).as_bytes()));
            }
            "getuser" => match std::str::from_utf8(&args[0]).ok().and_then(|n| directory.user(n)) {
                Some(user) => getuser(b, &user, version),
                None => enc::null(b, version),
            },
            "setuser" => {
                let name = std::str::from_utf8(&args[0])
                    .ok()
                    .filter(|n| !n.is_empty() && n.len() <= auth::user::MAX_USER_BYTES && !n.contains(' '))
                    .ok_or("ERR Usernames can't contain spaces or null characters")?;
                let current = directory.user(name).map_or_else(|| auth::User::new(name), |u| (*u).clone());
                let rules: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
                let next = acl::apply_rules(&current, &rules, &mut || directory.next_salt())?;
                directory.set_user(next);
                enc::simple(b, "OK");
            }
            _ => {
                if args.iter().any(|a| &a[..] == b"default") {
                    return Err("ERR The 'default' user cannot be removed".into());
                }
                let names: Vec<String> =
                    args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                enc::integer(b, i64::try_from(directory.delete_users(&names)).unwrap_or(i64::MAX));
            }
        }
        Ok(())
    }
}

/// `ACL GETUSER`'s map: flags, passwords, commands, keys, channels, selectors.
fn getuser(b: &mut BytesMut, user: &auth::User, version: Version) {
    enc::map(b, 6, version);
    let mut flags = vec![if user.enabled { "on" } else { "off" }];
    if user.nopass {
        flags.push("nopass");
    }
    enc::bulk(b, b"flags");
    enc::array(b, flags.len());
    flags.iter().for_each(|f| enc::bulk(b, f.as_bytes()));
    enc::bulk(b, b"passwords");
    enc::array(b, user.passwords.len());
    user.passwords.iter().for_each(|p| enc::bulk(b, p.shown().trim_start_matches('#').as_bytes()));
    enc::bulk(b, b"commands");
    enc::bulk(b, acl::commands_text(&user.rules).as_bytes());
    enc::bulk(b, b"keys");
    enc::bulk(b, acl::patterns_text(&user.rules.keys, '~').as_bytes());
    enc::bulk(b, b"channels");
    enc::bulk(b, acl::patterns_text(&user.rules.channels, '&').as_bytes());
    enc::bulk(b, b"selectors");
    enc::array(b, 0);
}
