//! An app from a folder, frozen: packed exactly as `wisp registry push` would pack it and
//! laid out from those layers in the blob cache, so it runs from the cache as a pulled
//! app does and no later edit of the folder can change it. A host that keeps apps
//! deployed (platform mode) runs snapshots, named by their artifact digest.

use crate::assemble::{AppInput, assemble_app};
use crate::cache::BlobCache;
use crate::error::OciError;
use crate::held::{HeldLayer, runnable_from_layers};
use crate::{Runnable, sha256_digest};
use std::path::PathBuf;

/// A frozen app.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The generated `spin.toml` of the laid-out app.
    pub manifest: PathBuf,
    /// The digest its artifact would be pushed with (`sha256:…`).
    pub digest: String,
}

/// Packs `input` and lays it out in `cache`.
pub fn snapshot(cache: &BlobCache, input: &AppInput) -> Result<Snapshot, OciError> {
    let artifact = assemble_app(input)?;
    let digests: Vec<String> = artifact
        .layers
        .iter()
        .map(|l| sha256_digest(&l.data))
        .collect();
    let layers: Vec<HeldLayer<'_>> = artifact
        .layers
        .iter()
        .zip(&digests)
        .map(|(layer, digest)| HeldLayer {
            media_type: &layer.media_type,
            digest,
            bytes: &layer.data,
        })
        .collect();
    match runnable_from_layers(cache, &layers)? {
        Runnable::App(manifest) => Ok(Snapshot {
            manifest,
            digest: artifact.digest(),
        }),
        Runnable::Component(_) => Err(OciError::Invalid(
            "the snapshot holds no locked app".to_owned(),
        )),
    }
}
