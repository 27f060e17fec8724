//! Compiling once per node. runwasi calls the shim's compiler the first time an image
//! runs on a node and keeps what it returns in containerd's content store, beside the
//! image; every later container of that image is handed the stored bytes instead of the
//! Wasm. What wisp stores is a bundle: the Wasm itself (so the app is still checked
//! against its digests and laid out as usual) and the compile-cache entry wisp's engine
//! made for it. The container imports the entry into its own compile cache, and the
//! engine then loads machine code instead of compiling.

use anyhow::{Context, bail};
use containerd_shim_wasm::sandbox::context::WasmLayer;
use containerd_shim_wasm::shim::Compiler;
use std::path::Path;
use std::sync::OnceLock;
use wisp_engine::{CompileCache, ComponentSource, EngineConfig, SourceOrigin, WispEngine};
use wisp_oci::media;

/// The first bytes of a bundle; the version guards the layout.
const MAGIC: &[u8; 8] = b"WISPPC01";

/// Compiles Wasm layers with wisp's engine into a compile cache of its own. The engine
/// is built at the first compile: runwasi makes a compiler in every shim process (one per
/// container), and on a node that already holds the code none of them compiles.
pub struct WispCompiler {
    fingerprint: String,
    engine: OnceLock<Option<(WispEngine, tempfile::TempDir)>>,
}

impl WispCompiler {
    /// A compiler for engines configured as the containers' engines are, so the entries
    /// it makes are ones they accept; `None` (no precompilation) if that configuration
    /// cannot be built here.
    pub fn new() -> Option<Self> {
        match wisp_engine::compile_fingerprint() {
            Ok(fingerprint) => Some(Self {
                fingerprint,
                engine: OnceLock::new(),
            }),
            Err(e) => {
                log::warn!("precompilation is off: {e}");
                None
            }
        }
    }

    /// The engine and its cache, built now if this is the first compile.
    fn engine(&self) -> Option<(&WispEngine, &CompileCache)> {
        let built = self.engine.get_or_init(|| {
            let dir = tempfile::tempdir().ok()?;
            let engine = WispEngine::new(&EngineConfig {
                // Nothing is instantiated here: a pool of one keeps the reservation small.
                max_instances: 1,
                cache_dir: Some(dir.path().to_path_buf()),
                max_total_memory: None,
            });
            match engine {
                Ok(engine) => Some((engine, dir)),
                Err(e) => {
                    log::warn!("not precompiling: {e}");
                    None
                }
            }
        });
        let (engine, _) = built.as_ref()?;
        Some((engine, engine.cache()?))
    }

    /// The bundle of one Wasm layer; `None` for a layer that is not Wasm, or that does
    /// not compile or link here (the container then reports why when it loads it).
    fn compile_layer(&self, layer: &WasmLayer) -> Option<Vec<u8>> {
        let media_type = layer.config.media_type().to_string();
        if layer.precompiled
            || ![media::WASM_LAYER, media::WASM_LAYER_WKG].contains(&media_type.as_str())
        {
            return None;
        }
        let (engine, cache) = self.engine()?;
        let digest = layer.config.digest().to_string();
        let source =
            ComponentSource::from_bytes(layer.layer.clone(), SourceOrigin::Memory(digest.clone()));
        let report = match engine.load_component(&source) {
            Ok((_, report)) => report,
            Err(e) => {
                log::warn!("not precompiling layer {digest}: {e}");
                return None;
            }
        };
        let (_, key) = cache
            .keys(source.digest())
            .into_iter()
            .find(|(kind, _)| *kind == report.engine)?;
        let entry = cache.export(&key)?;
        log::info!(
            "precompiled layer {digest} for the {}",
            report.engine.describe()
        );
        Some(bundle(&key, &layer.layer, &entry))
    }
}

impl Compiler for WispCompiler {
    fn cache_key(&self) -> impl std::hash::Hash {
        self.fingerprint.clone()
    }

    async fn compile(&self, layers: &[WasmLayer]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        Ok(layers.iter().map(|l| self.compile_layer(l)).collect())
    }
}

/// `MAGIC`, the key's length (u32 LE) and the key, the Wasm's length (u64 LE) and the
/// Wasm, then the compile-cache entry.
fn bundle(key: &str, wasm: &[u8], entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + key.len() + wasm.len() + entry.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(wasm.len() as u64).to_le_bytes());
    out.extend_from_slice(wasm);
    out.extend_from_slice(entry);
    out
}

/// A bundle's key, Wasm and compile-cache entry.
fn unbundle(bytes: &[u8]) -> anyhow::Result<(&str, &[u8], &[u8])> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .context("not a precompiled bundle of this shim version")?;
    let (key_len, rest) = split_len::<4>(rest)?;
    let (key, rest) = split(rest, key_len)?;
    let key = std::str::from_utf8(key).context("the key is not text")?;
    let (wasm_len, rest) = split_len::<8>(rest)?;
    let (wasm, entry) = split(rest, wasm_len)?;
    Ok((key, wasm, entry))
}

fn split_len<const N: usize>(bytes: &[u8]) -> anyhow::Result<(usize, &[u8])> {
    let (len, rest) = split(bytes, N)?;
    let mut buf = [0u8; 8];
    buf[..N].copy_from_slice(len);
    Ok((usize::try_from(u64::from_le_bytes(buf))?, rest))
}

fn split(bytes: &[u8], at: usize) -> anyhow::Result<(&[u8], &[u8])> {
    if at > bytes.len() {
        bail!("the bundle is cut short");
    }
    Ok(bytes.split_at(at))
}

/// A layer as the container should see it: a precompiled bundle gives back its Wasm, and
/// its entry goes into the compile cache in `cache_dir`. A bundle that does not read
/// (another shim version's, or damaged) is an error: the Wasm is not in it to fall back on.
pub fn unpack_layer<'a>(layer: &'a WasmLayer, cache_dir: &Path) -> anyhow::Result<&'a [u8]> {
    if !layer.precompiled {
        return Ok(&layer.layer);
    }
    let digest = layer.config.digest();
    let (key, wasm, entry) = unbundle(&layer.layer)
        .with_context(|| format!("the precompiled form of layer {digest} is unusable"))?;
    if let Err(why) = CompileCache::import(cache_dir, key, entry) {
        // Only costs a compile: the Wasm is still here.
        eprintln!("Warning: layer {digest}: precompiled code not used: {why}");
    }
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_reads_back_and_a_cut_one_does_not() {
        let bytes = bundle("k3y", b"\0asm wasm", b"entry bytes");
        assert_eq!(
            unbundle(&bytes).unwrap(),
            ("k3y", b"\0asm wasm".as_slice(), b"entry bytes".as_slice())
        );
        assert!(unbundle(&bytes[..20]).is_err());
        assert!(unbundle(b"something else").is_err());
    }
}
