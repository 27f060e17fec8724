//! The media types of Spin's OCI artifacts (`spinframework/spin` `crates/oci`) and of
//! plain Wasm component artifacts (the CNCF Wasm OCI artifact layout, as `wkg` pushes).

/// The locked app: a layer beside the image config (Spin 2.x and later), or the manifest's
/// config itself (older artifacts).
pub const SPIN_APPLICATION: &str = "application/vnd.fermyon.spin.application.v1+config";
/// One component's Wasm.
pub const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// A Wasm component as `wkg` and the Wasm OCI artifact layout push it.
pub const WASM_LAYER_WKG: &str = "application/wasm";
/// One static file.
pub const DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";
/// A gzipped tar of a component's static files (Spin pushes these past 500 layers).
pub const ARCHIVE_LAYER: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// Every layer media type an app's artifact may hold (a Spin app's, or a component's).
pub const APP_LAYERS: [&str; 5] = [
    SPIN_APPLICATION,
    WASM_LAYER,
    WASM_LAYER_WKG,
    DATA_LAYER,
    ARCHIVE_LAYER,
];

/// The image config Spin pushes apps with.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The config of a Wasm component artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker v2 image manifest (some registries convert to it).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The manifest types wisp asks a registry for.
pub const MANIFEST_TYPES: [&str; 2] = [OCI_MANIFEST, DOCKER_MANIFEST];

/// The image config label Spin sets to the locked app's digest, so apps differ in config.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";

/// Content of at most this many bytes is inlined into the locked app rather than pushed
/// as its own layer (Spin's default; registries refuse some tiny blobs).
pub const INLINE_MAX: usize = 128;

/// Registries cap layers per manifest (ECR at 500); past this, Spin switches to archive
/// layers, and so does wisp.
pub const MAX_LAYERS: usize = 500;
