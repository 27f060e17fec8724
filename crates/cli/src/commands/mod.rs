//! One module per subcommand, plus how an app is located on disk.

mod admin_client;
mod app_settings;
pub mod apps;
pub mod build;
pub mod host_flags;
pub mod registry;
pub mod serve;
pub mod up;
mod variables;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use wisp_manifest::{App, MANIFEST_FILE_NAME};

/// Resolves `-f/--from` (a manifest, a folder holding one, or a bare `.wasm`) to an app.
pub fn load_app(from: &Path) -> anyhow::Result<App> {
    let path: PathBuf = if from.is_dir() {
        from.join(MANIFEST_FILE_NAME)
    } else {
        from.to_path_buf()
    };
    if path.extension().is_some_and(|e| e == "wasm") {
        if !path.is_file() {
            bail!(
                "{}: no such file (pass a .wasm component, a spin.toml, or a folder holding one)",
                path.display()
            );
        }
        return Ok(wisp_manifest::bare_component(&path));
    }
    if !path.exists() && from == Path::new(MANIFEST_FILE_NAME) {
        bail!(
            "no {MANIFEST_FILE_NAME} in this folder: run wisp in an app folder, or pass `-f PATH` \
             (a spin.toml, a folder holding one, or a .wasm component)"
        );
    }
    let app = wisp_manifest::load(&path)?;
    for warning in &app.warnings {
        eprintln!("Warning: {warning}");
    }
    Ok(app)
}

/// The artifact `wisp registry push` pushes for `from` (a bare `.wasm`, or an app that
/// `--build` builds first); `wisp deploy` uploads the same.
pub fn assemble(
    from: &Path,
    build: bool,
    annotations: std::collections::BTreeMap<String, String>,
    archive_files: bool,
) -> anyhow::Result<wisp_oci::Assembled> {
    if from.extension().is_some_and(|e| e == "wasm") {
        let wasm =
            std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
        return Ok(wisp_oci::assemble_component(wasm, annotations)?);
    }
    let app = load_app(from)?;
    if build {
        build_app(&app)?;
    }
    app.check_sources()?;
    let staging = tempfile::tempdir().context("cannot make a staging folder")?;
    let staged_files = wisp_engine::stage_app_files(&app, staging.path())?;
    Ok(wisp_oci::assemble_app(&wisp_oci::AppInput {
        app: &app,
        staged_files,
        annotations,
        archive_files,
    })?)
}

/// Parses `KEY=VALUE`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Runs every component's build commands, streaming their output.
pub fn build_app(app: &App) -> anyhow::Result<()> {
    let mut built = 0;
    for c in &app.components {
        let Some(build) = &c.build else { continue };
        for command in &build.commands {
            println!("Building component {} with `{command}`", c.id);
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&build.workdir)
                .status()
                .with_context(|| {
                    format!(
                        "cannot run the build command of component `{}` in {}",
                        c.id,
                        build.workdir.display()
                    )
                })?;
            if !status.success() {
                bail!(
                    "build of component `{}` failed: `{command}` exited with {status}",
                    c.id
                );
            }
        }
        built += 1;
    }
    if built == 0 {
        println!("No build command found: nothing to build");
    } else {
        println!("Finished building all components");
    }
    Ok(())
}
