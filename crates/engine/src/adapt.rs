//! Turns what a `source` may hold into a component: components pass through; core
//! modules (wit-bindgen's component-type section, with or without WASI preview 1
//! imports) are encoded with `wit-component` and the preview 1 adapter.

use crate::EngineError;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};

/// What kind of Wasm a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A component: used as is.
    Component,
    /// A core module: adapted into a component first.
    CoreModule,
}

/// Classifies `bytes`, or explains why they are not Wasm at all.
pub fn classify(bytes: &[u8]) -> Result<WasmKind, EngineError> {
    if Parser::is_component(bytes) {
        Ok(WasmKind::Component)
    } else if Parser::is_core_wasm(bytes) {
        Ok(WasmKind::CoreModule)
    } else if bytes.starts_with(b"\0asm") {
        Err(EngineError::NotWasm(
            "it has a Wasm header of an unknown version or layer".into(),
        ))
    } else {
        Err(EngineError::NotWasm(
            "it does not start with the Wasm magic bytes `\\0asm`".into(),
        ))
    }
}

/// Encodes a core module as a component.
pub fn module_to_component(module: &[u8]) -> Result<Vec<u8>, EngineError> {
    let (imports_preview1, exports_start) = scan_module(module)?;
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .map_err(|e| EngineError::Adapt(format!("{e:#}")))?;
    if imports_preview1 {
        let adapter = if exports_start {
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
        } else {
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
        };
        encoder = encoder
            .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter)
            .map_err(|e| EngineError::Adapt(format!("{e:#}")))?;
    }
    encoder
        .encode()
        .map_err(|e| EngineError::Adapt(one_line(&format!("{e:#}"))))
}

/// Whether the module imports WASI preview 1, and whether it is a command (`_start`).
fn scan_module(module: &[u8]) -> Result<(bool, bool), EngineError> {
    let mut imports_preview1 = false;
    let mut exports_start = false;
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(|e| EngineError::NotWasm(format!("the module is malformed: {e}")))? {
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|e| EngineError::NotWasm(e.to_string()))?;
                    imports_preview1 |= import.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| EngineError::NotWasm(e.to_string()))?;
                    exports_start |= export.name == "_start";
                }
            }
            _ => {}
        }
    }
    Ok((imports_preview1, exports_start))
}

/// Whether a component imports any WASI 0.3 interface (`…@0.3.0`, or a release
/// candidate of it): only then can the engine with component-model-async link what the
/// other engine could not, so only then is it worth a second compile.
pub fn imports_wasi_p3(component: &[u8]) -> bool {
    Parser::new(0)
        .parse_all(component)
        .any(|payload| match payload {
            Ok(Payload::ComponentImportSection(reader)) => reader
                .into_iter()
                .flatten()
                .any(|import| import.name.0.contains("@0.3.")),
            _ => false,
        })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
