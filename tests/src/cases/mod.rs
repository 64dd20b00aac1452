//! The cases, one `pub fn <case>(bin: &Path)` each, grouped by what they exercise, and the small
//! helpers they share. Every case starts its own server, so cases are independent and can run in
//! parallel.

use std::time::{Duration, Instant};

use nexo_client::Client;
use nexo_proto::Push;

mod async_client;
mod auth;
mod auth_file;
mod auth_ui;
mod bad_input;
mod cli;
mod config;
mod eviction;
mod hostile_conn;
mod hostile_fanout;
mod hostile_glob;
mod hostile_reply;
mod hostile_storage;
mod hostile_ui;
mod lifecycle;
mod load;
mod mqtt;
mod pubsub;
mod pubsub_order;
mod queue;
mod resp;
mod resp_introspect;
mod resp_tx;
mod store;
mod stream;
mod ttl;
mod ui;

pub use async_client::*;
pub use auth::*;
pub use auth_file::*;
pub use auth_ui::*;
pub use bad_input::*;
pub use cli::*;
pub use config::*;
pub use eviction::*;
pub use hostile_conn::*;
pub use hostile_fanout::*;
pub use hostile_glob::*;
pub use hostile_reply::*;
pub use hostile_storage::*;
pub use hostile_ui::*;
pub use lifecycle::*;
pub use load::*;
pub use mqtt::*;
pub use pubsub::*;
pub use pubsub_order::*;
pub use queue::*;
pub use resp::*;
pub use resp_introspect::*;
pub use resp_tx::*;
pub use store::*;
pub use stream::*;
pub use ttl::*;
pub use ui::*;

/// How long a case waits for something that should come at once (generous: 2 cores, debug).
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Receives pushes until one carries `sentinel` as its payload (that one included); panics if it
/// does not arrive within [`PATIENCE`]. Because pushes to one connection keep their order, every
/// push the server meant to send before the sentinel is in the returned list.
pub(crate) fn pushes_until(client: &mut Client, sentinel: &[u8]) -> Vec<Push> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "sentinel {:?} never arrived; got {got:?}",
            String::from_utf8_lossy(sentinel)
        );
        if let Some(push) = client.next_push(left).expect("receive a push") {
            let done = push.payload == sentinel;
            got.push(push);
            if done {
                return got;
            }
        }
    }
}

/// `(topic, payload as text)` of each push, for readable comparisons.
pub(crate) fn summary(pushes: &[Push]) -> Vec<(String, String)> {
    pushes.iter().map(|p| (p.topic.clone(), String::from_utf8_lossy(&p.payload).into_owned())).collect()
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns whether it did.
pub(crate) fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
