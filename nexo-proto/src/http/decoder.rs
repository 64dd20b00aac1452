//! The per-connection request decoder: a head, then its body, then the next request.

use bytes::{Buf, Bytes, BytesMut};

use super::chunked::ChunkedBody;
use super::head::{BodyFraming, Head, parse_head};
use super::{HttpError, HttpLimits, HttpRequest};

#[derive(Debug)]
enum State {
    /// Waiting for a request head.
    Head,
    /// Head parsed; waiting for a body of known length.
    Length(Head, usize),
    /// Head parsed; de-framing a chunked body.
    Chunked(Head, ChunkedBody),
    /// An error was returned; the stream is not framed any further.
    Failed(HttpError),
}

/// Decodes the requests of one connection from its read buffer.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: HttpLimits,
    state: State,
    continue_due: bool,
}

impl RequestDecoder {
    /// A decoder with these limits.
    pub fn new(limits: HttpLimits) -> Self {
        Self { limits, state: State::Head, continue_due: false }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Whether a request head asked for `100 Continue` and its body has not started: the caller
    /// writes [`super::encode_continue`] once. Reading it clears it.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_due)
    }

    /// Whether bytes of a request have been taken but the request is not complete yet (a
    /// connection closing now cut a request short).
    pub fn is_mid_request(&self) -> bool {
        !matches!(self.state, State::Head)
    }

    /// Takes the next complete request from `buf`, consuming its bytes; `Ok(None)` means more
    /// bytes are needed (partial bodies are consumed into the decoder, heads are not).
    ///
    /// # Errors
    /// An [`HttpError`] when the stream cannot be framed; every later call returns it again.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<HttpRequest>, HttpError> {
        let result = self.step(buf);
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<HttpRequest>, HttpError> {
        loop {
            match std::mem::replace(&mut self.state, State::Head) {
                State::Failed(e) => return Err(e),
                State::Head => {
                    let Some((used, head)) = parse_head(buf, &self.limits)? else { return Ok(None) };
                    buf.advance(used);
                    self.continue_due = head.expects_continue;
                    self.state = match head.framing {
                        BodyFraming::Length(n) => State::Length(head, n),
                        BodyFraming::Chunked => State::Chunked(head, ChunkedBody::new()),
                    };
                }
                State::Length(head, n) if buf.len() < n => {
                    self.state = State::Length(head, n);
                    return Ok(None);
                }
                State::Length(head, n) => return Ok(Some(self.finish(head, buf.split_to(n).freeze()))),
                State::Chunked(head, mut chunks) => match chunks.advance(buf, &self.limits)? {
                    Some(body) => return Ok(Some(self.finish(head, body.freeze()))),
                    None => {
                        self.state = State::Chunked(head, chunks);
                        return Ok(None);
                    }
                },
            }
        }
    }

    fn finish(&mut self, head: Head, body: Bytes) -> HttpRequest {
        self.continue_due = false;
        HttpRequest { body, ..head.request }
    }
}
