//! Consumer loops of the async client as streams: [`QueueConsumer`] (CONSUME long-polls) and
//! [`GroupConsumer`] (JOIN, FETCH long-polls, re-JOIN). Each runs as a task that hands messages
//! over a one-slot channel, so it asks the server for more only once the reader has taken what
//! it had (backpressure). Connection failures are waited out (the client reconnects); other
//! errors end the stream after being yielded. A task stops as soon as its stream is dropped (a
//! long-poll in flight is abandoned; a group is left first).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use nexo_proto::options::ConsumeOptions;
use nexo_proto::reply::{QueueMessage, StreamMessage};
use tokio::sync::mpsc;

use super::AsyncClient;
use crate::error::{ClientError, Result};
use crate::queue::CONSUME_LOOP_DEFAULT_WAIT_MS;
use crate::stream::{GroupConsumerOptions, GroupMember};

/// Pause before retrying after a connection failure (the client is reconnecting meanwhile).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Pause after an empty batch when polling without a wait.
const EMPTY_POLL_PAUSE: Duration = Duration::from_millis(50);

/// Messages of one queue, consumed in a loop; a [`futures_core::Stream`] of
/// `Result<QueueMessage>`. Ack or nack each one with the client.
#[derive(Debug)]
pub struct QueueConsumer {
    messages: mpsc::Receiver<Result<QueueMessage>>,
}

/// One message from a consumer group, with the membership it was delivered to (what its ACK
/// must name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDelivery {
    /// The membership that fetched it.
    pub member: GroupMember,
    /// The message.
    pub message: StreamMessage,
}

/// Deliveries of one consumer group, fetched in a loop; a [`futures_core::Stream`] of
/// `Result<GroupDelivery>`. Ack each with [`AsyncClient::stream_ack`].
#[derive(Debug)]
pub struct GroupConsumer {
    deliveries: mpsc::Receiver<Result<GroupDelivery>>,
}

impl QueueConsumer {
    pub(crate) fn spawn(client: AsyncClient, name: &str, options: ConsumeOptions) -> Self {
        let (sender, messages) = mpsc::channel(1);
        let options = ConsumeOptions {
            wait_ms: Some(options.wait_ms.unwrap_or(CONSUME_LOOP_DEFAULT_WAIT_MS)),
            ..options
        };
        let name = name.to_owned();
        tokio::spawn(async move {
            tokio::select! {
                () = consume_queue(&client, &name, options, &sender) => {}
                () = sender.closed() => {}
            }
        });
        Self { messages }
    }

    /// The next message; `None` after an error was yielded.
    pub async fn next(&mut self) -> Option<Result<QueueMessage>> {
        self.messages.recv().await
    }
}

async fn consume_queue(
    client: &AsyncClient,
    name: &str,
    options: ConsumeOptions,
    sender: &mpsc::Sender<Result<QueueMessage>>,
) {
    loop {
        match client.consume(name, options).await {
            Ok(batch) => {
                if batch.is_empty() && options.wait_ms == Some(0) {
                    tokio::time::sleep(EMPTY_POLL_PAUSE).await;
                }
                for message in batch {
                    if sender.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
            }
            Err(err) if err.is_retryable() => tokio::time::sleep(RETRY_PAUSE).await,
            Err(err) => {
                let _ = sender.send(Err(err)).await;
                return;
            }
        }
    }
}

impl GroupConsumer {
    pub(crate) fn spawn(
        client: AsyncClient,
        topic: &str,
        group: &str,
        options: GroupConsumerOptions,
    ) -> Self {
        let (sender, deliveries) = mpsc::channel(1);
        let (topic, group) = (topic.to_owned(), group.to_owned());
        tokio::spawn(async move {
            let mut member = None;
            tokio::select! {
                () = consume_group(&client, &topic, &group, options, &sender, &mut member) => {}
                () = sender.closed() => {}
            }
            if let Some(member) = member {
                // Best effort: the other members get its pending messages at once.
                let _ = client.leave_group(&member).await;
            }
        });
        Self { deliveries }
    }

    /// The next delivery; `None` after an error was yielded.
    pub async fn next(&mut self) -> Option<Result<GroupDelivery>> {
        self.deliveries.recv().await
    }
}

async fn consume_group(
    client: &AsyncClient,
    topic: &str,
    group: &str,
    options: GroupConsumerOptions,
    sender: &mpsc::Sender<Result<GroupDelivery>>,
    member: &mut Option<GroupMember>,
) {
    loop {
        let current = match member {
            Some(current) => current.clone(),
            None => match client.join_group(topic, group).await {
                Ok(joined) => member.insert(joined).clone(),
                Err(err) if err.is_retryable() => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                Err(err) => {
                    let _ = sender.send(Err(err)).await;
                    return;
                }
            },
        };
        match client.fetch(&current, options.limit, options.wait_ms).await {
            Ok(batch) => {
                if batch.is_empty() && options.wait_ms == 0 {
                    tokio::time::sleep(EMPTY_POLL_PAUSE).await;
                }
                for message in batch {
                    let delivery = GroupDelivery { member: current.clone(), message };
                    if sender.send(Ok(delivery)).await.is_err() {
                        return;
                    }
                }
            }
            Err(err) if must_rejoin(&err) => {
                *member = None;
                if err.is_retryable() {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
            Err(err) if err.is_retryable() => tokio::time::sleep(RETRY_PAUSE).await,
            Err(err) => {
                let _ = sender.send(Err(err)).await;
                return;
            }
        }
    }
}

/// The membership is over: fenced, not a member, or the connection (and with it the
/// membership) dropped. A timeout is not: the same membership fetches again.
fn must_rejoin(err: &ClientError) -> bool {
    match err {
        ClientError::Server(text) => text == "FENCED" || text == "NOT_MEMBER",
        ClientError::ConnectionLost | ClientError::Closed => true,
        _ => false,
    }
}

impl futures_core::Stream for QueueConsumer {
    type Item = Result<QueueMessage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.messages.poll_recv(cx)
    }
}

impl futures_core::Stream for GroupConsumer {
    type Item = Result<GroupDelivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.deliveries.poll_recv(cx)
    }
}
