//! The on-disk compile cache: one serialized artifact per (wasm content, engine kind,
//! engine configuration, wasmtime version), written atomically, so a restart loads machine
//! code instead of compiling. A corrupt or stale entry is recompiled and replaced.
//!
//! An entry is machine code that is executed as it is, so it is trusted only when it
//! proves itself: each file starts with the SHA-256 of the rest, checked before wasmtime
//! sees a byte, and a file not owned by this user or writable by others is never read.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::EngineKind;

/// A folder of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_fingerprint: String,
}

/// Feeds `Hash` output into SHA-256 so the engine's compatibility hash is stable across
/// processes (std's `DefaultHasher` makes no such promise).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// A cache in `dir` for artifacts compiled by `engine` and its sibling engine kinds.
    /// Only the first engine's configuration is fingerprinted, so the other's is not
    /// built just to look up a key; wasmtime still refuses an artifact compiled for
    /// a different configuration, and such an entry is recompiled.
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // The wisp version guards against changes in how wisp itself prepares components.
        hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
        Self {
            dir,
            engine_fingerprint: hex::encode(hasher.0.finalize()),
        }
    }

    /// The default location: the user's cache folder.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("wisp").join("components"))
    }

    /// The folder entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the keys depend on besides the content: the engine configuration, the
    /// wasmtime version and wisp's; entries made under another fingerprint never match.
    pub fn fingerprint(&self) -> &str {
        &self.engine_fingerprint
    }

    /// The entry for `key` as stored (its digest, then the code), if present and intact:
    /// to carry to another cache of the same engine configuration.
    pub fn export(&self, key: &str) -> Option<Vec<u8>> {
        read_verified(&self.entry_path(key)).ok().flatten()
    }

    /// Adds an entry [`export`](Self::export)ed from another cache to the cache in `dir`.
    /// It is refused unless `key` is a key (64 hex digits) and the entry's digest matches
    /// its code; wasmtime still checks, when loading it, that it was compiled for the
    /// loading engine's configuration.
    pub fn import(dir: &Path, key: &str, entry: &[u8]) -> Result<(), String> {
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{key}` is not a compile-cache key"));
        }
        if entry.len() < DIGEST_LEN
            || Sha256::digest(&entry[DIGEST_LEN..]).as_slice() != &entry[..DIGEST_LEN]
        {
            return Err("the entry's code does not match its digest (damaged)".into());
        }
        write_entry(dir, key, entry).map_err(|e| format!("cannot write to {}: {e}", dir.display()))
    }

    /// The cache keys for a source whose bytes have SHA-256 `content`, one per engine
    /// kind, in the order the engines are tried.
    pub fn keys(&self, content: &[u8; 32]) -> [(EngineKind, String); 2] {
        EngineKind::PREFERENCE.map(|kind| {
            let mut h = Sha256::new();
            h.update(content);
            h.update(self.engine_fingerprint.as_bytes());
            h.update(kind.tag().as_bytes());
            (kind, hex::encode(h.finalize()))
        })
    }

    /// Whether there is an entry for `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.entry_path(key).is_file()
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        entry_path(&self.dir, key)
    }

    /// Loads the entry for `key`, if present and intact. A damaged, foreign or otherwise
    /// unusable entry is removed (with a warning) so it is recompiled.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.entry_path(key);
        let bytes = match read_verified(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(why) => {
                tracing::warn!(path = %path.display(), "discarding compile-cache entry: {why}");
                let _ = std::fs::remove_file(&path);
                return None;
            }
        };
        // SAFETY: these bytes are exactly what `store` wrote from `Component::serialize` of
        // this engine configuration (the key includes its compatibility hash): the digest
        // written with them matched, and the file is the user's own and writable only by
        // them. wasmtime still checks the header and version.
        match unsafe { Component::deserialize(engine, &bytes[DIGEST_LEN..]) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable compile-cache entry: {e:#}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component under `key`. Failures only cost a recompile later.
    pub fn store(&self, key: &str, component: &Component) {
        let result = (|| -> anyhow::Result<()> {
            let code = component.serialize()?;
            let mut bytes = Vec::with_capacity(DIGEST_LEN + code.len());
            bytes.extend_from_slice(&Sha256::digest(&code));
            bytes.extend_from_slice(&code);
            Ok(write_entry(&self.dir, key, &bytes)?)
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), "could not write the compile cache: {e:#}");
        }
    }
}

fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.cwasm"))
}

/// Writes a whole entry (digest and code) into `dir` atomically, readable only by this
/// user.
fn write_entry(dir: &Path, key: &str, entry: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Only this user may add entries, or swap one.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, entry)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, entry_path(dir, key))
}

/// Bytes of the SHA-256 digest that starts every entry.
const DIGEST_LEN: usize = 32;

/// The entry at `path` if there is one and it proves intact: `Ok(None)` when there is
/// none, `Err` saying why one must not be used.
fn read_verified(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("owned by uid {}, not this user ({me})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "writable by other users (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < DIGEST_LEN
        || Sha256::digest(&bytes[DIGEST_LEN..]).as_slice() != &bytes[..DIGEST_LEN]
    {
        return Err("its content does not match the digest written with it (damaged)".into());
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_entry(dir: &Path, code: &[u8]) -> PathBuf {
        let path = dir.join("k.cwasm");
        let mut bytes = Sha256::digest(code).to_vec();
        bytes.extend_from_slice(code);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn an_intact_entry_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_entry(dir.path(), b"machine code");
        assert_eq!(
            &read_verified(&path).unwrap().unwrap()[DIGEST_LEN..],
            b"machine code"
        );
        assert_eq!(read_verified(&dir.path().join("none.cwasm")), Ok(None));
    }

    #[test]
    fn flipped_bytes_and_loose_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_entry(dir.path(), &[7u8; 4096]);
        let mut bytes = std::fs::read(&path).unwrap();
        for b in &mut bytes[1000..1064] {
            *b ^= 0xff;
        }
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_verified(&path).unwrap_err().contains("damaged"));

        let path = write_entry(dir.path(), b"code");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            read_verified(&path)
                .unwrap_err()
                .contains("writable by other users")
        );
    }

    #[test]
    fn an_exported_entry_imports_and_a_bad_one_is_refused() {
        let engine = Engine::default();
        let from = CompileCache::new(tempfile::tempdir().unwrap().keep(), &engine);
        let to = CompileCache::new(tempfile::tempdir().unwrap().keep(), &engine);
        let key = "ab".repeat(32);
        let code = b"machine code".to_vec();
        let mut entry = Sha256::digest(&code).to_vec();
        entry.extend_from_slice(&code);
        super::write_entry(from.dir(), &key, &entry).unwrap();
        let exported = from.export(&key).expect("the entry exports");
        CompileCache::import(to.dir(), &key, &exported).unwrap();
        assert_eq!(to.export(&key).unwrap(), entry);
        let escape = CompileCache::import(to.dir(), "../escape", &exported).unwrap_err();
        assert!(escape.contains("not a compile-cache key"), "{escape}");
        let mut damaged = exported.clone();
        *damaged.last_mut().unwrap() ^= 1;
        let damaged = CompileCache::import(to.dir(), &key, &damaged).unwrap_err();
        assert!(damaged.contains("damaged"), "{damaged}");
    }
}
