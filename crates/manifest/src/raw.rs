//! The on-disk schema of `spin.toml` v2, exactly as serde reads it. Unknown fields are
//! rejected here so that a typo is an error, not a silently ignored setting.
#![allow(
    dead_code,
    reason = "fields accepted for Spin compatibility are read by later features"
)]

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use toml::Spanned;

/// Deserializes a value written either as a string or as a table, keeping the table's
/// own error messages (serde's `untagged` would replace them with "did not match").
fn string_or_table<'de, D, T, R>(
    d: D,
    expecting: &'static str,
    from_str: fn(String) -> R,
    from_table: fn(T) -> R,
) -> Result<R, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T, R> {
        expecting: &'static str,
        from_str: fn(String) -> R,
        from_table: fn(T) -> R,
        _t: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>, R> Visitor<'de> for V<T, R> {
        type Value = R;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<R, E> {
            Ok((self.from_str)(v.to_owned()))
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<R, M::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(self.from_table)
        }
    }
    d.deserialize_any(V {
        expecting,
        from_str,
        from_table,
        _t: PhantomData,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    pub spin_manifest_version: Spanned<toml::Value>,
    pub application: RawApplication,
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<RawVariable>>,
    #[serde(default)]
    pub trigger: RawTriggers,
    #[serde(default)]
    pub component: BTreeMap<Spanned<String>, Spanned<RawComponent>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApplication {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: RawApplicationTriggers,
    /// Tool-specific settings (e.g. `[application.tool.spin-test]`); kept opaque.
    #[serde(default)]
    pub tool: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApplicationTriggers {
    #[serde(default)]
    pub http: Option<RawHttpAppSettings>,
    #[serde(default)]
    pub redis: Option<RawRedisAppSettings>,
    #[serde(default)]
    pub mqtt: Option<Spanned<RawMqttAppSettings>>,
}

/// `[application.trigger.redis]`: the server triggers without their own `address` use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedisAppSettings {
    #[serde(default)]
    pub address: Option<String>,
}

/// `[application.trigger.mqtt]`, as the Spin MQTT trigger reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMqttAppSettings {
    pub address: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub keep_alive_interval: Option<Spanned<RawNumber>>,
}

/// A whole number written as an integer or as a string (the Spin MQTT trigger's own
/// templates write `qos = "1"`).
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a whole number, or a string holding one")]
pub(crate) enum RawNumber {
    Int(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpAppSettings {
    #[serde(default)]
    pub base: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// Triggers by kind. A kind not listed here is an unknown field, so a typo or a trigger
/// wisp does not know is an error naming it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTriggers {
    #[serde(default)]
    pub http: Vec<Spanned<RawHttpTrigger>>,
    #[serde(default)]
    pub redis: Vec<Spanned<RawRedisTrigger>>,
    #[serde(default)]
    pub cron: Vec<Spanned<RawCronTrigger>>,
    #[serde(default)]
    pub command: Vec<Spanned<RawCommandTrigger>>,
    #[serde(default)]
    pub mqtt: Vec<Spanned<RawMqttTrigger>>,
}

/// `[[trigger.redis]]`: messages on `channel` run the component.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedisTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub component: Spanned<RawComponentRef>,
    pub channel: String,
    #[serde(default)]
    pub address: Option<String>,
}

/// `[[trigger.cron]]`: the component runs on the schedule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCronTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub component: Spanned<RawComponentRef>,
    pub cron_expression: String,
}

/// `[[trigger.mqtt]]`: messages on `topic` run the component.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMqttTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub component: Spanned<RawComponentRef>,
    pub topic: String,
    #[serde(default)]
    pub qos: Option<Spanned<RawNumber>>,
}

/// `[[trigger.command]]`: the component's `wasi:cli/run` runs once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommandTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub component: Spanned<RawComponentRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: Spanned<RawRoute>,
    pub component: Spanned<RawComponentRef>,
    #[serde(default)]
    pub executor: Option<Spanned<RawExecutor>>,
}

#[derive(Debug)]
pub(crate) enum RawRoute {
    Path(String),
    Private(RawPrivateRoute),
}

impl<'de> Deserialize<'de> for RawRoute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_table(
            d,
            "a route string like \"/hello/...\" or `{ private = true }`",
            RawRoute::Path,
            RawRoute::Private,
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrivateRoute {
    pub private: bool,
}

#[derive(Debug)]
pub(crate) enum RawComponentRef {
    Id(String),
    Inline(Box<RawComponent>),
}

impl<'de> Deserialize<'de> for RawComponentRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_table(
            d,
            "a component id or an inline component table `{ source = \"...\" }`",
            RawComponentRef::Id,
            |c: RawComponent| RawComponentRef::Inline(Box::new(c)),
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum RawExecutor {
    /// Spin's schema names this executor `http`, with `spin` as its alias.
    #[serde(alias = "spin")]
    Http,
    Wagi {
        #[serde(default)]
        argv: Option<String>,
        #[serde(default)]
        entrypoint: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponent {
    pub source: RawSource,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub files: Vec<RawFileMount>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Deprecated Spin 1 spelling of `allowed_outbound_hosts`; translated with a warning.
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<RawBuild>,
    /// wisp extension: per-instance limits (Spin does not read this table).
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
    #[serde(default)]
    pub dependencies: Option<toml::Table>,
    #[serde(default)]
    pub tool: Option<toml::Table>,
}

#[derive(Debug)]
pub(crate) enum RawSource {
    Path(String),
    Table(RawSourceTable),
}

/// `source = { url = ..., digest = ... }` or `{ registry = ..., package = ..., version = ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSourceTable {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_table(
            d,
            "a path to a .wasm file or a `{ url, digest }` table",
            RawSource::Path,
            RawSource::Table,
        )
    }
}

#[derive(Debug)]
pub(crate) enum RawFileMount {
    Pattern(String),
    Mapping(RawFileMapping),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFileMapping {
    pub source: String,
    pub destination: String,
}

impl<'de> Deserialize<'de> for RawFileMount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_table(
            d,
            "a glob pattern or a `{ source, destination }` table",
            RawFileMount::Pattern,
            RawFileMount::Mapping,
        )
    }
}

/// `[component.X.limits]`: sizes as `"64MiB"` or bytes, durations as `"30s"`/`"500ms"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    #[serde(default)]
    pub memory: Option<toml::Value>,
    #[serde(default)]
    pub timeout: Option<toml::Value>,
    #[serde(default)]
    pub max_instances: Option<i64>,
    #[serde(default)]
    pub instance_reuse: Option<i64>,
    #[serde(default)]
    pub instance_concurrency: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuild {
    pub command: RawCommand,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// `command = "..."` or `command = ["...", "..."]` (run in order).
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a command string or a list of command strings")]
pub(crate) enum RawCommand {
    One(String),
    Many(Vec<String>),
}
