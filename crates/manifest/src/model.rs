//! The normalized application model every other crate consumes. Paths are absolute,
//! inline components have ids, and everything here has already been validated.

use crate::outbound::AllowedHost;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A loaded application: one manifest, its components and its HTTP triggers.
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
    /// HTTP triggers in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// Trigger types present in the manifest that this version of wisp does not serve.
    pub unsupported_triggers: Vec<String>,
    /// Non-fatal findings (deprecated fields and the like) for the CLI to print.
    pub warnings: Vec<String>,
}

impl App {
    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
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
    /// Sequential requests one WASI 0.2 instance may serve (1: a fresh instance each).
    pub instance_reuse: Option<u32>,
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

/// An `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The trigger's id (given, or `trigger-<n>`).
    pub id: String,
    /// Where it is served.
    pub route: Route,
    /// Id of the component it runs.
    pub component: String,
    /// How the component is invoked.
    pub executor: Executor,
    /// Line of the trigger in the manifest.
    pub line: Option<usize>,
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
