//! The on-disk compile cache: one serialized artifact per (wasm content, engine kind,
//! engine configuration, wasmtime version), written atomically, so a restart loads machine
//! code instead of compiling. A corrupt or stale entry is recompiled and replaced.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
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

    /// The cache keys for a source's bytes, one per engine kind, in the order the
    /// engines are tried.
    pub fn keys(&self, wasm: &[u8]) -> [(EngineKind, String); 2] {
        let content = Sha256::digest(wasm);
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
        self.dir.join(format!("{key}.cwasm"))
    }

    /// Loads the entry for `key`, if present and usable. A damaged entry is removed.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        if !self.contains(key) {
            return None;
        }
        let path = self.entry_path(key);
        // SAFETY: entries are written only by `store` below, from `Component::serialize`
        // of this same engine configuration (the key includes its compatibility hash), in
        // a folder owned by the user; wasmtime still checks the header and version.
        match unsafe { Component::deserialize_file(engine, &path) } {
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
            std::fs::create_dir_all(&self.dir)?;
            let bytes = component.serialize()?;
            let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, self.entry_path(key))?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), "could not write the compile cache: {e:#}");
        }
    }
}
