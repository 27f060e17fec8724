//! `wisp registry push | pull | login`: apps and components to and from OCI registries,
//! in Spin's artifact format (see `wisp-oci`).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use wisp_oci::{BlobCache, RegistryOptions};

/// `wisp registry` subcommands.
#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Push an app (or a bare .wasm component) to a registry; prints its digest.
    Push(PushArgs),
    /// Pull an app or component into the local cache.
    Pull(PullArgs),
    /// Check and store credentials for a registry (in docker's config.json).
    Login(LoginArgs),
    /// Sign what a reference names, in cosign's key-based format.
    Sign(SignArgs),
    /// Check that what a reference names carries a signature made with a key.
    Verify(VerifyArgs),
}

/// Arguments of `wisp registry sign`.
#[derive(Args)]
pub struct SignArgs {
    /// What to sign, e.g. `ghcr.io/org/app:v1` (its digest is what is signed).
    reference: String,
    /// PEM ECDSA P-256 private key (PKCS#8 or SEC1, unencrypted).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// Arguments of `wisp registry verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// What to verify.
    reference: String,
    /// PEM public key (SPKI).
    #[arg(long, value_name = "PUB.pem")]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// How to reach the registry, shared by the subcommands and `wisp up`.
#[derive(Args, Clone)]
pub struct RegistryFlags {
    /// Allow plain HTTP and TLS certificates that do not verify.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Folder pulled artifacts are cached in (default: the user cache folder).
    #[arg(long, value_name = "DIR", env = "WISP_OCI_CACHE_DIR")]
    pub oci_cache_dir: Option<PathBuf>,
}

impl RegistryFlags {
    /// The options `wisp-oci` takes.
    pub fn options(&self) -> anyhow::Result<RegistryOptions> {
        let dir = match &self.oci_cache_dir {
            Some(dir) => dir.clone(),
            None => {
                BlobCache::default_dir().context("no user cache folder: pass --oci-cache-dir")?
            }
        };
        Ok(RegistryOptions {
            insecure: self.insecure,
            cache: BlobCache::new(dir),
        })
    }
}

/// Arguments of `wisp registry push`.
#[derive(Args)]
pub struct PushArgs {
    /// Where to push, e.g. `ghcr.io/org/app:v1`.
    reference: String,
    /// The app: a spin.toml, a folder holding one, or a bare .wasm component.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Run `wisp build` first.
    #[arg(long)]
    build: bool,
    /// An annotation on the pushed manifest (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    annotations: Vec<(String, String)>,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// Arguments of `wisp registry pull`.
#[derive(Args)]
pub struct PullArgs {
    /// What to pull, e.g. `ghcr.io/org/app:v1` or `…@sha256:…`.
    reference: String,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// Arguments of `wisp registry login`.
#[derive(Args)]
pub struct LoginArgs {
    /// The registry, e.g. `ghcr.io` or `localhost:5000`.
    server: String,
    /// User name.
    #[arg(short = 'u', long)]
    username: String,
    /// Password (prefer `--password-stdin`: arguments are visible to other users).
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Allow plain HTTP and TLS certificates that do not verify.
    #[arg(short = 'k', long)]
    insecure: bool,
}

/// Runs a `wisp registry` subcommand.
pub fn run(command: RegistryCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            RegistryCommand::Push(args) => push(args).await,
            RegistryCommand::Pull(args) => pull(args).await,
            RegistryCommand::Login(args) => login(args).await,
            RegistryCommand::Sign(args) => sign(args).await,
            RegistryCommand::Verify(args) => verify(args).await,
        }
    })
}

async fn push(args: PushArgs) -> anyhow::Result<()> {
    let annotations: BTreeMap<_, _> = args.annotations.into_iter().collect();
    let options = args.registry.options()?;
    let started = std::time::Instant::now();
    // Spin's switch for archive layers, honoured the same way.
    let archive_files = std::env::var_os("SPIN_OCI_ARCHIVE_LAYERS").is_some();
    let artifact = super::assemble(&args.from, args.build, annotations, archive_files)?;
    let digest = wisp_oci::push(&args.reference, &artifact, &options).await?;
    println!(
        "Pushed {} in {:.1?} ({} layers)",
        args.reference,
        started.elapsed(),
        artifact.layers.len()
    );
    println!("Pushed with digest {digest}");
    Ok(())
}

async fn pull(args: PullArgs) -> anyhow::Result<()> {
    let options = args.registry.options()?;
    let started = std::time::Instant::now();
    let (runnable, pulled) = wisp_oci::pull_runnable(&args.reference, &options, None).await?;
    let source = if pulled.from_network {
        "from the registry"
    } else {
        "from the cache"
    };
    println!(
        "Pulled {}@{} {source} in {:.1?}",
        args.reference,
        pulled.digest,
        started.elapsed()
    );
    match runnable {
        wisp_oci::Runnable::App(manifest) => println!("App: {}", manifest.display()),
        wisp_oci::Runnable::Component(wasm) => println!("Component: {}", wasm.display()),
    }
    Ok(())
}

async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!("give the password with --password-stdin (or -p)"),
    };
    let path = wisp_oci::login(&args.server, &args.username, &password, args.insecure).await?;
    println!("Login succeeded; credentials stored in {}", path.display());
    Ok(())
}

async fn sign(args: SignArgs) -> anyhow::Result<()> {
    let key = wisp_oci::SigningKey::from_pem_file(&args.key)?;
    let options = args.registry.options()?;
    let (digest, signature) = wisp_oci::sign(&args.reference, &key, &options).await?;
    println!("Signed {}@{digest}", args.reference);
    println!("Signature pushed to {signature}");
    Ok(())
}

async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let key = wisp_oci::VerifyingKey::from_pem_file(&args.key)?;
    let options = args.registry.options()?;
    let digest = wisp_oci::verify(&args.reference, &key, &options).await?;
    println!(
        "Verified {}@{digest} with {}",
        args.reference,
        args.key.display()
    );
    Ok(())
}
