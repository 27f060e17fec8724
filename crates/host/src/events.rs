//! The app's event triggers (Redis, cron, MQTT) as a host runs them: started
//! together after the components load, stopped together at shutdown, with their
//! in-flight handlers given the shutdown grace to finish.

use crate::HostError;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wisp_engine::InternalHttp;
use wisp_trigger_cron::CronTrigger;
use wisp_trigger_mqtt::MqttTrigger;
use wisp_trigger_redis::RedisTrigger;

/// The app's event triggers, each `None` when the app has none of that kind.
pub struct EventTriggers {
    /// `[[trigger.redis]]`.
    pub redis: Option<RedisTrigger>,
    /// `[[trigger.cron]]`.
    pub cron: Option<CronTrigger>,
    /// `[[trigger.mqtt]]`.
    pub mqtt: Option<MqttTrigger>,
}

/// Started event triggers: how to stop them and wait for their handlers.
pub struct RunningEvents {
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl EventTriggers {
    /// Subscribes and schedules everything (a broker that cannot be reached is an
    /// error, and then nothing runs), printing what each trigger listens to.
    pub async fn start(
        self,
        internal: Option<Arc<dyn InternalHttp>>,
    ) -> Result<RunningEvents, HostError> {
        let running = RunningEvents {
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let mut banner = String::new();
        if let Some(redis) = self.redis {
            for (address, channel, component) in redis.subscriptions() {
                banner.push_str(&format!(
                    "Redis: channel `{channel}` on {address} ({component})\n"
                ));
            }
            running
                .started(redis.start(
                    internal.clone(),
                    running.shutdown.clone(),
                    running.tasks.clone(),
                ))
                .await?;
        }
        if let Some(mqtt) = self.mqtt {
            for (trigger, topic, qos) in mqtt.subscriptions() {
                banner.push_str(&format!(
                    "MQTT: {trigger}: topic `{topic}` (QoS {qos}) on {}\n",
                    mqtt.address()
                ));
            }
            running
                .started(mqtt.start(
                    internal.clone(),
                    running.shutdown.clone(),
                    running.tasks.clone(),
                ))
                .await?;
        }
        if let Some(cron) = self.cron {
            for (trigger, schedule) in cron.schedules() {
                banner.push_str(&format!("Cron: {trigger}: `{schedule}` (UTC)\n"));
            }
            cron.start(internal, running.shutdown.clone(), running.tasks.clone());
        }
        if !banner.is_empty() {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(banner.as_bytes())
                .and_then(|()| out.flush())
                .map_err(HostError::Output)?;
        }
        Ok(running)
    }
}

impl RunningEvents {
    /// Awaits a trigger's start; if it failed, stops what already started.
    async fn started<E>(&self, start: impl Future<Output = Result<(), E>>) -> Result<(), HostError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        start.await.map_err(|e| {
            self.stop();
            HostError::Trigger(Box::new(e))
        })
    }

    /// Stops taking new events (unsubscribes, stops the schedules); idempotent.
    pub fn stop(&self) {
        self.shutdown.cancel();
        self.tasks.close();
    }

    /// Waits up to `grace` for running handlers to finish; whether they all did.
    pub async fn drain(&self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}
