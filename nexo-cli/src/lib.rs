//! `nexo-cli`: administer every Nexo broker from the shell, over v1 through the blocking
//! `nexo-client`.
//!
//! [`run`] is the whole program (parse, connect, run one subcommand, print, exit status), written
//! against caller-owned stdout and stderr so tests call it in-process; the binary only installs
//! the Ctrl-C flag and calls [`run_until`]. Each broker's subcommands live in their own module
//! (`queue`, `stream`, `pubsub`, `store`, `server`); `output` owns formatting and `target` the
//! connection options. With `--json`, stdout holds exactly one JSON document (JSON lines for the
//! following commands) and stderr stays empty on success.
#![forbid(unsafe_code)]

pub mod args;
pub mod error;
pub mod output;
pub mod target;

mod pubsub;
mod queue;
mod server;
mod store;
mod stream;

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use nexo_client::Client;

use crate::args::{Cli, Command};
use crate::error::{CliResult, EXIT_USAGE};
use crate::output::Out;

/// How often the following commands (`stream tail`, `pubsub subscribe`) look at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Everything a subcommand works with.
pub(crate) struct Ctx<'a> {
    /// The connection.
    pub client: Client,
    /// Results.
    pub out: Out<'a>,
    /// Set (by Ctrl-C) to end a following command.
    pub stop: &'a AtomicBool,
}

impl Ctx<'_> {
    /// Whether a following command should end: stopped, or past `deadline`.
    pub fn should_stop(&self, deadline: Option<Instant>) -> bool {
        self.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// A deadline `ms` milliseconds from now (none when `ms` is `None` or too far to represent).
pub(crate) fn deadline_after(ms: Option<u64>) -> Option<Instant> {
    ms.and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)))
}

/// Runs the command line `args` (the program name first) and returns the exit status.
pub fn run<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_until(args, stdout, stderr, &AtomicBool::new(false))
}

/// As [`run`], with a flag that ends `stream tail` and `pubsub subscribe` when set.
pub fn run_until<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write, stop: &AtomicBool) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let text = err.render().to_string();
            // --help and --version are answers, not errors.
            let _ = if err.use_stderr() { write!(stderr, "{text}") } else { write!(stdout, "{text}") };
            return if err.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match execute(cli, stdout, stop) {
        Ok(()) => 0,
        Err(err) => {
            let _ = writeln!(stderr, "{err}");
            err.exit_code()
        }
    }
}

fn execute(cli: Cli, stdout: &mut dyn Write, stop: &AtomicBool) -> CliResult {
    let target = target::resolve(&cli.global)?;
    let client = target::connect(&target, Duration::from_millis(cli.global.timeout_ms))?;
    let mut ctx = Ctx { client, out: Out::new(stdout, cli.global.json), stop };
    match cli.command {
        Command::Queue(cmd) => queue::run(&mut ctx, cmd),
        Command::Stream(cmd) => stream::run(&mut ctx, cmd),
        Command::Pubsub(cmd) => pubsub::run(&mut ctx, cmd),
        Command::Store(cmd) => store::run(&mut ctx, cmd),
        Command::Server(cmd) => server::run(&mut ctx, cmd, &target),
    }
}
