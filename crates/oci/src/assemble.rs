//! An app (or a bare component) made into the layers, config and manifest of an OCI
//! artifact, in Spin's layout: one `+wasm` layer per distinct component, one `+data`
//! layer per distinct file (content of up to 128 bytes is inlined into the locked app
//! instead), the locked app as a layer of its own, and an image config whose label names
//! the locked app's digest. Past 500 layers, each component's files become one gzipped
//! tar layer, as Spin does.

use crate::digest::sha256_digest;
use crate::error::OciError;
use crate::locked::{ContentPath, ContentRef, LockedApp, LockedComponent, LockedSource};
use crate::media;
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use wisp_manifest::App;

/// An artifact ready to push: its blobs and the exact manifest bytes, whose digest is the
/// artifact's.
pub struct Assembled {
    /// Layers, in manifest order.
    pub layers: Vec<ImageLayer>,
    /// The config blob.
    pub config: Config,
    /// The manifest as it will be pushed.
    pub manifest: Vec<u8>,
}

impl Assembled {
    /// The manifest's digest: what `name@sha256:…` pins.
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest)
    }

    fn new(layers: Vec<ImageLayer>, config: Config, annotations: BTreeMap<String, String>) -> Self {
        let annotations = (!annotations.is_empty()).then_some(annotations);
        let mut manifest = OciImageManifest::build(&layers, &config, annotations);
        manifest.media_type = Some(media::OCI_MANIFEST.to_owned());
        let manifest = serde_json::to_vec(&manifest).expect("a manifest serializes");
        Self {
            layers,
            config,
            manifest,
        }
    }
}

/// What `wisp registry push` hands over for an app.
pub struct AppInput<'a> {
    /// The loaded manifest.
    pub app: &'a App,
    /// Each component's files, staged as the guest sees them (the folder is its `/`).
    pub staged_files: BTreeMap<String, PathBuf>,
    /// `--annotation`s; they win over the ones inferred from the app.
    pub annotations: BTreeMap<String, String>,
    /// Pack each component's files into one archive layer even under the layer limit
    /// (Spin's `SPIN_OCI_ARCHIVE_LAYERS`).
    pub archive_files: bool,
}

/// Layers without repeats, in first-seen order.
#[derive(Default)]
struct Layers {
    layers: Vec<ImageLayer>,
    seen: HashSet<String>,
}

impl Layers {
    fn add(&mut self, data: Vec<u8>, media_type: &str) -> ContentRef {
        let content = ContentRef::for_bytes(&data, media::INLINE_MAX);
        if self
            .seen
            .insert(content.digest.clone().expect("for_bytes sets a digest"))
        {
            self.layers
                .push(ImageLayer::new(data, media_type.to_owned(), None));
        }
        content
    }
}

/// A Spin app artifact for `input`.
pub fn assemble_app(input: &AppInput) -> Result<Assembled, OciError> {
    let (mut locked, mut layers) = lock(input, input.archive_files)?;
    if !input.archive_files && layers.layers.len() > media::MAX_LAYERS - 1 {
        (locked, layers) = lock(input, true)?;
    }
    let locked_json = locked.to_json();
    let locked_digest = sha256_digest(&locked_json);
    layers.layers.push(ImageLayer::new(
        locked_json,
        media::SPIN_APPLICATION.to_owned(),
        None,
    ));
    // Built as Spin builds it (the same `ConfigFile`), so the bytes match Spin's.
    let labels = std::collections::HashMap::from([(
        media::LOCKED_APP_DIGEST_LABEL.to_owned(),
        locked_digest,
    )]);
    let config_file = oci_client::config::ConfigFile {
        architecture: oci_client::config::Architecture::Wasm,
        os: oci_client::config::Os::Other("Wasip1".to_owned()),
        config: Some(oci_client::config::Config {
            labels: Some(labels),
            ..Default::default()
        }),
        ..Default::default()
    };
    let config = Config::oci_v1_from_config_file(config_file, None)
        .map_err(|e| OciError::Invalid(format!("cannot build the image config: {e}")))?;
    let mut annotations = inferred_annotations(input.app);
    annotations.extend(input.annotations.clone());
    Ok(Assembled::new(layers.layers, config, annotations))
}

/// A Wasm component artifact (the layout `wkg` pushes and Spin runs as a package): one
/// `application/wasm` layer and a `wasm.config.v0` config.
pub fn assemble_component(
    wasm: Vec<u8>,
    annotations: BTreeMap<String, String>,
) -> Result<Assembled, OciError> {
    check_wasm(&wasm, "the component")?;
    let digest = sha256_digest(&wasm);
    let config = json!({
        "created": chrono::Utc::now().to_rfc3339(),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [digest],
    });
    let config = Config::new(
        serde_json::to_vec(&config).expect("JSON serializes"),
        media::WASM_CONFIG.to_owned(),
        None,
    );
    let layer = ImageLayer::new(wasm, media::WASM_LAYER_WKG.to_owned(), None);
    let mut all = BTreeMap::from([(
        "org.opencontainers.image.created".to_owned(),
        chrono::Utc::now().to_rfc3339(),
    )]);
    all.extend(annotations);
    Ok(Assembled::new(vec![layer], config, all))
}

/// The locked app and its layers; `archive` packs each component's files into one layer.
fn lock(input: &AppInput, archive: bool) -> Result<(LockedApp, Layers), OciError> {
    let app = input.app;
    let mut layers = Layers::default();
    let mut components = Vec::new();
    let mut chaining = false;
    for c in &app.components {
        let wasm = std::fs::read(&c.source).map_err(|e| {
            OciError::Invalid(format!(
                "component `{}`: cannot read {}: {e} (build it first: `wisp build`, or push with `--build`)",
                c.id,
                c.source.display()
            ))
        })?;
        check_wasm(
            &wasm,
            &format!("component `{}` ({})", c.id, c.source.display()),
        )?;
        let source = LockedSource {
            content_type: "application/wasm".to_owned(),
            content: layers.add(wasm, media::WASM_LAYER),
        };
        let files = match input.staged_files.get(&c.id) {
            None => Vec::new(),
            Some(dir) if archive => archive_files(dir, &mut layers)?,
            Some(dir) => file_layers(dir, &mut layers)?,
        };
        let hosts: Vec<String> = c
            .allowed_outbound_hosts
            .iter()
            .map(|h| match h {
                wisp_manifest::outbound::AllowedHost::Pattern(p) => p.to_string(),
                wisp_manifest::outbound::AllowedHost::Template(t) => t.clone(),
            })
            .collect();
        let mut host_requirements = Map::new();
        if hosts.iter().any(|h| h.contains(".spin.internal")) {
            host_requirements.insert(crate::locked::SERVICE_CHAINING.into(), "required".into());
            chaining = true;
        }
        let mut metadata = Map::new();
        if let Some(d) = &c.description {
            metadata.insert("description".into(), d.clone().into());
        }
        metadata.insert("allowed_outbound_hosts".into(), json!(hosts));
        metadata.insert("key_value_stores".into(), json!(c.key_value_stores));
        metadata.insert("databases".into(), json!(c.sqlite_databases));
        metadata.insert("ai_models".into(), json!([]));
        if let Some(limits) = limits_metadata(&c.limits) {
            metadata.insert(crate::unlock::WISP_LIMITS_KEY.into(), limits);
        }
        components.push(LockedComponent {
            id: c.id.clone(),
            metadata,
            source,
            env: c.environment.clone(),
            files,
            config: c.variables.clone(),
            dependencies: Map::new(),
            host_requirements,
        });
    }
    let locked = LockedApp {
        spin_lock_version: u32::from(chaining),
        must_understand: if chaining {
            vec!["component_host_requirements".to_owned()]
        } else {
            Vec::new()
        },
        metadata: app_metadata(app),
        host_requirements: Map::new(),
        variables: app
            .variables
            .iter()
            .map(|(name, v)| {
                let locked = crate::locked::LockedVariable {
                    description: None,
                    default: v.default.clone(),
                    secret: v.secret,
                };
                (name.clone(), locked)
            })
            .collect(),
        triggers: app
            .triggers
            .iter()
            .map(crate::triggers::lock_trigger)
            .collect(),
        components,
    };
    Ok((locked, layers))
}

/// Refuses bytes that are not Wasm at all: a registry artifact must run.
fn check_wasm(bytes: &[u8], what: &str) -> Result<(), OciError> {
    if bytes.starts_with(b"\0asm") {
        Ok(())
    } else {
        Err(OciError::Invalid(format!(
            "{what} is not a WebAssembly file (no `\\0asm` header)"
        )))
    }
}

/// One `+data` layer per distinct file below `dir` (small ones inlined instead).
fn file_layers(dir: &Path, layers: &mut Layers) -> Result<Vec<ContentPath>, OciError> {
    let mut files = Vec::new();
    for (rel, path) in walk_files(dir)? {
        let bytes = std::fs::read(&path).map_err(OciError::io(&path))?;
        let content = if bytes.len() <= media::INLINE_MAX {
            ContentRef::for_bytes(&bytes, media::INLINE_MAX)
        } else {
            layers.add(bytes, media::DATA_LAYER)
        };
        files.push(ContentPath { content, path: rel });
    }
    Ok(files)
}

/// Every file below `dir` listed by digest, and one gzipped tar layer holding them all.
fn archive_files(dir: &Path, layers: &mut Layers) -> Result<Vec<ContentPath>, OciError> {
    let mut files = Vec::new();
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    for (rel, path) in walk_files(dir)? {
        let bytes = std::fs::read(&path).map_err(OciError::io(&path))?;
        files.push(ContentPath {
            content: ContentRef::for_bytes(&bytes, media::INLINE_MAX),
            path: rel.clone(),
        });
        tar.append_path_with_name(&path, &rel)
            .map_err(OciError::io(&path))?;
    }
    let gz = tar
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(OciError::io(dir))?;
    layers.add(gz, media::ARCHIVE_LAYER);
    Ok(files)
}

/// Regular files below `dir`, sorted, with their `/`-separated relative paths.
fn walk_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, OciError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).map_err(OciError::io(&folder))? {
            let entry = entry.map_err(OciError::io(&folder))?;
            let kind = entry.file_type().map_err(OciError::io(entry.path()))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let path = entry.path();
                let rel = path
                    .strip_prefix(dir)
                    .expect("walked below dir")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                found.push((rel, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `[component.X.limits]`, kept in the component's metadata (Spin ignores it).
fn limits_metadata(limits: &wisp_manifest::Limits) -> Option<Value> {
    let mut table = Map::new();
    if let Some(m) = limits.memory {
        table.insert("memory".into(), m.into());
    }
    if let Some(t) = limits.timeout {
        table.insert("timeout".into(), format!("{}ms", t.as_millis()).into());
    }
    for (key, value) in [
        ("max_instances", limits.max_instances),
        ("instance_reuse", limits.instance_reuse),
        ("instance_concurrency", limits.instance_concurrency),
    ] {
        if let Some(n) = value {
            table.insert(key.into(), n.into());
        }
    }
    (!table.is_empty()).then_some(Value::Object(table))
}

/// The app's metadata as Spin locks it: name, version, description, authors, the
/// app-wide trigger settings by type, and (with one trigger type) `trigger`.
fn app_metadata(app: &App) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert("name".into(), app.name.clone().into());
    if let Some(v) = &app.version {
        metadata.insert("version".into(), v.clone().into());
    }
    if let Some(d) = &app.description {
        metadata.insert("description".into(), d.clone().into());
    }
    metadata.insert("authors".into(), json!(app.authors));
    let mut triggers = Map::new();
    if app.http_base != "/" {
        triggers.insert("http".into(), json!({ "base": app.http_base }));
    }
    if let Some(address) = &app.redis_address {
        triggers.insert("redis".into(), json!({ "address": address }));
    }
    if let Some(m) = &app.mqtt {
        let mut mqtt = Map::new();
        mqtt.insert("address".into(), m.address.clone().into());
        if let Some(u) = &m.username {
            mqtt.insert("username".into(), u.clone().into());
        }
        if let Some(p) = &m.password {
            mqtt.insert("password".into(), p.clone().into());
        }
        mqtt.insert("keep_alive_interval".into(), m.keep_alive_secs.into());
        triggers.insert("mqtt".into(), Value::Object(mqtt));
    }
    let kinds = app.trigger_kinds();
    if let [only] = kinds.as_slice() {
        let mut single = triggers
            .get(only.name())
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        single.insert("type".into(), only.name().into());
        metadata.insert("trigger".into(), Value::Object(single));
    }
    metadata.insert("triggers".into(), Value::Object(triggers));
    metadata
}

/// The annotations Spin infers: title, version, description, authors, created.
fn inferred_annotations(app: &App) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    let mut add = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            annotations.insert(format!("org.opencontainers.image.{key}"), v);
        }
    };
    add("title", Some(app.name.clone()));
    add("version", app.version.clone());
    add("description", app.description.clone());
    add(
        "authors",
        (!app.authors.is_empty()).then(|| app.authors.join(", ")),
    );
    add("created", Some(chrono::Utc::now().to_rfc3339()));
    annotations
}
