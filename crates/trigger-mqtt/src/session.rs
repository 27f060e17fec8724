//! One trigger's MQTT session: connect and subscribe, run each message on the handler
//! and acknowledge it after, reconnect (and resubscribe) when the broker goes away, and
//! on shutdown stop taking messages, let running handlers finish, unsubscribe and
//! disconnect.

use crate::{Broker, Subscriber};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wisp_engine::InternalHttp;
use wisp_runtime::{AppRuntime, EventError};

/// How long connecting and subscribing may take at startup.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before reconnecting to a lost broker; doubled after every failed
/// attempt, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Requests (acknowledgements, mostly) queued for the event loop.
const REQUEST_QUEUE: usize = 1024;
/// The broker's default port.
const DEFAULT_PORT: u16 = 1883;
/// The broker's default port for TLS.
const DEFAULT_TLS_PORT: u16 = 8883;

/// The host, port and whether TLS is spoken, of an `mqtt://host[:port]` (or `tcp://`;
/// port 1883 by default) or `mqtts://host[:port]` (or `ssl://`; port 8883) address.
pub(crate) fn parse_address(address: &str) -> Result<(String, u16, bool), String> {
    let (rest, tls) = match address.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => (rest, false),
        Some(("mqtts" | "ssl", rest)) => (rest, true),
        _ => return Err("expected `mqtt://host:port` or `mqtts://host:port`".into()),
    };
    let default_port = if tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("`{port}` is not a port number"))?;
            (host, port)
        }
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok((host.to_owned(), port, tls))
}

fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// A connected, subscribed session.
pub(crate) struct Session {
    client: AsyncClient,
    events: EventLoop,
    /// Messages that arrived before the subscription was confirmed (a resumed session's
    /// queue): served first.
    early: Vec<Publish>,
}

impl Session {
    /// Connects to the broker and subscribes to the trigger's topic, within
    /// [`CONNECT_TIMEOUT`].
    pub(crate) async fn connect(broker: &Broker, subscriber: &Subscriber) -> Result<Self, String> {
        let (client, mut events) = AsyncClient::new(options(broker, subscriber), REQUEST_QUEUE);
        client
            .subscribe(subscriber.topic.clone(), qos(subscriber.qos))
            .await
            .map_err(|e| e.to_string())?;
        let mut early = Vec::new();
        let handshake = async {
            loop {
                match events.poll().await.map_err(|e| e.to_string())? {
                    Event::Incoming(Packet::SubAck(ack)) => {
                        if ack
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                        {
                            return Err("the broker refused the subscription".to_owned());
                        }
                        return Ok(());
                    }
                    Event::Incoming(Packet::Publish(p)) => early.push(p),
                    _ => {}
                }
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok(())) => Ok(Self {
                client,
                events,
                early,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }

    /// Serves messages until `shutdown` is cancelled, then lets running handlers finish
    /// (their acknowledgements still go out), unsubscribes and disconnects.
    pub(crate) async fn serve(
        mut self,
        runtime: Arc<AppRuntime>,
        internal: Option<Arc<dyn InternalHttp>>,
        subscriber: Arc<Subscriber>,
        shutdown: CancellationToken,
    ) {
        let span = tracing::info_span!("mqtt", trigger = %subscriber.trigger);
        let handlers = TaskTracker::new();
        // Waits for a run to spare, then starts one; `false` if shutdown came first.
        let dispatch = async |publish: Publish| {
            let permit = tokio::select! {
                () = shutdown.cancelled() => return false,
                permit = subscriber.in_flight.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { return false };
            let run = handle(
                runtime.clone(),
                internal.clone(),
                subscriber.clone(),
                self.client.clone(),
                publish,
                permit,
            );
            handlers.spawn(run.instrument(span.clone()));
            true
        };
        for publish in std::mem::take(&mut self.early) {
            dispatch(publish).await;
        }
        let mut stopping = false;
        let mut lost = false;
        let mut delay = FIRST_BACKOFF;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    handlers.close();
                    let _ = self.client.try_unsubscribe(subscriber.topic.clone());
                }
                () = handlers.wait(), if stopping => break,
                event = self.events.poll() => match event {
                    // Once stopping, new messages are left unacknowledged: the broker
                    // delivers them again to the next session.
                    Ok(Event::Incoming(Packet::Publish(p))) if !stopping => {
                        dispatch(p).await;
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) if lost => {
                        lost = false;
                        delay = FIRST_BACKOFF;
                        let _ = self
                            .client
                            .try_subscribe(subscriber.topic.clone(), qos(subscriber.qos));
                        span.in_scope(|| tracing::info!("mqtt trigger: reconnected and resubscribed"));
                    }
                    Ok(_) => {}
                    Err(e) if stopping => {
                        span.in_scope(|| tracing::debug!("mqtt trigger: connection ended: {e}"));
                        handlers.wait().await;
                        return;
                    }
                    Err(e) => {
                        if !lost {
                            span.in_scope(|| {
                                tracing::warn!("mqtt trigger: lost the broker ({e}); reconnecting")
                            });
                            lost = true;
                        }
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(MAX_BACKOFF);
                    }
                },
            }
        }
        self.disconnect().await;
    }

    /// Sends DISCONNECT and gives the event loop a moment to put it (and any last
    /// acknowledgements) on the wire.
    async fn disconnect(mut self) {
        let _ = self.client.try_disconnect();
        let flush = async {
            while let Ok(event) = self.events.poll().await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
    }
}

/// Session options: QoS 0 triggers get a clean session under a unique client id; QoS 1
/// and 2 triggers a persistent one named after the app and trigger, so a message whose
/// handler failed (never acknowledged) is delivered again when the session resumes.
fn options(broker: &Broker, subscriber: &Subscriber) -> MqttOptions {
    let persistent = subscriber.qos > 0;
    let client_id = if persistent {
        format!("wisp-{}-{}", broker.app_name, subscriber.trigger)
    } else {
        format!(
            "wisp-{}-{}-{}",
            broker.app_name,
            subscriber.trigger,
            std::process::id()
        )
    };
    let mut opts = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    // The protocol's floor is 5 s; 0 would mean "no keep-alive", which rumqttc refuses.
    opts.set_keep_alive(Duration::from_secs(broker.keep_alive_secs.max(5)));
    opts.set_clean_session(!persistent);
    opts.set_manual_acks(true);
    if broker.tls {
        opts.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(subscriber.tls.clone()),
        ));
    }
    if !broker.username.is_empty() {
        opts.set_credentials(broker.username.clone(), broker.password.clone());
    }
    opts
}

/// Runs one message on the trigger's component, acknowledges it if the handler
/// returned `ok`, and logs how it went.
async fn handle(
    runtime: Arc<AppRuntime>,
    internal: Option<Arc<dyn InternalHttp>>,
    subscriber: Arc<Subscriber>,
    client: AsyncClient,
    publish: Publish,
    permit: OwnedSemaphorePermit,
) {
    let called = subscriber.clone();
    let payload = publish.payload.to_vec();
    let topic = publish.topic.clone();
    let outcome = runtime
        .run_event(
            subscriber.component,
            internal,
            &[],
            move |store, instance| {
                Box::pin(async move { called.export.call(store, instance, payload, topic).await })
            },
        )
        .await;
    // The run is over: free its place before acknowledging, which waits for the event
    // loop that may itself be waiting for a place.
    drop(permit);
    let component = runtime.component(subscriber.component).id();
    let topic = publish.topic.as_str();
    match outcome {
        Ok(Ok(())) => {
            if publish.qos != QoS::AtMostOnce
                && let Err(e) = client.ack(&publish).await
            {
                tracing::warn!(component, topic, "cannot acknowledge the message: {e}");
            }
            tracing::debug!(component, topic, "message handled");
        }
        Ok(Err(e)) => {
            tracing::warn!(
                component,
                topic,
                "handler returned an error (not acknowledged): {e}"
            )
        }
        Err(EventError::Lease(e)) => {
            tracing::error!(
                component,
                topic,
                "message not handled (not acknowledged): {e}"
            )
        }
        // The executor has logged the guest's failure.
        Err(EventError::Guest(_)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn addresses_give_host_port_and_tls() {
        let ok = |a: &str| parse_address(a).unwrap();
        assert_eq!(
            ok("mqtt://127.0.0.1:1884"),
            ("127.0.0.1".into(), 1884, false)
        );
        assert_eq!(ok("tcp://broker"), ("broker".into(), 1883, false));
        assert_eq!(
            ok("mqtts://broker.example.com"),
            ("broker.example.com".into(), 8883, true)
        );
        assert_eq!(ok("ssl://[::1]:8884/"), ("::1".into(), 8884, true));
        assert_eq!(ok("mqtt://[::1]"), ("::1".into(), 1883, false));
        for bad in [
            "broker:1883",
            "http://broker",
            "mqtt://",
            "mqtt://host:port",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
