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
mod held;
mod layout;
pub mod locked;
pub mod media;
mod pull;
mod push;
mod sign;
mod snapshot;
mod triggers;
mod unlock;

pub use assemble::{AppInput, Assembled, assemble_app, assemble_component};
pub use cache::BlobCache;
pub use client::{
    RegistryOptions, docker_config_path, login, looks_like_reference, parse_reference,
};
pub use digest::sha256_digest;
pub use error::OciError;
pub use held::{HeldLayer, runnable_from_layers};
pub use layout::{read_layout_archive, write_layout_archive};
pub use pull::{Pulled, PulledKind, pull};
pub use push::push;
pub use sign::{SigningKey, VerifyingKey, signature_tag};
pub use snapshot::{Snapshot, snapshot};
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
    verify: Option<&VerifyingKey>,
) -> Result<(Runnable, Pulled), OciError> {
    let pulled = pull(reference, options, verify).await?;
    let runnable = match &pulled.kind {
        PulledKind::App(locked) => {
            Runnable::App(materialize(&options.cache, &pulled.digest, locked)?)
        }
        PulledKind::Component(path) => Runnable::Component(path.clone()),
    };
    Ok((runnable, pulled))
}

/// Signs what `reference` names now with `key` (cosign's format); returns the signed
/// manifest digest and the signature image's reference.
pub async fn sign(
    reference: &str,
    key: &SigningKey,
    options: &RegistryOptions,
) -> Result<(String, String), OciError> {
    let reference = parse_reference(reference)?;
    let registry =
        client::Registry::connect(&reference, options, oci_client::RegistryOperation::Push).await?;
    let digest = registry.resolve_digest(&reference).await?;
    let signature = registry.sign(&reference, &digest, key).await?;
    Ok((digest, signature))
}

/// Checks that what `reference` names carries a signature `key` made; returns its digest.
pub async fn verify(
    reference: &str,
    key: &VerifyingKey,
    options: &RegistryOptions,
) -> Result<String, OciError> {
    let reference = parse_reference(reference)?;
    let registry =
        client::Registry::connect(&reference, options, oci_client::RegistryOperation::Pull).await?;
    let digest = registry.resolve_digest(&reference).await?;
    registry.verify(&reference, &digest, key).await?;
    Ok(digest)
}
