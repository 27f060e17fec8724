//! `wisp build`: runs each component's `[component.X.build] command`.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `wisp build`.
#[derive(Args)]
pub struct BuildArgs {
    /// The app: a spin.toml or a folder holding one.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
}

/// Runs the build.
pub fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let app = super::load_app(&args.from)?;
    super::build_app(&app)
}
