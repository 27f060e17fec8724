//! The settings flags `wisp deploy` and `wisp update` share — hosts, prefix, environment,
//! variables, limits, runtime config — and the admin API's JSON for them.

use anyhow::Context;
use clap::Args;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How an app on a `wisp serve` host is reached and what it runs with.
#[derive(Args)]
pub struct SettingsFlags {
    /// A host name the app answers (repeatable; `*.example.com` for any subdomain).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// A path prefix the app's routes sit under on those hosts.
    #[arg(long, value_name = "/PREFIX")]
    route_prefix: Option<String>,
    /// An environment variable for every component (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    env: Vec<(String, String)>,
    /// A value for one of the app's variables (repeatable).
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = super::parse_key_value)]
    variables: Vec<(String, String)>,
    /// Maximum linear memory per instance of this app (e.g. `64MiB`), below the host's.
    #[arg(long, value_name = "SIZE", value_parser = wisp_manifest::parse_size)]
    memory_limit: Option<u64>,
    /// Wall-clock budget per request of this app (e.g. `5s`), below the host's.
    #[arg(long, value_name = "DURATION", value_parser = wisp_manifest::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// Concurrent instances per component of this app, below the host's.
    #[arg(long, value_name = "N")]
    max_instances: Option<u32>,
    /// Concurrent instances of this whole app, across its components and triggers,
    /// below the host's `--app-instances`.
    #[arg(long, value_name = "N")]
    app_instances: Option<u32>,
    /// A Spin runtime config (TOML) for this app alone: its key-value stores, SQLite
    /// databases, client TLS. It is sent to the host, where relative paths in it name
    /// files in the app's own folder (`STATE/apps/NAME/`).
    #[arg(long, value_name = "PATH")]
    runtime_config_file: Option<PathBuf>,
}

impl SettingsFlags {
    /// Every setting, for a deploy (what is not given is the default).
    pub fn deploy_fields(&self) -> anyhow::Result<Map<String, Value>> {
        let mut fields = Map::new();
        fields.insert("hosts".into(), json!(self.hosts));
        fields.insert("route_prefix".into(), json!(self.route_prefix));
        fields.insert("env".into(), pairs(&self.env));
        fields.insert("variables".into(), pairs(&self.variables));
        fields.insert("limits".into(), self.limits());
        fields.insert("runtime_config".into(), json!(self.runtime_config()?));
        Ok(fields)
    }

    /// Only the settings given, for an update (each replaces that setting whole).
    pub fn given_fields(&self) -> anyhow::Result<Map<String, Value>> {
        let mut fields = Map::new();
        if !self.hosts.is_empty() {
            fields.insert("hosts".into(), json!(self.hosts));
        }
        if let Some(prefix) = &self.route_prefix {
            fields.insert("route_prefix".into(), json!(prefix));
        }
        if !self.env.is_empty() {
            fields.insert("env".into(), pairs(&self.env));
        }
        if !self.variables.is_empty() {
            fields.insert("variables".into(), pairs(&self.variables));
        }
        let limits_given = self.memory_limit.is_some()
            || self.timeout.is_some()
            || self.max_instances.is_some()
            || self.app_instances.is_some();
        if limits_given {
            fields.insert("limits".into(), self.limits());
        }
        if let Some(text) = self.runtime_config()? {
            fields.insert("runtime_config".into(), json!(text));
        }
        Ok(fields)
    }

    fn limits(&self) -> Value {
        json!({
            "memory_bytes": self.memory_limit,
            "timeout_ms": self.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            "max_instances": self.max_instances,
            "app_instances": self.app_instances,
        })
    }

    /// The runtime config's text, checked here first so its errors name the file.
    fn runtime_config(&self) -> anyhow::Result<Option<String>> {
        let Some(path) = &self.runtime_config_file else {
            return Ok(None);
        };
        let text = wisp_manifest::read::read_text_capped(path)
            .with_context(|| format!("cannot read the runtime config {}", path.display()))?;
        wisp_capabilities::RuntimeConfig::parse(&text, path)?;
        Ok(Some(text))
    }
}

fn pairs(pairs: &[(String, String)]) -> Value {
    json!(pairs.iter().cloned().collect::<BTreeMap<String, String>>())
}
