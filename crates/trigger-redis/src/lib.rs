//! wisp-trigger-redis serves `[[trigger.redis]]`: one Redis pub/sub connection per
//! server address, subscribed to every channel the app's Redis triggers name; each
//! message runs, through the runtime's executor, on every component subscribed to its
//! channel. A trigger runs at most its component's `max_instances` messages at once;
//! past that the subscription stops reading and the server holds the messages (up to
//! its pub/sub output-buffer limit). It reconnects (with capped backoff) and
//! resubscribes when the server goes away, and unsubscribes on shutdown.

mod guest;
mod subscription;

use guest::RedisExport;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wisp_engine::InternalHttp;
use wisp_manifest::template::RenderError;
use wisp_manifest::{App, TriggerConfig, TriggerKind};
use wisp_runtime::AppRuntime;

pub use subscription::CONNECT_TIMEOUT;

/// Errors setting an app's Redis triggers up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component exports neither form of the Redis handler.
    #[error(
        "component `{id}` does not export `fermyon:spin/inbound-redis` (spin-sdk 5's \
         `#[redis_component]`) or `spin:redis/inbound-redis@3.0.0` (spin-sdk 7's \
         `#[redis_subscriber]`), which `[[trigger.redis]]` calls"
    )]
    NotRedisHandler {
        /// Component id.
        id: String,
    },
    /// A trigger names a component the runtime did not load.
    #[error("redis trigger `{0}`: its component was not loaded")]
    NotLoaded(String),
    /// A templated field could not be rendered.
    #[error("redis trigger `{trigger}`: `{field}`: {source}")]
    Render {
        /// Trigger id.
        trigger: String,
        /// The field (`address` or `channel`).
        field: &'static str,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// The rendered address is not a Redis URL.
    #[error("redis trigger `{trigger}`: `address` {address:?} is not a Redis URL: {reason}")]
    Address {
        /// Trigger id.
        trigger: String,
        /// The rendered address.
        address: String,
        /// Why.
        reason: String,
    },
}

/// The server at an address could not be subscribed to at startup.
#[derive(Debug, thiserror::Error)]
#[error("redis trigger: cannot subscribe on {address}: {reason}")]
pub struct ConnectError {
    /// The address (as rendered from the manifest).
    pub address: String,
    /// Why.
    pub reason: String,
}

/// One trigger's handler: the component and its export.
#[derive(Clone)]
pub(crate) struct Handler {
    pub(crate) trigger: String,
    pub(crate) component: usize,
    pub(crate) export: Arc<RedisExport>,
    /// The trigger's runs in flight, bounded by the component's `max_instances`: when
    /// all are taken, the subscription stops reading until one ends.
    pub(crate) in_flight: Arc<Semaphore>,
}

/// One subscription to be made: a server and the channels its component listens to.
struct Server {
    client: redis::Client,
    /// Channel → the handlers a message on it runs.
    channels: BTreeMap<String, Vec<Handler>>,
}

/// The app's Redis triggers, grouped by server address and component (each component
/// connects with its own TLS settings) and then by channel.
pub struct RedisTrigger {
    runtime: Arc<AppRuntime>,
    /// (address, component id) → its subscription.
    servers: BTreeMap<(String, String), Server>,
}

impl RedisTrigger {
    /// The components the Redis triggers of `app` name: what the runtime must load.
    pub fn component_ids(app: &App) -> impl Iterator<Item = &str> {
        app.trigger_components(TriggerKind::Redis)
    }

    /// The app's Redis triggers, their addresses and channels rendered with `render` (the
    /// app's variables) and their components checked against what `runtime` loaded;
    /// `None` when the app has none. `client(component, address)` makes the client a
    /// component's subscription connects with (its `[[client_tls]]` settings for a
    /// `rediss://` server).
    pub fn new(
        runtime: Arc<AppRuntime>,
        app: &App,
        render: impl Fn(&str) -> Result<String, RenderError>,
        client: impl Fn(&str, &str) -> redis::RedisResult<redis::Client>,
    ) -> Result<Option<Self>, LoadError> {
        let mut servers: BTreeMap<(String, String), Server> = BTreeMap::new();
        for trigger in &app.triggers {
            let TriggerConfig::Redis(config) = &trigger.config else {
                continue;
            };
            let rendered = |field, text: &str| {
                render(text).map_err(|source| LoadError::Render {
                    trigger: trigger.id.clone(),
                    field,
                    source,
                })
            };
            let address = rendered("address", &config.address)?;
            let channel = rendered("channel", &config.channel)?;
            let component = runtime
                .index_of(&trigger.component)
                .ok_or_else(|| LoadError::NotLoaded(trigger.id.clone()))?;
            let export = RedisExport::find(runtime.component(component).instance_pre())
                .ok_or_else(|| LoadError::NotRedisHandler {
                    id: trigger.component.clone(),
                })?;
            let key = (address, trigger.component.clone());
            let server = match servers.entry(key) {
                Entry::Occupied(server) => server.into_mut(),
                Entry::Vacant(slot) => {
                    let client = client(&trigger.component, &slot.key().0).map_err(|e| {
                        LoadError::Address {
                            trigger: trigger.id.clone(),
                            address: slot.key().0.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    slot.insert(Server {
                        client,
                        channels: BTreeMap::new(),
                    })
                }
            };
            server.channels.entry(channel).or_default().push(Handler {
                trigger: trigger.id.clone(),
                component,
                export: Arc::new(export),
                in_flight: Arc::new(Semaphore::new(
                    runtime.component(component).limits().max_instances as usize,
                )),
            });
        }
        Ok((!servers.is_empty()).then_some(Self { runtime, servers }))
    }

    /// Each subscription, as `(address, channel, component id)`, for the banner.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.servers
            .iter()
            .flat_map(|((address, component), server)| {
                server
                    .channels
                    .keys()
                    .map(move |c| (address.as_str(), c.as_str(), component.as_str()))
            })
    }

    /// Subscribes on every server now (an unreachable one is an error: nothing is
    /// started), then serves messages in the background until `shutdown` is cancelled.
    /// Handler runs are spawned on `tasks`, so a caller can wait for them to finish.
    /// `internal` serves the guests' in-process requests when the app has HTTP triggers.
    pub async fn start(
        self,
        internal: Option<Arc<dyn InternalHttp>>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<(), ConnectError> {
        let mut connected = Vec::new();
        for ((address, component), server) in self.servers {
            let names: Vec<String> = server.channels.keys().cloned().collect();
            let stream = subscription::subscribe(&server.client, &names)
                .await
                .map_err(|reason| ConnectError {
                    address: address.clone(),
                    reason,
                })?;
            connected.push((address, component, server, stream));
        }
        for (address, component, server, stream) in connected {
            let subscription = subscription::Subscription {
                runtime: self.runtime.clone(),
                internal: internal.clone(),
                address,
                component,
                client: server.client,
                channels: server.channels,
                tasks: tasks.clone(),
            };
            tasks.spawn(subscription.serve(stream, shutdown.clone()));
        }
        Ok(())
    }
}
