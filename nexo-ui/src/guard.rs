//! Which `Host` and `Origin` headers the dashboard answers (DNS-rebinding protection).
//!
//! A web page on another site can make a browser send requests to the dashboard through a name
//! the attacker controls that resolves to this machine (DNS rebinding); the only trace is the
//! `Host` header, which then names the attacker's domain. So the dashboard answers only hosts
//! that cannot be rebound or that the operator named:
//! - IP literals: the bound address, or any address when bound to a wildcard (`0.0.0.0`, `::`);
//! - `localhost` (and `*.localhost`) when bound to a loopback or wildcard address;
//! - the names in `--ui-allowed-hosts` (case-insensitive; `*` allows any host).
//!
//! A request without `Host` (HTTP/1.0 tools) is answered; a browser always sends one. An `Origin`
//! header, when present, must pass the same check (`null` origins are refused). This module owns
//! the decision only, not the response.

use std::net::IpAddr;

/// The dashboard's host allow-list, fixed at start-up.
#[derive(Debug, Clone)]
pub struct HostGuard {
    bind: IpAddr,
    names: Vec<String>,
    any: bool,
}

impl HostGuard {
    /// A guard for a dashboard bound to `bind` that also accepts `names` (`*` accepts any host).
    pub fn new(bind: IpAddr, names: &[String]) -> Self {
        let names: Vec<String> = names
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let any = names.iter().any(|n| n == "*");
        Self { bind, names, any }
    }

    /// Whether a request with these `Host` and `Origin` header values may be answered.
    pub fn allows(&self, host: Option<&str>, origin: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let host_ok = host.is_none_or(|h| split_host(h).is_some_and(|name| self.allows_name(name)));
        let origin_ok = origin.is_none_or(|o| origin_host(o).is_some_and(|name| self.allows_name(name)));
        host_ok && origin_ok
    }

    fn allows_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.bind.is_unspecified() || ip == self.bind;
        }
        let local_bind = self.bind.is_loopback() || self.bind.is_unspecified();
        if local_bind && (name == "localhost" || name.ends_with(".localhost")) {
            return true;
        }
        self.names.contains(&name)
    }
}

/// The host part of a `Host` header value (`name`, `name:port`, `[v6]`, `[v6]:port`).
fn split_host(value: &str) -> Option<&str> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return (after.is_empty() || after.starts_with(':')).then_some(inside);
    }
    let name = match value.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => value,
    };
    (!name.is_empty() && !name.contains(':')).then_some(name)
}

/// The host of an `Origin` value (`scheme://host[:port]`); `None` for `null` or anything else.
fn origin_host(value: &str) -> Option<&str> {
    let (_, authority) = value.trim().split_once("://")?;
    split_host(authority.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bind: &str, names: &[&str]) -> HostGuard {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        HostGuard::new(bind.parse().unwrap(), &names)
    }

    #[test]
    fn loopback_bind_answers_its_ip_and_localhost_only() {
        let g = guard("127.0.0.1", &[]);
        for host in ["127.0.0.1:8080", "127.0.0.1", "localhost:8080", "LOCALHOST", "app.localhost:1"] {
            assert!(g.allows(Some(host), None), "{host}");
        }
        for host in ["evil.example:8080", "evil.example", "10.0.0.1:8080", "127.0.0.1:x", ""] {
            assert!(!g.allows(Some(host), None), "{host}");
        }
        assert!(g.allows(None, None), "HTTP/1.0 without Host");
    }

    #[test]
    fn wildcard_bind_answers_any_ip_literal() {
        let g = guard("0.0.0.0", &[]);
        assert!(g.allows(Some("192.168.1.20:8080"), None));
        assert!(g.allows(Some("[::1]:8080"), None));
        assert!(g.allows(Some("localhost"), None));
        assert!(!g.allows(Some("rebind.attacker.test"), None));
        let v6 = guard("::", &[]);
        assert!(v6.allows(Some("[fe80::1]"), None));
    }

    #[test]
    fn specific_bind_answers_only_its_own_ip_and_named_hosts() {
        let g = guard("10.1.2.3", &["Dash.Example.com"]);
        assert!(g.allows(Some("10.1.2.3:8080"), None));
        assert!(!g.allows(Some("10.1.2.4:8080"), None));
        assert!(!g.allows(Some("localhost:8080"), None), "not bound to loopback");
        assert!(g.allows(Some("dash.example.com:8080"), None));
        assert!(g.allows(Some("dash.example.com."), None));
    }

    #[test]
    fn origin_must_pass_too() {
        let g = guard("127.0.0.1", &[]);
        assert!(g.allows(Some("127.0.0.1:8080"), Some("http://127.0.0.1:8080")));
        assert!(g.allows(Some("localhost:8080"), Some("http://localhost:8080")));
        assert!(!g.allows(Some("127.0.0.1:8080"), Some("https://evil.example")));
        assert!(!g.allows(Some("127.0.0.1:8080"), Some("null")));
    }

    #[test]
    fn star_allows_anything() {
        let g = guard("127.0.0.1", &["*"]);
        assert!(g.allows(Some("whatever.example"), Some("null")));
    }
}
