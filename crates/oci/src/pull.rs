//! Pulling: a manifest, then the blobs it names, into the verified cache. Every layer's
//! media type is checked before anything is downloaded, every blob against its digest
//! before it is stored, and an app pinned by digest whose blobs are all cached is served
//! without asking the registry at all.

use crate::cache::BlobCache;
use crate::client::{Registry, RegistryOptions, parse_reference};
use crate::digest::sha256_hex;
use crate::error::OciError;
use crate::locked::LockedApp;
use crate::media;
use crate::sign::VerifyingKey;
use futures::{StreamExt, TryStreamExt};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::{Reference, RegistryOperation};
use std::path::PathBuf;

/// Largest locked app accepted (it is read into memory).
pub(crate) const MAX_LOCKED_APP_BYTES: u64 = 64 << 20;

/// Blobs downloaded at once.
const PARALLEL_BLOBS: usize = 4;

/// What a reference turned out to hold.
#[derive(Debug)]
pub enum PulledKind {
    /// A Spin app.
    App(Box<LockedApp>),
    /// A bare Wasm component, cached at this path.
    Component(PathBuf),
}

/// A pulled artifact.
#[derive(Debug)]
pub struct Pulled {
    /// The manifest's digest.
    pub digest: String,
    /// Whether the registry was asked (false: everything came from the cache).
    pub from_network: bool,
    /// What it holds.
    pub kind: PulledKind,
}

/// What a manifest holds, once its descriptors are checked.
enum Plan {
    App { locked: OciDescriptor },
    Component { wasm: OciDescriptor },
}

/// Pulls `reference` into the cache. With `verify`, the manifest must carry a signature
/// that key made, checked before any layer is downloaded; a pinned digest that is cached
/// with a signature an earlier verified pull kept needs no registry.
pub async fn pull(
    reference: &str,
    options: &RegistryOptions,
    verify: Option<&VerifyingKey>,
) -> Result<Pulled, OciError> {
    let reference = parse_reference(reference)?;
    let cache = &options.cache;
    cache.remove_stale_temporaries();
    if let Some(digest) = reference.digest()
        && let Some(pulled) = from_cache(cache, digest)?
        && verify.is_none_or(|key| crate::sign::verify_cached(cache, digest, key))
    {
        return Ok(pulled);
    }
    let registry = Registry::connect(&reference, options, RegistryOperation::Pull).await?;
    let (bytes, digest) = registry
        .client
        .pull_manifest_raw(&reference, &registry.auth, &media::MANIFEST_TYPES)
        .await
        .map_err(registry.fail(&reference))?;
    if let Some(key) = verify {
        registry.verify(&reference, &digest, key).await?;
    }
    let manifest = parse_manifest(&bytes)?;
    let plan = plan(&manifest)?;
    let missing: Vec<&OciDescriptor> = needed_blobs(&manifest)
        .filter(|d| !matches!(cache.verified_path(&d.digest), Ok(Some(_))))
        .collect();
    futures::stream::iter(missing)
        .map(|d| fetch_blob(&registry, &reference, d))
        .buffer_unordered(PARALLEL_BLOBS)
        .try_collect::<Vec<()>>()
        .await?;
    // Stored last: a cached manifest means its blobs were all fetched.
    cache.write(
        &digest,
        &bytes,
        &format!("the manifest of {}", reference.whole()),
    )?;
    let kind = kind(cache, &plan)?;
    Ok(Pulled {
        digest,
        from_network: true,
        kind,
    })
}

/// The artifact of manifest `digest`, if it and every blob it needs are cached.
fn from_cache(cache: &BlobCache, digest: &str) -> Result<Option<Pulled>, OciError> {
    let Some(bytes) = cache.read(digest)? else {
        return Ok(None);
    };
    let manifest = parse_manifest(&bytes)?;
    let plan = plan(&manifest)?;
    for blob in needed_blobs(&manifest) {
        if cache.verified_path(&blob.digest)?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(Pulled {
        digest: digest.to_owned(),
        from_network: false,
        kind: kind(cache, &plan)?,
    }))
}

/// The blobs an artifact runs from: its layers, and its config when that is the
/// locked app (older Spin artifacts).
fn needed_blobs(manifest: &OciImageManifest) -> impl Iterator<Item = &OciDescriptor> {
    std::iter::once(&manifest.config)
        .filter(|c| c.media_type == media::SPIN_APPLICATION)
        .chain(&manifest.layers)
}

fn parse_manifest(bytes: &[u8]) -> Result<OciImageManifest, OciError> {
    serde_json::from_slice(bytes)
        .map_err(|e| OciError::Invalid(format!("the image manifest is not valid: {e}")))
}

/// Checks every descriptor and says what the artifact is.
fn plan(manifest: &OciImageManifest) -> Result<Plan, OciError> {
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        sha256_hex(&d.digest).map_err(OciError::Invalid)?;
    }
    for layer in &manifest.layers {
        if !media::APP_LAYERS.contains(&layer.media_type.as_str()) {
            return Err(OciError::UnknownLayer {
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
            });
        }
    }
    if manifest.config.media_type == media::SPIN_APPLICATION {
        return Ok(Plan::App {
            locked: manifest.config.clone(),
        });
    }
    if let Some(locked) = manifest
        .layers
        .iter()
        .find(|l| l.media_type == media::SPIN_APPLICATION)
    {
        return Ok(Plan::App {
            locked: locked.clone(),
        });
    }
    match manifest.layers.as_slice() {
        [wasm] if wasm.media_type == media::WASM_LAYER || wasm.media_type == media::WASM_LAYER_WKG => {
            Ok(Plan::Component { wasm: wasm.clone() })
        }
        _ => Err(OciError::Invalid(
            "the artifact holds neither a Spin app (no locked app layer) nor a single Wasm component"
                .to_owned(),
        )),
    }
}

/// The pulled artifact, read from the cache.
fn kind(cache: &BlobCache, plan: &Plan) -> Result<PulledKind, OciError> {
    match plan {
        Plan::App { locked } => {
            if u64::try_from(locked.size).unwrap_or(u64::MAX) > MAX_LOCKED_APP_BYTES {
                return Err(OciError::Invalid(format!(
                    "the locked app is {} bytes; at most {MAX_LOCKED_APP_BYTES} are accepted",
                    locked.size
                )));
            }
            let bytes = cache.read(&locked.digest)?.ok_or_else(|| {
                OciError::Invalid(format!("the locked app {} was not pulled", locked.digest))
            })?;
            let app = LockedApp::from_json(&bytes).map_err(OciError::Invalid)?;
            Ok(PulledKind::App(Box::new(app)))
        }
        Plan::Component { wasm } => {
            let path = cache.verified_path(&wasm.digest)?.ok_or_else(|| {
                OciError::Invalid(format!("the component {} was not pulled", wasm.digest))
            })?;
            Ok(PulledKind::Component(path))
        }
    }
}

/// Downloads one blob into the cache (an archive layer's files are cached too, each under
/// its own digest).
async fn fetch_blob(
    registry: &Registry,
    reference: &Reference,
    descriptor: &OciDescriptor,
) -> Result<(), OciError> {
    let cache = &registry.cache;
    let tmp_dir = cache.tmp_dir()?;
    let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(OciError::io(&tmp_dir))?;
    let file = tokio::fs::File::from_std(tmp.reopen().map_err(OciError::io(tmp.path()))?);
    registry
        .client
        .pull_blob(reference, descriptor, file)
        .await
        .map_err(|e| match registry.fail(reference)(e) {
            OciError::DigestMismatch {
                expected, actual, ..
            } => OciError::DigestMismatch {
                what: format!("layer {} of {}", descriptor.digest, reference.whole()),
                expected,
                actual,
            },
            other => other,
        })?;
    let what = format!("layer {} of {}", descriptor.digest, reference.whole());
    let path = cache.commit(tmp, &descriptor.digest, &what)?;
    if descriptor.media_type == media::ARCHIVE_LAYER {
        unpack_archive(cache, &path)?;
    }
    Ok(())
}

/// Caches every file of a gzipped tar layer under its own digest.
pub(crate) fn unpack_archive(cache: &BlobCache, archive: &std::path::Path) -> Result<(), OciError> {
    let file = std::fs::File::open(archive).map_err(OciError::io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar.entries().map_err(OciError::io(archive))?;
    for entry in entries {
        let mut entry = entry.map_err(OciError::io(archive))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let tmp_dir = cache.tmp_dir()?;
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(OciError::io(&tmp_dir))?;
        std::io::copy(&mut entry, &mut tmp).map_err(OciError::io(archive))?;
        let digest = crate::digest::sha256_file(tmp.path()).map_err(OciError::io(tmp.path()))?;
        if cache.verified_path(&digest)?.is_none() {
            cache.commit(tmp, &digest, "a file of an archive layer")?;
        }
    }
    Ok(())
}
