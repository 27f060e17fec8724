//! The app a container runs: from the image's Wasm layers (Spin's OCI artifact, or a
//! single component), or from `/spin.toml` and its files in an ordinary image's root.

use crate::precompile::unpack_layer;
use crate::settings::{MANIFEST_PATH, ShimSettings};
use anyhow::{Context, bail};
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source};
use std::path::Path;
use wisp_manifest::App;
use wisp_oci::{BlobCache, HeldLayer, Runnable};

/// The layer media types the shim asks runwasi for: all of Spin's artifact's.
pub const LAYER_TYPES: &[&str] = &wisp_oci::media::APP_LAYERS;

/// Loads the app the container holds, cut down to `SPIN_COMPONENTS_TO_RETAIN` if set.
pub fn load_app(ctx: &impl RuntimeContext, settings: &ShimSettings) -> anyhow::Result<App> {
    let mut app = match ctx.entrypoint().source {
        Source::Oci(layers) => {
            let media_types: Vec<String> = layers
                .iter()
                .map(|l| l.config.media_type().to_string())
                .collect();
            let mut held = Vec::with_capacity(layers.len());
            for (layer, media_type) in layers.iter().zip(&media_types) {
                held.push(HeldLayer {
                    media_type,
                    digest: layer.config.digest().as_ref(),
                    bytes: unpack_layer(layer, &settings.compile_cache_dir)?,
                });
            }
            let cache = BlobCache::new(&settings.oci_cache_dir);
            match wisp_oci::runnable_from_layers(&cache, &held)
                .context("the image's Wasm layers are not a runnable app")?
            {
                Runnable::App(manifest) => wisp_manifest::load(&manifest)?,
                Runnable::Component(wasm) => wisp_manifest::bare_component_named(&wasm, "main"),
            }
        }
        Source::File(_) => plain_image_app(ctx)?,
    };
    for warning in &app.warnings {
        eprintln!("Warning: {warning}");
    }
    if let Some(ids) = &settings.retain {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        app.retain_components(&ids)
            .context("SPIN_COMPONENTS_TO_RETAIN")?;
    }
    Ok(app)
}

/// An image with no Wasm layers: `/spin.toml` (Spin's shim's convention), else a
/// `.wasm` entrypoint run as a bare component.
fn plain_image_app(ctx: &impl RuntimeContext) -> anyhow::Result<App> {
    let manifest = Path::new(MANIFEST_PATH);
    if manifest.is_file() {
        return Ok(wisp_manifest::load(manifest)?);
    }
    let entrypoint = ctx.entrypoint();
    if let Some(wasm) = entrypoint
        .arg0
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        && wasm.is_file()
    {
        return Ok(wisp_manifest::bare_component(wasm));
    }
    bail!(
        "the image has no Wasm layers and no {MANIFEST_PATH}: push the app with `wisp registry \
         push` (or `spin registry push`), or build an image whose root holds spin.toml and \
         its files"
    )
}
