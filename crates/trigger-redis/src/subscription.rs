//! One Redis server's subscription: connect and subscribe, hand each message to its
//! channel's handlers, reconnect when the connection is lost, unsubscribe on shutdown.

use crate::Handler;
use futures::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wisp_engine::InternalHttp;
use wisp_runtime::AppRuntime;

/// How long connecting and subscribing to a server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before reconnecting to a lost server; it doubles after every failed
/// attempt, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a subscription pings its server.
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping may go unanswered before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects with `client` and subscribes to `channels`, within [`CONNECT_TIMEOUT`].
pub(crate) async fn subscribe(
    client: &redis::Client,
    channels: &[String],
) -> Result<PubSub, String> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        for channel in channels {
            pubsub.subscribe(channel).await?;
        }
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// A live subscription to one server, and what its messages run.
pub(crate) struct Subscription {
    pub(crate) runtime: Arc<AppRuntime>,
    pub(crate) internal: Option<Arc<dyn InternalHttp>>,
    pub(crate) address: String,
    /// The component whose subscription this is (for the logs).
    pub(crate) component: String,
    /// The client it (re)connects with.
    pub(crate) client: redis::Client,
    /// Channel → the handlers a message on it runs.
    pub(crate) channels: BTreeMap<String, Vec<Handler>>,
    /// Where handler runs are spawned, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
}

impl Subscription {
    /// Serves messages until `shutdown` is cancelled, reconnecting whenever the server
    /// goes away (or stops answering pings); then unsubscribes.
    pub(crate) async fn serve(self, pubsub: PubSub, shutdown: CancellationToken) {
        let (mut sink, mut stream) = pubsub.split();
        loop {
            if !self.read(&mut sink, &mut stream, &shutdown).await {
                let names: Vec<&String> = self.channels.keys().collect();
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.unsubscribe(names)).await;
                return;
            }
            tracing::warn!(
                address = %self.address,
                component = %self.component,
                "redis trigger: lost the connection to the server; reconnecting"
            );
            match self.reconnect(&shutdown).await {
                Some(again) => (sink, stream) = again.split(),
                None => return,
            }
        }
    }

    /// Hands messages to their handlers until shutdown (`false`) or until the
    /// connection is lost (`true`): closed, or a ping unanswered. The pings find a
    /// server that vanished without closing the socket (a partition, a NAT that forgot
    /// the connection), which a subscriber that only reads would wait on forever.
    async fn read(
        &self,
        sink: &mut PubSubSink,
        stream: &mut PubSubStream,
        shutdown: &CancellationToken,
    ) -> bool {
        let start = tokio::time::Instant::now() + PING_INTERVAL;
        let mut ping = tokio::time::interval_at(start, PING_INTERVAL);
        // After a long wait for a free instance, one ping, not a burst of them.
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return false,
                message = stream.next() => match message {
                    Some(message) => {
                        if !self.dispatch(&message, shutdown).await {
                            return false;
                        }
                    }
                    None => return true,
                },
                _ = ping.tick() => {
                    let answer = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>());
                    if !matches!(answer.await, Ok(Ok(_))) {
                        return true;
                    }
                }
            }
        }
    }

    /// Reconnects and resubscribes with capped exponential backoff; `None` if shutdown
    /// came first.
    async fn reconnect(&self, shutdown: &CancellationToken) -> Option<PubSub> {
        let names: Vec<String> = self.channels.keys().cloned().collect();
        let mut delay = FIRST_BACKOFF;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            match subscribe(&self.client, &names).await {
                Ok(pubsub) => {
                    tracing::info!(
                        address = %self.address,
                        component = %self.component,
                        "redis trigger: resubscribed"
                    );
                    return Some(pubsub);
                }
                Err(e) => {
                    tracing::debug!(
                        address = %self.address,
                        component = %self.component,
                        "redis trigger: reconnect failed: {e}"
                    );
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Starts a run of every handler of the message's channel, each once its trigger
    /// has a run to spare; `false` if shutdown came while waiting.
    async fn dispatch(&self, message: &redis::Msg, shutdown: &CancellationToken) -> bool {
        let channel = message.get_channel_name();
        let Some(handlers) = self.channels.get(channel) else {
            return true;
        };
        let payload = message.get_payload_bytes();
        for handler in handlers {
            let permit = tokio::select! {
                () = shutdown.cancelled() => return false,
                permit = handler.in_flight.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { return false };
            let span = tracing::info_span!("redis", trigger = %handler.trigger, channel);
            let run = handle(
                self.runtime.clone(),
                self.internal.clone(),
                handler.clone(),
                payload.to_vec(),
            );
            self.tasks.spawn(
                async move {
                    run.await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
        true
    }
}

/// Runs one message on one handler's component and logs how it went.
async fn handle(
    runtime: Arc<AppRuntime>,
    internal: Option<Arc<dyn InternalHttp>>,
    handler: Handler,
    payload: Vec<u8>,
) {
    let export = handler.export.clone();
    let outcome = runtime
        .run_event(handler.component, internal, &[], move |store, instance| {
            Box::pin(async move { export.call(store, instance, payload).await })
        })
        .await;
    let component = runtime.component(handler.component).id();
    match outcome {
        Ok(Ok(())) => tracing::debug!(component, "message handled"),
        Ok(Err(e)) => tracing::warn!(component, "handler returned an error: {e}"),
        // The executor has logged the guest's failure; a lease failure is logged here.
        Err(wisp_runtime::EventError::Lease(e)) => {
            tracing::error!(component, "message dropped: {e}")
        }
        Err(wisp_runtime::EventError::Guest(_)) => {}
    }
}
