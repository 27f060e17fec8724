//! Triggers between wisp's model and the locked app's `trigger_config`, which is the
//! `[[trigger.<type>]]` table as JSON (Spin copies the table, naming the component by id).

use crate::locked::LockedTrigger;
use serde_json::{Map, Value, json};
use wisp_manifest::{Executor, Route, Trigger, TriggerConfig};

/// The trigger types a locked app may hold for wisp to run it.
pub const KNOWN_TYPES: [&str; 5] = ["http", "redis", "cron", "mqtt", "command"];

/// One trigger as Spin locks it.
pub fn lock_trigger(trigger: &Trigger) -> LockedTrigger {
    let mut config = Map::new();
    config.insert("component".into(), trigger.component.clone().into());
    match &trigger.config {
        TriggerConfig::Http(http) => {
            let route = match &http.route {
                Route::Path(p) => Value::from(p.clone()),
                Route::Private => json!({ "private": true }),
            };
            config.insert("route".into(), route);
            if http.executor == Executor::Wagi {
                config.insert("executor".into(), json!({ "type": "wagi" }));
            }
        }
        TriggerConfig::Redis(redis) => {
            config.insert("channel".into(), redis.channel.clone().into());
            config.insert("address".into(), redis.address.clone().into());
        }
        TriggerConfig::Cron(cron) => {
            config.insert(
                "cron_expression".into(),
                cron.cron_expression.clone().into(),
            );
        }
        TriggerConfig::Mqtt(mqtt) => {
            config.insert("topic".into(), mqtt.topic.clone().into());
            config.insert("qos".into(), mqtt.qos.into());
        }
        TriggerConfig::Command => {}
    }
    LockedTrigger {
        id: trigger.id.clone(),
        trigger_type: trigger.kind().name().to_owned(),
        trigger_config: Value::Object(config),
    }
}
