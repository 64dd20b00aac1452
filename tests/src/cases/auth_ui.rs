//! Authentication on the dashboard port (issue 15), over raw HTTP: the login form, the session
//! cookie, 401 without it, 403 for values the user may not read, `/healthz` open, `/metrics`
//! behind the login unless `--metrics-public`, and failed logins counted there (never a
//! password).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use super::auth::line;
use super::{PATIENCE, eventually};
use crate::server::{IO_TIMEOUT, Server};

/// One HTTP/1.1 request; the status, the head and the body.
pub(crate) fn http(addr: SocketAddr, request_line: &str, headers: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let length = if body.is_empty() { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
    write!(s, "{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}{length}\r\n{body}")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// Wrong passwords and unknown users are counted on `/metrics` with HELP and TYPE; no password
/// appears there.
pub fn auth_failed_logins_on_metrics(bin: &Path) {
    let server = Server::start_with_ui(bin, &["--requirepass", "right-pw", "--metrics-public"]);
    let mut s = server.raw();
    for command in ["AUTH wrong-pw-1", "AUTH nobody wrong-pw-2", "AUTH default wrong-pw-3"] {
        assert!(line(&mut s, command).starts_with("-WRONGPASS"), "{command}");
    }
    assert_eq!(line(&mut s, "AUTH right-pw"), "+OK");
    let mut last = String::new();
    let counted = eventually(PATIENCE, || {
        last = http(server.ui_addr(), "GET /metrics", "", "").2;
        last.contains("\nnexo_auth_failed_logins_total 3\n")
    });
    assert!(counted, "{last}");
    assert!(last.contains("# TYPE nexo_auth_failed_logins_total counter\n"), "{last}");
    assert!(last.contains("# HELP nexo_auth_failed_logins_total "), "{last}");
    assert!(!last.contains("wrong-pw") && !last.contains("right-pw"), "a password on /metrics");
}

const USERS: &str = "requirepass = \"root-pw\"\n\n[[users]]\nname = \"viewer\"\npassword = \"view-pw\"\n\
    brokers = [\"store\"]\noperations = [\"read\"]\nkeys = [\"pub:*\"]\n";

/// The dashboard asks for a login when a user has a password; the form's cookie opens the API
/// and `/metrics`, values are shown only by read permission, logout ends the session.
pub fn auth_dashboard_login(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexo.toml");
    std::fs::write(&path, USERS).unwrap();
    let server = Server::start_with_ui(bin, &["--config", path.to_str().unwrap()]);
    let ui = server.ui_addr();
    assert_eq!(http(ui, "GET /healthz", "", "").0, 200, "/healthz stays open");
    assert_eq!(http(ui, "GET /api/overview", "", "").0, 401);
    assert_eq!(http(ui, "GET /metrics", "", "").0, 401);
    let (status, _, page) = http(ui, "GET /", "", "");
    assert!(status == 200 && page.contains("<form id=\"login\" method=\"post\" action=\"/login\""), "{page}");
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let (status, _, page) = http(ui, "POST /login", form, "user=viewer&password=wrong");
    assert!(status == 401 && page.contains("WRONGPASS"), "{status} {page}");
    let (status, head, _) = http(ui, "POST /login", form, "user=viewer&password=view-pw");
    assert_eq!(status, 303, "{head}");
    let set_cookie =
        head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_default();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let pair = set_cookie.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_owned();
    let (name, token) = pair.split_once('=').unwrap();
    assert_eq!((name, token.len()), ("nexo_session", 64), "{pair}");
    let cookie = format!("Cookie: {pair}\r\n");
    assert_eq!(http(ui, "GET /api/overview", &cookie, "").0, 200);
    assert_eq!(http(ui, "GET /metrics", &cookie, "").0, 200);
    let (status, _, page) = http(ui, "GET /", &cookie, "");
    assert!(status == 200 && !page.contains("action=\"/login\""), "the dashboard itself once logged in");
    assert_eq!(http(ui, "GET /api/store/keys?pattern=pub:*", &cookie, "").0, 200);
    let (status, _, body) = http(ui, "GET /api/store/keys?pattern=*", &cookie, "");
    assert!(status == 403 && body.contains("store:read"), "{status} {body}");
    let (status, _, body) = http(ui, "GET /api/queue/messages?queue=jobs", &cookie, "");
    assert!(status == 403 && body.contains("queue:read"), "{status} {body}");
    let forged = format!("Cookie: nexo_session={}\r\n", "0".repeat(64));
    assert_eq!(http(ui, "GET /api/overview", &forged, "").0, 401);
    assert_eq!(http(ui, "POST /logout", &cookie, "").0, 303);
    assert_eq!(http(ui, "GET /api/overview", &cookie, "").0, 401, "logged out");
}

/// With no user holding a password the dashboard stays open, as before.
pub fn auth_dashboard_open_without_passwords(bin: &Path) {
    let server = Server::start_with_ui(bin, &[]);
    assert_eq!(http(server.ui_addr(), "GET /api/overview", "", "").0, 200);
    assert_eq!(http(server.ui_addr(), "GET /metrics", "", "").0, 200);
    let (status, head, _) = http(server.ui_addr(), "POST /login", "", "user=default&password=x");
    assert!(status == 404 && !head.to_ascii_lowercase().contains("set-cookie"), "{head}");
}

/// Serves `html` to every request on a loopback port of its own (a page of the same site as the
/// dashboard: cookies and SameSite ignore ports) until the process ends.
fn serve_page(html: String) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    addr
}

/// In Chromium: the page is the login form; a form posted with the right password leads to the
/// dashboard itself, which fills in from the API with the session cookie.
pub fn auth_dashboard_login_in_chromium(bin: &Path) {
    if !super::ui::chromium_or_skip("auth_dashboard_login_in_chromium") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexo.toml");
    std::fs::write(&path, USERS).unwrap();
    let server = Server::start_with_ui(bin, &["--config", path.to_str().unwrap()]);
    let ui = server.ui_addr();
    let profile = tempfile::Builder::new().prefix("nexo-chromium-").tempdir().unwrap();
    let dump = ["--dump-dom".to_owned()];
    let before = super::ui::run_chromium(profile.path(), &dump, &format!("http://{ui}/"));
    assert!(before.contains("action=\"/login\"") && !before.contains("id=\"overview\""), "{before}");
    let login = serve_page(format!(
        "<!doctype html><form method=\"post\" action=\"http://{ui}/login\">\
         <input name=\"user\" value=\"viewer\"><input name=\"password\" value=\"view-pw\"></form>\
         <script>document.forms[0].submit()</script>"
    ));
    let after = super::ui::run_chromium(profile.path(), &dump, &format!("http://{login}/"));
    assert!(!after.contains("action=\"/login\""), "still the login form: {after}");
    assert!(after.contains("id=\"overview\"") && after.contains(">healthy<"), "{after}");
}
