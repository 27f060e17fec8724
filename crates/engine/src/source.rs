//! A component's code as the unit an app is made of: its bytes, their SHA-256 digest
//! and where they came from. An app's components may come from a folder, a bare `.wasm`
//! or (later) a registry; the engine compiles, caches and pre-links a source the same
//! way wherever it came from, keyed by its digest.

use crate::EngineError;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a component's bytes came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOrigin {
    /// A file on disk.
    File(PathBuf),
    /// Bytes handed over in memory (a registry layer, a test), with what they are.
    Memory(String),
}

impl fmt::Display for SourceOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Memory(what) => f.write_str(what),
        }
    }
}

/// A component's code: bytes (a component or a core module), their digest, their origin.
#[derive(Clone)]
pub struct ComponentSource {
    bytes: Arc<[u8]>,
    digest: [u8; 32],
    origin: SourceOrigin,
}

impl ComponentSource {
    /// Reads the file at `path` (at most [`wisp_manifest::read::MAX_WASM_FILE`] bytes).
    pub fn read(path: &Path) -> Result<Self, EngineError> {
        let bytes = wisp_manifest::read::read_capped(path, wisp_manifest::read::MAX_WASM_FILE)
            .map_err(|e| EngineError::Io(format!("cannot read {}: {e}", path.display())))?;
        Ok(Self::from_bytes(
            bytes,
            SourceOrigin::File(path.to_path_buf()),
        ))
    }

    /// Bytes from `origin`.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>, origin: SourceOrigin) -> Self {
        let bytes = bytes.into();
        let digest = Sha256::digest(&bytes).into();
        Self {
            bytes,
            digest,
            origin,
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The SHA-256 of the bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The digest as OCI spells one: `sha256:<hex>`.
    pub fn digest_string(&self) -> String {
        format!("sha256:{}", hex::encode(self.digest))
    }

    /// Where the bytes came from.
    pub fn origin(&self) -> &SourceOrigin {
        &self.origin
    }
}

impl fmt::Debug for ComponentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentSource")
            .field("origin", &self.origin)
            .field("digest", &self.digest_string())
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WASM_HEADER: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn the_digest_is_the_sha256_of_the_bytes_wherever_they_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wasm");
        std::fs::write(&path, WASM_HEADER).unwrap();
        let read = ComponentSource::read(&path).unwrap();
        let given = ComponentSource::from_bytes(WASM_HEADER, SourceOrigin::Memory("test".into()));
        assert_eq!(read.digest(), given.digest());
        let expected = hex::encode(Sha256::digest(WASM_HEADER));
        assert_eq!(read.digest_string(), format!("sha256:{expected}"));
        assert_eq!(read.origin(), &SourceOrigin::File(path.clone()));
        assert_eq!(given.origin().to_string(), "test");
        assert_eq!(given.bytes(), read.bytes());
        let missing = ComponentSource::read(&dir.path().join("gone.wasm")).unwrap_err();
        assert!(missing.to_string().contains("gone.wasm"), "{missing}");
    }
}
