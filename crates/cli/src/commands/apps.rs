//! `wisp deploy`, `wisp apps` and `wisp undeploy`: clients of a `wisp serve` host's admin
//! API.

use super::admin_client::{self, Endpoint};
use super::app_settings::SettingsFlags;
use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the admin API is and how to prove who we are.
#[derive(Args)]
pub struct AdminFlags {
    /// The host's admin API: `http://HOST:PORT`, or `unix:PATH` for its socket.
    #[arg(long, default_value = "http://127.0.0.1:9000", env = "WISP_ADMIN_URL")]
    admin: String,
    /// The admin token (the host's `admin-token` file).
    #[arg(long, env = "WISP_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Arguments of `wisp deploy`.
#[derive(Args)]
pub struct DeployArgs {
    /// The app: a folder holding a spin.toml, a spin.toml, or a .wasm component. It is
    /// packed here as `wisp registry push` would pack it and uploaded to the host.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    path: Option<PathBuf>,
    /// Run `wisp build` first.
    #[arg(long, conflicts_with = "from")]
    build: bool,
    /// Deploy the app at this registry reference instead.
    #[arg(short = 'f', long = "from", value_name = "REFERENCE")]
    from: Option<String>,
    /// The app's name; deploying a name that exists replaces that app live.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    settings: SettingsFlags,
    #[command(flatten)]
    admin: AdminFlags,
}

/// Arguments of `wisp apps`.
#[derive(Args)]
pub struct AppsArgs {
    /// Print the admin API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    admin: AdminFlags,
}

/// Arguments of `wisp undeploy`.
#[derive(Args)]
pub struct UndeployArgs {
    /// The app to remove.
    name: String,
    /// Delete its data folder on the host too (default key-value store, SQLite
    /// databases, logs); without it the data stays for a later deploy of the name.
    #[arg(long)]
    purge: bool,
    #[command(flatten)]
    admin: AdminFlags,
}

/// Arguments of `wisp update`.
#[derive(Args)]
pub struct UpdateArgs {
    /// The app to change.
    name: String,
    /// Each setting given replaces that setting as a whole (all its hosts, its whole
    /// environment, all its variables, all its limits); the others stay.
    #[command(flatten)]
    settings: SettingsFlags,
    /// Remove the app's path prefix.
    #[arg(long, conflicts_with = "route_prefix")]
    no_route_prefix: bool,
    /// Drop the app's runtime config (back to the defaults in its folder).
    #[arg(long, conflicts_with = "runtime_config_file")]
    no_runtime_config: bool,
    #[command(flatten)]
    admin: AdminFlags,
}

/// Runs `wisp deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let mut body = args.settings.deploy_fields()?;
    if body["hosts"].as_array().is_some_and(Vec::is_empty) {
        bail!("give at least one host the app answers (`--host shop.example.com`)");
    }
    let source = match (&args.path, &args.from) {
        (_, Some(reference)) => json!({ "reference": reference }),
        (Some(path), None) => {
            let archive = pack(path, args.build)?;
            let (_, uploaded) = call(
                &args.admin,
                Method::POST,
                "/v1/uploads",
                Some(Payload::Archive(archive)),
            )?;
            json!({ "upload": uploaded["upload"] })
        }
        (None, None) => bail!("give the app's path or `-f REFERENCE`"),
    };
    body.insert("source".into(), source);
    let (status, app) = call(
        &args.admin,
        Method::PUT,
        &app_path(&args.name),
        Some(Payload::Json(Value::Object(body))),
    )?;
    let verb = if status == 201 {
        "Deployed"
    } else {
        "Replaced"
    };
    report(verb, &args.name, &app);
    Ok(())
}

/// `VERB NAME DIGEST on HOSTS`, then the app's routes.
fn report(verb: &str, name: &str, app: &Value) {
    println!(
        "{verb} {name} {} on {}",
        app["digest"].as_str().unwrap_or("?"),
        join(&app["hosts"])
    );
    for route in app["routes"].as_array().into_iter().flatten() {
        println!("  {}", route.as_str().unwrap_or("?"));
    }
}

/// Runs `wisp update`.
pub fn update(args: UpdateArgs) -> anyhow::Result<()> {
    let mut body = args.settings.given_fields()?;
    if args.no_route_prefix {
        body.insert("route_prefix".into(), Value::Null);
    }
    if args.no_runtime_config {
        body.insert("runtime_config".into(), Value::Null);
    }
    if body.is_empty() {
        bail!("give a setting to change (`wisp update --help` lists them)");
    }
    let (_, app) = call(
        &args.admin,
        Method::PATCH,
        &app_path(&args.name),
        Some(Payload::Json(Value::Object(body))),
    )?;
    report("Updated", &args.name, &app);
    Ok(())
}

/// Runs `wisp apps`.
pub fn list(args: AppsArgs) -> anyhow::Result<()> {
    let (_, body) = call(&args.admin, Method::GET, "/v1/apps", None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let apps = body["apps"].as_array().cloned().unwrap_or_default();
    if apps.is_empty() {
        println!("No apps deployed");
        return Ok(());
    }
    println!(
        "{:<20} {:<8} {:<19} {:>9} {:>6}  HOSTS",
        "NAME", "STATUS", "DIGEST", "REQUESTS", "5XX"
    );
    for app in apps {
        let digest = app["digest"].as_str().unwrap_or("");
        let short = digest.get(..19).unwrap_or(digest);
        let prefix = app["route_prefix"].as_str().unwrap_or("");
        println!(
            "{:<20} {:<8} {:<19} {:>9} {:>6}  {}{prefix}",
            app["name"].as_str().unwrap_or("?"),
            app["status"].as_str().unwrap_or("?"),
            short,
            app["requests"].as_u64().unwrap_or(0),
            app["errors"].as_u64().unwrap_or(0),
            join(&app["hosts"]),
        );
        if let Some(error) = app["error"].as_str() {
            println!("  error: {error}");
        }
    }
    Ok(())
}

/// Runs `wisp undeploy`.
pub fn undeploy(args: UndeployArgs) -> anyhow::Result<()> {
    let mut path = app_path(&args.name);
    if args.purge {
        path.push_str("?purge=true");
    }
    call(&args.admin, Method::DELETE, &path, None)?;
    let purged = if args.purge {
        " and deleted its data"
    } else {
        ""
    };
    println!("Undeployed {}{purged}", args.name);
    Ok(())
}

/// The app at `path` as an OCI image layout archive, packed as a push packs it.
fn pack(path: &std::path::Path, build: bool) -> anyhow::Result<Vec<u8>> {
    let artifact = super::assemble(path, build, BTreeMap::new(), false)?;
    let mut archive = Vec::new();
    wisp_oci::write_layout_archive(&artifact, &mut archive)?;
    Ok(archive)
}

/// A request body.
enum Payload {
    Json(Value),
    Archive(Vec<u8>),
}

fn app_path(name: &str) -> String {
    // Names with characters a path cannot carry are refused by the host anyway; keep
    // them from changing the path here.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("/v1/apps/{safe}")
}

fn join(hosts: &Value) -> String {
    let hosts: Vec<&str> = hosts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    hosts.join(", ")
}

/// One admin call; its status and JSON body, or the host's error message.
fn call(
    admin: &AdminFlags,
    method: Method,
    path: &str,
    body: Option<Payload>,
) -> anyhow::Result<(u16, Value)> {
    let Some(token) = admin.token.as_deref() else {
        bail!(
            "no admin token: pass --token or set WISP_ADMIN_TOKEN (the host keeps it in \
             its state folder, file `admin-token`)"
        );
    };
    let endpoint = Endpoint::parse(&admin.admin)?;
    let body = match body {
        None => None,
        Some(Payload::Json(body)) => Some(("application/json", Bytes::from(body.to_string()))),
        Some(Payload::Archive(bytes)) => Some(("application/x-tar", Bytes::from(bytes))),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let answer = admin_client::send(&endpoint, method, path, token, body)
            .await
            .with_context(|| format!("cannot reach the admin API at {}", admin.admin))?;
        let status = answer.status;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !(200..300).contains(&status) {
            let message = value["error"]
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            bail!("{message} (HTTP {status})");
        }
        Ok((status, value))
    })
}
