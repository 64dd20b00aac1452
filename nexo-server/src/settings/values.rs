//! Value parsers for settings: sizes, booleans, TTLs, ports, host names and counts.
//!
//! Every parser takes the text a user wrote (flag, environment variable or config file, all
//! arrive as text) and returns a typed value or a message naming the bad text. Clap calls them
//! through `value_parser`, so the three sources accept exactly the same spellings.

use std::net::{IpAddr, ToSocketAddrs};

/// Parses `123`, `64kb`, `10mb`, `1.5gb` (also `k`, `m`, `g`, `b`, `kib`…; case-insensitive;
/// powers of 1024). A fraction is allowed and rounded down to whole bytes.
///
/// # Errors
/// A message naming the bad text.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number_end = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_end);
    let scale: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("'{text}' has an unknown unit (use b, kb, mb, gb or tb)")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let bad = || format!("'{text}' is not a size like 1024, 64kb or 1.5gb");
    if whole.is_empty() || fraction.contains('.') || (number.contains('.') && fraction.is_empty()) {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let bytes = whole.checked_mul(scale).ok_or_else(|| format!("'{text}' is too large"))?;
    Ok(bytes.saturating_add(fraction_of(fraction, scale)))
}

/// `0.<digits> × scale`, rounded down, computed in integers (no float rounding surprises).
fn fraction_of(digits: &str, scale: u64) -> u64 {
    let mut result: u128 = 0;
    let mut denominator: u128 = 1;
    for d in digits.bytes().take(18) {
        result = result * 10 + u128::from(d - b'0');
        denominator *= 10;
    }
    u64::try_from(result * u128::from(scale) / denominator).unwrap_or(u64::MAX)
}

/// Parses a boolean: `1/0`, `true/false`, `yes/no`, `on/off`, case-insensitive.
///
/// # Errors
/// A message listing the accepted spellings.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("'{text}' is not a boolean (use true/false, yes/no, on/off or 1/0)")),
    }
}

/// A TTL setting in seconds, or no expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlSetting(pub Option<u64>);

impl TtlSetting {
    /// Milliseconds, or `None` for no expiry.
    pub fn as_ms(self) -> Option<u64> {
        self.0.map(|s| s.saturating_mul(1000))
    }
}

/// Parses a TTL in seconds, or `never`.
///
/// # Errors
/// `0` (use `never`) and anything that is not a number.
pub fn parse_ttl(text: &str) -> Result<TtlSetting, String> {
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(TtlSetting(None));
    }
    match text.trim().parse::<u64>() {
        Ok(0) => Err("a TTL of 0 is not allowed; use 'never' for no expiry".into()),
        Ok(secs) => Ok(TtlSetting(Some(secs))),
        Err(_) => Err(format!("'{text}' is not a number of seconds or 'never'")),
    }
}

/// A listener's port: a number (`0` = an ephemeral port, the ready line tells which) or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Listen on this port (0 = any free port).
    Number(u16),
    /// No listener.
    Off,
}

impl Port {
    /// The port number, or `None` when the listener is off.
    pub fn number(self) -> Option<u16> {
        match self {
            Self::Number(port) => Some(port),
            Self::Off => None,
        }
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(port) => write!(f, "{port}"),
            Self::Off => f.write_str("off"),
        }
    }
}

/// Parses a port: `0`–`65535` or `off`.
///
/// # Errors
/// Anything else.
pub fn parse_port(text: &str) -> Result<Port, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(Port::Off);
    }
    text.parse::<u16>()
        .map(Port::Number)
        .map_err(|_| format!("'{text}' is not a port (0-65535, 0 = any free port, or 'off')"))
}

/// Parses an IP address or resolves a host name (`localhost`) to one, preferring IPv4.
///
/// # Errors
/// A name that does not resolve.
pub fn parse_host(text: &str) -> Result<IpAddr, String> {
    let text = text.trim();
    if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = (text, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host '{text}': {e}"))?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("host '{text}' resolves to no address"))
}

/// Parses a connection limit: at least 1 (as Redis's `maxclients`).
///
/// # Errors
/// `0` and anything that is not a number.
pub fn parse_max_connections(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("the connection limit must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a number of connections")),
    }
}

/// Parses the frame limit: a size from 1kb to below 4gb.
///
/// # Errors
/// A size out of that range or not a size.
pub fn parse_frame_bytes(text: &str) -> Result<u32, String> {
    let bytes = parse_bytes(text)?;
    if bytes < 1024 {
        return Err("the frame limit must be at least 1kb".into());
    }
    u32::try_from(bytes).map_err(|_| "the frame limit must be below 4gb".into())
}

/// Parses a stream segment size: at least 64kb (smaller segments would mean a file per few
/// records), at most 1gb.
pub fn parse_segment_bytes(text: &str) -> Result<u64, String> {
    let bytes = parse_bytes(text)?;
    if !(64 << 10..=1 << 30).contains(&bytes) {
        return Err("the segment size must be between 64kb and 1gb".into());
    }
    Ok(bytes)
}

/// Parses a size that must fit the platform's `usize` (an in-memory limit).
///
/// # Errors
/// Not a size, or too large.
pub fn parse_memory_bytes(text: &str) -> Result<usize, String> {
    usize::try_from(parse_bytes(text)?).map_err(|_| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("64kb"), Ok(65536));
        assert_eq!(parse_bytes("10MB"), Ok(10 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5gb"), Ok(3 << 29));
        assert_eq!(parse_bytes("0.5 KiB"), Ok(512));
        assert_eq!(parse_bytes("1.0001kb"), Ok(1024));
        for bad in ["12xb", "", "kb", ".5kb", "1.kb", "1.2.3mb", "-1kb", "99999999999999gb"] {
            assert!(parse_bytes(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn booleans() {
        for yes in ["1", "true", "TRUE", "Yes", "on", " On "] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["0", "false", "False", "NO", "off"] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("never"), Ok(TtlSetting(None)));
        assert_eq!(parse_ttl("60").map(TtlSetting::as_ms), Ok(Some(60_000)));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn ports_hosts_and_counts() {
        assert_eq!(parse_port("0"), Ok(Port::Number(0)));
        assert_eq!(parse_port("OFF"), Ok(Port::Off));
        assert!(parse_port("70000").is_err());
        assert_eq!(parse_host("127.0.0.1").map(|ip| ip.to_string()), Ok("127.0.0.1".into()));
        assert_eq!(parse_host("[::1]").map(|ip| ip.to_string()), Ok("::1".into()));
        assert!(parse_host("localhost").is_ok_and(|ip| ip.is_loopback()));
        assert!(parse_host("no-such-host.invalid").is_err());
        assert!(parse_max_connections("0").is_err());
        assert_eq!(parse_max_connections("1"), Ok(1));
        assert!(parse_frame_bytes("1b").is_err());
    }
}
