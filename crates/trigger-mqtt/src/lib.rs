//! wisp-trigger-mqtt serves `[[trigger.mqtt]]`: each trigger has its own MQTT session
//! with the app's broker (`[application.trigger.mqtt]`), subscribed to its topic filter
//! at its QoS. Every message runs the component's `spin:mqtt-trigger@3.0.0`
//! `handle-message` (or the earlier plugin's unversioned one) through the runtime's
//! executor; a QoS 1 or 2 message is
//! acknowledged only once the handler returned `ok` (at least once). A trigger runs at
//! most its component's `max_instances` messages at once; past that its session stops
//! reading until one ends.

mod guest;
mod session;

use guest::MqttExport;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wisp_engine::InternalHttp;
use wisp_manifest::template::RenderError;
use wisp_manifest::{App, TriggerConfig, TriggerKind};
use wisp_runtime::AppRuntime;

pub use session::CONNECT_TIMEOUT;

/// Errors setting an app's MQTT triggers up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component does not export the MQTT handler.
    #[error(
        "component `{id}` does not export `spin:mqtt-trigger/spin-mqtt@3.0.0`'s \
         `handle-message` (or the unversioned `spin:mqtt-trigger` one of the earlier \
         plugin), which `[[trigger.mqtt]]` calls"
    )]
    NotMqttHandler {
        /// Component id.
        id: String,
    },
    /// The app has MQTT triggers but no `[application.trigger.mqtt]`.
    #[error("mqtt trigger `{0}`: the app has no `[application.trigger.mqtt]` broker address")]
    NoBroker(String),
    /// A trigger names a component the runtime did not load.
    #[error("mqtt trigger `{0}`: its component was not loaded")]
    NotLoaded(String),
    /// A templated field could not be rendered.
    #[error("mqtt trigger: `{field}`: {source}")]
    Render {
        /// The field.
        field: String,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// The broker address is not one the trigger can use.
    #[error("`application.trigger.mqtt.address` {address:?}: {reason}")]
    Address {
        /// The rendered address.
        address: String,
        /// Why.
        reason: String,
    },
}

/// A broker could not be subscribed to at startup.
#[derive(Debug, thiserror::Error)]
#[error("mqtt trigger `{trigger}`: cannot subscribe to {topic:?} on {address}: {reason}")]
pub struct ConnectError {
    /// Trigger id.
    pub trigger: String,
    /// The topic filter.
    pub topic: String,
    /// The broker address.
    pub address: String,
    /// Why.
    pub reason: String,
}

/// The broker every MQTT trigger of the app connects to, rendered.
#[derive(Clone)]
pub(crate) struct Broker {
    pub(crate) address: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Whether it speaks TLS (`mqtts://`).
    pub(crate) tls: bool,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) keep_alive_secs: u64,
    /// Names the sessions: `[application] name`.
    pub(crate) app_name: String,
}

/// One trigger: its topic, QoS and handler.
pub(crate) struct Subscriber {
    pub(crate) trigger: String,
    pub(crate) topic: String,
    pub(crate) qos: u8,
    pub(crate) component: usize,
    pub(crate) export: guest::MqttExport,
    /// The trigger's runs in flight, bounded by the component's `max_instances`: when
    /// all are taken, the session stops reading until one ends.
    pub(crate) in_flight: Arc<Semaphore>,
    /// The TLS client configuration of the trigger's component for the broker, used
    /// when the broker speaks TLS.
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

/// The app's MQTT triggers.
pub struct MqttTrigger {
    runtime: Arc<AppRuntime>,
    broker: Broker,
    subscribers: Vec<Arc<Subscriber>>,
}

impl MqttTrigger {
    /// The components the MQTT triggers of `app` name: what the runtime must load.
    pub fn component_ids(app: &App) -> impl Iterator<Item = &str> {
        app.trigger_components(TriggerKind::Mqtt)
    }

    /// The app's MQTT triggers, the broker settings and topics rendered with `render`
    /// (the app's variables), the components checked against what `runtime` loaded;
    /// `None` when the app has none. `tls(component, host, port)` is the TLS client
    /// configuration a trigger's session uses with an `mqtts://` broker (its
    /// component's `[[client_tls]]` settings).
    pub fn new(
        runtime: Arc<AppRuntime>,
        app: &App,
        render: impl Fn(&str) -> Result<String, RenderError>,
        tls: impl Fn(&str, &str, u16) -> Arc<rustls::ClientConfig>,
    ) -> Result<Option<Self>, LoadError> {
        let rendered = |field: &str, text: &str| {
            render(text).map_err(|source| LoadError::Render {
                field: field.to_owned(),
                source,
            })
        };
        let Some(first) = app.triggers.iter().find(|t| t.kind() == TriggerKind::Mqtt) else {
            return Ok(None);
        };
        let settings = app
            .mqtt
            .as_ref()
            .ok_or_else(|| LoadError::NoBroker(first.id.clone()))?;
        let field = "application.trigger.mqtt";
        let address = rendered(&format!("{field}.address"), &settings.address)?;
        let optional = |name: &str, text: &Option<String>| match text {
            Some(text) => rendered(&format!("{field}.{name}"), text),
            None => Ok(String::new()),
        };
        let (host, port, tls_broker) =
            session::parse_address(&address).map_err(|reason| LoadError::Address {
                address: address.clone(),
                reason,
            })?;
        let mut subscribers = Vec::new();
        for trigger in &app.triggers {
            let TriggerConfig::Mqtt(config) = &trigger.config else {
                continue;
            };
            let topic = rendered(&format!("trigger `{}`: topic", trigger.id), &config.topic)?;
            let component = runtime
                .index_of(&trigger.component)
                .ok_or_else(|| LoadError::NotLoaded(trigger.id.clone()))?;
            let export = MqttExport::find(runtime.component(component)).ok_or_else(|| {
                LoadError::NotMqttHandler {
                    id: trigger.component.clone(),
                }
            })?;
            subscribers.push(Arc::new(Subscriber {
                trigger: trigger.id.clone(),
                topic,
                qos: config.qos,
                component,
                export,
                in_flight: Arc::new(Semaphore::new(
                    runtime.component(component).limits().max_instances as usize,
                )),
                tls: tls(&trigger.component, &host, port),
            }));
        }
        let broker = Broker {
            host,
            port,
            tls: tls_broker,
            username: optional("username", &settings.username)?,
            password: optional("password", &settings.password)?,
            keep_alive_secs: settings.keep_alive_secs,
            app_name: app.name.clone(),
            address,
        };
        Ok(Some(Self {
            runtime,
            broker,
            subscribers,
        }))
    }

    /// Each subscription, as `(trigger id, topic, qos)`, for the banner.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, &str, u8)> {
        self.subscribers
            .iter()
            .map(|s| (s.trigger.as_str(), s.topic.as_str(), s.qos))
    }

    /// The broker's address, as rendered.
    pub fn address(&self) -> &str {
        &self.broker.address
    }

    /// Connects and subscribes every trigger's session now (a broker that does not
    /// accept is an error: nothing is started), then serves messages in the background
    /// until `shutdown` is cancelled. Everything is spawned on `tasks`, so a caller can
    /// wait for in-flight handlers to finish.
    pub async fn start(
        self,
        internal: Option<Arc<dyn InternalHttp>>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<(), ConnectError> {
        let mut connected = Vec::new();
        for subscriber in &self.subscribers {
            let live = session::Session::connect(&self.broker, subscriber)
                .await
                .map_err(|reason| ConnectError {
                    trigger: subscriber.trigger.clone(),
                    topic: subscriber.topic.clone(),
                    address: self.broker.address.clone(),
                    reason,
                })?;
            connected.push((subscriber.clone(), live));
        }
        for (subscriber, live) in connected {
            let serve = live.serve(
                self.runtime.clone(),
                internal.clone(),
                subscriber,
                shutdown.clone(),
            );
            tasks.spawn(serve);
        }
        Ok(())
    }
}
