//! The container's environment read as the shim's settings. Spin's shim conventions come
//! first, so a SpinKube app switches runtime class unchanged: `SPIN_HTTP_LISTEN_ADDR`,
//! `SPIN_VARIABLE_*`, `SPIN_COMPONENTS_TO_RETAIN`, `/runtime-config.toml`. wisp's own
//! settings (`WISP_*`) mirror `wisp up`'s flags of the same names.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wisp_capabilities::RuntimeConfig;
use wisp_engine::{EngineConfig, InstanceLimits};
use wisp_host::HostOptions;
use wisp_trigger_http::ListenerConfig;

/// Where the HTTP trigger listens unless `SPIN_HTTP_LISTEN_ADDR` says otherwise (Spin's
/// shim's default: the pod's port 80).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:80";
/// The runtime config read when the image or a volume puts one there.
pub const RUNTIME_CONFIG_PATH: &str = "/runtime-config.toml";
/// The manifest of an image that carries an app as plain files.
pub const MANIFEST_PATH: &str = "/spin.toml";
/// Where the app keeps its state (default stores, logs) and the shim its caches, unless
/// `WISP_STATE_DIR` says otherwise: inside the container's own writable root.
pub const DEFAULT_STATE_DIR: &str = "/.wisp";

/// Everything the shim takes from the container's environment.
#[derive(Debug)]
pub struct ShimSettings {
    /// What the host runs the app with.
    pub host: HostOptions,
    /// `SPIN_COMPONENTS_TO_RETAIN`: run only these components.
    pub retain: Option<Vec<String>>,
    /// Folder of the blobs and laid-out app of an OCI artifact.
    pub oci_cache_dir: PathBuf,
    /// The engine's compile cache, where precompiled code from the node is imported.
    pub compile_cache_dir: PathBuf,
}

/// Reads the settings from the container's `KEY=VALUE` environment, with the runtime
/// config at `runtime_config` if that file exists.
pub fn from_env(env: &[String], runtime_config: &Path) -> anyhow::Result<ShimSettings> {
    let vars: HashMap<String, String> = env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let get = |name: &str| vars.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let size = |name: &str| -> anyhow::Result<Option<u64>> {
        get(name)
            .map(|v| wisp_manifest::parse_size(v).map_err(anyhow::Error::msg))
            .transpose()
            .with_context(|| format!("{name} is not a size (e.g. `128MiB`)"))
    };
    let duration = |name: &str| -> anyhow::Result<Option<Duration>> {
        get(name)
            .map(|v| wisp_manifest::parse_duration(v).map_err(anyhow::Error::msg))
            .transpose()
            .with_context(|| format!("{name} is not a duration (e.g. `30s`, `500ms`)"))
    };
    let count = |name: &str| -> anyhow::Result<Option<u32>> {
        match get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => bail!("{name} is `{v}`; it must be a whole number of at least 1"),
            },
        }
    };

    let listen_text = get("SPIN_HTTP_LISTEN_ADDR").unwrap_or(DEFAULT_LISTEN);
    let listen = parse_listen(listen_text)
        .with_context(|| format!("SPIN_HTTP_LISTEN_ADDR `{listen_text}` is not an address"))?;
    let state_dir = PathBuf::from(get("WISP_STATE_DIR").unwrap_or(DEFAULT_STATE_DIR));
    let compile_cache_dir = state_dir.join("components");
    let max_instances = count("WISP_MAX_INSTANCES")?.unwrap_or(wisp_engine::DEFAULT_MAX_INSTANCES);
    let runtime_config = if runtime_config.is_file() {
        RuntimeConfig::load(runtime_config)?
    } else {
        RuntimeConfig::default()
    };
    let retain = get("SPIN_COMPONENTS_TO_RETAIN").map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let listener = ListenerConfig {
        max_body_bytes: size("WISP_MAX_BODY_SIZE")?,
        shutdown_grace: duration("WISP_SHUTDOWN_GRACE")?.unwrap_or(Duration::from_secs(10)),
        ..ListenerConfig::default()
    };
    let host = HostOptions {
        listen,
        listener,
        // The pod's network (a Service, an Ingress) terminates TLS in front of it.
        tls: None,
        engine: EngineConfig {
            max_instances,
            cache_dir: Some(compile_cache_dir.clone()),
            max_total_memory: size("WISP_MAX_TOTAL_MEMORY")?,
        },
        limits: InstanceLimits {
            memory: size("WISP_MEMORY_LIMIT")?.unwrap_or(256 << 20),
            timeout: duration("WISP_TIMEOUT")?.unwrap_or(Duration::from_secs(30)),
            max_instances: count("WISP_MAX_INSTANCES_PER_COMPONENT")?
                .unwrap_or(wisp_engine::default_instances_per_component(max_instances)),
            instance_reuse: count("WISP_INSTANCE_REUSE")?.unwrap_or(1),
            instance_concurrency: count("WISP_INSTANCE_CONCURRENCY")?.unwrap_or(1),
            max_fanout: count("WISP_MAX_FANOUT")?.unwrap_or(wisp_engine::DEFAULT_MAX_FANOUT),
        },
        ceiling: None,
        app_instances: None,
        log_max_bytes: 10 << 20,
        state_dir: state_dir.join("app"),
        extra_env: Vec::new(),
        runtime_config,
        variable_env: vars.clone(),
        seed_key_values: Vec::new(),
        seed_sql: Vec::new(),
        guest_args: Vec::new(),
    };
    Ok(ShimSettings {
        host,
        retain,
        oci_cache_dir: state_dir.join("oci"),
        compile_cache_dir,
    })
}

/// `host:port`, a name resolved once (`localhost:3000`) or an address.
fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()?
        .next()
        .context("the name resolves to no address")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[&str]) -> Vec<String> {
        pairs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_follow_spins_shim() {
        let s = from_env(&env(&["PATH=/bin"]), Path::new("/nonexistent")).unwrap();
        assert_eq!(s.host.listen, "0.0.0.0:80".parse().unwrap());
        assert_eq!(s.retain, None);
        assert_eq!(s.host.state_dir, Path::new("/.wisp/app"));
        assert_eq!(s.host.limits.instance_reuse, 1);
        assert_eq!(s.host.listener.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn spin_and_wisp_variables_are_read() {
        let s = from_env(
            &env(&[
                "SPIN_HTTP_LISTEN_ADDR=127.0.0.1:8080",
                "SPIN_COMPONENTS_TO_RETAIN=a, b",
                "SPIN_VARIABLE_GREETING=hi",
                "WISP_MEMORY_LIMIT=64MiB",
                "WISP_TIMEOUT=2s",
                "WISP_INSTANCE_REUSE=100",
                "WISP_SHUTDOWN_GRACE=3s",
            ]),
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(s.host.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.retain, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(s.host.variable_env["SPIN_VARIABLE_GREETING"], "hi");
        assert_eq!(s.host.limits.memory, 64 << 20);
        assert_eq!(s.host.limits.timeout, Duration::from_secs(2));
        assert_eq!(s.host.limits.instance_reuse, 100);
        assert_eq!(s.host.listener.shutdown_grace, Duration::from_secs(3));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let bad = |kv: &str| {
            format!(
                "{:#}",
                from_env(&env(&[kv]), Path::new("/nonexistent")).unwrap_err()
            )
        };
        assert!(bad("WISP_MEMORY_LIMIT=lots").contains("WISP_MEMORY_LIMIT"));
        assert!(bad("WISP_INSTANCE_REUSE=0").contains("WISP_INSTANCE_REUSE"));
        assert!(bad("SPIN_HTTP_LISTEN_ADDR=nowhere").contains("SPIN_HTTP_LISTEN_ADDR"));
    }
}
