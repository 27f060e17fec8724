//! Turning a deployment into something loadable: a source frozen into a snapshot, and a
//! snapshot made into an app model with the deployment's prefix, folder, environment
//! and variables.

use super::PlatformError;
use super::settings::AppSettings;
use super::slot::AppLoader;
use super::store::DeploymentRecord;
use crate::HostOptions;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wisp_engine::WispEngine;
use wisp_manifest::{App, TriggerKind};
use wisp_oci::{AppInput, BlobCache};

/// The loader of `record`'s snapshot: its app (refused if it has command triggers) with
/// the deployment's prefix as base path, and its options: the template with the app's
/// own state folder, environment and variables (and nothing of the host process's
/// environment, which may hold other tenants' secrets).
pub(crate) fn loader(
    record: &DeploymentRecord,
    template: &HostOptions,
    state_dir: &Path,
    engine: Arc<WispEngine>,
) -> Result<AppLoader, PlatformError> {
    let mut app = load_snapshot(&record.manifest, &record.name)?;
    if app
        .trigger_components(TriggerKind::Command)
        .next()
        .is_some()
    {
        return Err(PlatformError::Unloadable(
            "the app has command triggers, which `wisp up` runs; `wisp serve` hosts \
             HTTP, Redis, cron and MQTT triggers"
                .into(),
        ));
    }
    app.http_base = join_base(record.settings.prefix(), &app.http_base);
    let settings = &record.settings;
    check_required_variables(&app, settings)?;
    let mut options = template.clone();
    options.limits = settings.limits.applied_to(template.limits);
    let ceiling = template.ceiling.unwrap_or(template.limits);
    options.ceiling = Some(settings.limits.applied_to(ceiling));
    options.app_instances = settings.limits.app_instances_under(template.app_instances);
    options.state_dir = state_dir.join("apps").join(&record.name);
    options.runtime_config = settings.parsed_runtime_config(&options.state_dir)?;
    options.extra_env = settings
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    options.variable_env = settings
        .variables
        .iter()
        .map(|(k, v)| {
            (
                format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()),
                v.clone(),
            )
        })
        .collect::<HashMap<_, _>>();
    Ok(AppLoader {
        name: record.name.clone(),
        app,
        options,
        engine,
    })
}

/// Refuses an app with a required variable the deploy gives no value for, saying how a
/// tenant gives one (the host's environment is never a source in platform mode).
fn check_required_variables(app: &App, settings: &AppSettings) -> Result<(), PlatformError> {
    let missing = app.variables.iter().find(|(name, variable)| {
        variable.required
            && variable.default.is_none()
            && !settings
                .variables
                .keys()
                .any(|k| k.eq_ignore_ascii_case(name))
    });
    match missing {
        Some((name, _)) => Err(PlatformError::Unloadable(format!(
            "variable `{name}` is required but not set: give it with `wisp deploy --variable \
             {name}=VALUE` (`\"variables\": {{\"{name}\": …}}` in the deploy request)"
        ))),
        None => Ok(()),
    }
}

/// Packs the app at `path` (a folder, a `spin.toml` or a `.wasm`) into a snapshot.
pub(crate) fn freeze_folder(
    path: &Path,
    cache: &BlobCache,
) -> Result<(PathBuf, String), PlatformError> {
    let app = load_source(path)?;
    app.check_sources().map_err(PlatformError::unloadable)?;
    let staging = tempfile::tempdir().map_err(|e| PlatformError::State(e.to_string()))?;
    let staged_files = wisp_engine::stage_app_files(&app, staging.path())
        .map_err(|e| PlatformError::Unloadable(format!("{e:#}")))?;
    let snapshot = wisp_oci::snapshot(
        cache,
        &AppInput {
            app: &app,
            staged_files,
            annotations: BTreeMap::new(),
            archive_files: false,
        },
    )
    .map_err(PlatformError::unloadable)?;
    Ok((snapshot.manifest, snapshot.digest))
}

/// The app a deploy's path names.
fn load_source(path: &Path) -> Result<App, PlatformError> {
    if !path.is_absolute() {
        return Err(PlatformError::BadRequest(format!(
            "{}: give the app's path on the host as an absolute path",
            path.display()
        )));
    }
    let manifest = if path.is_dir() {
        path.join(wisp_manifest::MANIFEST_FILE_NAME)
    } else {
        path.to_owned()
    };
    if !manifest.exists() {
        return Err(PlatformError::Unloadable(format!(
            "{}: no such file on the host",
            manifest.display()
        )));
    }
    if manifest.extension().is_some_and(|e| e == "wasm") {
        return Ok(wisp_manifest::bare_component(&manifest));
    }
    wisp_manifest::load(&manifest).map_err(PlatformError::unloadable)
}

/// The app of a snapshot: its generated manifest, or a lone component (a cached blob,
/// known by Wasm's magic number rather than a file name) named after the app.
fn load_snapshot(path: &Path, name: &str) -> Result<App, PlatformError> {
    let mut magic = [0u8; 4];
    let is_wasm = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| magic == *b"\0asm");
    if is_wasm {
        return Ok(wisp_manifest::bare_component_named(path, name));
    }
    wisp_manifest::load(path).map_err(PlatformError::unloadable)
}

/// `prefix` + `base`: `/shop` and `/api` make `/shop/api`; `/` is no prefix.
fn join_base(prefix: &str, base: &str) -> String {
    match (prefix, base) {
        ("/", base) => base.to_owned(),
        (prefix, "/") => prefix.to_owned(),
        (prefix, base) => format!("{prefix}{base}"),
    }
}

#[cfg(test)]
mod tests {
    use super::join_base;

    #[test]
    fn prefixes_join_bases() {
        assert_eq!(join_base("/", "/"), "/");
        assert_eq!(join_base("/", "/api"), "/api");
        assert_eq!(join_base("/shop", "/"), "/shop");
        assert_eq!(join_base("/shop", "/api"), "/shop/api");
    }
}
