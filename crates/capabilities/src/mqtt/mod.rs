//! Outbound MQTT for `fermyon:spin/mqtt@2.0.0` (`v2.rs`) and `spin:mqtt/mqtt@3.0.0`
//! (`v3.rs`), both on the session here. A component may connect only to an
//! `mqtt://` or `mqtts://` (TLS, with the component's `[[client_tls]]` settings for the
//! broker) address its `allowed_outbound_hosts` grants; any other is Spin's
//! `connection-failed("address <address> is not permitted")`, with no connection
//! attempted. Each guest `connection` is one MQTT
//! session (client ids are per connection, so sessions are not pooled). `open` returns
//! once the broker accepted the session; `publish` returns once the message is on the
//! wire (QoS 0), acknowledged (QoS 1, `PUBACK`) or completed (QoS 2, `PUBCOMP`).

use crate::ComponentGrants;
use crate::outbound::{OutboundDenied, first_connected};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS,
};
use rumqttc::{TlsConfiguration, Transport};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long `open` waits for the broker's `CONNACK` and `publish` for its completion.
const MQTT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many MQTT sessions one instance may hold open at once.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 16;
/// Messages the client queues before `publish` waits.
const CLIENT_QUEUE: usize = 64;

/// The MQTT capability: no app state (sessions are per guest connection), an open
/// session count per instance.
#[derive(Clone, Default)]
pub struct Mqtt;

crate::capability::shared_capability!(
    Mqtt,
    instance: crate::OpenConnections,
    |linker, get, kind| {
        use crate::CapabilitiesData as D;
        crate::bindings::fermyon::spin::mqtt::add_to_linker::<T, D>(linker, get)?;
        if kind == crate::LinkerKind::Concurrent {
            crate::bindings::spin::mqtt::mqtt::add_to_linker::<T, D>(linker, get)?;
        }
        Ok(())
    }
);

/// The `connection` resource of both versions: one MQTT session, shared so a publish
/// can await without holding the instance's table.
pub struct MqttConnection(Arc<Session>);

/// One MQTT session.
struct Session {
    client: AsyncClient,
    events: Mutex<EventLoop>,
}

/// Failures, mapped onto each version's error variant of the same name.
pub(crate) enum MqttErr {
    TooManyConnections,
    ConnectionFailed(String),
    Other(String),
}

/// Options for a session to `host` (one of the checked addresses of `address`, or its
/// name for TLS, which rumqttc verifies the broker's certificate against), reached as
/// `address` (`mqtt://host:port[?client_id=…]`); a missing client id gets a unique one,
/// as brokers require one per session.
fn options(
    host: String,
    port: u16,
    address: &str,
    username: String,
    password: String,
    keep_alive_secs: u64,
) -> MqttOptions {
    let client_id = address
        .split_once('?')
        .and_then(|(_, query)| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("client_id="))
        })
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("wisp-{}-{n}", std::process::id())
        });
    let mut opts = MqttOptions::new(client_id, host, port);
    // The protocol's floor is 5 s; 0 would mean "no keep-alive", which rumqttc refuses.
    opts.set_keep_alive(Duration::from_secs(keep_alive_secs.max(5)));
    if !username.is_empty() {
        opts.set_credentials(username, password);
    }
    opts
}

impl Session {
    async fn connect(opts: MqttOptions) -> Result<Self, MqttErr> {
        let (client, mut events) = AsyncClient::new(opts, CLIENT_QUEUE);
        let failed = MqttErr::ConnectionFailed;
        let connack = tokio::time::timeout(MQTT_TIMEOUT, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(ack))) => return Ok(ack),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|_| failed("the broker did not accept the session in time".into()))?
        .map_err(failed)?;
        if connack.code != ConnectReturnCode::Success {
            return Err(failed(format!(
                "the broker refused the session: {:?}",
                connack.code
            )));
        }
        Ok(Self {
            client,
            events: Mutex::new(events),
        })
    }

    async fn publish(&self, topic: String, payload: Vec<u8>, qos: QoS) -> Result<(), MqttErr> {
        // One publish at a time per session, so the acknowledgement seen is this one's.
        let mut events = self.events.lock().await;
        self.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|e| MqttErr::Other(e.to_string()))?;
        let done = tokio::time::timeout(MQTT_TIMEOUT, async {
            loop {
                let event = events.poll().await.map_err(|e| e.to_string())?;
                let finished = matches!(
                    (qos, event),
                    (QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                        | (QoS::AtLeastOnce, Event::Incoming(Incoming::PubAck(_)))
                        | (QoS::ExactlyOnce, Event::Incoming(Incoming::PubComp(_)))
                );
                if finished {
                    return Ok::<_, String>(());
                }
            }
        })
        .await;
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MqttErr::ConnectionFailed(e)),
            Err(_) => Err(MqttErr::Other(
                "the broker did not complete the publish in time".into(),
            )),
        }
    }
}

/// Opens a session to `address` for an instance holding `open` sessions already, if
/// the component's grant allows it.
async fn open(
    grants: &ComponentGrants,
    open: usize,
    address: &str,
    username: String,
    password: String,
    keep_alive_secs: u64,
) -> Result<MqttConnection, MqttErr> {
    let schemes = ["mqtt", "tcp", "mqtts"];
    let checked = match grants.outbound_target(address, &schemes).await {
        Ok(checked) => checked,
        Err(OutboundDenied::NotAllowed) => {
            tracing::info!(
                "outbound MQTT denied: add the address to the component's \
                 allowed_outbound_hosts (e.g. `mqtt://host:1883`)"
            );
            // Spin's variant and words, which apps may match on.
            return Err(MqttErr::ConnectionFailed(format!(
                "address {address} is not permitted"
            )));
        }
        Err(denied) => return Err(MqttErr::ConnectionFailed(denied.to_string())),
    };
    if open >= MAX_CONNECTIONS_PER_INSTANCE {
        return Err(MqttErr::TooManyConnections);
    }
    let tls = checked.target.scheme == "mqtts";
    let session = first_connected(checked.hosts(!tls), |host| {
        let (user, pass) = (username.clone(), password.clone());
        let mut opts = options(
            host,
            checked.target.port,
            address,
            user,
            pass,
            keep_alive_secs,
        );
        if tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                checked.tls.config.clone(),
            )));
        }
        Session::connect(opts)
    })
    .await?;
    Ok(MqttConnection(Arc::new(session)))
}

impl MqttConnection {
    /// Ends the session without waiting: it ends with the instance either way.
    fn close(&self) {
        let _ = self.0.client.try_disconnect();
    }
}

/// Conversions between one interface version's types and the shared ones.
macro_rules! conversions {
    ($v:ident) => {
        impl From<super::MqttErr> for $v::Error {
            fn from(e: super::MqttErr) -> Self {
                match e {
                    super::MqttErr::TooManyConnections => Self::TooManyConnections,
                    super::MqttErr::ConnectionFailed(m) => Self::ConnectionFailed(m),
                    super::MqttErr::Other(m) => Self::Other(m),
                }
            }
        }

        fn qos(q: $v::Qos) -> rumqttc::QoS {
            match q {
                $v::Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
                $v::Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
                $v::Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
            }
        }
    };
}
use conversions;

mod v2;
mod v3;
