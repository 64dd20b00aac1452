//! The refusal of a connection over `--max-connections`, as the v1 reference specifies it.
//!
//! Wait at most one second for the first frame header; if one arrives, answer ERR
//! `Too many connections` with its id (a RESP client gets `-ERR max number of clients reached`),
//! then close; close silently if nothing (or anything else) arrived. This module owns only that
//! exchange; how many refusals may run at once is decided by the accept loop.

use std::time::Duration;

use bytes::BytesMut;
use nexo_proto::{FrameHeader, HEADER_LEN, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connection::drain_input;

/// How long a refused connection may take to send its first frame header.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(1);

/// Refuses `stream` and closes it.
pub async fn refuse(mut stream: TcpStream) {
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    let complete = tokio::time::timeout(FIRST_FRAME_WAIT, async {
        while got < HEADER_LEN {
            match stream.read(&mut head[got..]).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => got += n,
            }
            if head[0] > 0x1F {
                // Not v1: only the first byte matters.
                return true;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if !complete {
        return;
    }
    let mut out = BytesMut::new();
    match head[0] {
        0x00..=0x1F => {
            let Some(header) = FrameHeader::peek(&head) else { return };
            Reply::Err("Too many connections".into()).encode(header.id, &mut out);
        }
        b'*' | b'A'..=b'Z' | b'a'..=b'z' => out.extend_from_slice(b"-ERR max number of clients reached\r\n"),
        _ => return,
    }
    if stream.write_all(&out).await.is_ok() && stream.shutdown().await.is_ok() {
        drain_input(&mut stream).await;
    }
}
