//! `containerd-shim-wisp-v1`: the containerd runtime shim for runtime type
//! `io.containerd.wisp.v1`, so Kubernetes (a `RuntimeClass` with handler `wisp`) and
//! `ctr run --runtime io.containerd.wisp.v1` run Spin apps on wisp. It is built on
//! runwasi's `containerd-shim-wasm`, which owns the shim protocol, the container's
//! namespaces and cgroups, and fetching the image's Wasm layers from containerd; this
//! crate owns turning those layers (or an image's `/spin.toml`) into a wisp app, the
//! container's settings, compiling once per node, and the app's life in the container.

mod precompile;
mod sandbox;
mod settings;
mod source;

use containerd_shim_wasm::shim::{Cli, Compiler, Config, Shim, Version, version};

/// The shim: its name makes the binary `containerd-shim-wisp-v1`.
struct WispShim;

impl Shim for WispShim {
    type Sandbox = sandbox::WispSandbox;

    fn name() -> &'static str {
        "wisp"
    }

    fn version() -> Version {
        version!()
    }

    async fn compiler() -> Option<impl Compiler> {
        precompile::WispCompiler::new()
    }

    fn supported_layers_types() -> &'static [&'static str] {
        source::LAYER_TYPES
    }
}

fn main() {
    WispShim::run(Config::default());
}
