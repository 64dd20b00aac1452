//! Which server to talk to and how: flags and `NEXO_CLI_*` variables (clap merges those two),
//! then a `nexo://` URL, then the server's config file (`bind`, `port`), then the defaults; and
//! the connection itself. Credentials and TLS are parsed here and refused until the server
//! offers v1 AUTH and TLS: `authenticate` is the one place to send them once it does.

use std::time::Duration;

use nexo_client::Client;

use crate::args::Global;
use crate::error::{CliError, CliResult};

/// Host when nothing names one.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// v1 port when nothing names one.
pub const DEFAULT_PORT: u16 = 7654;

/// The parts of a `nexo://[user[:password]@]host[:port]` URL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host (brackets of an IPv6 literal removed).
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
}

/// Everything needed to open the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// v1 port.
    pub port: u16,
    /// User and password, when given.
    pub credentials: Option<(String, String)>,
}

/// Parses a `nexo://` URL.
///
/// # Errors
/// [`CliError::Usage`] for another scheme, an empty host or a bad port.
pub fn parse_url(text: &str) -> CliResult<Url> {
    let rest = text
        .strip_prefix("nexo://")
        .ok_or_else(|| CliError::Usage(format!("--url must start with nexo:// (got '{text}')")))?;
    let rest = rest.trim_end_matches('/');
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, rest),
    };
    let mut url = Url::default();
    if let Some(info) = userinfo {
        let (user, password) = info.split_once(':').unwrap_or((info, ""));
        url.user = Some(user.to_owned());
        url.password = Some(password.to_owned());
    }
    let (host, port) = split_host_port(hostport)?;
    if host.is_empty() {
        return Err(CliError::Usage(format!("--url names no host: '{text}'")));
    }
    url.host = Some(host.to_owned());
    url.port = port;
    Ok(url)
}

fn split_host_port(text: &str) -> CliResult<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) =
            v6.split_once(']').ok_or_else(|| CliError::Usage(format!("unclosed '[' in '{text}'")))?;
        (host, after.strip_prefix(':'))
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| CliError::Usage(format!("bad port '{p}' in the URL"))))
        .transpose()?;
    Ok((host, port))
}

/// `bind` and `port` of a server config file (TOML, keys as the server's flags).
///
/// # Errors
/// [`CliError::Usage`] when the file cannot be read or parsed, or a value has the wrong type.
pub fn from_config_file(path: &str) -> CliResult<(Option<String>, Option<u16>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read config file {path}: {e}")))?;
    parse_config(&text).map_err(|e| CliError::Usage(format!("config file {path}: {e}")))
}

fn parse_config(text: &str) -> Result<(Option<String>, Option<u16>), String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_owned())?;
    let host = match table.get("bind") {
        None => None,
        Some(toml::Value::String(bind)) => Some(connectable(bind).to_owned()),
        Some(_) => return Err("'bind' must be a string".to_owned()),
    };
    let port = match table.get("port") {
        None => None,
        Some(toml::Value::Integer(n)) => {
            Some(u16::try_from(*n).map_err(|_| format!("'port' {n} is not a port"))?)
        }
        Some(toml::Value::String(s)) => {
            Some(s.parse::<u16>().map_err(|_| format!("'port' \"{s}\" is not a port this CLI can use"))?)
        }
        Some(_) => return Err("'port' must be a number".to_owned()),
    };
    if port == Some(0) {
        return Err("'port' is 0 (a free port chosen at start): pass --port".to_owned());
    }
    Ok((host, port))
}

/// A server listening on every address is reached on the loopback one.
fn connectable(bind: &str) -> &str {
    match bind {
        "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        other => other,
    }
}

/// Combines flags (and their variables), the URL, the config file and the defaults.
///
/// # Errors
/// [`CliError::Usage`] for a bad URL or config file, a password without a user, or TLS (not
/// offered by the server yet).
pub fn resolve(global: &Global) -> CliResult<Target> {
    if global.tls || global.cacert.is_some() {
        return Err(CliError::Usage(
            "--tls/--cacert: this server speaks v1 over plain TCP only so far (TLS is being added)"
                .to_owned(),
        ));
    }
    let url = global.url.as_deref().map(parse_url).transpose()?.unwrap_or_default();
    let (file_host, file_port) = match &global.config {
        Some(path) => from_config_file(path)?,
        None => (None, None),
    };
    let host = global.host.clone().or(url.host).or(file_host).unwrap_or_else(|| DEFAULT_HOST.to_owned());
    let port = global.port.or(url.port).or(file_port).unwrap_or(DEFAULT_PORT);
    let user = global.user.clone().or(url.user);
    let password = global.password.clone().or(url.password);
    let credentials = match (user, password) {
        (Some(user), password) => Some((user, password.unwrap_or_default())),
        (None, Some(_)) => return Err(CliError::Usage("--password needs --user".to_owned())),
        (None, None) => None,
    };
    Ok(Target { host, port, credentials })
}

/// Opens the connection with `timeout` per reply and authenticates.
///
/// # Errors
/// [`CliError::Connection`] when the server cannot be reached; as `authenticate`.
pub fn connect(target: &Target, timeout: Duration) -> CliResult<Client> {
    let addr = (target.host.as_str(), target.port);
    let mut client = Client::connect(addr).map_err(|e| {
        CliError::Connection(format!("cannot connect to {}:{}: {e}", target.host, target.port))
    })?;
    client.set_timeout(Some(timeout))?;
    authenticate(&mut client, target.credentials.as_ref())?;
    Ok(client)
}

/// Sends the credentials. v1 has no AUTH opcode yet, so credentials are refused rather than
/// silently dropped; once it has one, this is the only function to change.
fn authenticate(_client: &mut Client, credentials: Option<&(String, String)>) -> CliResult {
    match credentials {
        None => Ok(()),
        Some(_) => Err(CliError::Usage(
            "--user/--password: this server's v1 protocol has no AUTH yet (users are being added)".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_parts() {
        let url = parse_url("nexo://ann:s3cret@db.example:7000").unwrap();
        assert_eq!(url.host.as_deref(), Some("db.example"));
        assert_eq!(url.port, Some(7000));
        assert_eq!(url.user.as_deref(), Some("ann"));
        assert_eq!(url.password.as_deref(), Some("s3cret"));
        let bare = parse_url("nexo://localhost/").unwrap();
        assert_eq!((bare.host.as_deref(), bare.port, bare.user), (Some("localhost"), None, None));
        let v6 = parse_url("nexo://[::1]:9").unwrap();
        assert_eq!((v6.host.as_deref(), v6.port), (Some("::1"), Some(9)));
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        for bad in ["http://x", "nexo://", "nexo://h:notaport", "nexo://h:70000", "nexo://[::1"] {
            assert!(matches!(parse_url(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn config_file_gives_bind_and_port() {
        assert_eq!(
            parse_config("bind = \"0.0.0.0\"\nport = 7001\n"),
            Ok((Some("127.0.0.1".into()), Some(7001)))
        );
        assert_eq!(parse_config("# nothing\n"), Ok((None, None)));
        assert_eq!(parse_config("port = \"7002\""), Ok((None, Some(7002))));
        assert!(parse_config("port = 0").is_err());
        assert!(parse_config("port = \"off\"").is_err());
        assert!(parse_config("port = [1]").is_err());
        assert!(parse_config("port = ").is_err());
    }
}
