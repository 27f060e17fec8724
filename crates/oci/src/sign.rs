//! Signatures in cosign's key-based format, which Spin lacks: the simple-signing JSON
//! payload naming the manifest digest, an ECDSA P-256 signature over it (SHA-256,
//! ASN.1 DER, base64 in the layer's `dev.cosignproject.cosign/signature` annotation), one
//! layer per signature in the image tagged `sha256-<hex>.sig` beside the artifact. So
//! `cosign verify --key` accepts what wisp signs (with `--insecure-ignore-tlog`: wisp
//! uploads nothing to a transparency log), and wisp accepts what cosign signs with a key.
//! The crypto is RustCrypto's `p256`; the `sigstore` crate would bring Fulcio, Rekor and
//! TUF clients for keyless signing that key-based signing does not use. A signature a
//! verified pull accepted is kept beside the cache, so a pinned digest already cached
//! restarts verified without the registry (the check is redone on the kept inputs).

use crate::cache::BlobCache;
use crate::client::Registry;
use crate::digest::sha256_digest;
use crate::error::OciError;
use crate::media;
use base64::Engine;
use oci_client::Reference;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The media type of a cosign signature payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a layer's signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload `type` cosign writes and checks.
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// A private key to sign with.
pub struct SigningKey(p256::ecdsa::SigningKey);

/// A public key to verify with, and the file it came from.
pub struct VerifyingKey {
    key: p256::ecdsa::VerifyingKey,
    /// Where it was read from, for messages.
    pub path: String,
}

fn read_pem(path: &Path) -> Result<String, OciError> {
    std::fs::read_to_string(path).map_err(OciError::io(path))
}

impl SigningKey {
    /// Reads a PEM ECDSA P-256 private key: PKCS#8 (`PRIVATE KEY`, what `openssl genpkey`
    /// writes) or SEC1 (`EC PRIVATE KEY`, `openssl ecparam -genkey`).
    pub fn from_pem_file(path: &Path) -> Result<Self, OciError> {
        let pem = read_pem(path)?;
        if pem.contains("ENCRYPTED") {
            return Err(OciError::Invalid(format!(
                "{}: encrypted keys (cosign's own `cosign.key`) are not supported; use an \
                 unencrypted PEM P-256 key, e.g. `openssl genpkey -algorithm EC -pkeyopt \
                 ec_paramgen_curve:P-256`",
                path.display()
            )));
        }
        let secret = p256::SecretKey::from_pkcs8_pem(&pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(&pem))
            .map_err(|e| {
                OciError::Invalid(format!(
                    "{}: not a PEM ECDSA P-256 private key: {e}",
                    path.display()
                ))
            })?;
        Ok(Self(p256::ecdsa::SigningKey::from(secret)))
    }

    /// The DER signature of `payload`, base64: the annotation's value.
    fn sign(&self, payload: &[u8]) -> String {
        let signature: p256::ecdsa::Signature = self.0.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }
}

impl VerifyingKey {
    /// Reads a PEM public key (`PUBLIC KEY`, SPKI: what `openssl pkey -pubout` and
    /// `cosign generate-key-pair` write).
    pub fn from_pem_file(path: &Path) -> Result<Self, OciError> {
        let pem = read_pem(path)?;
        let key = p256::PublicKey::from_public_key_pem(&pem).map_err(|e| {
            OciError::Invalid(format!(
                "{}: not a PEM ECDSA P-256 public key: {e}",
                path.display()
            ))
        })?;
        Ok(Self {
            key: key.into(),
            path: path.display().to_string(),
        })
    }

    /// Whether `signature` (base64 DER) is this key's over `payload`.
    fn verifies(&self, payload: &[u8], signature: &str) -> bool {
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = p256::ecdsa::Signature::from_der(&der) else {
            return false;
        };
        self.key.verify(payload, &signature).is_ok()
    }
}

/// The tag cosign keeps the signatures of manifest `digest` under.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

/// The simple-signing payload for `digest` of `repository` (registry/repo, no tag).
fn payload(repository: &str, digest: &str) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": { "docker-reference": repository },
            "image": { "docker-manifest-digest": digest },
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&payload).expect("JSON serializes")
}

/// The signature image's reference for `digest` in `reference`'s repository.
fn signature_reference(reference: &Reference, digest: &str) -> Reference {
    Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        signature_tag(digest),
    )
}

impl Registry {
    /// The digest `reference` names: its own, or what its tag points at now.
    pub(crate) async fn resolve_digest(&self, reference: &Reference) -> Result<String, OciError> {
        if let Some(d) = reference.digest() {
            return Ok(d.to_owned());
        }
        let (_, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, &media::MANIFEST_TYPES)
            .await
            .map_err(self.fail(reference))?;
        Ok(digest)
    }

    /// The signature image of `digest`, if there is one.
    async fn signature_manifest(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<Option<OciImageManifest>, OciError> {
        let sig_ref = signature_reference(reference, digest);
        match self
            .client
            .pull_manifest_raw(&sig_ref, &self.auth, &media::MANIFEST_TYPES)
            .await
            .map_err(self.fail(&sig_ref))
        {
            Ok((bytes, _)) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                OciError::Invalid(format!("the signature image of {digest} is not valid: {e}"))
            }),
            Err(OciError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A blob of `reference`'s repository, in memory (signature payloads are small).
    async fn small_blob(
        &self,
        reference: &Reference,
        descriptor: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        if descriptor.size > 1 << 20 {
            return Err(OciError::Invalid(format!(
                "signature payload {} is {} bytes; at most 1 MiB is accepted",
                descriptor.digest, descriptor.size
            )));
        }
        let mut bytes = Vec::new();
        self.client
            .pull_blob(reference, descriptor, &mut bytes)
            .await
            .map_err(self.fail(reference))?;
        Ok(bytes)
    }

    /// Signs manifest `digest` of `reference` with `key`, adding to any signatures it
    /// already has. Returns the signature image's reference.
    pub(crate) async fn sign(
        &self,
        reference: &Reference,
        digest: &str,
        key: &SigningKey,
    ) -> Result<String, OciError> {
        let repository = format!("{}/{}", reference.registry(), reference.repository());
        let payload = payload(&repository, digest);
        let payload_digest = sha256_digest(&payload);
        let mut layers = match self.signature_manifest(reference, digest).await? {
            Some(existing) => existing.layers,
            None => Vec::new(),
        };
        layers.retain(|l| l.digest != payload_digest);
        layers.push(OciDescriptor {
            media_type: SIMPLE_SIGNING.to_owned(),
            digest: payload_digest.clone(),
            size: payload.len() as i64,
            annotations: Some(
                BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), key.sign(&payload))])
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        });
        let config = json!({
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{ "created": "0001-01-01T00:00:00Z" }],
            "os": "",
            "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>() },
            "config": {},
        });
        let config = serde_json::to_vec(&config).expect("JSON serializes");
        let sig_ref = signature_reference(reference, digest);
        let fail = self.fail(&sig_ref);
        self.client
            .push_blob(&sig_ref, payload, &payload_digest)
            .await
            .map_err(&fail)?;
        let config_digest = sha256_digest(&config);
        let config_size = config.len() as i64;
        self.client
            .push_blob(&sig_ref, config, &config_digest)
            .await
            .map_err(&fail)?;
        let manifest = OciImageManifest {
            media_type: Some(media::OCI_MANIFEST.to_owned()),
            config: OciDescriptor {
                media_type: media::OCI_IMAGE_CONFIG.to_owned(),
                digest: config_digest,
                size: config_size,
                ..Default::default()
            },
            layers,
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
        let content_type = media::OCI_MANIFEST.parse().expect("a header value");
        self.client
            .push_manifest_raw(&sig_ref, bytes, content_type)
            .await
            .map_err(&fail)?;
        Ok(sig_ref.whole())
    }

    /// Checks that manifest `digest` of `reference` carries a signature `key` made.
    pub(crate) async fn verify(
        &self,
        reference: &Reference,
        digest: &str,
        key: &VerifyingKey,
    ) -> Result<(), OciError> {
        let shown = format!(
            "{}/{}@{digest}",
            reference.registry(),
            reference.repository()
        );
        let Some(signatures) = self.signature_manifest(reference, digest).await? else {
            return Err(OciError::Unverified(format!(
                "{shown} is not signed (nothing at tag {})",
                signature_tag(digest)
            )));
        };
        let sig_ref = signature_reference(reference, digest);
        for layer in signatures
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING)
        {
            let Some(signature) = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(SIGNATURE_ANNOTATION))
            else {
                continue;
            };
            let payload = self.small_blob(&sig_ref, layer).await?;
            if key.verifies(&payload, signature) && payload_names(&payload, digest) {
                remember(&self.cache, digest, &payload, signature);
                return Ok(());
            }
        }
        Err(OciError::Unverified(format!(
            "no signature of {shown} verifies with {}",
            key.path
        )))
    }
}

/// A signature a verified pull accepted, kept so that a pinned, cached artifact can be
/// verified again without the registry. Only the check's inputs are kept: the check
/// itself is redone each time, so a changed file verifies nothing.
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    /// The simple-signing payload, base64.
    payload: String,
    /// Its signature, as the annotation held it.
    signature: String,
}

fn remembered_path(cache: &BlobCache, digest: &str) -> Option<std::path::PathBuf> {
    let hex = crate::digest::sha256_hex(digest).ok()?;
    Some(cache.root().join("signatures").join(format!("{hex}.json")))
}

/// Keeps a verified signature of `digest` (best effort: a failure only means the next
/// verified start asks the registry again).
fn remember(cache: &BlobCache, digest: &str, payload: &[u8], signature: &str) {
    let Some(path) = remembered_path(cache, digest) else {
        return;
    };
    let mut kept: Vec<Remembered> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let payload = base64::engine::general_purpose::STANDARD.encode(payload);
    if kept
        .iter()
        .any(|r| r.payload == payload && r.signature == signature)
    {
        return;
    }
    kept.push(Remembered {
        payload,
        signature: signature.to_owned(),
    });
    let written = (|| {
        let parent = path.parent()?;
        std::fs::create_dir_all(parent).ok()?;
        let tmp = tempfile::NamedTempFile::new_in(parent).ok()?;
        std::fs::write(tmp.path(), serde_json::to_vec(&kept).ok()?).ok()?;
        tmp.persist(&path).ok()
    })();
    if written.is_none() {
        tracing::debug!(%digest, "could not keep a verified signature");
    }
}

/// Whether a signature kept by an earlier verified pull of `digest` verifies with `key`.
pub(crate) fn verify_cached(cache: &BlobCache, digest: &str, key: &VerifyingKey) -> bool {
    let Some(path) = remembered_path(cache, digest) else {
        return false;
    };
    let Some(kept) = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<Remembered>>(&bytes).ok())
    else {
        return false;
    };
    kept.iter().any(|r| {
        base64::engine::general_purpose::STANDARD
            .decode(&r.payload)
            .is_ok_and(|payload| {
                key.verifies(&payload, &r.signature) && payload_names(&payload, digest)
            })
    })
}

/// Whether a simple-signing payload is cosign's and names manifest `digest`.
fn payload_names(payload: &[u8], digest: &str) -> bool {
    let Ok(json) = serde_json::from_slice::<Value>(payload) else {
        return false;
    };
    let critical = &json["critical"];
    critical["type"] == PAYLOAD_TYPE && critical["image"]["docker-manifest-digest"] == digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_tag_is_cosigns() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            signature_tag(&digest),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
    }

    #[test]
    fn a_payload_must_name_the_digest_it_is_trusted_for() {
        let digest = format!("sha256:{}", "12".repeat(32));
        let other = format!("sha256:{}", "34".repeat(32));
        let p = payload("localhost:5000/app", &digest);
        assert!(payload_names(&p, &digest));
        assert!(!payload_names(&p, &other));
        assert!(!payload_names(b"not json", &digest));
    }
}
