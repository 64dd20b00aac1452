//! [`Subscription`]: the stream of pushes for one SUBSCRIBE of the async client. It owns the
//! receiving end of a bounded buffer the connection task fills; dropping it tells the task to
//! forget it (and UNSUBSCRIBE when no other subscription has its pattern).

use std::pin::Pin;
use std::task::{Context, Poll};

use nexo_proto::Push;
use tokio::sync::mpsc;

use super::AsyncClient;

/// The pushes whose topic matches one subscribed pattern, in the order the server sent them.
///
/// A [`futures_core::Stream`] of [`Push`]; [`Subscription::next`] reads it without a stream
/// helper crate. The subscription is made again after each reconnect, so the stream goes on; it
/// ends (`None`) only when the server refuses it again after a reconnect. A subscription that is
/// not read fills its buffer ([`crate::ClientOptions::push_buffer`]) and then holds up the whole
/// connection: read it from its own task.
#[derive(Debug)]
pub struct Subscription {
    pattern: String,
    sub: u64,
    pushes: mpsc::Receiver<Push>,
    client: AsyncClient,
}

impl Subscription {
    pub(crate) fn new(pattern: &str, sub: u64, pushes: mpsc::Receiver<Push>, client: AsyncClient) -> Self {
        Self { pattern: pattern.to_owned(), sub, pushes, client }
    }

    /// The pattern as subscribed.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The next push; `None` when the subscription has ended.
    pub async fn next(&mut self) -> Option<Push> {
        self.pushes.recv().await
    }

    /// A push already buffered, without waiting.
    pub fn try_next(&mut self) -> Option<Push> {
        self.pushes.try_recv().ok()
    }
}

impl futures_core::Stream for Subscription {
    type Item = Push;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Push>> {
        self.pushes.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.client.unsubscribe_dropped(self.sub);
    }
}
