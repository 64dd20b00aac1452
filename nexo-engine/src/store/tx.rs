//! The Store's transaction requests: WATCH, UNWATCH and EXEC, which act for a connection.
//!
//! Owns what EXEC means (see the `store` module docs): the watch check, then every request run in
//! order within one call, so no other request can come in between on any runtime. It must not
//! keep state of its own: the watches live in the table (`watch`), which sees every change.

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::request::StoreRequest;

use crate::ids::ConnId;
use crate::store::{MAX_KEY_BYTES, Store, StoreError};
use crate::time::Now;

/// The reply to a transaction request found inside a transaction.
pub(crate) fn nested() -> Reply {
    Reply::Err("ERR EXEC, WATCH and UNWATCH cannot run inside a transaction".to_owned())
}

impl Store {
    /// Runs one request of connection `conn`: the transaction requests here, the others in
    /// [`Store::execute`].
    pub(crate) fn execute_for(&mut self, now: Now, conn: ConnId, request: StoreRequest) -> Reply {
        match request {
            StoreRequest::Watch { keys } => self.watch(now, conn, &keys),
            StoreRequest::Unwatch => {
                self.table.watches.unwatch(conn);
                Reply::Ok
            }
            StoreRequest::Exec { commands } => self.exec(now, conn, commands),
            other => self.execute(now, other),
        }
    }

    fn watch(&mut self, now: Now, conn: ConnId, keys: &[Bytes]) -> Reply {
        if keys.iter().any(|key| key.len() > MAX_KEY_BYTES) {
            return Reply::error(StoreError::KeyTooLong);
        }
        // An expired key is reclaimed now, so its removal later is not a change seen by this
        // watch (Redis: a key already expired when watched is as good as missing).
        for key in keys {
            self.live(now, key);
        }
        match self.table.watches.watch(conn, keys) {
            Ok(()) => Reply::Ok,
            Err(max) => Reply::Err(format!("ERR too many watched keys (at most {max} per connection)")),
        }
    }

    fn exec(&mut self, now: Now, conn: ConnId, commands: Vec<StoreRequest>) -> Reply {
        // A watched key whose deadline passed since WATCH changed, even if nothing reclaimed it
        // yet: reclaiming it now reports the change.
        for key in self.table.watches.keys_of(conn) {
            self.live(now, &key);
        }
        if self.table.watches.unwatch(conn) {
            return Reply::Null;
        }
        let replies = commands
            .into_iter()
            .map(|command| {
                self.counters.commands += 1;
                self.execute(now, command)
            })
            .collect();
        Reply::Replies(replies)
    }
}
