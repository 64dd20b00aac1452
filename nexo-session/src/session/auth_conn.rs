//! A session's authentication hooks: protected mode from the peer address, v1's AUTH
//! extension (`0x01`), NOAUTH and NOPERM on v1 requests, and the password checks handed to the
//! host ([`Session::poll_verify`]) and answered back ([`Session::handle_verified`]).
//!
//! RESP's side (AUTH, HELLO AUTH, ACL, NOPERM texts) is `resp::session::auth`; a RESP
//! connection takes this session's [`Login`] when it is detected.

use std::collections::VecDeque;
use std::net::IpAddr;

use bytes::{Bytes, BytesMut};
use nexo_proto::frame::{FrameType, split_frame};
use nexo_proto::primitives::Fields;
use nexo_proto::resp::encode as enc;
use nexo_proto::{FrameHeader, Reply};

use super::{CloseWhy, Phase, Proto, REFUSE_WAIT_MS, Session};
use crate::Item;
use crate::auth::{self, Begin, Login, Refusal, Verdict, VerifyJob, needs};

/// v1's AUTH opcode (connection level, beside ECHO `0x00`): payload `str user`, `rest password`.
pub const V1_AUTH: u8 = 0x01;

/// Authentication state of one session.
#[derive(Debug)]
pub(super) struct ConnAuth {
    /// v1's login (a RESP connection takes it).
    login: Option<Login>,
    /// Protected mode refused this peer.
    denied: bool,
    /// Password checks for the host, oldest first.
    pub(super) jobs: VecDeque<VerifyJob>,
    /// The v1 AUTH request waiting for its verdict.
    v1_pending: Option<u32>,
}

impl ConnAuth {
    pub(super) fn new(ctx: &crate::SessionContext) -> Self {
        Self {
            login: Some(Login::new(ctx.auth().clone())),
            denied: false,
            jobs: VecDeque::new(),
            v1_pending: None,
        }
    }
}

/// What the v1 AUTH hook did with the buffer.
pub(super) enum Gate {
    /// Not an AUTH frame: decode as usual.
    Pass,
    /// A password check is out, or the frame is incomplete: stop decoding.
    Stall,
    /// An AUTH frame was handled.
    Done,
}

impl Session {
    /// The peer's address, right after accepting: protected mode refuses a non-loopback peer
    /// of a server listening beyond loopback whose default user has no password.
    pub fn set_peer(&mut self, peer: IpAddr, now_ms: u64) {
        if matches!(self.phase, Phase::Open) && self.ctx.auth().denies_peer(peer) {
            self.auth.denied = true;
            self.phase = Phase::Refusing { deadline_ms: now_ms + REFUSE_WAIT_MS };
        }
    }

    /// The next password check the host should run off the network thread; its verdict goes
    /// to [`Session::handle_verified`].
    #[must_use]
    pub fn poll_verify(&mut self) -> Option<VerifyJob> {
        self.auth.jobs.pop_front()
    }

    /// A password check's verdict (from the host's pool).
    pub fn handle_verified(&mut self, now_ms: u64, verdict: &Verdict) {
        let close = match &mut self.proto {
            Proto::Resp(resp) => match resp.session.handle_verified(verdict) {
                Some((id, reply, close)) => {
                    resp.outbound.handle_reply(id, &reply);
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.release_resp();
                    close
                }
                None => false,
            },
            _ => self.v1_verified(verdict),
        };
        if close && matches!(self.phase, Phase::Open) {
            self.begin_close(now_ms, CloseWhy::Protocol);
        }
        self.track_output();
        self.settle();
    }

    fn v1_verified(&mut self, verdict: &Verdict) -> bool {
        let (Some(id), Some(login)) = (self.auth.v1_pending, self.auth.login.as_mut()) else { return false };
        let Some(ok) = login.finish(verdict) else { return false };
        self.auth.v1_pending = None;
        self.in_flight = self.in_flight.saturating_sub(1);
        let reply = match (ok, verdict.busy()) {
            (true, _) => Reply::Ok,
            (false, true) => Reply::Err(auth::BUSY.into()),
            (false, false) => Reply::Err(auth::WRONGPASS.into()),
        };
        self.out.push_reply(id, &reply);
        login.too_many_failures()
    }

    /// Whether a password check is out (the session decodes nothing more until it is back).
    pub(super) fn login_pending(&self) -> bool {
        match &self.proto {
            Proto::Resp(resp) => resp.session.auth_pending(),
            _ => self.auth.v1_pending.is_some(),
        }
    }

    /// Gives the v1 login to a RESP connection just detected.
    pub(super) fn hand_login_to_resp(&mut self) {
        if let (Proto::Resp(resp), Some(login)) = (&mut self.proto, self.auth.login.take()) {
            resp.session.set_login(login);
        }
    }

    /// Protected mode's refusal instead of the connection limit's; `false` when not denied.
    pub(super) fn refuse_denied(&mut self, now_ms: u64, buf: &mut BytesMut) -> bool {
        if !self.auth.denied {
            return false;
        }
        if matches!(self.proto, Proto::Resp(_)) {
            let mut b = BytesMut::new();
            enc::error(&mut b, auth::DENIED);
            self.out.push_chunk(b.freeze(), 0);
        } else if let Some(header) = FrameHeader::peek(buf) {
            self.out.push_reply(header.id, &Reply::Err(auth::DENIED.into()));
        } else {
            return true;
        }
        buf.clear();
        self.begin_close(now_ms, CloseWhy::Refused);
        true
    }

    /// v1: handles an AUTH frame at the front of `buf`, or stalls while a check is out.
    pub(super) fn v1_gate(&mut self, buf: &mut BytesMut, max_frame: u32, now_ms: u64) -> Gate {
        if self.auth.v1_pending.is_some() {
            return Gate::Stall;
        }
        let Some(header) = FrameHeader::peek(buf) else { return Gate::Pass };
        if header.meta != V1_AUTH || header.frame_type != FrameType::Request.byte() {
            return Gate::Pass;
        }
        let frame = match split_frame(buf, max_frame) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Gate::Stall,
            Err(_) => return Gate::Pass, // oversized: the usual decoder answers and closes
        };
        let id = frame.header.id;
        let mut fields = Fields::new(&frame.payload);
        let Ok(user) = fields.str_bytes() else {
            self.out.push_reply(id, &Reply::Err("AUTH payload: str user, then the password".into()));
            return Gate::Done;
        };
        let user: Bytes = if user.is_empty() { Bytes::from_static(b"default") } else { user };
        let password = fields.rest();
        let Some(login) = self.auth.login.as_mut() else { return Gate::Done };
        match login.begin(&user, &password) {
            Begin::Done(true) => self.out.push_reply(id, &Reply::Ok),
            Begin::Done(false) => {
                self.out.push_reply(id, &Reply::Err(auth::WRONGPASS.into()));
                if login.too_many_failures() {
                    self.begin_close(now_ms, CloseWhy::Protocol);
                }
            }
            Begin::Verify(job) => {
                self.in_flight += 1;
                self.auth.v1_pending = Some(id);
                self.auth.jobs.push_back(job);
            }
        }
        Gate::Done
    }

    /// v1: NOAUTH before a login, NOPERM past the user's rules (the reply to send instead).
    pub(super) fn v1_refusal(&mut self, item: &Item) -> Option<(u32, Reply)> {
        let login = self.auth.login.as_mut()?;
        if login.unrestricted() {
            return None;
        }
        let id = match item {
            Item::Store { id, .. }
            | Item::PubSub { id, .. }
            | Item::Queue { id, .. }
            | Item::Stream { id, .. } => *id,
        };
        match login.check(needs::item_need(item).as_ref()) {
            Ok(()) => None,
            Err(Refusal::NoAuth) => Some((id, Reply::Err(auth::NOAUTH.into()))),
            Err(Refusal::Denied(denied)) => Some((id, Reply::Err(denied.v1_text()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use bytes::BufMut;
    use nexo_engine::{ConnId, Now};

    use super::*;
    use crate::auth::{Auth, Password, User, user::sha256};
    use crate::resp::{RespContext, RespSettings};
    use crate::{Limits, SessionContext};

    fn ctx(auth: Auth) -> Arc<SessionContext> {
        let resp = Arc::new(RespContext::new(RespSettings::for_tests()));
        Arc::new(SessionContext::new(Limits::new(1 << 20, 1 << 20), resp).with_auth(Arc::new(auth)))
    }

    fn guarded() -> Auth {
        let mut default = User::open_default();
        default.nopass = false;
        default.passwords.push(Password::Sha256(sha256(b"pw")));
        Auth::new(vec![default], true, 1)
    }

    fn feed(s: &mut Session, bytes: &[u8]) -> (Vec<Item>, String) {
        let mut buf = BytesMut::from(bytes);
        let mut items = Vec::new();
        s.handle_bytes(Now::at(0), &mut buf, &mut items);
        let mut out = Vec::new();
        let _ = s.write_to(&mut out);
        (items, String::from_utf8_lossy(&out).into_owned())
    }

    fn run_checks(s: &mut Session) {
        while let Some(job) = s.poll_verify() {
            s.handle_verified(0, &job.run());
        }
    }

    #[test]
    fn protected_mode_decides_from_the_peer_address() {
        let mut remote = Session::new(ctx(Auth::new(Vec::new(), true, 1)), ConnId(1), 0, false);
        remote.set_peer(IpAddr::V4(Ipv4Addr::new(192, 168, 7, 9)), 0);
        let (items, out) = feed(&mut remote, b"PING\r\n");
        assert!(items.is_empty());
        assert!(out.starts_with("-DENIED Redis is running in protected mode because"), "{out}");
        assert_eq!(remote.close_reason(), Some(CloseWhy::Refused));
        let mut v1 = Session::new(ctx(Auth::new(Vec::new(), true, 1)), ConnId(2), 0, false);
        v1.set_peer("2001:db8::5".parse().unwrap(), 0);
        let mut frame = BytesMut::new();
        nexo_proto::Request::Echo(Bytes::from_static(b"x")).encode(7, &mut frame);
        let (_, out) = feed(&mut v1, &frame);
        assert!(out.contains("protected mode"), "{out}");
        let mut local = Session::new(ctx(Auth::new(Vec::new(), true, 1)), ConnId(3), 0, false);
        local.set_peer(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        assert_eq!(feed(&mut local, b"PING\r\n").1, "+PONG\r\n");
    }

    #[test]
    fn resp_needs_auth_then_runs_as_the_user() {
        let mut s = Session::new(ctx(guarded()), ConnId(1), 0, false);
        let (items, out) = feed(&mut s, b"GET k\r\n");
        assert!(items.is_empty());
        assert_eq!(out, "-NOAUTH Authentication required.\r\n");
        let (_, out) = feed(&mut s, b"AUTH nope\r\nGET k\r\n");
        assert_eq!(out, "");
        assert!(!s.may_read(), "nothing is read while the check is out");
        run_checks(&mut s);
        let mut out = Vec::new();
        let _ = s.write_to(&mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        let (_, out) = feed(&mut s, b"AUTH default pw\r\n");
        assert_eq!(out, "");
        run_checks(&mut s);
        let (items, _) = feed(&mut s, b"GET k\r\n");
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn v1_auth_opcode_and_noauth() {
        let mut s = Session::new(ctx(guarded()), ConnId(1), 0, false);
        let mut frame = BytesMut::new();
        nexo_proto::Request::Store(nexo_proto::request::StoreRequest::Get { key: Bytes::from_static(b"k") })
            .encode(1, &mut frame);
        let get = frame.clone();
        let (items, out) = feed(&mut s, &frame);
        assert!(items.is_empty() && out.contains("NOAUTH Authentication required."), "{out}");
        let mut auth = BytesMut::new();
        let payload = [&[0, 0, 0, 0][..], b"pw"].concat();
        auth.put_u8(FrameType::Request.byte());
        auth.put_u8(V1_AUTH);
        auth.put_u32(2);
        auth.put_u32(u32::try_from(payload.len()).unwrap());
        auth.extend_from_slice(&payload);
        let _ = feed(&mut s, &auth);
        run_checks(&mut s);
        let (items, _) = feed(&mut s, &get);
        assert_eq!(items.len(), 1, "authenticated as default");
    }

    #[test]
    fn ten_wrong_passwords_close_the_connection() {
        let mut s = Session::new(ctx(guarded()), ConnId(1), 0, false);
        for _ in 0..10 {
            let _ = feed(&mut s, b"AUTH bad\r\n");
            run_checks(&mut s);
        }
        let mut out = Vec::new();
        let _ = s.write_to(&mut out);
        assert!(s.close_reason().is_some());
    }
}
