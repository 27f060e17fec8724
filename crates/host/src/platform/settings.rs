//! What a deployment asks for besides its code: the app's name, the hosts and path
//! prefix it answers on, and the environment and variables it runs with; each checked
//! and normalized before anything is loaded.

use super::PlatformError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest app name.
const MAX_NAME: usize = 63;

/// Largest runtime config a deployment may carry.
const MAX_RUNTIME_CONFIG: usize = 64 * 1024;

/// The name a deployment's runtime config is known by: in messages, and (in the app's
/// folder) as the place its relative paths are resolved from.
pub const RUNTIME_CONFIG_FILE: &str = "runtime-config.toml";

/// Where a deployment's code comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeploySource {
    /// A folder (or `spin.toml`) on the host's own file system.
    Path(std::path::PathBuf),
    /// A registry reference (`registry/repo:tag` or `…@sha256:…`).
    Reference(String),
    /// An app uploaded to this host (`POST /v1/uploads`), by its artifact digest.
    Upload(String),
}

impl std::fmt::Display for DeploySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Reference(reference) => f.write_str(reference),
            Self::Upload(digest) => write!(f, "upload {digest}"),
        }
    }
}

/// How a deployed app is reached and what it runs with.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// Host names it answers (`shop.example.com`, or `*.example.com` for any subdomain);
    /// the port of a request's `Host` is ignored.
    pub hosts: Vec<String>,
    /// A path prefix (`/shop`) its routes sit under on those hosts; none is `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_prefix: Option<String>,
    /// Environment variables for every component.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Values of the app's variables (as `SPIN_VARIABLE_*` gives them to `wisp up`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Limits of this app's instances, below the host's.
    #[serde(default, skip_serializing_if = "AppLimits::is_empty")]
    pub limits: AppLimits,
    /// Spin runtime config (TOML) of this app alone: its key-value stores, SQLite
    /// databases, client TLS, outbound HTTP and blocked networks. Relative paths in it
    /// name files in the app's own folder on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config: Option<String>,
}

/// A change to a deployed app's settings (`PATCH /v1/apps/NAME`): each field given
/// replaces that setting as a whole; the others stay. `null` clears the prefix and the
/// runtime config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// New host names.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// A new path prefix, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub route_prefix: Option<Option<String>>,
    /// A new environment.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// New variable values.
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
    /// New limits.
    #[serde(default)]
    pub limits: Option<AppLimits>,
    /// A new runtime config, or `null` for the defaults.
    #[serde(default, deserialize_with = "present")]
    pub runtime_config: Option<Option<String>>,
}

/// A field that was given (perhaps as `null`), as opposed to one left out.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl SettingsPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_none()
            && self.route_prefix.is_none()
            && self.env.is_none()
            && self.variables.is_none()
            && self.limits.is_none()
            && self.runtime_config.is_none()
    }

    /// `settings` with this change made (not yet checked).
    pub fn applied_to(self, mut settings: AppSettings) -> AppSettings {
        if let Some(hosts) = self.hosts {
            settings.hosts = hosts;
        }
        if let Some(prefix) = self.route_prefix {
            settings.route_prefix = prefix;
        }
        if let Some(env) = self.env {
            settings.env = env;
        }
        if let Some(variables) = self.variables {
            settings.variables = variables;
        }
        if let Some(limits) = self.limits {
            settings.limits = limits;
        }
        if let Some(runtime_config) = self.runtime_config {
            settings.runtime_config = runtime_config;
        }
        settings
    }
}

/// An app's own limits; each unset one is the host's. They can only lower the host's.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppLimits {
    /// Linear memory per instance, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Wall-clock budget per request, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Concurrent instances per component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    /// Concurrent instances of the whole app, across its components and triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_instances: Option<u32>,
}

impl AppLimits {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `host` with these applied: each set limit replaces the host's if lower.
    pub fn applied_to(&self, host: wisp_engine::InstanceLimits) -> wisp_engine::InstanceLimits {
        let mut own = host;
        if let Some(memory) = self.memory_bytes {
            own.memory = memory;
        }
        if let Some(ms) = self.timeout_ms {
            own.timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(n) = self.max_instances {
            own.max_instances = n;
        }
        own.at_most(&host)
    }

    /// The app-wide instance quota: its own if lower than the host's.
    pub fn app_instances_under(&self, host: Option<u32>) -> Option<u32> {
        match (self.app_instances, host) {
            (Some(own), Some(host)) => Some(own.min(host)),
            (own, host) => own.or(host),
        }
    }

    fn check(&self) -> Result<(), PlatformError> {
        let zero = [
            self.memory_bytes == Some(0),
            self.timeout_ms == Some(0),
            self.max_instances == Some(0),
            self.app_instances == Some(0),
        ];
        if zero.contains(&true) {
            return Err(PlatformError::BadRequest(
                "limits must be above zero".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Checks an app name: 1–63 lowercase letters, digits and `-`, starting with a letter
/// or digit (it names a folder and appears in URLs).
pub fn check_name(name: &str) -> Result<(), PlatformError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(PlatformError::BadRequest(format!(
            "invalid app name `{name}`: use 1-{MAX_NAME} lowercase letters, digits and `-`, \
             starting with a letter or digit"
        )))
    }
}

impl AppSettings {
    /// Checks every field and returns the settings normalized (hosts lowercased, the
    /// prefix without a trailing `/`).
    pub fn normalized(mut self) -> Result<Self, PlatformError> {
        if self.hosts.is_empty() {
            return Err(PlatformError::BadRequest(
                "give at least one host the app answers (`--host shop.example.com`)".into(),
            ));
        }
        for host in &mut self.hosts {
            *host = normalize_host(host)?;
        }
        self.hosts.sort();
        self.hosts.dedup();
        self.route_prefix = match self.route_prefix.take() {
            None => None,
            Some(prefix) => normalize_prefix(&prefix)?,
        };
        self.limits.check()?;
        if self
            .runtime_config
            .as_ref()
            .is_some_and(|text| text.len() > MAX_RUNTIME_CONFIG)
        {
            return Err(PlatformError::BadRequest(format!(
                "the runtime config is over {MAX_RUNTIME_CONFIG} bytes"
            )));
        }
        self.parsed_runtime_config(std::path::Path::new("."))?;
        for key in self.env.keys().chain(self.variables.keys()) {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(PlatformError::BadRequest(format!(
                    "invalid environment or variable name `{key}`"
                )));
            }
        }
        Ok(self)
    }

    /// The app's runtime config with relative paths inside `app_dir` (the default, with
    /// every store in `app_dir`, when the deployment gave none).
    pub fn parsed_runtime_config(
        &self,
        app_dir: &std::path::Path,
    ) -> Result<wisp_capabilities::RuntimeConfig, PlatformError> {
        match &self.runtime_config {
            None => Ok(wisp_capabilities::RuntimeConfig::default()),
            Some(text) => {
                wisp_capabilities::RuntimeConfig::parse(text, &app_dir.join(RUNTIME_CONFIG_FILE))
                    .map_err(|e| PlatformError::BadRequest(format!("runtime config: {e}")))
            }
        }
    }

    /// The prefix as the app's routes see it (`/` when none).
    pub fn prefix(&self) -> &str {
        self.route_prefix.as_deref().unwrap_or("/")
    }
}

/// A host pattern lowercased, checked as DNS labels (with an optional leading `*.`).
fn normalize_host(host: &str) -> Result<String, PlatformError> {
    let lower = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels = lower.strip_prefix("*.").unwrap_or(&lower);
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if lower.len() > 253 || labels.is_empty() || !labels.split('.').all(valid_label) {
        return Err(PlatformError::BadRequest(format!(
            "invalid host `{host}`: give a DNS name (`shop.example.com`) or a wildcard \
             (`*.example.com`), without a port"
        )));
    }
    Ok(lower)
}

/// `/shop/` → `/shop`; `/` → none. Segments are URL-safe characters only.
fn normalize_prefix(prefix: &str) -> Result<Option<String>, PlatformError> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() && prefix.starts_with('/') {
        return Ok(None);
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    match trimmed.strip_prefix('/') {
        Some(rest) if rest.split('/').all(segment_ok) => Ok(Some(trimmed.to_owned())),
        _ => Err(PlatformError::BadRequest(format!(
            "invalid route prefix `{prefix}`: give a path like `/shop` (letters, digits, \
             `-._~` between slashes)"
        ))),
    }
}

#[cfg(test)]
impl AppSettings {
    /// Settings that claim `hosts` under `prefix`, for tests.
    pub(crate) fn claiming(hosts: &[&str], prefix: Option<&str>) -> Self {
        Self {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            route_prefix: prefix.map(str::to_owned),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apps_own_instance_quota_only_lowers_the_hosts() {
        let own = |n| AppLimits {
            app_instances: n,
            ..AppLimits::default()
        };
        assert_eq!(own(Some(4)).app_instances_under(Some(8)), Some(4));
        assert_eq!(own(Some(16)).app_instances_under(Some(8)), Some(8));
        assert_eq!(own(None).app_instances_under(Some(8)), Some(8));
        assert_eq!(own(Some(4)).app_instances_under(None), Some(4));
        assert_eq!(own(None).app_instances_under(None), None);
    }

    fn settings(hosts: &[&str], prefix: Option<&str>) -> AppSettings {
        AppSettings::claiming(hosts, prefix)
    }

    #[test]
    fn a_patch_replaces_what_it_names_and_keeps_the_rest() {
        let mut current = settings(&["a.test"], Some("/v1"));
        current.env.insert("K".into(), "V".into());
        current.runtime_config = Some("[key_value_store.x]\ntype = \"memory\"\n".into());
        let patch: SettingsPatch = serde_json::from_str(
            r#"{"hosts": ["b.test"], "route_prefix": null, "variables": {"who": "x"}}"#,
        )
        .unwrap();
        let changed = patch.applied_to(current.clone());
        assert_eq!(changed.hosts, ["b.test"]);
        assert_eq!(changed.route_prefix, None);
        assert_eq!(changed.env, current.env);
        assert_eq!(changed.variables.get("who").map(String::as_str), Some("x"));
        assert_eq!(changed.runtime_config, current.runtime_config);
        let clear: SettingsPatch = serde_json::from_str(r#"{"runtime_config": null}"#).unwrap();
        assert_eq!(clear.applied_to(current).runtime_config, None);
        let empty: SettingsPatch = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"name": "x"}"#).is_err());
    }

    #[test]
    fn names_are_checked() {
        for good in ["shop", "a", "shop-2", "9lives"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-shop", "Shop", "shop_1", "a/b", "..", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_and_prefixes_are_normalized() {
        let s = settings(
            &["Shop.Example.COM.", "*.apps.test", "shop.example.com"],
            Some("/v1/"),
        )
        .normalized()
        .unwrap();
        assert_eq!(s.hosts, ["*.apps.test", "shop.example.com"]);
        assert_eq!(s.route_prefix.as_deref(), Some("/v1"));
        let root = settings(&["a.test"], Some("/")).normalized().unwrap();
        assert_eq!(root.route_prefix, None);
        assert_eq!(root.prefix(), "/");
    }

    #[test]
    fn bad_hosts_and_prefixes_are_refused() {
        for host in [
            "",
            "shop.example.com:80",
            "a..b",
            "*.",
            "a b",
            "*.*.x",
            "-a.test",
        ] {
            assert!(settings(&[host], None).normalized().is_err(), "{host}");
        }
        assert!(settings(&[], None).normalized().is_err());
        for prefix in ["shop", "/a/../b", "/a b", "/a//b", "/%2e"] {
            assert!(
                settings(&["a.test"], Some(prefix)).normalized().is_err(),
                "{prefix}"
            );
        }
    }
}
