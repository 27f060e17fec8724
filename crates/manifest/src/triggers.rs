//! `[[trigger.<kind>]]` tables and `[application.trigger.*]` settings into the model's
//! list of [`Trigger`]s: each names its component (by id, or inline), and carries its
//! kind's own settings, checked here so a bad one is a load error naming its line.

use crate::model::{
    Component, CronTrigger, Executor, HttpTrigger, MqttSettings, MqttTrigger, RedisTrigger, Route,
    Trigger, TriggerConfig, TriggerKind, Variable,
};
use crate::raw::*;
use crate::{Loader, ManifestError, check_route};
use std::collections::BTreeMap;
use toml::Spanned;

/// Default MQTT keep-alive, in seconds (the Spin MQTT trigger's).
const DEFAULT_MQTT_KEEP_ALIVE_SECS: u64 = 30;

/// Where one raw trigger sits: its kind, its position among that kind's, its span.
struct Place {
    kind: TriggerKind,
    n: usize,
    at: usize,
}

impl Place {
    fn field(&self) -> String {
        format!("trigger.{}[{}]", self.kind, self.n)
    }
}

impl Loader<'_> {
    /// Every trigger of the manifest, grouped by kind in [`TriggerKind::ALL`] order.
    /// Inline components are added to `components`.
    pub(crate) fn triggers(
        &mut self,
        raw: RawTriggers,
        redis_address: Option<&str>,
        components: &mut BTreeMap<String, Component>,
        variables: &BTreeMap<String, Variable>,
    ) -> Result<Vec<Trigger>, ManifestError> {
        let mut triggers = Vec::new();
        let place = |kind, n, at| Place { kind, n, at };
        for (n, t) in raw.http.into_iter().enumerate() {
            let p = place(TriggerKind::Http, n, t.span().start);
            let t = t.into_inner();
            let config = self.http_config(&p, t.route, t.executor)?;
            triggers.push(self.trigger(&p, t.id, t.component, components, variables, config)?);
        }
        for (n, t) in raw.redis.into_iter().enumerate() {
            let p = place(TriggerKind::Redis, n, t.span().start);
            let t = t.into_inner();
            let config = self.redis_config(&p, t.channel, t.address, redis_address, variables)?;
            triggers.push(self.trigger(&p, t.id, t.component, components, variables, config)?);
        }
        for (n, t) in raw.cron.into_iter().enumerate() {
            let p = place(TriggerKind::Cron, n, t.span().start);
            let t = t.into_inner();
            let config = TriggerConfig::Cron(CronTrigger {
                cron_expression: t.cron_expression,
            });
            triggers.push(self.trigger(&p, t.id, t.component, components, variables, config)?);
        }
        for (n, t) in raw.mqtt.into_iter().enumerate() {
            let p = place(TriggerKind::Mqtt, n, t.span().start);
            let t = t.into_inner();
            let field = format!("{}.topic", p.field());
            self.check_template_vars(&t.topic, variables, Some(p.at), &field)?;
            let qos = match &t.qos {
                None => 0,
                Some(q) => self.number(q, &format!("{}.qos", p.field()), 0..=2)? as u8,
            };
            let config = TriggerConfig::Mqtt(MqttTrigger {
                topic: t.topic,
                qos,
            });
            triggers.push(self.trigger(&p, t.id, t.component, components, variables, config)?);
        }
        for (n, t) in raw.command.into_iter().enumerate() {
            let p = place(TriggerKind::Command, n, t.span().start);
            let t = t.into_inner();
            let config = TriggerConfig::Command;
            triggers.push(self.trigger(&p, t.id, t.component, components, variables, config)?);
        }
        Ok(triggers)
    }

    /// `[application.trigger.mqtt]`, checked.
    pub(crate) fn mqtt_settings(
        &self,
        raw: Spanned<RawMqttAppSettings>,
        variables: &BTreeMap<String, Variable>,
    ) -> Result<MqttSettings, ManifestError> {
        let at = Some(raw.span().start);
        let m = raw.into_inner();
        let field = "application.trigger.mqtt";
        for text in [Some(&m.address), m.username.as_ref(), m.password.as_ref()]
            .into_iter()
            .flatten()
        {
            self.check_template_vars(text, variables, at, field)?;
        }
        let keep_alive_secs = match &m.keep_alive_interval {
            None => DEFAULT_MQTT_KEEP_ALIVE_SECS,
            Some(k) => self.number(k, &format!("{field}.keep_alive_interval"), 0..=65_535)? as u64,
        };
        Ok(MqttSettings {
            address: m.address,
            username: m.username,
            password: m.password,
            keep_alive_secs,
        })
    }

    /// A trigger of any kind, its component resolved.
    fn trigger(
        &mut self,
        place: &Place,
        id: Option<String>,
        component: Spanned<RawComponentRef>,
        components: &mut BTreeMap<String, Component>,
        variables: &BTreeMap<String, Variable>,
        config: TriggerConfig,
    ) -> Result<Trigger, ManifestError> {
        let component =
            self.trigger_component(place, id.as_deref(), component, components, variables)?;
        let id = id.unwrap_or_else(|| match place.kind {
            // The HTTP trigger's ids predate the other kinds; kept as they were.
            TriggerKind::Http => format!("trigger-{}", place.n + 1),
            kind => format!("{kind}-trigger-{}", place.n + 1),
        });
        Ok(Trigger {
            id,
            component,
            line: Some(self.lines.line_of(place.at)),
            config,
        })
    }

    /// The id of the component a trigger runs: an existing one, or its inline table
    /// added to `components`.
    fn trigger_component(
        &mut self,
        place: &Place,
        trigger_id: Option<&str>,
        component: Spanned<RawComponentRef>,
        components: &mut BTreeMap<String, Component>,
        variables: &BTreeMap<String, Variable>,
    ) -> Result<String, ManifestError> {
        let field = format!("{}.component", place.field());
        let at = Some(place.at);
        match component.into_inner() {
            RawComponentRef::Id(cid) => {
                if components.contains_key(&cid) {
                    return Ok(cid);
                }
                let known: Vec<_> = components.keys().map(String::as_str).collect();
                let fix = if known.is_empty() {
                    format!("add a `[component.{cid}]` table")
                } else {
                    format!(
                        "add a `[component.{cid}]` table or use one of: {}",
                        known.join(", ")
                    )
                };
                Err(self
                    .err(at, field, format!("no component named `{cid}`"))
                    .fix(fix))
            }
            RawComponentRef::Inline(inline) => {
                let cid = match (trigger_id, place.kind) {
                    (Some(tid), _) => tid.to_owned(),
                    (None, TriggerKind::Http) => format!("inline-component-{}", place.n + 1),
                    (None, kind) => format!("inline-{kind}-component-{}", place.n + 1),
                };
                if components.contains_key(&cid) {
                    return Err(self
                        .err(
                            at,
                            field,
                            format!(
                                "inline component id `{cid}` collides with `[component.{cid}]`"
                            ),
                        )
                        .fix("give the trigger a different `id`"));
                }
                let c = self.component(&cid, *inline, place.at, variables)?;
                components.insert(cid.clone(), c);
                Ok(cid)
            }
        }
    }

    fn http_config(
        &self,
        place: &Place,
        route: Spanned<RawRoute>,
        executor: Option<Spanned<RawExecutor>>,
    ) -> Result<TriggerConfig, ManifestError> {
        let route_at = Some(route.span().start);
        let field = format!("{}.route", place.field());
        let route = match route.into_inner() {
            RawRoute::Private(p) if p.private => Route::Private,
            RawRoute::Private(_) => {
                return Err(self
                    .err(route_at, field, "`{ private = false }` is not a route")
                    .fix("give a path like `/hello/...`, or `{ private = true }`"));
            }
            RawRoute::Path(p) => {
                check_route(&p).map_err(|why| {
                    self.err(route_at, field, why)
                        .fix("routes look like `/hello`, `/hello/...` or `/users/:id/...`")
                })?;
                Route::Path(p)
            }
        };
        let executor = match executor.map(Spanned::into_inner) {
            None | Some(RawExecutor::Http) => Executor::Spin,
            Some(RawExecutor::Wagi { .. }) => Executor::Wagi,
        };
        Ok(TriggerConfig::Http(HttpTrigger { route, executor }))
    }

    fn redis_config(
        &self,
        place: &Place,
        channel: String,
        address: Option<String>,
        app_address: Option<&str>,
        variables: &BTreeMap<String, Variable>,
    ) -> Result<TriggerConfig, ManifestError> {
        let at = Some(place.at);
        let Some(address) = address.or_else(|| app_address.map(str::to_owned)) else {
            return Err(self
                .err(at, format!("{}.address", place.field()), "a Redis trigger needs a server address")
                .fix("set `address = \"redis://host:6379\"` on the trigger, or under `[application.trigger.redis]`"));
        };
        self.check_template_vars(
            &address,
            variables,
            at,
            &format!("{}.address", place.field()),
        )?;
        self.check_template_vars(
            &channel,
            variables,
            at,
            &format!("{}.channel", place.field()),
        )?;
        Ok(TriggerConfig::Redis(RedisTrigger { channel, address }))
    }

    /// A whole number in `range`, written as an integer or a string of digits.
    fn number(
        &self,
        raw: &Spanned<RawNumber>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ManifestError> {
        let value = match raw.get_ref() {
            RawNumber::Int(n) => Some(*n),
            RawNumber::Text(s) => s.trim().parse().ok(),
        };
        value.filter(|n| range.contains(n)).ok_or_else(|| {
            self.err(
                Some(raw.span().start),
                field,
                format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
    }
}
