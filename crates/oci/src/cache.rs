//! The content-addressed blob cache: every manifest, config and layer pulled from a
//! registry, stored under its digest. A blob is hashed when written (it lands under its
//! name only if it matches, by an atomic rename from a temporary file) and again when read
//! (a file changed on disk since is deleted, not used), so a pull killed half-way or a
//! corrupted file can never be taken for the real thing.

use crate::digest::{sha256_file, sha256_hex};
use crate::error::OciError;
use std::path::{Path, PathBuf};

/// Blobs by digest under one folder.
#[derive(Debug, Clone)]
pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    /// The cache in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `<user cache folder>/wisp/oci`, if the platform has a user cache folder.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("wisp").join("oci"))
    }

    /// The folder it lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is stored (whether or not it is there).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, OciError> {
        let hex = sha256_hex(digest).map_err(OciError::Invalid)?;
        Ok(self.root.join("blobs").join("sha256").join(hex))
    }

    /// Where materialized apps live, one folder per manifest digest.
    pub(crate) fn apps_dir(&self) -> PathBuf {
        self.root.join("apps")
    }

    /// A folder for temporary files on the cache's file system, so a rename into place
    /// is atomic.
    pub(crate) fn tmp_dir(&self) -> Result<PathBuf, OciError> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir).map_err(OciError::io(&dir))?;
        Ok(dir)
    }

    /// The path of blob `digest` if it is cached and its bytes still match; a blob whose
    /// bytes do not is removed and reported missing.
    pub fn verified_path(&self, digest: &str) -> Result<Option<PathBuf>, OciError> {
        let path = self.blob_path(digest)?;
        if !path.is_file() {
            return Ok(None);
        }
        let actual = sha256_file(&path).map_err(OciError::io(&path))?;
        if actual == digest {
            Ok(Some(path))
        } else {
            tracing::warn!(%digest, %actual, "removing a cached blob whose bytes changed");
            std::fs::remove_file(&path).map_err(OciError::io(&path))?;
            Ok(None)
        }
    }

    /// The bytes of blob `digest`, if cached and intact.
    pub fn read(&self, digest: &str) -> Result<Option<Vec<u8>>, OciError> {
        let Some(path) = self.verified_path(digest)? else {
            return Ok(None);
        };
        let bytes = std::fs::read(&path).map_err(OciError::io(&path))?;
        // Checked again on the bytes we return: the file could change between the two reads.
        let actual = crate::digest::sha256_digest(&bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                what: format!("cached blob {}", path.display()),
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes` as blob `digest`, refusing bytes that do not match it.
    pub fn write(&self, digest: &str, bytes: &[u8], what: &str) -> Result<PathBuf, OciError> {
        let actual = crate::digest::sha256_digest(bytes);
        if actual != digest {
            return Err(OciError::DigestMismatch {
                what: what.to_owned(),
                expected: digest.to_owned(),
                actual,
            });
        }
        let tmp_dir = self.tmp_dir()?;
        let mut file = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(OciError::io(&tmp_dir))?;
        std::io::Write::write_all(&mut file, bytes).map_err(OciError::io(file.path()))?;
        self.commit(file, digest, what)
    }

    /// Moves a fully written temporary file into place as blob `digest`, after checking
    /// its bytes hash to it.
    pub(crate) fn commit(
        &self,
        file: tempfile::NamedTempFile,
        digest: &str,
        what: &str,
    ) -> Result<PathBuf, OciError> {
        file.as_file()
            .sync_all()
            .map_err(OciError::io(file.path()))?;
        let actual = sha256_file(file.path()).map_err(OciError::io(file.path()))?;
        if actual != digest {
            return Err(OciError::DigestMismatch {
                what: what.to_owned(),
                expected: digest.to_owned(),
                actual,
            });
        }
        let path = self.blob_path(digest)?;
        let parent = path.parent().expect("a blob path has a folder");
        std::fs::create_dir_all(parent).map_err(OciError::io(parent))?;
        file.persist(&path)
            .map_err(|e| OciError::io(&path)(e.error))?;
        Ok(path)
    }

    /// Removes temporary files an earlier, killed run left behind (older than an hour, so
    /// a pull running beside us keeps its own).
    pub fn remove_stale_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < hour_ago);
            if stale {
                let path = entry.path();
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    #[test]
    fn a_blob_is_stored_only_under_its_own_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path());
        let digest = sha256_digest(b"wasm bytes");
        let wrong = sha256_digest(b"other bytes");
        let err = cache.write(&wrong, b"wasm bytes", "layer").unwrap_err();
        assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
        assert!(cache.read(&wrong).unwrap().is_none());
        cache.write(&digest, b"wasm bytes", "layer").unwrap();
        assert_eq!(cache.read(&digest).unwrap().unwrap(), b"wasm bytes");
    }

    #[test]
    fn a_blob_changed_on_disk_is_removed_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path());
        let digest = sha256_digest(b"original");
        let path = cache.write(&digest, b"original", "layer").unwrap();
        std::fs::write(&path, b"tampered").unwrap();
        assert!(cache.verified_path(&digest).unwrap().is_none());
        assert!(!path.exists(), "the corrupt blob stays in the cache");
    }
}
