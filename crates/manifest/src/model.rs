//! The normalized application model every other crate consumes. Paths are absolute,
//! inline components have ids, and everything here has already been validated.

use crate::outbound::AllowedHost;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A loaded application: one manifest, its components and its triggers.
#[derive(Debug, Clone)]
pub struct App {
    /// The manifest this app came from (the `.wasm` file for a bare component).
    pub manifest_path: PathBuf,
    /// Folder relative paths in the manifest are resolved against.
    pub root_dir: PathBuf,
    /// `application.name`.
    pub name: String,
    /// `application.version`.
    pub version: Option<String>,
    /// `application.description`.
    pub description: Option<String>,
    /// `application.authors`.
    pub authors: Vec<String>,
    /// `application.trigger.http.base`, normalized to start with `/` and not end with one
    /// (except the root itself, `/`).
    pub http_base: String,
    /// Top-level `[variables]`.
    pub variables: BTreeMap<String, Variable>,
    /// Components by id, in id order.
    pub components: Vec<Component>,
    /// Every trigger, grouped by kind in the order [`TriggerKind::ALL`] lists them, each
    /// kind's in manifest order.
    pub triggers: Vec<Trigger>,
    /// `[application.trigger.redis] address`: the server Redis triggers without an
    /// `address` of their own subscribe on.
    pub redis_address: Option<String>,
    /// `[application.trigger.mqtt]`: the broker MQTT triggers subscribe on.
    pub mqtt: Option<MqttSettings>,
    /// Non-fatal findings (deprecated fields and the like) for the CLI to print.
    pub warnings: Vec<String>,
}

impl App {
    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    /// The HTTP triggers, in manifest order, each with its HTTP settings.
    pub fn http_triggers(&self) -> impl Iterator<Item = (&Trigger, &HttpTrigger)> {
        self.triggers.iter().filter_map(|t| match &t.config {
            TriggerConfig::Http(http) => Some((t, http)),
            _ => None,
        })
    }

    /// The components the triggers of `kind` run, in manifest order (one may repeat):
    /// what the runtime must load for them.
    pub fn trigger_components(&self, kind: TriggerKind) -> impl Iterator<Item = &str> {
        self.triggers
            .iter()
            .filter(move |t| t.kind() == kind)
            .map(|t| t.component.as_str())
    }

    /// The kinds of trigger the app has, each once, in [`TriggerKind::ALL`] order.
    pub fn trigger_kinds(&self) -> Vec<TriggerKind> {
        TriggerKind::ALL
            .into_iter()
            .filter(|kind| self.triggers.iter().any(|t| t.kind() == *kind))
            .collect()
    }
}

/// A top-level application variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The default value, if any (a `required` variable has none).
    pub default: Option<String>,
    /// Startup fails when no provider sets it.
    pub required: bool,
    /// Its value must never be logged.
    pub secret: bool,
}

/// One component of the app.
#[derive(Debug, Clone)]
pub struct Component {
    /// The id (`[component.<id>]`).
    pub id: String,
    /// Absolute path of the Wasm file.
    pub source: PathBuf,
    /// Line of the component's table in the manifest, for errors found after loading.
    pub line: Option<usize>,
    /// `description`.
    pub description: Option<String>,
    /// `files`, in manifest order.
    pub files: Vec<FileMount>,
    /// `exclude_files` glob patterns, relative to the app root.
    pub exclude_files: Vec<String>,
    /// `environment`.
    pub environment: BTreeMap<String, String>,
    /// `allowed_outbound_hosts` (plus translated `allowed_http_hosts`), parsed.
    pub allowed_outbound_hosts: Vec<AllowedHost>,
    /// `key_value_stores` labels.
    pub key_value_stores: Vec<String>,
    /// `sqlite_databases` labels.
    pub sqlite_databases: Vec<String>,
    /// `variables`: component config keys mapped to templates over app variables.
    pub variables: BTreeMap<String, String>,
    /// `[component.<id>.build]`.
    pub build: Option<Build>,
    /// `[component.<id>.limits]` (a wisp extension); unset fields use the host defaults.
    pub limits: Limits,
}

/// Per-instance limits a component asks for; `None` means "the host default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Maximum linear memory per instance, in bytes.
    pub memory: Option<u64>,
    /// Wall-clock budget per request.
    pub timeout: Option<std::time::Duration>,
    /// Concurrent instances of this component.
    pub max_instances: Option<u32>,
    /// Sequential requests one instance may serve (1: a fresh instance each).
    pub instance_reuse: Option<u32>,
    /// Requests one WASI 0.3 instance may serve at the same time (with reuse).
    pub instance_concurrency: Option<u32>,
}

/// A `files` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// A glob relative to the app root; matches keep their relative path in the guest.
    Pattern(String),
    /// A host file or folder mounted at a guest path.
    Mapping {
        /// Absolute host path.
        source: PathBuf,
        /// Absolute guest path.
        destination: String,
    },
}

/// How a component is built by `wisp build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Shell commands run in order.
    pub commands: Vec<String>,
    /// Absolute working directory.
    pub workdir: PathBuf,
    /// Globs `wisp watch` will watch.
    pub watch: Vec<String>,
}

/// One `[[trigger.<kind>]]` entry: which component an event runs, and the kind's own
/// settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The trigger's id (given, or made from its kind and position).
    pub id: String,
    /// Id of the component it runs.
    pub component: String,
    /// Line of the trigger in the manifest.
    pub line: Option<usize>,
    /// What kind of event source it is, with that kind's settings.
    pub config: TriggerConfig,
}

impl Trigger {
    /// Its kind.
    pub fn kind(&self) -> TriggerKind {
        match self.config {
            TriggerConfig::Http(_) => TriggerKind::Http,
            TriggerConfig::Redis(_) => TriggerKind::Redis,
            TriggerConfig::Cron(_) => TriggerKind::Cron,
            TriggerConfig::Mqtt(_) => TriggerKind::Mqtt,
            TriggerConfig::Command => TriggerKind::Command,
        }
    }
}

/// The kinds of trigger a manifest may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// `[[trigger.http]]`.
    Http,
    /// `[[trigger.redis]]`.
    Redis,
    /// `[[trigger.cron]]`.
    Cron,
    /// `[[trigger.mqtt]]`.
    Mqtt,
    /// `[[trigger.command]]`.
    Command,
}

impl TriggerKind {
    /// Every kind, in the order triggers are listed in [`App::triggers`].
    pub const ALL: [Self; 5] = [
        Self::Http,
        Self::Redis,
        Self::Cron,
        Self::Mqtt,
        Self::Command,
    ];

    /// The kind as the manifest spells it (`trigger.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Redis => "redis",
            Self::Cron => "cron",
            Self::Mqtt => "mqtt",
            Self::Command => "command",
        }
    }
}

impl std::fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A trigger's kind-specific settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerConfig {
    /// An HTTP route.
    Http(HttpTrigger),
    /// A Redis pub/sub channel.
    Redis(RedisTrigger),
    /// A schedule.
    Cron(CronTrigger),
    /// An MQTT topic.
    Mqtt(MqttTrigger),
    /// A command run once (`wasi:cli/run`).
    Command,
}

/// An `[[trigger.http]]` entry's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// Where it is served.
    pub route: Route,
    /// How the component is invoked.
    pub executor: Executor,
}

/// An `[[trigger.redis]]` entry's settings. Both may hold `{{ variable }}` templates,
/// rendered when the trigger starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTrigger {
    /// The channel it subscribes to.
    pub channel: String,
    /// The server: the trigger's own `address`, else `[application.trigger.redis]`'s.
    pub address: String,
}

/// A `[[trigger.cron]]` entry's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTrigger {
    /// The schedule as written (seconds first, as the Spin cron trigger reads it).
    pub cron_expression: String,
}

/// A `[[trigger.mqtt]]` entry's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTrigger {
    /// The topic (filter) it subscribes to; may hold `{{ variable }}` templates.
    pub topic: String,
    /// The subscription's quality of service: 0, 1 or 2 (default 0).
    pub qos: u8,
}

/// `[application.trigger.mqtt]`: the broker every MQTT trigger of the app uses. Each
/// string may hold `{{ variable }}` templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSettings {
    /// `mqtt://host:port` (or `mqtts://`).
    pub address: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password, if the broker wants one.
    pub password: Option<String>,
    /// Keep-alive interval in seconds (default 30).
    pub keep_alive_secs: u64,
}

/// A trigger's route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A route pattern as written, e.g. `/users/:id/...` (without the app base).
    Path(String),
    /// Reachable only by service chaining, never from the listener.
    Private,
}

/// How an HTTP component is invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executor {
    /// The Spin / `wasi:http` executor (the default).
    Spin,
    /// The WAGI (CGI-style) executor.
    Wagi,
}
