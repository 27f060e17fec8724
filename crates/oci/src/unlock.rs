//! A pulled locked app made runnable: its files laid out under one folder per component
//! and a `spin.toml` written beside them that names the cached Wasm by path. wisp then
//! loads that manifest like any other, so an app from a registry is checked, granted and
//! run exactly as the same app from a folder; the file is there to read when something
//! about the app needs explaining. The folder is keyed by the manifest digest, built in a
//! temporary folder and renamed into place, and its files are checked against their
//! digests every time it is used.

use crate::cache::BlobCache;
use crate::digest::{sha256_digest, sha256_file};
use crate::error::OciError;
use crate::locked::{ContentPath, LockedApp, LockedComponent};
use crate::triggers::KNOWN_TYPES;
use serde_json::{Map, Value};
use std::path::{Component as PathPart, Path, PathBuf};

/// The component metadata key wisp keeps `[component.X.limits]` under.
pub const WISP_LIMITS_KEY: &str = "wisp_limits";

/// The file name of the generated manifest.
const MANIFEST: &str = "spin.toml";

/// Lays out the app of manifest `digest` (unless already laid out and intact) and returns
/// the path of its generated `spin.toml`.
pub fn materialize(
    cache: &BlobCache,
    digest: &str,
    locked: &LockedApp,
) -> Result<PathBuf, OciError> {
    locked
        .check_host_requirements()
        .map_err(OciError::Invalid)?;
    if let Some(t) = locked
        .triggers
        .iter()
        .find(|t| !KNOWN_TYPES.contains(&t.trigger_type.as_str()))
    {
        return Err(OciError::Invalid(format!(
            "trigger `{}` has type `{}`, which wisp does not run (it runs {})",
            t.id,
            t.trigger_type,
            KNOWN_TYPES.join(", ")
        )));
    }
    let hex = crate::digest::sha256_hex(digest).map_err(OciError::Invalid)?;
    let app_dir = cache.apps_dir().join(hex);
    if app_dir.join(MANIFEST).is_file() {
        if files_intact(&app_dir, locked)? {
            return Ok(app_dir.join(MANIFEST));
        }
        tracing::warn!(dir = %app_dir.display(), "files of a pulled app changed on disk; laying them out again");
        std::fs::remove_dir_all(&app_dir).map_err(OciError::io(&app_dir))?;
    }
    let tmp_root = cache.tmp_dir()?;
    let staging = tempfile::tempdir_in(&tmp_root).map_err(OciError::io(&tmp_root))?;
    let mut wasm_paths = Vec::new();
    for c in &locked.components {
        wasm_paths.push(component_wasm(cache, c)?);
        for file in &c.files {
            lay_out_file(cache, c, file, staging.path())?;
        }
    }
    let manifest = manifest_toml(locked, &wasm_paths)?;
    std::fs::write(staging.path().join(MANIFEST), manifest)
        .map_err(OciError::io(staging.path().join(MANIFEST)))?;
    let apps = cache.apps_dir();
    std::fs::create_dir_all(&apps).map_err(OciError::io(&apps))?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &app_dir) {
        // Another `wisp` laid it out first: theirs is as good as ours.
        let _ = std::fs::remove_dir_all(&staged);
        if !app_dir.join(MANIFEST).is_file() {
            return Err(OciError::io(&app_dir)(e));
        }
    }
    Ok(app_dir.join(MANIFEST))
}

/// The cached, verified Wasm of a component.
fn component_wasm(cache: &BlobCache, c: &LockedComponent) -> Result<PathBuf, OciError> {
    let digest = c.source.content.digest.as_deref().ok_or_else(|| {
        OciError::Invalid(format!("component `{}` names its Wasm by no digest", c.id))
    })?;
    cache.verified_path(digest)?.ok_or_else(|| {
        OciError::Invalid(format!(
            "the Wasm of component `{}` ({digest}) is not in the artifact",
            c.id
        ))
    })
}

/// Where a component's file goes, refusing a path that would leave its folder.
fn file_target(root: &Path, component: &str, path: &str) -> Result<PathBuf, OciError> {
    let rel = Path::new(path.trim_start_matches('/'));
    let safe = rel.components().all(|p| matches!(p, PathPart::Normal(_)));
    if !safe || rel.as_os_str().is_empty() {
        return Err(OciError::Invalid(format!(
            "component `{component}` has a file at `{path}`, which is not a path inside its folder"
        )));
    }
    Ok(root.join("files").join(component).join(rel))
}

/// Writes one file of a component from inline bytes or the cache.
fn lay_out_file(
    cache: &BlobCache,
    c: &LockedComponent,
    file: &ContentPath,
    root: &Path,
) -> Result<(), OciError> {
    let target = file_target(root, &c.id, &file.path)?;
    let parent = target.parent().expect("a file target has a folder");
    std::fs::create_dir_all(parent).map_err(OciError::io(parent))?;
    let what = format!("file `{}` of component `{}`", file.path, c.id);
    let inline = file
        .content
        .inline_bytes()
        .map_err(|why| OciError::Invalid(format!("{what}: {why}")))?;
    match (inline, file.content.digest.as_deref()) {
        (Some(bytes), digest) => {
            if let Some(expected) = digest {
                let actual = sha256_digest(&bytes);
                if actual != expected {
                    return Err(OciError::DigestMismatch {
                        what,
                        expected: expected.to_owned(),
                        actual,
                    });
                }
            }
            std::fs::write(&target, bytes).map_err(OciError::io(&target))
        }
        (None, Some(digest)) => {
            let blob = cache.verified_path(digest)?.ok_or_else(|| {
                OciError::Invalid(format!("{what} ({digest}) is not in the artifact"))
            })?;
            std::fs::copy(&blob, &target)
                .map(|_| ())
                .map_err(OciError::io(&target))
        }
        (None, None) => Err(OciError::Invalid(format!(
            "{what} has neither inline content nor a digest"
        ))),
    }
}

/// Whether every laid-out file still hashes to what the locked app says.
fn files_intact(app_dir: &Path, locked: &LockedApp) -> Result<bool, OciError> {
    for c in &locked.components {
        for file in &c.files {
            let target = file_target(app_dir, &c.id, &file.path)?;
            let expected = match (&file.content.digest, file.content.inline_bytes()) {
                (Some(d), _) => d.clone(),
                (None, Ok(Some(bytes))) => sha256_digest(&bytes),
                _ => return Ok(false),
            };
            if sha256_file(&target).ok().as_deref() != Some(expected.as_str()) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The `spin.toml` of a locked app whose components' Wasm is at `wasm_paths`.
fn manifest_toml(locked: &LockedApp, wasm_paths: &[PathBuf]) -> Result<String, OciError> {
    let mut root = toml::Table::new();
    root.insert("spin_manifest_version".into(), 2.into());
    root.insert("application".into(), application(&locked.metadata)?.into());
    let mut variables = toml::Table::new();
    for (name, v) in &locked.variables {
        let mut table = toml::Table::new();
        match &v.default {
            Some(d) => table.insert("default".into(), d.clone().into()),
            None => table.insert("required".into(), true.into()),
        };
        if v.secret {
            table.insert("secret".into(), true.into());
        }
        if let Some(d) = &v.description {
            table.insert("description".into(), d.clone().into());
        }
        variables.insert(name.clone(), table.into());
    }
    root.insert("variables".into(), variables.into());
    let mut components = toml::Table::new();
    for (c, wasm) in locked.components.iter().zip(wasm_paths) {
        components.insert(c.id.clone(), component(c, wasm)?.into());
    }
    root.insert("component".into(), components.into());
    let mut triggers = toml::Table::new();
    for t in &locked.triggers {
        let mut table = to_toml_table(&t.trigger_config, &format!("trigger `{}`", t.id))?;
        table.insert("id".into(), t.id.clone().into());
        let list = triggers
            .entry(t.trigger_type.clone())
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(list) = list {
            list.push(table.into());
        }
    }
    root.insert("trigger".into(), triggers.into());
    let header = "# Generated by wisp from a locked Spin app pulled from a registry.\n";
    Ok(format!(
        "{header}{}",
        toml::to_string(&root).expect("a TOML table serializes")
    ))
}

/// `[application]` from the locked metadata.
fn application(metadata: &Map<String, Value>) -> Result<toml::Table, OciError> {
    let mut app = toml::Table::new();
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("app");
    app.insert("name".into(), name.into());
    for key in ["version", "description"] {
        if let Some(v) = metadata.get(key).and_then(Value::as_str) {
            app.insert(key.into(), v.into());
        }
    }
    if let Some(authors) = metadata.get("authors") {
        app.insert("authors".into(), to_toml(authors, "`authors`")?);
    }
    // Spin 2+ locks app-wide trigger settings by type under `triggers`; older Spin
    // wrote one `trigger` with its `type`.
    let mut settings = match metadata.get("triggers").and_then(Value::as_object) {
        Some(t) => t.clone(),
        None => match metadata.get("trigger").and_then(Value::as_object) {
            Some(single) => {
                let mut single = single.clone();
                match single.remove("type").as_ref().and_then(Value::as_str) {
                    Some(kind) => Map::from_iter([(kind.to_owned(), Value::Object(single))]),
                    None => Map::new(),
                }
            }
            None => Map::new(),
        },
    };
    // Only the types wisp reads app-wide settings for; the others have none it uses.
    settings.retain(|kind, value| {
        ["http", "redis", "mqtt"].contains(&kind.as_str())
            && value.as_object().is_some_and(|o| !o.is_empty())
    });
    if !settings.is_empty() {
        app.insert(
            "trigger".into(),
            to_toml(&Value::Object(settings), "app trigger settings")?,
        );
    }
    Ok(app)
}

/// `[component.<id>]` from a locked component.
fn component(c: &LockedComponent, wasm: &Path) -> Result<toml::Table, OciError> {
    let what = format!("component `{}`", c.id);
    let mut table = toml::Table::new();
    table.insert("source".into(), wasm.display().to_string().into());
    if let Some(d) = c.metadata.get("description").and_then(Value::as_str) {
        table.insert("description".into(), d.into());
    }
    for (from, to) in [
        ("allowed_outbound_hosts", "allowed_outbound_hosts"),
        ("key_value_stores", "key_value_stores"),
        ("databases", "sqlite_databases"),
        ("ai_models", "ai_models"),
    ] {
        if let Some(list) = c.metadata.get(from) {
            table.insert(to.into(), to_toml(list, &what)?);
        }
    }
    if let Some(limits) = c.metadata.get(WISP_LIMITS_KEY) {
        table.insert("limits".into(), to_toml(limits, &what)?);
    }
    if !c.env.is_empty() {
        table.insert(
            "environment".into(),
            toml::Value::try_from(&c.env).expect("strings serialize"),
        );
    }
    if !c.config.is_empty() {
        table.insert(
            "variables".into(),
            toml::Value::try_from(&c.config).expect("strings serialize"),
        );
    }
    if !c.files.is_empty() {
        let mut mount = toml::Table::new();
        mount.insert("source".into(), format!("files/{}", c.id).into());
        mount.insert("destination".into(), "/".into());
        table.insert("files".into(), vec![toml::Value::Table(mount)].into());
    }
    Ok(table)
}

fn to_toml_table(json: &Value, what: &str) -> Result<toml::Table, OciError> {
    match to_toml(json, what)? {
        toml::Value::Table(t) => Ok(t),
        _ => Err(OciError::Invalid(format!("{what}: expected an object"))),
    }
}

/// JSON to TOML, dropping nulls (TOML has none; an absent key means the same).
fn to_toml(json: &Value, what: &str) -> Result<toml::Value, OciError> {
    fn strip_nulls(v: &Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => {
                Value::Array(a.iter().filter(|v| !v.is_null()).map(strip_nulls).collect())
            }
            other => other.clone(),
        }
    }
    toml::Value::try_from(strip_nulls(json))
        .map_err(|e| OciError::Invalid(format!("{what} in the locked app: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_may_not_leave_the_component_folder() {
        let root = Path::new("/cache/app");
        assert!(file_target(root, "web", "static/index.html").is_ok());
        assert!(file_target(root, "web", "/static/index.html").is_ok());
        for bad in ["../../etc/passwd", "static/../../x", "/", ""] {
            assert!(file_target(root, "web", bad).is_err(), "{bad}");
        }
    }
}
