//! Pushing an assembled artifact: blobs the registry lacks, the config, then the
//! manifest bytes exactly as assembled, so the digest printed is the digest stored.

use crate::assemble::Assembled;
use crate::client::{Registry, RegistryOptions, parse_reference};
use crate::error::OciError;
use crate::media;
use oci_client::RegistryOperation;

/// Pushes `artifact` as `reference`; returns the manifest digest.
pub async fn push(
    reference: &str,
    artifact: &Assembled,
    options: &RegistryOptions,
) -> Result<String, OciError> {
    let reference = parse_reference(reference)?;
    let registry = Registry::connect(&reference, options, RegistryOperation::Push).await?;
    let fail = registry.fail(&reference);
    let blobs = artifact
        .layers
        .iter()
        .map(|l| (l.data.clone(), l.sha256_digest()))
        .chain(std::iter::once((
            artifact.config.data.clone(),
            artifact.config.sha256_digest(),
        )));
    for (data, digest) in blobs {
        let present = registry
            .client
            .blob_exists(&reference, &digest)
            .await
            .unwrap_or(false);
        if !present {
            registry
                .client
                .push_blob(&reference, data, &digest)
                .await
                .map_err(&fail)?;
        }
    }
    let content_type = media::OCI_MANIFEST
        .parse()
        .expect("the OCI manifest media type is a header value");
    registry
        .client
        .push_manifest_raw(&reference, artifact.manifest.clone(), content_type)
        .await
        .map_err(&fail)?;
    Ok(artifact.digest())
}
