//! [`OciError`]: every way pushing, pulling or running an artifact fails, each worded for
//! the person at the command line.

use std::path::PathBuf;

/// What went wrong talking to a registry or reading an artifact.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error("`{reference}` is not a valid registry reference: {why}")]
    BadReference {
        /// As given.
        reference: String,
        /// Why not.
        why: String,
    },
    /// No connection to the registry (refused, DNS, TLS).
    #[error("cannot reach registry {registry}: {why}")]
    Unreachable {
        /// Host and port.
        registry: String,
        /// The underlying failure.
        why: String,
    },
    /// The registry refused the credentials, or wants some.
    #[error(
        "registry {registry} refused access: {why} (log in with `wisp registry login {registry}`)"
    )]
    Unauthorized {
        /// Host and port.
        registry: String,
        /// What the registry said.
        why: String,
    },
    /// No such tag, digest or repository.
    #[error("{reference} was not found in the registry")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// Bytes that do not hash to the digest that names them.
    #[error(
        "{what} does not match its digest {expected} (its bytes hash to {actual}); it was not used"
    )]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A manifest layer of a type that is not part of a Spin app or a Wasm component.
    #[error(
        "layer {digest} has media type `{media_type}`, which is not part of a Spin app or Wasm component artifact"
    )]
    UnknownLayer {
        /// The layer's digest.
        digest: String,
        /// Its media type.
        media_type: String,
    },
    /// A signature was required and none verifies.
    #[error("{0}")]
    Unverified(String),
    /// The artifact is malformed, or asks for what wisp cannot do.
    #[error("{0}")]
    Invalid(String),
    /// Any other error the registry returned.
    #[error("registry error: {0}")]
    Registry(String),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl OciError {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// Classifies an `oci-client` failure talking to `registry` about `reference`.
    pub(crate) fn from_client(
        err: oci_client::errors::OciDistributionError,
        registry: &str,
        reference: &str,
    ) -> Self {
        use oci_client::errors::OciDistributionError as E;
        let registry = registry.to_owned();
        match err {
            E::AuthenticationFailure(why) => Self::Unauthorized { registry, why },
            E::UnauthorizedError { url } => Self::Unauthorized {
                registry,
                why: format!("401 Unauthorized for {url}"),
            },
            E::ImageManifestNotFoundError(_) => Self::NotFound {
                reference: reference.to_owned(),
            },
            E::RegistryError { envelope, .. } => {
                let codes: Vec<_> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}", e.code))
                    .collect();
                let not_found = codes
                    .iter()
                    .any(|c| c.contains("Unknown") && !c.contains("BlobUpload"));
                let denied = codes.iter().any(|c| c == "Unauthorized" || c == "Denied");
                let message: Vec<_> = envelope.errors.iter().map(|e| e.message.clone()).collect();
                if denied {
                    Self::Unauthorized {
                        registry,
                        why: message.join("; "),
                    }
                } else if not_found {
                    Self::NotFound {
                        reference: reference.to_owned(),
                    }
                } else {
                    Self::Registry(message.join("; "))
                }
            }
            E::ServerError { code: 404, .. } => Self::NotFound {
                reference: reference.to_owned(),
            },
            E::ServerError {
                code: 401 | 403,
                url,
                message,
            } => Self::Unauthorized {
                registry,
                why: format!("{message} ({url})"),
            },
            E::DigestError(oci_client::errors::DigestError::VerificationError {
                expected,
                actual,
            }) => Self::DigestMismatch {
                what: format!("content from {registry}"),
                expected,
                actual,
            },
            E::RequestError(e) if e.is_connect() || e.is_timeout() => Self::Unreachable {
                registry,
                why: error_chain(&e),
            },
            other => Self::Registry(error_chain(&other)),
        }
    }
}

/// An error and its sources on one line: reqwest hides the useful part ("connection
/// refused", "invalid peer certificate") in the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
