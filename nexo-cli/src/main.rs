//! The `nexo-cli` binary: installs the Ctrl-C / SIGTERM flag that ends `stream tail` and
//! `pubsub subscribe` cleanly (so `tail` removes its group), then runs [`nexo_cli::run_until`].
//! Everything else is in the library.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

fn main() {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Without the handler Ctrl-C still ends the process, only less tidily.
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let code =
        nexo_cli::run_until(std::env::args_os(), &mut std::io::stdout(), &mut std::io::stderr(), &stop);
    std::process::exit(code);
}
