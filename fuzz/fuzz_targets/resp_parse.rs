//! Fuzzes the RESP request parser, `nexo_proto::resp::decode_command`.
//!
//! Input layout: byte 0 picks a small bulk limit, byte 1 seeds how the rest is cut into chunks,
//! the remaining bytes are the wire. The wire is fed chunk by chunk, draining complete commands
//! after every chunk, as a server does after each read. Checked:
//! - no panic;
//! - an incomplete command never keeps more than the command limit buffered;
//! - chunked parsing gives exactly what parsing the whole wire at once gives (commands, then the
//!   same protocol error or none);
//! - every parsed command has at least one argument, each within the bulk limit;
//! - re-encoding the commands as multi-bulk arrays parses back to the same commands.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use nexo_proto::resp::{Args, RespError, RespLimits, decode_command};

/// Largest chunk fed at once.
const MAX_CHUNK: usize = 97;

/// Parses every complete command in `buf`; `Err` once the stream cannot be framed.
fn drain(buf: &mut BytesMut, limits: &RespLimits, out: &mut Vec<Args>) -> Result<(), RespError> {
    loop {
        match decode_command(buf, limits)? {
            Some(args) => {
                assert!(!args.is_empty(), "an empty command is skipped, never returned");
                assert!(args.iter().all(|a| a.len() <= limits.max_bulk_bytes.max(64 * 1024)));
                out.push(args);
            }
            None => {
                assert!(buf.len() <= limits.max_command_bytes, "buffered past the command limit");
                return Ok(());
            }
        }
    }
}

fn encode(commands: &[Args]) -> Vec<u8> {
    let mut wire = Vec::new();
    for args in commands {
        wire.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            wire.extend_from_slice(a);
            wire.extend_from_slice(b"\r\n");
        }
    }
    wire
}

fuzz_target!(|data: &[u8]| {
    let [limit, seed, wire @ ..] = data else { return };
    let max_bulk_bytes = usize::from(*limit) * 4;
    let limits = RespLimits { max_bulk_bytes, max_command_bytes: max_bulk_bytes + 256 };

    let mut whole = BytesMut::from(wire);
    let mut expected = Vec::new();
    let whole_result = drain(&mut whole, &limits, &mut expected);

    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut chunked_result = Ok(());
    let mut state = u32::from(*seed) | 1;
    let mut rest = wire;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (state as usize >> 16) % MAX_CHUNK + 1;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        chunked_result = drain(&mut buf, &limits, &mut got);
        if chunked_result.is_err() {
            break;
        }
    }
    // A command-too-big verdict depends on how much was buffered when it was made, so only
    // framing errors must agree exactly.
    if !matches!(whole_result, Err(RespError::CommandTooBig))
        && !matches!(chunked_result, Err(RespError::CommandTooBig))
    {
        assert_eq!(got, expected, "chunked parsing differs from whole parsing");
        assert_eq!(chunked_result, whole_result);
    }

    let reencoded = encode(&expected);
    let mut again = BytesMut::from(&reencoded[..]);
    let mut back = Vec::new();
    let big = RespLimits { max_bulk_bytes: usize::MAX / 4, max_command_bytes: usize::MAX / 2 };
    drain(&mut again, &big, &mut back).expect("re-encoded commands parse");
    assert_eq!(back, expected);
    let _: Vec<Bytes> = back.into_iter().flatten().collect();
});
