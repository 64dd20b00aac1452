//! The dashboard's HTTP server: binding, the accept loop, connections and routing.
//!
//! Owns the listener and every dashboard connection (HTTP/1.1 through hyper, keep-alive, at most
//! [`MAX_CONNECTIONS`] at once, a header deadline), the once-a-second rate sampling, and the
//! routes that are not JSON: `/` (the page), `/favicon.ico`, `/healthz`, `/metrics`. Only `GET`
//! and `HEAD` are served (read-only), besides the login form's `POST /login` and `POST /logout`
//! (`crate::login_http`, which also decides what needs a session); anything else is `405`, an
//! unknown path `404`, a `Host` or `Origin` the [`HostGuard`] refuses `403`. Every request is answered from published snapshots
//! or within [`crate::INSPECT_TIMEOUT`].
//!
//! Slow or idle connections cannot lock the page out: a connection must send its headers within
//! [`HEADER_TIMEOUT`], and when [`MAX_CONNECTIONS`] are open a new connection is still accepted
//! and the oldest open one is closed instead.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, HeaderValue, ORIGIN};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use nexo_engine::observe::Overview;
use nexo_session::auth::Auth;
use serde_json::{Value, json};
use tokio::task::AbortHandle;

use crate::guard::HostGuard;
use crate::history::History;
use crate::login::Security;
use crate::{Source, api, metrics, page};

/// Dashboard connections open at once; past it the oldest is closed to make room for the newest.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a connection may take to send a request's headers (also the keep-alive idle limit).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How often counters are sampled for the charts.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// The dashboard address could not be bound.
#[derive(Debug)]
pub struct BindError {
    addr: SocketAddr,
    source: std::io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot listen on {} for the dashboard: {} (choose another with --ui-port / NEXO_UI_PORT, \
             or turn it off with --no-ui)",
            self.addr, self.source
        )
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The dashboard's bound listener and the hosts it answers.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    guard: HostGuard,
    security: Option<Arc<Security>>,
}

impl Listener {
    /// The address it is bound to (the real port when 0 was asked).
    ///
    /// # Errors
    /// The socket's address cannot be read.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Asks for a login whenever a user of `auth` has a password; `metrics_public` leaves
    /// `/metrics` open (`--metrics-public`).
    pub fn secured(mut self, auth: Arc<Auth>, metrics_public: bool) -> Self {
        self.security = Some(Arc::new(Security::new(auth, metrics_public)));
        self
    }
}

/// Binds the dashboard's listener (before the ready line, so a taken port stops the start);
/// `allowed_hosts` are the host names it answers besides IP literals and `localhost`
/// (`--ui-allowed-hosts`, see [`HostGuard`]).
///
/// # Errors
/// The address is taken or not available; the message names it and the flags to change it.
pub fn bind(addr: SocketAddr, allowed_hosts: &[String]) -> Result<Listener, BindError> {
    let listener = TcpListener::bind(addr).map_err(|source| BindError { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| BindError { addr, source })?;
    Ok(Listener { listener, guard: HostGuard::new(addr.ip(), allowed_hosts), security: None })
}

/// What every request handler shares.
pub struct State {
    /// The engine.
    pub source: Arc<dyn Source>,
    history: Mutex<History>,
    guard: HostGuard,
    pub(crate) security: Option<Arc<Security>>,
}

impl State {
    /// The server now.
    pub fn overview(&self) -> Overview {
        self.source.overview()
    }

    /// The rate history (a poisoned lock still holds whole samples).
    pub fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sample(&self) {
        let overview = self.overview();
        self.history().record(&overview);
    }
}

/// Serves the dashboard on `listener` until the future is dropped (it runs on the caller's
/// tokio runtime and spawns one task per connection).
///
/// # Errors
/// The listener cannot be registered with the runtime.
pub async fn serve(listener: Listener, source: Arc<dyn Source>) -> std::io::Result<()> {
    let Listener { listener, guard, security } = listener;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let state = Arc::new(State { source, history: Mutex::new(History::default()), guard, security });
    let open = Arc::new(Open::default());
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = tick.tick() => {
                state.sample();
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "dashboard accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        open.make_room();
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let (state, finished) = (Arc::clone(&state), Arc::clone(&open));
        let task = tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(&state, request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "dashboard connection ended");
            }
            finished.remove(id);
        });
        open.insert(id, task.abort_handle());
    }
}

/// The open dashboard connections, oldest first, so the oldest can be closed when full.
#[derive(Debug, Default)]
struct Open(Mutex<BTreeMap<u64, AbortHandle>>);

impl Open {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, AbortHandle>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the oldest connections until a new one fits under [`MAX_CONNECTIONS`].
    fn make_room(&self) {
        let mut open = self.lock();
        while open.len() >= MAX_CONNECTIONS {
            let Some((_, oldest)) = open.pop_first() else { break };
            oldest.abort();
            tracing::debug!("dashboard connection limit reached; closed the oldest connection");
        }
    }

    fn insert(&self, id: u64, task: AbortHandle) {
        // A connection that already ended (it can on a multi-threaded runtime) is not kept.
        if !task.is_finished() {
            self.lock().insert(id, task);
        }
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// Serves the dashboard on a thread of its own with a small current-thread tokio runtime (for
/// a runtime that has no tokio of its own). The thread runs until the process ends.
///
/// # Errors
/// The thread or its runtime could not be started.
pub fn spawn_thread(listener: Listener, source: Arc<dyn Source>) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("nexo-ui".into()).spawn(move || {
        if let Err(e) = runtime.block_on(serve(listener, source)) {
            tracing::error!(error = %e, "the dashboard stopped");
        }
    })
}

async fn route(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name| request.headers().get(name).map(|v: &HeaderValue| v.to_str().unwrap_or("\u{0}"));
    if !state.guard.allows(header(HOST), header(ORIGIN)) {
        return text(
            StatusCode::FORBIDDEN,
            "host not allowed: open the dashboard by IP address or localhost, or add the name to --ui-allowed-hosts\n",
        );
    }
    let path = request.uri().path().to_owned();
    if request.method() == Method::POST && matches!(path.as_str(), "/login" | "/logout") {
        return match state.security.as_deref().filter(|s| s.required()) {
            Some(security) => crate::login_http::post(security, request, state.overview().uptime_ms).await,
            None => text(StatusCode::NOT_FOUND, "no user has a password: the dashboard needs no login\n"),
        };
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response =
            text(StatusCode::METHOD_NOT_ALLOWED, "the dashboard is read-only: GET and HEAD only\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let query = request.uri().query().unwrap_or("");
    let cookie = header(COOKIE);
    if let Some(refused) = crate::login_http::gate(state, &path, query, cookie) {
        return refused;
    }
    match path.as_str() {
        "/" | "/index.html" => with_type(StatusCode::OK, page::INDEX_HTML, "text/html; charset=utf-8"),
        "/favicon.ico" => with_type(StatusCode::OK, page::FAVICON_SVG, "image/svg+xml"),
        "/healthz" => healthz(&state.overview()),
        "/metrics" => with_type(StatusCode::OK, metrics::render(&state.overview()), metrics::CONTENT_TYPE),
        _ => match path.strip_prefix("/api/") {
            Some(endpoint) => match api::handle(state, endpoint, query).await {
                Ok(value) => json_response(StatusCode::OK, &value),
                Err(e) => json_response(e.status, &json!({ "error": e.message })),
            },
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}

/// `200 ok`, or `503` naming the failed logs.
fn healthz(overview: &Overview) -> Response<Full<Bytes>> {
    if overview.healthy() {
        return text(StatusCode::OK, "ok\n");
    }
    let failed: Vec<String> = overview
        .brokers
        .iter()
        .flat_map(|b| b.failed_logs.iter().map(move |log| format!("{} log '{log}'", b.kind.name())))
        .collect();
    text(StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: storage failed: {}\n", failed.join(", ")))
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    with_type(status, value.to_string(), "application/json")
}

pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    with_type(status, body, "text/plain; charset=utf-8")
}

pub(crate) fn with_type(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
