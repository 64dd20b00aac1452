//! The host both runtimes start from: brokers recovered, listeners bound, the sessions' shared
//! context built, the dashboard served and the ready line announced.
//!
//! It owns the start-up order and its errors, the admission of accepted connections, the stop
//! signals and what is logged about them, not the event loops: a runtime takes the parts of
//! a [`Host`] (brokers to drive, std listeners to adopt) and moves bytes with them. It must not
//! read from or write to a client socket.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use nexo_engine::ConnId;
use nexo_session::resp::RespContext;
use nexo_session::{Admission, CloseWhy, SessionContext};

use crate::logging::{self, RateLimited};
use crate::startup::{self, Brokers, StartError};
use crate::{Clock, Dashboard, Settings, security};

/// A listener `startup::listen` bound, and its address.
pub type Bound = (std::net::TcpListener, SocketAddr);

/// Everything a runtime starts serving with, beside the brokers it drives.
#[derive(Debug)]
pub struct Host {
    /// The one clock.
    pub clock: Clock,
    /// The dashboard's shared half, when `--ui-port` asks for a dashboard.
    pub dashboard: Option<Dashboard>,
    /// Shared by every session: limits, RESP, MQTT and authentication.
    pub sessions: Arc<SessionContext>,
    /// The v1 (RESP, SQS, ...) listener; `None` with `--port off`.
    pub v1: Option<Bound>,
    /// The MQTT listener; `None` with `--mqtt-port off`.
    pub mqtt: Option<Bound>,
    /// The dashboard's listener, when asked for.
    pub ui: Option<nexo_ui::Listener>,
}

/// Why the host could not start.
#[derive(Debug)]
pub enum HostError {
    /// The brokers could not start (data directory, storage, recovery).
    Start(StartError),
    /// The users or rules file could not be read.
    Auth(String),
    /// A client listener could not be bound.
    Listen(std::io::Error),
    /// The dashboard's listener could not be bound.
    Ui(nexo_ui::BindError),
    /// The dashboard could not be started.
    Dashboard(std::io::Error),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Start(e) => write!(f, "{e}"),
            Self::Auth(e) => write!(f, "{e}"),
            Self::Listen(e) => write!(f, "{e}"),
            Self::Ui(e) => write!(f, "{e}"),
            Self::Dashboard(e) => write!(f, "cannot start the dashboard: {e}"),
        }
    }
}

impl std::error::Error for HostError {}

impl Host {
    /// Starts the brokers, binds the listeners (`--port off`, `--mqtt-port off`: no such
    /// listener; the others still serve) and builds the sessions' context; `runtime` names the
    /// binary's runtime (`mio`, `tokio`) in logs and on the dashboard. The recovered brokers
    /// come back beside the host, for the runtime to drive.
    ///
    /// # Errors
    /// The brokers cannot start, a listener cannot be bound, or the users file is bad.
    pub fn start(settings: &Settings, runtime: &'static str) -> Result<(Self, Brokers), HostError> {
        tracing::info!("nexo ({runtime}) starting");
        let clock = Clock::start();
        let mut brokers = startup::start_brokers(settings, &clock).map_err(HostError::Start)?;
        let dashboard = settings.ui_addr().map(|_| Dashboard::attach(runtime, settings, clock, &mut brokers));
        let v1 = startup::listen(settings.v1_addr()).map_err(HostError::Listen)?;
        let mqtt = startup::listen(settings.mqtt_addr()).map_err(HostError::Listen)?;
        let ui = settings
            .ui_addr()
            .map(|addr| nexo_ui::bind(addr, &settings.ui_allowed_hosts))
            .transpose()
            .map_err(HostError::Ui)?;
        // RESP reports the port really bound (`--port 0` picks one).
        let port = v1.as_ref().map_or(0, |(_, local)| local.port());
        let store_config = brokers.store.broker().config();
        let resp = Arc::new(RespContext::new(startup::resp_settings(settings, port, store_config)));
        let sessions = Arc::new(
            SessionContext::new(startup::session_limits(settings, brokers.max_connections), resp)
                .with_mqtt(startup::mqtt_context(settings))
                .with_auth(security::auth(settings).map_err(HostError::Auth)?),
        );
        Ok((Self { clock, dashboard, sessions, v1, mqtt, ui }, brokers))
    }

    /// Serves the dashboard, when asked for, on its own thread (so a busy broker cannot delay
    /// it) with the source `make` builds from the dashboard and the sessions; returns its
    /// address and that source.
    ///
    /// # Errors
    /// The dashboard's address cannot be read or its thread cannot start.
    pub fn serve_dashboard<S: nexo_ui::Source>(
        &mut self,
        settings: &Settings,
        make: impl FnOnce(Dashboard, Arc<SessionContext>) -> S,
    ) -> Result<Option<(SocketAddr, Arc<S>)>, HostError> {
        let (Some(listener), Some(dashboard)) = (self.ui.take(), self.dashboard.take()) else {
            return Ok(None);
        };
        let addr = listener.local_addr().map_err(HostError::Dashboard)?;
        let source = Arc::new(make(dashboard, Arc::clone(&self.sessions)));
        let listener = listener.secured(Arc::clone(self.sessions.auth()), settings.metrics_public);
        nexo_ui::spawn_thread(listener, source.clone()).map_err(HostError::Dashboard)?;
        tracing::info!("dashboard on http://{addr}/");
        Ok(Some((addr, source)))
    }
}

/// Logs the listeners' addresses, then prints the one ready line on stdout.
pub fn announce(v1: Option<SocketAddr>, ui: Option<SocketAddr>, mqtt: Option<SocketAddr>) {
    if let Some(mqtt) = mqtt {
        tracing::info!("MQTT on {mqtt}");
    }
    if let Some(local) = v1 {
        tracing::info!("listening on {local}");
    }
    startup::announce(&startup::ready_line(v1, ui, mqtt));
}

/// A binary's `main`: reads the settings, sets up logging and runs `serve` until it returns;
/// exit code 0 when it stopped cleanly, 1 (with the error on stderr and in the log) otherwise.
pub fn main<E: std::fmt::Display>(serve: impl FnOnce(&Settings) -> Result<(), E>) -> ExitCode {
    let settings = Settings::from_env_and_args();
    logging::init(settings.log_level);
    match serve(&settings) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("nexo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts a thread that calls `stop` at the first SIGINT or SIGTERM.
///
/// # Errors
/// The signal handlers or the thread cannot be set up.
pub fn on_stop_signal(stop: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("nexo-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!("signal {signal}: shutting down");
            stop();
        }
    })?;
    Ok(())
}

/// Lets accepted connections in. Ids start at 1 and are never reused, so a late output can
/// never reach a later client; failed accepts and refusals are logged at most once a second each.
#[derive(Debug)]
pub struct Doorman {
    sessions: Arc<SessionContext>,
    next_conn: u64,
    accept_log: RateLimited,
    refused_log: RateLimited,
}

impl Doorman {
    /// A doorman for the connections `sessions` counts.
    pub fn new(sessions: Arc<SessionContext>) -> Self {
        Self {
            sessions,
            next_conn: 1,
            accept_log: RateLimited::new(1_000),
            refused_log: RateLimited::new(1_000),
        }
    }

    /// Logs a failed accept (EMFILE and friends); the runtime keeps accepting.
    pub fn accept_failed(&mut self, now_ms: u64, e: &std::io::Error) {
        if let Some(left_out) = self.accept_log.allow(now_ms) {
            tracing::warn!("accept failed: {e} ({left_out} more since the last line)");
        }
    }

    /// Admits `socket` from `peer` and tunes it: its id and slot (a refused slot when over the
    /// connection limit: its session answers the first frame), or `None` when not even a
    /// refusal fits (dropping the socket closes it).
    pub fn admit(
        &mut self,
        now_ms: u64,
        socket: impl std::os::fd::AsFd,
        peer: SocketAddr,
    ) -> Option<(ConnId, Admission)> {
        let Some(admission) = self.sessions.admit() else {
            tracing::debug!(%peer, "over the connection limit; closed");
            return None;
        };
        let refused = admission.refused();
        if refused && let Some(left_out) = self.refused_log.allow(now_ms) {
            let open = self.sessions.open_connections();
            tracing::warn!(
                "refusing {peer}: {open} connections open ({left_out} more refused since the last line)"
            );
        }
        startup::tune_socket(socket);
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        tracing::debug!(conn = conn.0, %peer, refused, "accepted");
        Some((conn, admission))
    }
}

/// Logs why connection `conn` closed: a slow consumer as a warning, the rest at debug level.
pub fn log_close(conn: ConnId, why: CloseWhy) {
    if why == CloseWhy::SlowConsumer {
        tracing::warn!(conn = conn.0, "closing connection: {why}");
    } else {
        tracing::debug!(conn = conn.0, "connection closed: {why}");
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn host_binds_what_is_asked_and_doorman_numbers_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::parse_from([
            "nexo",
            "--data-dir",
            &dir.path().to_string_lossy(),
            "--seed",
            "1",
            "--port",
            "0",
            "--mqtt-port",
            "off",
            "--ui-port",
            "off",
            "--max-connections",
            "1",
        ]);
        let (host, brokers) = Host::start(&settings, "test").unwrap();
        assert!(host.mqtt.is_none() && host.ui.is_none() && host.dashboard.is_none());
        let (listener, local) = host.v1.as_ref().unwrap();
        let mut doorman = Doorman::new(Arc::clone(&host.sessions));
        let first = std::net::TcpStream::connect(local).unwrap();
        let (one, admitted) = doorman.admit(0, &first, *local).unwrap();
        assert_eq!(one, ConnId(1));
        assert!(!admitted.refused());
        let (two, refused) = doorman.admit(0, &first, *local).unwrap();
        assert_eq!(two, ConnId(2), "ids are never reused");
        assert!(refused.refused(), "over --max-connections 1");
        drop((refused, admitted, listener, brokers));
    }
}
