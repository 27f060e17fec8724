//! wisp-oci owns distribution: Spin apps and Wasm components in OCI registries. It
//! writes and reads Spin's artifact format (the locked app, one layer per component and
//! per file, archive layers), talks to registries through `oci-client` with docker's
//! credentials, and keeps what it pulls in a content-addressed cache whose blobs are
//! checked against their digests when written and when read. A pulled app is laid out as
//! a folder with a generated `spin.toml`, so the rest of wisp runs it like any other.

mod assemble;
mod cache;
mod client;
mod digest;
mod error;
pub mod locked;
pub mod media;
mod pull;
mod push;
mod triggers;
mod unlock;

pub use assemble::{AppInput, Assembled, assemble_app, assemble_component};
pub use cache::BlobCache;
pub use client::{
    RegistryOptions, docker_config_path, login, looks_like_reference, parse_reference,
};
pub use digest::sha256_digest;
pub use error::OciError;
pub use pull::{Pulled, PulledKind, pull};
pub use push::push;
pub use unlock::materialize;

/// What `wisp up -f <reference>` runs.
#[derive(Debug)]
pub enum Runnable {
    /// A Spin app: its generated manifest.
    App(std::path::PathBuf),
    /// A bare component.
    Component(std::path::PathBuf),
}

/// Pulls `reference` (from the cache when pinned by a digest already there) and makes
/// it runnable. Returns what to run and the pull's details.
pub async fn pull_runnable(
    reference: &str,
    options: &RegistryOptions,
) -> Result<(Runnable, Pulled), OciError> {
    let pulled = pull(reference, options).await?;
    let runnable = match &pulled.kind {
        PulledKind::App(locked) => {
            Runnable::App(materialize(&options.cache, &pulled.digest, locked)?)
        }
        PulledKind::Component(path) => Runnable::Component(path.clone()),
    };
    Ok((runnable, pulled))
}
