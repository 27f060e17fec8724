//! wisp-manifest owns the application manifest: it reads `spin.toml` (manifest version 2),
//! validates it, and produces the normalized [`App`] model the rest of wisp runs. Every
//! error is one [`ManifestError`] naming the file, the field, the line and a fix. It knows
//! nothing of wasmtime or sockets.

mod error;
mod model;
pub mod outbound;
mod raw;
pub mod read;
mod retain;
pub mod template;
mod triggers;
mod units;

pub use error::ManifestError;
pub use model::{
    App, Build, Component, CronTrigger, Executor, FileMount, HttpTrigger, Limits, MqttSettings,
    MqttTrigger, RedisTrigger, Route, Trigger, TriggerConfig, TriggerKind, Variable,
};
pub use units::{parse_duration, parse_size};

use error::LineIndex;
use outbound::{AllowedHost, parse_allowed_host, translate_http_host};
use raw::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The file name `wisp up` looks for in a folder.
pub const MANIFEST_FILE_NAME: &str = "spin.toml";

/// Reads and validates the manifest at `path`. Component sources are not checked for
/// existence here (a build may create them): call [`App::check_sources`] before running.
pub fn load(path: &Path) -> Result<App, ManifestError> {
    let text = read::read_text_capped(path).map_err(|e| {
        let err = ManifestError::new(path, format!("cannot read the manifest: {e}"));
        if e.kind() == std::io::ErrorKind::NotFound {
            err.fix("pass the path of a spin.toml with `-f`, or run in the app's folder")
        } else {
            err
        }
    })?;
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    parse(&text, &path)
}

/// Parses and validates manifest `text` as if read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<App, ManifestError> {
    let lines = LineIndex::new(text);
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| lines.line_of(s.start));
        ManifestError::new(path, e.message().trim().replace('\n', " ")).line(line)
    })?;
    let root_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Loader {
        path,
        root_dir,
        lines: &lines,
        warnings: Vec::new(),
    }
    .load(raw)
}

/// An app made of one bare component served on `/...`, the way `wasmtime serve` runs one.
pub fn bare_component(wasm: &Path) -> App {
    let stem = wasm.file_stem().map(|s| s.to_string_lossy().into_owned());
    bare_component_named(wasm, stem.as_deref().unwrap_or("main"))
}

/// [`bare_component`] with the component (and app) named after `name`, for a file whose
/// own name says nothing (a blob in the registry cache is named by its digest).
pub fn bare_component_named(wasm: &Path, name: &str) -> App {
    let wasm = std::path::absolute(wasm).unwrap_or_else(|_| wasm.to_path_buf());
    let id = Some(sanitize_id(name))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "main".to_owned());
    let root_dir = wasm
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    App {
        manifest_path: wasm.clone(),
        root_dir,
        name: id.clone(),
        version: None,
        description: None,
        authors: Vec::new(),
        http_base: "/".to_owned(),
        variables: BTreeMap::new(),
        components: vec![Component {
            id: id.clone(),
            source: wasm,
            line: None,
            description: None,
            files: Vec::new(),
            exclude_files: Vec::new(),
            environment: BTreeMap::new(),
            allowed_outbound_hosts: Vec::new(),
            key_value_stores: Vec::new(),
            sqlite_databases: Vec::new(),
            variables: BTreeMap::new(),
            build: None,
            limits: Limits::default(),
        }],
        triggers: vec![Trigger {
            id: "trigger-1".to_owned(),
            component: id,
            line: None,
            config: TriggerConfig::Http(HttpTrigger {
                route: Route::Path("/...".to_owned()),
                executor: Executor::Spin,
            }),
        }],
        redis_address: None,
        mqtt: None,
        warnings: Vec::new(),
    }
}

fn sanitize_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

impl App {
    /// Checks that every component's source file exists, naming the first that does not.
    pub fn check_sources(&self) -> Result<(), ManifestError> {
        for c in &self.components {
            if !c.source.is_file() {
                let fix = match &c.build {
                    Some(_) => "build it first: run `wisp build`, or `wisp up --build`",
                    None => "fix the path, or add a `[component.ID.build]` command that creates it",
                };
                return Err(ManifestError::new(
                    &self.manifest_path,
                    format!("source file {} does not exist", c.source.display()),
                )
                .field(format!("component.{}.source", c.id))
                .line(c.line)
                .fix(fix.replace("ID", &c.id)));
            }
        }
        Ok(())
    }
}

struct Loader<'a> {
    path: &'a Path,
    root_dir: PathBuf,
    lines: &'a LineIndex<'a>,
    warnings: Vec<String>,
}

impl Loader<'_> {
    fn err(
        &self,
        span_start: Option<usize>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> ManifestError {
        ManifestError::new(self.path, msg)
            .field(field)
            .line(span_start.map(|s| self.lines.line_of(s)))
    }

    fn load(mut self, raw: RawManifest) -> Result<App, ManifestError> {
        let version_ok = matches!(raw.spin_manifest_version.get_ref(), toml::Value::Integer(2));
        if !version_ok {
            let shown = raw.spin_manifest_version.get_ref().to_string();
            return Err(self
                .err(
                    Some(raw.spin_manifest_version.span().start),
                    "spin_manifest_version",
                    format!("manifest version {shown} is not supported; wisp reads version 2"),
                )
                .fix("set `spin_manifest_version = 2` and use the v2 layout (`spin doctor` migrates v1 manifests)"));
        }

        let http_base = match raw
            .application
            .trigger
            .http
            .as_ref()
            .and_then(|h| h.base.as_ref())
        {
            None => "/".to_owned(),
            Some(base) => {
                let b = base.get_ref();
                if !b.starts_with('/') {
                    return Err(self
                        .err(
                            Some(base.span().start),
                            "application.trigger.http.base",
                            format!("base `{b}` must start with `/`"),
                        )
                        .fix("write it as an absolute path, e.g. `/api`"));
                }
                let trimmed = b.trim_end_matches('/');
                if trimmed.is_empty() {
                    "/".to_owned()
                } else {
                    trimmed.to_owned()
                }
            }
        };

        let mut variables = BTreeMap::new();
        for (name, var) in &raw.variables {
            let at = Some(name.span().start);
            let field = format!("variables.{}", name.get_ref());
            if !template::is_valid_variable_name(name.get_ref()) {
                return Err(self
                    .err(
                        at,
                        field,
                        format!("`{}` is not a valid variable name", name.get_ref()),
                    )
                    .fix("use lowercase letters, digits and single `_`, starting with a letter"));
            }
            let v = var.get_ref();
            if v.required && v.default.is_some() {
                return Err(self
                    .err(
                        at,
                        field,
                        "a variable cannot be both `required` and have a `default`",
                    )
                    .fix("remove one of them"));
            }
            variables.insert(
                name.get_ref().clone(),
                Variable {
                    default: v.default.clone(),
                    required: v.required,
                    secret: v.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        for (id, comp) in raw.component {
            let at = id.span().start;
            let id = id.into_inner();
            if !is_valid_component_id(&id) {
                return Err(self.err(Some(at), format!("component.{id}"), format!("`{id}` is not a valid component id"))
                    .fix("use lowercase letters, digits, `-` and `_`, starting with a letter or digit"));
            }
            let c = self.component(&id, comp.into_inner(), at, &variables)?;
            components.insert(id, c);
        }

        let app_triggers = raw.application.trigger;
        let redis_address = app_triggers.redis.and_then(|r| r.address);
        let mqtt = app_triggers
            .mqtt
            .map(|m| self.mqtt_settings(m, &variables))
            .transpose()?;
        let triggers = self.triggers(
            raw.trigger,
            redis_address.as_deref(),
            &mut components,
            &variables,
        )?;
        if mqtt.is_none()
            && let Some(t) = triggers.iter().find(|t| t.kind() == TriggerKind::Mqtt)
        {
            return Err(ManifestError::new(self.path, "MQTT triggers need a broker")
                .field("application.trigger.mqtt")
                .line(t.line)
                .fix("add `[application.trigger.mqtt]` with `address = \"mqtt://host:1883\"`"));
        }

        Ok(App {
            manifest_path: self.path.to_path_buf(),
            root_dir: self.root_dir.clone(),
            name: raw.application.name,
            version: raw.application.version,
            description: raw.application.description,
            authors: raw.application.authors,
            http_base,
            variables,
            components: components.into_values().collect(),
            triggers,
            redis_address,
            mqtt,
            warnings: self.warnings,
        })
    }

    fn component(
        &mut self,
        id: &str,
        c: RawComponent,
        at: usize,
        variables: &BTreeMap<String, Variable>,
    ) -> Result<Component, ManifestError> {
        let field = |f: &str| format!("component.{id}.{f}");
        let at = Some(at);
        let source = match c.source {
            RawSource::Path(p) => self.root_dir.join(p),
            RawSource::Table(t) => {
                let what = if t.url.is_some() {
                    "a URL source"
                } else {
                    "a registry source"
                };
                return Err(self
                    .err(at, field("source"), format!("{what} is not supported yet"))
                    .fix("download the .wasm and point `source` at the local file"));
            }
        };

        let mut files = Vec::new();
        for f in c.files {
            match f {
                RawFileMount::Pattern(p) => {
                    if Path::new(&p).is_absolute() || p.split('/').any(|s| s == "..") {
                        return Err(self.err(at, field("files"), format!("file pattern `{p}` must be relative to the app folder and stay inside it"))
                            .fix("use `{ source = \"...\", destination = \"/...\" }` to mount a folder elsewhere"));
                    }
                    glob::Pattern::new(&p).map_err(|e| {
                        self.err(at, field("files"), format!("invalid glob `{p}`: {e}"))
                    })?;
                    files.push(FileMount::Pattern(p));
                }
                RawFileMount::Mapping(m) => {
                    if !m.destination.starts_with('/') {
                        return Err(self
                            .err(
                                at,
                                field("files"),
                                format!(
                                    "destination `{}` must be an absolute guest path",
                                    m.destination
                                ),
                            )
                            .fix("start it with `/`, e.g. `/assets`"));
                    }
                    files.push(FileMount::Mapping {
                        source: self.root_dir.join(m.source),
                        destination: m.destination,
                    });
                }
            }
        }
        for p in &c.exclude_files {
            glob::Pattern::new(p).map_err(|e| {
                self.err(
                    at,
                    field("exclude_files"),
                    format!("invalid glob `{p}`: {e}"),
                )
            })?;
        }

        let mut hosts: Vec<String> = c.allowed_outbound_hosts;
        if !c.allowed_http_hosts.is_empty() {
            self.warnings.push(format!(
                "component `{id}`: `allowed_http_hosts` is deprecated; translated to `allowed_outbound_hosts`"
            ));
            hosts.extend(
                c.allowed_http_hosts
                    .iter()
                    .flat_map(|h| translate_http_host(h)),
            );
        }
        let mut allowed_outbound_hosts = Vec::new();
        for h in &hosts {
            let parsed = parse_allowed_host(h).map_err(|why| {
                self.err(at, field("allowed_outbound_hosts"), why)
                    .fix("entries look like `https://api.example.com`, `redis://cache:6379` or `*://*.internal:*`")
            })?;
            if let AllowedHost::Template(t) = &parsed {
                self.check_template_vars(t, variables, at, &field("allowed_outbound_hosts"))?;
            }
            allowed_outbound_hosts.push(parsed);
        }

        for (label_field, labels) in [
            ("key_value_stores", &c.key_value_stores),
            ("sqlite_databases", &c.sqlite_databases),
        ] {
            if let Some(bad) = labels
                .iter()
                .find(|l| l.is_empty() || l.chars().any(|ch| ch.is_whitespace()))
            {
                return Err(self.err(
                    at,
                    field(label_field),
                    format!("`{bad}` is not a valid label"),
                ));
            }
        }

        for (key, value) in &c.variables {
            if !template::is_valid_variable_name(key) {
                return Err(self
                    .err(
                        at,
                        field("variables"),
                        format!("`{key}` is not a valid variable name"),
                    )
                    .fix("use lowercase letters, digits and single `_`, starting with a letter"));
            }
            self.check_template_vars(value, variables, at, &field("variables"))?;
        }

        let limits = match &c.limits {
            None => Limits::default(),
            Some(l) => {
                let bad = |f: &str, why: String| self.err(at, field(&format!("limits.{f}")), why);
                let positive = |n: i64| u32::try_from(n).ok().filter(|n| *n > 0);
                let positive_why = |n: i64| format!("`{n}` must be a positive whole number");
                let text = |v: &toml::Value| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Limits {
                    memory: l
                        .memory
                        .as_ref()
                        .map(|v| parse_size(&text(v)).map_err(|why| bad("memory", why)))
                        .transpose()?,
                    timeout: l
                        .timeout
                        .as_ref()
                        .map(|v| parse_duration(&text(v)).map_err(|why| bad("timeout", why)))
                        .transpose()?,
                    max_instances: l
                        .max_instances
                        .map(|n| positive(n).ok_or_else(|| bad("max_instances", positive_why(n))))
                        .transpose()?,
                    instance_reuse: l
                        .instance_reuse
                        .map(|n| positive(n).ok_or_else(|| bad("instance_reuse", positive_why(n))))
                        .transpose()?,
                    instance_concurrency: l
                        .instance_concurrency
                        .map(|n| {
                            positive(n).ok_or_else(|| bad("instance_concurrency", positive_why(n)))
                        })
                        .transpose()?,
                }
            }
        };

        let build = c.build.map(|b| Build {
            commands: match b.command {
                RawCommand::One(s) => vec![s],
                RawCommand::Many(v) => v,
            },
            workdir: b
                .workdir
                .map_or_else(|| self.root_dir.clone(), |w| self.root_dir.join(w)),
            watch: b.watch,
        });

        Ok(Component {
            id: id.to_owned(),
            source,
            line: at.map(|s| self.lines.line_of(s)),
            description: c.description,
            files,
            exclude_files: c.exclude_files,
            environment: c.environment,
            allowed_outbound_hosts,
            key_value_stores: c.key_value_stores,
            sqlite_databases: c.sqlite_databases,
            variables: c.variables,
            build,
            limits,
        })
    }

    fn check_template_vars(
        &self,
        template: &str,
        variables: &BTreeMap<String, Variable>,
        at: Option<usize>,
        field: &str,
    ) -> Result<(), ManifestError> {
        let names =
            template::template_variables(template).map_err(|why| self.err(at, field, why))?;
        let unknown: BTreeSet<_> = names
            .iter()
            .filter(|n| !variables.contains_key(*n))
            .collect();
        if let Some(name) = unknown.into_iter().next() {
            return Err(self
                .err(
                    at,
                    field,
                    format!("template `{template}` refers to undeclared variable `{name}`"),
                )
                .fix(format!(
                    "declare it under `[variables]`, e.g. `{name} = {{ default = \"...\" }}`"
                )));
        }
        Ok(())
    }
}

fn is_valid_component_id(id: &str) -> bool {
    id.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Checks a route's syntax: absolute, `...` only as the last segment, named segments
/// `:name` with a name.
fn check_route(route: &str) -> Result<(), String> {
    if !route.starts_with('/') {
        return Err(format!("route `{route}` must start with `/`"));
    }
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    for (i, s) in segments.iter().enumerate() {
        if *s == "..." && i + 1 != segments.len() {
            return Err(format!("route `{route}`: `...` may only end a route"));
        }
        if s.contains("...") && *s != "..." {
            return Err(format!("route `{route}`: `...` must be a whole segment"));
        }
        if let Some(name) = s.strip_prefix(':')
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(format!(
                "route `{route}`: `:{name}` is not a valid named segment"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
