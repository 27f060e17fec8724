//! `wisp deploy`, `wisp apps` and `wisp undeploy`: clients of a `wisp serve` host's admin
//! API.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the admin API is and how to prove who we are.
#[derive(Args)]
pub struct AdminFlags {
    /// The host's admin API.
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
    /// A host name the app answers (repeatable; `*.example.com` for any subdomain).
    #[arg(long = "host", value_name = "HOST", required = true)]
    hosts: Vec<String>,
    /// A path prefix the app's routes sit under on those hosts.
    #[arg(long, value_name = "/PREFIX")]
    route_prefix: Option<String>,
    /// An environment variable for every component (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    env: Vec<(String, String)>,
    /// A value for one of the app's variables (repeatable).
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = super::parse_key_value)]
    variables: Vec<(String, String)>,
    /// Maximum linear memory per instance of this app (e.g. `64MiB`), below the host's.
    #[arg(long, value_name = "SIZE", value_parser = wisp_manifest::parse_size)]
    memory_limit: Option<u64>,
    /// Wall-clock budget per request of this app (e.g. `5s`), below the host's.
    #[arg(long, value_name = "DURATION", value_parser = wisp_manifest::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// Concurrent instances per component of this app, below the host's.
    #[arg(long, value_name = "N")]
    max_instances: Option<u32>,
    /// Concurrent instances of this whole app, across its components and triggers,
    /// below the host's `--app-instances`.
    #[arg(long, value_name = "N")]
    app_instances: Option<u32>,
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
    #[command(flatten)]
    admin: AdminFlags,
}

/// Runs `wisp deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let source = match (&args.path, &args.from) {
        (_, Some(reference)) => json!({ "reference": reference }),
        (Some(path), None) => {
            let archive = pack(path, args.build)?;
            let (_, uploaded) = call(
                &args.admin,
                reqwest::Method::POST,
                "/v1/uploads",
                Some(Payload::Archive(archive)),
            )?;
            json!({ "upload": uploaded["upload"] })
        }
        (None, None) => bail!("give the app's path or `-f REFERENCE`"),
    };
    let pairs = |pairs: &[(String, String)]| -> BTreeMap<String, String> {
        pairs.iter().cloned().collect()
    };
    let body = json!({
        "source": source,
        "hosts": args.hosts,
        "route_prefix": args.route_prefix,
        "env": pairs(&args.env),
        "variables": pairs(&args.variables),
        "limits": {
            "memory_bytes": args.memory_limit,
            "timeout_ms": args.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            "max_instances": args.max_instances,
            "app_instances": args.app_instances,
        },
    });
    let (status, app) = call(
        &args.admin,
        reqwest::Method::PUT,
        &app_path(&args.name),
        Some(Payload::Json(body)),
    )?;
    let verb = if status == 201 {
        "Deployed"
    } else {
        "Replaced"
    };
    println!(
        "{verb} {} {} on {}",
        args.name,
        app["digest"].as_str().unwrap_or("?"),
        join(&app["hosts"])
    );
    for route in app["routes"].as_array().into_iter().flatten() {
        println!("  {}", route.as_str().unwrap_or("?"));
    }
    Ok(())
}

/// Runs `wisp apps`.
pub fn list(args: AppsArgs) -> anyhow::Result<()> {
    let (_, body) = call(&args.admin, reqwest::Method::GET, "/v1/apps", None)?;
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
    call(
        &args.admin,
        reqwest::Method::DELETE,
        &app_path(&args.name),
        None,
    )?;
    println!("Undeployed {}", args.name);
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
    method: reqwest::Method,
    path: &str,
    body: Option<Payload>,
) -> anyhow::Result<(u16, Value)> {
    let Some(token) = admin.token.as_deref() else {
        bail!(
            "no admin token: pass --token or set WISP_ADMIN_TOKEN (the host keeps it in \
             its state folder, file `admin-token`)"
        );
    };
    let url = format!("{}{path}", admin.admin.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.request(method, &url).bearer_auth(token);
        request = match body {
            None => request,
            Some(Payload::Json(body)) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
            Some(Payload::Archive(bytes)) => request
                .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
                .body(bytes),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", admin.admin))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("{url}: cannot read the answer"))?;
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
