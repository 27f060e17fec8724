//! An artifact whose layers are already in hand, as a containerd shim is given them (the
//! node's content store fetched them): each is checked against its digest into the
//! cache, and the app is laid out as a pulled one would be.

use crate::cache::BlobCache;
use crate::error::OciError;
use crate::locked::LockedApp;
use crate::pull::{MAX_LOCKED_APP_BYTES, unpack_archive};
use crate::{Runnable, media, unlock};

/// One layer of an image, held in memory.
#[derive(Debug, Clone, Copy)]
pub struct HeldLayer<'a> {
    /// Its media type.
    pub media_type: &'a str,
    /// Its digest (`sha256:<hex>`).
    pub digest: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// Caches `layers` (each checked against its digest; archive layers unpacked) and makes
/// them runnable: a Spin app when one is the locked app, else the single component.
pub fn runnable_from_layers(
    cache: &BlobCache,
    layers: &[HeldLayer<'_>],
) -> Result<Runnable, OciError> {
    if let Some(layer) = layers
        .iter()
        .find(|l| !media::APP_LAYERS.contains(&l.media_type))
    {
        return Err(OciError::UnknownLayer {
            digest: layer.digest.to_owned(),
            media_type: layer.media_type.to_owned(),
        });
    }
    cache.remove_stale_temporaries();
    let mut paths = Vec::with_capacity(layers.len());
    for layer in layers {
        let what = format!("layer {} ({})", layer.digest, layer.media_type);
        let path = cache.write(layer.digest, layer.bytes, &what)?;
        if layer.media_type == media::ARCHIVE_LAYER {
            unpack_archive(cache, &path)?;
        }
        paths.push(path);
    }
    if let Some(locked) = layers
        .iter()
        .find(|l| l.media_type == media::SPIN_APPLICATION)
    {
        if locked.bytes.len() as u64 > MAX_LOCKED_APP_BYTES {
            return Err(OciError::Invalid(format!(
                "the locked app is {} bytes; at most {MAX_LOCKED_APP_BYTES} are accepted",
                locked.bytes.len()
            )));
        }
        let app = LockedApp::from_json(locked.bytes).map_err(OciError::Invalid)?;
        // The manifest digest is not in hand; the locked app's names the app as surely.
        let manifest = unlock::materialize(cache, locked.digest, &app)?;
        return Ok(Runnable::App(manifest));
    }
    match layers {
        [only] if [media::WASM_LAYER, media::WASM_LAYER_WKG].contains(&only.media_type) => {
            Ok(Runnable::Component(paths.swap_remove(0)))
        }
        _ => Err(OciError::Invalid(
            "the image holds neither a Spin app (no locked app layer) nor a single Wasm component"
                .to_owned(),
        )),
    }
}
