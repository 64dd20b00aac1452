//! The incremental RESP2 request parser: multi-bulk arrays of bulk strings and inline commands.
//!
//! Owns framing of one command at a time from a connection's read buffer and the limits that keep
//! it bounded; it never interprets a command. `Ok(None)` means "need more bytes" (nothing is
//! consumed then); an [`RespError`] means the stream cannot be framed any further: the caller
//! answers the error text and closes the connection, as Redis does.
//!
//! Rules (Redis `networking.c`): a buffer starting with `*` is a multi-bulk request
//! (`*<n>\r\n` then n × `$<len>\r\n<bytes>\r\n`); anything else is an inline command, one line
//! split on spaces and tabs with `"…"` (escapes `\n \r \t \b \a \\ \" \xHH`) and `'…'` quoting.
//! `*0` / `*-1` and empty inline lines are skipped. A line may end with `\n` alone in inline
//! mode (as Redis accepts from telnet).

use bytes::{Bytes, BytesMut};
use nom::IResult;
use nom::Parser;
use nom::bytes::streaming::{tag, take, take_until};

/// Most elements of one multi-bulk request (Redis: 1024 × 1024 for an unauthenticated client).
pub const MAX_ARRAY_LEN: usize = 1024 * 1024;

/// Longest inline command line, and longest `*`/`$` header line (Redis: 64 KiB).
pub const MAX_INLINE_BYTES: usize = 64 * 1024;

/// Limits of one connection's parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespLimits {
    /// Longest bulk string (the frame limit: `--max-frame-bytes`).
    pub max_bulk_bytes: usize,
    /// Most bytes one whole command may take on the wire; a command still incomplete past it is
    /// refused (so a read buffer never has to grow past it).
    pub max_command_bytes: usize,
}

impl RespLimits {
    /// Limits derived from the frame limit: bulk strings up to it, a command up to it plus 64 KiB
    /// of headers and other arguments.
    pub fn from_frame_limit(max_frame_bytes: u32) -> Self {
        let max_bulk_bytes = max_frame_bytes as usize;
        Self { max_bulk_bytes, max_command_bytes: max_bulk_bytes + MAX_INLINE_BYTES }
    }
}

/// Why a RESP stream cannot be framed; `Display` is the exact error reply text (without `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// An inline line longer than [`MAX_INLINE_BYTES`].
    InlineTooBig,
    /// An inline line with an unterminated quote.
    UnbalancedQuotes,
    /// A `*` header line longer than [`MAX_INLINE_BYTES`].
    MultibulkCountTooBig,
    /// A `*` count that is not a number or exceeds [`MAX_ARRAY_LEN`].
    InvalidMultibulkLength,
    /// An element that does not start with `$`.
    ExpectedDollar(u8),
    /// A `$` header line longer than [`MAX_INLINE_BYTES`].
    BulkCountTooBig,
    /// A `$` length that is not a number, negative, or above the bulk limit.
    InvalidBulkLength,
    /// A bulk string not followed by `\r\n`.
    MissingBulkTerminator,
    /// The whole command is larger than [`RespLimits::max_command_bytes`].
    CommandTooBig,
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InlineTooBig => f.write_str("ERR Protocol error: too big inline request"),
            Self::UnbalancedQuotes => f.write_str("ERR Protocol error: unbalanced quotes in request"),
            Self::MultibulkCountTooBig => f.write_str("ERR Protocol error: too big mbulk count string"),
            Self::InvalidMultibulkLength => f.write_str("ERR Protocol error: invalid multibulk length"),
            Self::ExpectedDollar(b) => {
                write!(f, "ERR Protocol error: expected '$', got '{}'", char::from(*b))
            }
            Self::BulkCountTooBig => f.write_str("ERR Protocol error: too big bulk count string"),
            Self::InvalidBulkLength => f.write_str("ERR Protocol error: invalid bulk length"),
            Self::MissingBulkTerminator => f.write_str("ERR Protocol error: expected CRLF after bulk data"),
            Self::CommandTooBig => f.write_str("ERR Protocol error: too big request"),
        }
    }
}

impl std::error::Error for RespError {}

/// One parsed command: its arguments, the name first. Zero-copy slices of the read buffer.
pub type Args = Vec<Bytes>;

/// Where a parsed element lies in the buffer.
type Span = (usize, usize);

/// Outcome of scanning the front of a buffer.
enum Scan {
    /// Need more bytes.
    Incomplete,
    /// `consumed` bytes form a command with these argument spans (empty: skip it).
    Done { consumed: usize, args: Vec<Span>, inline: Option<Vec<Vec<u8>>> },
}

/// Parses the next command from the front of `buf`: `Ok(Some(args))` consumes it (an empty
/// request such as `*0\r\n` or a blank line is consumed and skipped), `Ok(None)` needs more bytes.
/// Stateless: an unfinished array is scanned again from its start on the next call; a
/// connection uses [`RespParser`], which resumes.
///
/// # Errors
/// The stream cannot be framed (see [`RespError`]); nothing is consumed then.
pub fn decode_command(buf: &mut BytesMut, limits: &RespLimits) -> Result<Option<Args>, RespError> {
    RespParser::default().decode(buf, limits)
}

/// A connection's RESP parser: like [`decode_command`], but an unfinished multi-bulk array is
/// resumed where the last call stopped, so a trickled array costs time in proportion to the
/// bytes that arrive, and nothing is allocated in proportion to a declared count before its
/// elements arrive. The caller must only append to `buf` between calls until a command is
/// returned or an error ends the stream.
#[derive(Debug, Default)]
pub struct RespParser {
    /// The array under way: its count, the spans of the elements parsed so far and where the
    /// next element starts.
    partial: Option<Progress>,
}

#[derive(Debug)]
struct Progress {
    count: usize,
    args: Vec<Span>,
    next: usize,
}

impl RespParser {
    /// See [`decode_command`].
    ///
    /// # Errors
    /// The stream cannot be framed (see [`RespError`]); nothing is consumed then.
    pub fn decode(&mut self, buf: &mut BytesMut, limits: &RespLimits) -> Result<Option<Args>, RespError> {
        loop {
            let scanned = scan(buf, limits, &mut self.partial);
            if !matches!(scanned, Ok(Scan::Incomplete)) {
                self.partial = None;
            }
            match scanned? {
                Scan::Incomplete => {
                    if buf.len() > limits.max_command_bytes {
                        self.partial = None;
                        return Err(RespError::CommandTooBig);
                    }
                    return Ok(None);
                }
                Scan::Done { consumed, args, inline } => {
                    let frame = buf.split_to(consumed).freeze();
                    if let Some(words) = inline {
                        if words.is_empty() {
                            continue;
                        }
                        return Ok(Some(words.into_iter().map(Bytes::from).collect()));
                    }
                    if args.is_empty() {
                        continue;
                    }
                    return Ok(Some(args.into_iter().map(|(from, to)| frame.slice(from..to)).collect()));
                }
            }
        }
    }
}

fn scan(buf: &[u8], limits: &RespLimits, partial: &mut Option<Progress>) -> Result<Scan, RespError> {
    match buf.first() {
        None => Ok(Scan::Incomplete),
        Some(b'*') => scan_multibulk(buf, limits, partial),
        Some(_) => scan_inline(buf),
    }
}

/// A header line (`*n` or `$n`) up to `\r\n`, as nom sees it.
fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, text) = take_until(&b"\r\n"[..])(input)?;
    let (rest, _) = tag(&b"\r\n"[..])(rest)?;
    Ok((rest, text))
}

/// What remains of the input, and the part parsed.
type Split<'a> = (&'a [u8], &'a [u8]);

/// A bulk body of `len` bytes followed by its two terminator bytes: (body, terminator).
fn body(len: usize, input: &[u8]) -> IResult<&[u8], Split<'_>> {
    (take(len), take(2usize)).parse(input)
}

/// Parses a header line after its type byte into (rest, line); `Ok(None)` when incomplete.
fn header(input: &[u8], too_big: RespError) -> Result<Option<Split<'_>>, RespError> {
    match line(input) {
        Ok((rest, text)) if text.len() <= MAX_INLINE_BYTES => Ok(Some((rest, text))),
        Ok(_) => Err(too_big),
        Err(nom::Err::Incomplete(_)) if input.len() > MAX_INLINE_BYTES => Err(too_big),
        Err(_) => Ok(None),
    }
}

/// A decimal `i64` as Redis's `string2ll` reads it (optional `-`, digits only).
fn number(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn scan_multibulk(
    buf: &[u8],
    limits: &RespLimits,
    partial: &mut Option<Progress>,
) -> Result<Scan, RespError> {
    let progress = match partial {
        Some(progress) => progress,
        None => {
            let Some((rest, text)) = header(&buf[1..], RespError::MultibulkCountTooBig)? else {
                return Ok(Scan::Incomplete);
            };
            let count = number(text).ok_or(RespError::InvalidMultibulkLength)?;
            if count > MAX_ARRAY_LEN as i64 {
                return Err(RespError::InvalidMultibulkLength);
            }
            let next = buf.len() - rest.len();
            if count <= 0 {
                return Ok(Scan::Done { consumed: next, args: Vec::new(), inline: None });
            }
            // Elements are recorded as they arrive: nothing is reserved for the declared count.
            partial.insert(Progress { count: count as usize, args: Vec::new(), next })
        }
    };
    while progress.args.len() < progress.count {
        let Some(element) = scan_bulk(buf, progress.next, limits)? else { return Ok(Scan::Incomplete) };
        progress.args.push(element.0);
        progress.next = element.1;
    }
    Ok(Scan::Done { consumed: progress.next, args: std::mem::take(&mut progress.args), inline: None })
}

/// One `$<len>\r\n<bytes>\r\n` element starting at `at`: its data span and where the next
/// element starts; `None` when incomplete.
fn scan_bulk(buf: &[u8], at: usize, limits: &RespLimits) -> Result<Option<(Span, usize)>, RespError> {
    let rest = &buf[at..];
    let Some(&first) = rest.first() else { return Ok(None) };
    if first != b'$' {
        return Err(RespError::ExpectedDollar(first));
    }
    let Some((after, text)) = header(&rest[1..], RespError::BulkCountTooBig)? else {
        return Ok(None);
    };
    let len = number(text).ok_or(RespError::InvalidBulkLength)?;
    if len < 0 || len as u64 > limits.max_bulk_bytes as u64 {
        return Err(RespError::InvalidBulkLength);
    }
    let Ok((after_body, (data, crlf))) = body(len as usize, after) else { return Ok(None) };
    if crlf != b"\r\n" {
        return Err(RespError::MissingBulkTerminator);
    }
    let start = buf.len() - after.len();
    Ok(Some(((start, start + data.len()), buf.len() - after_body.len())))
}

fn scan_inline(buf: &[u8]) -> Result<Scan, RespError> {
    let Some(end) = memchr_newline(buf) else {
        if buf.len() > MAX_INLINE_BYTES {
            return Err(RespError::InlineTooBig);
        }
        return Ok(Scan::Incomplete);
    };
    if end > MAX_INLINE_BYTES {
        return Err(RespError::InlineTooBig);
    }
    let mut line = &buf[..end];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let words = split_args(line).ok_or(RespError::UnbalancedQuotes)?;
    Ok(Scan::Done { consumed: end + 1, args: Vec::new(), inline: Some(words) })
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Splits an inline line like Redis's `sdssplitargs`; `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
            i += 1;
        }
        if i >= line.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if in_dq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'x') => {
                        match (line.get(i + 2).and_then(|&b| hex(b)), line.get(i + 3).and_then(|&b| hex(b))) {
                            (Some(hi), Some(lo)) => {
                                word.push(hi * 16 + lo);
                                i += 3;
                            }
                            _ => word.push(b'\\'),
                        }
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        word.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        // A closing quote must be followed by a space or the end.
                        if line.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        in_dq = false;
                        i += 1;
                        break;
                    }
                    Some(other) => word.push(other),
                }
            } else if in_sq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        word.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        in_sq = false;
                        i += 1;
                        break;
                    }
                    Some(other) => word.push(other),
                }
            } else {
                match c {
                    // Redis also stops at NUL (its C strings end there); here NUL is data, so a
                    // word always advances.
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(other) => word.push(other),
                }
            }
            i += 1;
        }
        debug_assert!(!in_dq && !in_sq);
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: RespLimits = RespLimits { max_bulk_bytes: 1024, max_command_bytes: 4096 };

    fn parse_all(input: &[u8]) -> (Vec<Vec<String>>, Result<(), RespError>, usize) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match decode_command(&mut buf, &L) {
                Ok(Some(args)) => {
                    out.push(args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect())
                }
                Ok(None) => return (out, Ok(()), buf.len()),
                Err(e) => return (out, Err(e), buf.len()),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let (cmds, res, left) =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\r\n*3\r\n$3\r\nSET");
        assert_eq!(res, Ok(()));
        assert_eq!(cmds, vec![vec!["GET", "k"], vec!["PING"], vec!["set", "a", "b c"]]);
        assert_eq!(left, 11, "an incomplete command stays buffered");
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nx!\r\nECHO 'it\\'s'\n";
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(args) = decode_command(&mut buf, &L).unwrap() {
                got.push(args);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0][2][..], b"v\r\nx!");
        assert_eq!(&got[1][1][..], b"it's");
    }

    #[test]
    fn an_unfinished_array_resumes_where_it_stopped() {
        let big = RespLimits::from_frame_limit(1 << 20);
        let mut parser = RespParser::default();
        let mut buf = BytesMut::from(&b"*1048576\r\n"[..]);
        assert_eq!(parser.decode(&mut buf, &big), Ok(None));
        for _ in 0..1000 {
            buf.extend_from_slice(b"$1\r\na\r\n");
            assert_eq!(parser.decode(&mut buf, &big), Ok(None));
        }
        let progress = parser.partial.as_ref().unwrap();
        assert_eq!(progress.args.len(), 1000, "each element is scanned once");
        assert!(progress.args.capacity() < 4096, "nothing reserved for the declared count");
        let mut short = RespParser::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r"[..]);
        assert_eq!(short.decode(&mut buf, &L), Ok(None));
        buf.extend_from_slice(b"\nk\r\nPING\r\n");
        assert_eq!(short.decode(&mut buf, &L).unwrap().unwrap(), vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(short.decode(&mut buf, &L).unwrap().unwrap(), vec![Bytes::from("PING")]);
    }

    #[test]
    fn empty_requests_are_skipped() {
        let (cmds, res, _) = parse_all(b"*0\r\n*-1\r\n\r\n   \nPING\n");
        assert_eq!(res, Ok(()));
        assert_eq!(cmds, vec![vec!["PING"]]);
    }

    #[test]
    fn errors_have_redis_texts() {
        let err = |input: &[u8]| parse_all(input).1.unwrap_err().to_string();
        assert_eq!(err(b"*x\r\n"), "ERR Protocol error: invalid multibulk length");
        assert_eq!(err(b"*2000000\r\n"), "ERR Protocol error: invalid multibulk length");
        assert_eq!(err(b"*1\r\n:1\r\n"), "ERR Protocol error: expected '$', got ':'");
        assert_eq!(err(b"*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$2000\r\n"), "ERR Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$1\r\nab\r\n"), "ERR Protocol error: expected CRLF after bulk data");
        assert_eq!(err(b"SET \"a\n"), "ERR Protocol error: unbalanced quotes in request");
        assert_eq!(err(&[b'a'; MAX_INLINE_BYTES + 2]), "ERR Protocol error: too big inline request");
        let mut long = b"*".to_vec();
        long.extend(std::iter::repeat_n(b'1', MAX_INLINE_BYTES + 2));
        assert_eq!(err(&long), "ERR Protocol error: too big mbulk count string");
        let mut big = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n*6\r\n".to_vec();
        for _ in 0..5 {
            big.extend_from_slice(b"$1000\r\n");
            big.extend(std::iter::repeat_n(b'a', 1000));
            big.extend_from_slice(b"\r\n");
        }
        let (cmds, res, _) = parse_all(&big);
        assert_eq!(cmds.len(), 1);
        assert_eq!(res.unwrap_err(), RespError::CommandTooBig);
    }

    proptest::proptest! {
        /// Any bytes, cut anywhere: chunked parsing equals whole parsing, and re-encoded
        /// commands parse back (the fuzz target `resp_parse` checks the same, longer).
        #[test]
        fn chunking_never_changes_the_result(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cuts in proptest::collection::vec(1usize..40, 1..20),
        ) {
            let (whole, whole_res, _) = parse_all(&wire);
            let mut buf = BytesMut::new();
            let mut parser = RespParser::default();
            let mut got = Vec::new();
            let mut res = Ok(());
            let mut rest = &wire[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() || res.is_err() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                rest = tail;
                buf.extend_from_slice(chunk);
                loop {
                    match parser.decode(&mut buf, &L) {
                        Ok(Some(args)) => got.push(args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>()),
                        Ok(None) => break,
                        Err(e) => {
                            res = Err(e);
                            break;
                        }
                    }
                }
            }
            proptest::prop_assert_eq!(got, whole);
            proptest::prop_assert_eq!(res, whole_res);
        }
    }

    #[test]
    fn inline_quoting() {
        let words = |s: &str| {
            split_args(s.as_bytes())
                .map(|w| w.into_iter().map(|w| String::from_utf8(w).unwrap()).collect::<Vec<_>>())
        };
        assert_eq!(words("a  b\tc"), Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(words(r#""a\x41\n" 'b\'c'"#), Some(vec!["aA\n".into(), "b'c".into()]));
        assert_eq!(words(r#""ab"c"#), None);
        assert_eq!(words("'x"), None);
        assert_eq!(words("a\0b c"), Some(vec!["a\0b".into(), "c".into()]));
        assert_eq!(words(""), Some(vec![]));
    }
}
