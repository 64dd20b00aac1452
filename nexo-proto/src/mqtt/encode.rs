//! Encoding MQTT packets into a caller's buffer. Each body is written by one generic function,
//! run first into a byte counter (for the Remaining Length) and then into the buffer, so sizes
//! and bytes cannot disagree and nothing is moved after writing.

use bytes::BytesMut;

use super::props::Properties;
use super::wire::{Counter, Sink};
use super::{Connect, Packet, PubResp, Publish, QoS, ReasonCode, Version, Will};

impl Packet {
    /// Appends the packet, encoded for `version`, to `out`. Fields 3.1.1 lacks (properties,
    /// most reason codes) are not written for it.
    pub fn encode(&self, version: Version, out: &mut BytesMut) {
        let body_len = self.body_len(version);
        out.reserve(1 + 4 + body_len);
        out.byte(self.first_byte());
        out.varint(body_len as u32);
        self.body(version, out);
    }

    /// The whole packet's size once encoded for `version` (to check a peer's maximum).
    pub fn encoded_len(&self, version: Version) -> usize {
        let body_len = self.body_len(version);
        1 + super::varint_len(body_len as u32) + body_len
    }

    fn body_len(&self, version: Version) -> usize {
        let mut counter = Counter::default();
        self.body(version, &mut counter);
        counter.0
    }

    fn first_byte(&self) -> u8 {
        let kind = self.packet_type();
        let flags = match self {
            Self::Publish(p) => u8::from(p.dup) << 3 | p.qos.bits() << 1 | u8::from(p.retain),
            _ => kind.required_flags(),
        };
        (kind as u8) << 4 | flags
    }

    fn body(&self, version: Version, out: &mut impl Sink) {
        let v5 = version.is_v5();
        match self {
            Self::Connect(c) => connect(c, out),
            Self::ConnAck(c) => {
                out.byte(u8::from(c.session_present));
                out.byte(c.code.0);
                props(&c.properties, v5, out);
            }
            Self::Publish(p) => publish(p, v5, out),
            Self::PubAck(r) | Self::PubRec(r) | Self::PubRel(r) | Self::PubComp(r) => pub_resp(r, v5, out),
            Self::Subscribe(s) => {
                out.u16(s.packet_id);
                props(&s.properties, v5, out);
                for (filter, o) in &s.filters {
                    out.utf8(filter);
                    let rh = o.retain_handling as u8;
                    let nl = u8::from(o.no_local) << 2;
                    out.byte(o.qos.bits() | nl | u8::from(o.retain_as_published) << 3 | rh << 4);
                }
            }
            Self::SubAck(s) => {
                out.u16(s.packet_id);
                props(&s.properties, v5, out);
                s.codes.iter().for_each(|c| out.byte(c.0));
            }
            Self::Unsubscribe(u) => {
                out.u16(u.packet_id);
                props(&u.properties, v5, out);
                u.filters.iter().for_each(|f| out.utf8(f));
            }
            Self::UnsubAck(u) => {
                out.u16(u.packet_id);
                if v5 {
                    u.properties.encode(out);
                    u.codes.iter().for_each(|c| out.byte(c.0));
                }
            }
            Self::PingReq | Self::PingResp => {}
            Self::Disconnect(d) => reason_and_props(d.code, &d.properties, v5, out),
            Self::Auth(a) => reason_and_props(a.code, &a.properties, v5, out),
        }
    }
}

fn props(properties: &Properties, v5: bool, out: &mut impl Sink) {
    if v5 {
        properties.encode(out);
    }
}

fn connect(c: &Connect, out: &mut impl Sink) {
    let v5 = c.version.is_v5();
    out.utf8("MQTT");
    out.byte(c.version.level());
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        flags |= 0x04 | w.qos.bits() << 3 | u8::from(w.retain) << 5;
    }
    flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
    out.byte(flags);
    out.u16(c.keep_alive_s);
    props(&c.properties, v5, out);
    out.utf8(&c.client_id);
    if let Some(w) = &c.will {
        will(w, v5, out);
    }
    if let Some(user) = &c.username {
        out.utf8(user);
    }
    if let Some(password) = &c.password {
        out.binary(password);
    }
}

fn will(w: &Will, v5: bool, out: &mut impl Sink) {
    props(&w.properties, v5, out);
    out.utf8(&w.topic);
    out.binary(&w.payload);
}

fn publish(p: &Publish, v5: bool, out: &mut impl Sink) {
    out.utf8(&p.topic);
    if p.qos != QoS::AtMostOnce {
        out.u16(p.packet_id);
    }
    props(&p.properties, v5, out);
    out.put(&p.payload);
}

fn pub_resp(r: &PubResp, v5: bool, out: &mut impl Sink) {
    out.u16(r.packet_id);
    reason_and_props(r.code, &r.properties, v5, out);
}

/// MQTT 5's optional reason code and properties: left out when they say "success, nothing else".
fn reason_and_props(code: ReasonCode, properties: &Properties, v5: bool, out: &mut impl Sink) {
    if !v5 {
        return;
    }
    let no_props = *properties == Properties::default();
    if code == ReasonCode::SUCCESS && no_props {
        return;
    }
    out.byte(code.0);
    if !no_props {
        properties.encode(out);
    }
}
