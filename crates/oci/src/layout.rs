//! An artifact as an OCI image layout in one tar archive (what `skopeo copy … oci-archive:`
//! writes): `oci-layout`, `index.json` naming one manifest, and every blob under
//! `blobs/sha256/`. `wisp deploy` uploads an app this way, so a host receives exactly the
//! artifact a push would have put in a registry. Reading accepts nothing else: an entry
//! with another name (`..`, an absolute path), a link or a device is refused by name, and
//! every blob must hash to its file name.

use crate::assemble::Assembled;
use crate::digest::sha256_digest;
use crate::error::OciError;
use crate::held::{HeldLayer, runnable_from_layers};
use crate::{BlobCache, Runnable, media};
use oci_client::manifest::OciImageManifest;
use std::collections::HashMap;
use std::io::{Read, Write};

/// Writes `artifact` as an OCI image layout archive to `out`.
pub fn write_layout_archive(artifact: &Assembled, out: impl Write) -> Result<(), OciError> {
    let io = |e: std::io::Error| OciError::Invalid(format!("cannot write the archive: {e}"));
    let mut tar = tar::Builder::new(out);
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    let manifest_digest = artifact.digest();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media::OCI_MANIFEST,
            "digest": manifest_digest,
            "size": artifact.manifest.len(),
        }],
    });
    add("index.json", index.to_string().as_bytes()).map_err(io)?;
    let blob = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    add(&blob(&manifest_digest), &artifact.manifest).map_err(io)?;
    add(
        &blob(&sha256_digest(&artifact.config.data)),
        &artifact.config.data,
    )
    .map_err(io)?;
    let mut written = std::collections::HashSet::new();
    for layer in &artifact.layers {
        let digest = sha256_digest(&layer.data);
        if written.insert(digest.clone()) {
            add(&blob(&digest), &layer.data).map_err(io)?;
        }
    }
    tar.into_inner().map_err(io)?.flush().map_err(io)
}

/// Reads an OCI image layout archive, caches its layers and makes the app runnable, as a
/// pull does; returns it with the manifest's digest.
pub fn read_layout_archive(
    cache: &BlobCache,
    archive: impl Read,
) -> Result<(Runnable, String), OciError> {
    let (index, blobs) = read_entries(archive)?;
    let index: serde_json::Value = serde_json::from_slice(&index)
        .map_err(|e| invalid(format!("index.json does not parse: {e}")))?;
    let manifests = index["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [entry] = manifests else {
        return Err(invalid(format!(
            "index.json names {} manifests; an app upload holds exactly one",
            manifests.len()
        )));
    };
    let digest = entry["digest"].as_str().unwrap_or_default().to_owned();
    let manifest_bytes = blobs.get(&digest).ok_or_else(|| {
        invalid(format!(
            "index.json names manifest {digest}, which is not in blobs/"
        ))
    })?;
    let manifest: OciImageManifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| invalid(format!("manifest {digest} does not parse: {e}")))?;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        let bytes = blobs
            .get(&layer.digest)
            .ok_or_else(|| invalid(format!("layer {} is not in blobs/", layer.digest)))?;
        layers.push(HeldLayer {
            media_type: &layer.media_type,
            digest: &layer.digest,
            bytes,
        });
    }
    Ok((runnable_from_layers(cache, &layers)?, digest))
}

fn invalid(message: String) -> OciError {
    OciError::Invalid(format!("the uploaded archive: {message}"))
}

/// Blob bytes by digest.
type Blobs = HashMap<String, Vec<u8>>;

/// `index.json` and every blob by digest, each blob checked against its name.
fn read_entries(archive: impl Read) -> Result<(Vec<u8>, Blobs), OciError> {
    let io = |e: std::io::Error| invalid(format!("not a readable tar archive: {e}"));
    let mut tar = tar::Archive::new(archive);
    let mut index = None;
    let mut blobs = HashMap::new();
    for entry in tar.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let path = name.trim_start_matches("./").trim_end_matches('/');
        let kind = entry.header().entry_type();
        if kind.is_dir() && ["", ".", "blobs", "blobs/sha256"].contains(&path) {
            continue;
        }
        if !kind.is_file() {
            return Err(invalid(format!(
                "entry `{name}` is a {kind:?}, not a file; an OCI image layout holds only files"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut bytes).map_err(io)?;
        if path == "oci-layout" {
            continue;
        }
        if path == "index.json" {
            index = Some(bytes);
            continue;
        }
        let hex = path
            .strip_prefix("blobs/sha256/")
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                invalid(format!(
                    "entry `{name}` is outside an OCI image layout (only `oci-layout`, \
                     `index.json` and `blobs/sha256/<digest>`)"
                ))
            })?;
        let digest = format!("sha256:{hex}");
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                what: format!("uploaded blob {path}"),
                expected: digest,
                actual,
            });
        }
        blobs.insert(digest, bytes);
    }
    let index = index.ok_or_else(|| invalid("it has no index.json".to_owned()))?;
    Ok((index, blobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-entry tar whose header name is written raw (the tar crate refuses `..`).
    fn tar_with(name: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap()
    }

    fn read(archive: &[u8]) -> String {
        let cache = BlobCache::new(tempfile::tempdir().unwrap().keep());
        read_layout_archive(&cache, archive)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn entries_outside_the_layout_are_refused_by_name() {
        let err = read(&tar_with(b"../evil", tar::EntryType::Regular, b"x"));
        assert!(
            err.contains("`../evil` is outside an OCI image layout"),
            "{err}"
        );
        let err = read(&tar_with(b"/etc/passwd", tar::EntryType::Regular, b"x"));
        assert!(err.contains("`/etc/passwd` is outside"), "{err}");
        let err = read(&tar_with(b"blobs/sha256/x", tar::EntryType::Symlink, b""));
        assert!(err.contains("is a Symlink, not a file"), "{err}");
        let err = read(&tar_with(b"index.json", tar::EntryType::Link, b""));
        assert!(err.contains("is a Link, not a file"), "{err}");
    }

    #[test]
    fn a_blob_must_hash_to_its_name() {
        let name = format!("blobs/sha256/{}", "0".repeat(64));
        let err = read(&tar_with(
            name.as_bytes(),
            tar::EntryType::Regular,
            b"not zero",
        ));
        assert!(err.contains("digest"), "{err}");
    }

    #[test]
    fn not_a_tar_and_no_index_are_clear() {
        let err = read(b"hello, not a tar archive at all, just some bytes.....");
        assert!(err.contains("uploaded archive"), "{err}");
        let err = read(&tar_with(b"oci-layout", tar::EntryType::Regular, b"{}"));
        assert!(err.contains("no index.json"), "{err}");
    }
}
