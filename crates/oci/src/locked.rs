//! Spin's locked application (`spin.lock`), the JSON document a Spin OCI artifact carries:
//! every component with its Wasm and files named by digest, every trigger with its
//! settings. The field names and shapes are Spin's (`spin-locked-app`), so an app wisp
//! pushes is one Spin reads, and the reverse. Unknown fields are ignored, as Spin does;
//! `must_understand` and `host_requirements` are how an app says what a host must not
//! ignore, and [`LockedApp::check_host_requirements`] refuses what wisp cannot honour.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The one host requirement Spin defines, which wisp meets.
pub const SERVICE_CHAINING: &str = "local_service_chaining";

/// A locked Spin application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedApp {
    /// `0` when the app has no host requirements, else `1` (what Spin writes).
    pub spin_lock_version: u32,
    /// Fields the host must process if present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<String>,
    /// App metadata: `name`, `version`, `description`, `authors`, `triggers`, `trigger`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Features the host must have (`local_service_chaining`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
    /// The app's variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, LockedVariable>,
    /// Every trigger.
    pub triggers: Vec<LockedTrigger>,
    /// Every component.
    pub components: Vec<LockedComponent>,
}

/// A variable: no default means required.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedVariable {
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its default; a variable without one must be provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Its value must not be logged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// A trigger: its type and its type's settings, with `component` naming what it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedTrigger {
    /// Unique within the app.
    pub id: String,
    /// `http`, `redis`, `cron`, `mqtt`, `command`, …
    pub trigger_type: String,
    /// The `[[trigger.<type>]]` table, as JSON.
    pub trigger_config: Value,
}

/// A component: its Wasm, files, environment and grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedComponent {
    /// Unique within the app.
    pub id: String,
    /// `description`, `allowed_outbound_hosts`, `key_value_stores`, `databases`, …
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// The Wasm.
    pub source: LockedSource,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Files, each at a path relative to the guest's `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    /// Component variables (templates over app variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Components composed into this one (not supported by wisp yet).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub dependencies: Map<String, Value>,
    /// Features the host must have for this component.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
}

/// A Wasm source: its content type and where the bytes are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockedSource {
    /// `application/wasm`.
    pub content_type: String,
    /// The bytes.
    #[serde(flatten)]
    pub content: ContentRef,
}

/// Content at a guest path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContentPath {
    /// The bytes.
    #[serde(flatten)]
    pub content: ContentRef,
    /// The guest path, relative (`static/index.html`) or `/` for a whole folder.
    pub path: String,
}

/// Where content is: a URL, inline bytes (base64), and/or a digest it must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentRef {
    /// A URL (`file://` when the app was locked from disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The content itself, base64: how Spin carries content of up to 128 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// `sha256:<hex>` of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ContentRef {
    /// A reference by digest, with the bytes inlined when there are at most `inline_max`.
    pub fn for_bytes(bytes: &[u8], inline_max: usize) -> Self {
        Self {
            source: None,
            inline: (bytes.len() <= inline_max)
                .then(|| base64::engine::general_purpose::STANDARD.encode(bytes)),
            digest: Some(crate::digest::sha256_digest(bytes)),
        }
    }

    /// The inlined bytes, if any.
    pub fn inline_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        self.inline
            .as_deref()
            .map(|text| {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| format!("inline content is not base64: {e}"))
            })
            .transpose()
    }
}

impl LockedApp {
    /// Parses a locked app, naming what is wrong with it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("the locked app is not valid: {e}"))
    }

    /// Serializes it as Spin does (pretty JSON is not needed: the bytes are hashed once).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a locked app always serializes")
    }

    /// Refuses an app that requires what wisp cannot provide: a `must_understand` field
    /// it does not know, a host requirement other than service chaining, or component
    /// dependencies (composition is not supported yet).
    pub fn check_host_requirements(&self) -> Result<(), String> {
        for field in &self.must_understand {
            if !matches!(
                field.as_str(),
                "host_requirements" | "component_host_requirements"
            ) {
                return Err(format!(
                    "the app requires the host to understand `{field}`, which wisp does not"
                ));
            }
        }
        let component_requirements = self.components.iter().map(|c| &c.host_requirements);
        for requirements in std::iter::once(&self.host_requirements).chain(component_requirements) {
            for (name, value) in requirements {
                let optional = value.as_str() == Some("optional");
                if name != SERVICE_CHAINING && !optional {
                    return Err(format!(
                        "the app requires `{name}`, which this version of wisp does not support"
                    ));
                }
            }
        }
        if let Some(c) = self.components.iter().find(|c| !c.dependencies.is_empty()) {
            return Err(format!(
                "component `{}` has component dependencies, which wisp does not support yet",
                c.id
            ));
        }
        Ok(())
    }
}
