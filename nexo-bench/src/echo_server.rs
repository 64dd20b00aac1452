//! `nexo-bench echo-server`: the smallest v1 server that answers ECHO (one thread, mio).
//!
//! It exists to measure the client: `nexo-bench echo` against it shows how many requests per
//! second the load generator itself can drive on this machine, so a server figure near that
//! ceiling is known to be client-bound. Every request frame is answered `DATA` with its own
//! payload, whatever its opcode; nothing else is implemented.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use bytes::{Buf, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use nexo_proto::frame::{FrameType, split_frame, write_frame};
use nexo_proto::reply::status;

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

/// Answers every complete request frame in `rbuf` with a DATA echo into `wbuf`.
pub fn answer_all(rbuf: &mut BytesMut, wbuf: &mut BytesMut) {
    while let Ok(Some(frame)) = split_frame(rbuf, u32::MAX) {
        if frame.header.frame_type == FrameType::Request.byte() {
            // The echoed payload came in a frame, so it fits one going out.
            let _fits = write_frame(wbuf, FrameType::Response, status::DATA, frame.header.id, |b| {
                b.extend_from_slice(&frame.payload)
            });
        }
    }
}

/// Serves until killed; prints `nexo-bench echo-server v1=<addr>` once listening.
pub fn run(bind: &str, port: u16) -> ExitCode {
    match serve(bind, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nexo-bench echo-server: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(bind: &str, port: u16) -> io::Result<()> {
    let addr = crate::resolve(bind, port).map_err(io::Error::other)?;
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("nexo-bench echo-server v1={}", listener.local_addr()?);
    let _ = io::stdout().flush();
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 256 * 1024];
    loop {
        if let Err(e) = poll.poll(&mut events, None)
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(e);
        }
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    poll.registry().register(
                        &mut stream,
                        Token(next),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.insert(next, Conn { stream, rbuf: BytesMut::new(), wbuf: BytesMut::new() });
                    next += 1;
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(&key) else { continue };
            if !drive(conn, &mut scratch) {
                let _ = poll.registry().deregister(&mut conn.stream);
                conns.remove(&key);
            }
        }
    }
}

/// Reads, answers and writes; `false` when the connection is finished.
fn drive(conn: &mut Conn, scratch: &mut [u8]) -> bool {
    loop {
        match conn.stream.read(scratch) {
            Ok(0) => return false,
            Ok(n) => {
                conn.rbuf.extend_from_slice(&scratch[..n]);
                if n < scratch.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    answer_all(&mut conn.rbuf, &mut conn.wbuf);
    while !conn.wbuf.is_empty() {
        match conn.stream.write(&conn.wbuf) {
            Ok(0) => return false,
            Ok(n) => conn.wbuf.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use nexo_proto::{Reply, ReplyKind, Request};

    use super::*;

    #[test]
    fn answers_each_whole_request_and_keeps_the_rest() {
        let mut rbuf = BytesMut::new();
        Request::Echo(bytes::Bytes::from_static(b"hi")).encode(7, &mut rbuf);
        Request::Echo(bytes::Bytes::from_static(b"yo")).encode(8, &mut rbuf);
        rbuf.truncate(rbuf.len() - 1);
        let mut wbuf = BytesMut::new();
        answer_all(&mut rbuf, &mut wbuf);
        let frame = split_frame(&mut wbuf, u32::MAX).unwrap().unwrap();
        assert_eq!(frame.header.id, 7);
        let reply = Reply::decode(frame.header.meta, &frame.payload, ReplyKind::Data).unwrap();
        assert_eq!(reply, Reply::Data(bytes::Bytes::from_static(b"hi")));
        assert!(wbuf.is_empty(), "the partial second frame is not answered yet");
        assert_eq!(rbuf.len(), 11);
    }
}
