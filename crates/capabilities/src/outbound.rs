//! Each component's outbound grant: its `allowed_outbound_hosts` with `{{ variable }}`
//! templates resolved once at load into an [`OutboundPolicy`] (with the runtime
//! config's `block_networks`) that every outbound capability (HTTP, service chaining,
//! sockets, databases, brokers) checks before it connects; and the one check database
//! and broker clients make, which hands out the checked addresses and the component's
//! TLS settings for the host together.

use crate::capability::{Capability, LoadContext};
use crate::tls::TlsSettings;
use crate::variables::AppVariables;
use crate::{CapabilityError, ComponentGrants};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use wisp_manifest::outbound::{AllowedHost, Denial, OutboundPolicy, OutboundTarget, parse_pattern};

/// Why a database or broker client may not connect where a guest asked.
#[derive(Debug)]
pub(crate) enum OutboundDenied {
    /// No `allowed_outbound_hosts` entry allows the address (or its scheme is wrong), or
    /// it resolves to a link-local address no entry names.
    NotAllowed,
    /// It is allowed, but resolves into a network the runtime config blocks.
    Blocked(Denial),
    /// Its host name does not resolve.
    Unresolved {
        /// The host name.
        host: String,
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for OutboundDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAllowed => f.write_str("address not allowed by allowed_outbound_hosts"),
            Self::Blocked(denial) => denial.fmt(f),
            Self::Unresolved { host, why } => write!(f, "cannot resolve `{host}`: {why}"),
        }
    }
}

/// Where a database or broker client may connect, and how: what the one outbound check
/// hands out.
#[derive(Debug)]
pub(crate) struct CheckedTarget {
    /// The URL's scheme, host and port, as a grant allowed them.
    pub target: OutboundTarget,
    /// Every address the host resolved to, each one allowed, in resolver order (never
    /// empty). Clients that can connect to an address while verifying TLS against the
    /// name try only these, in turn, so a name that resolves differently a moment later
    /// (DNS rebinding) reaches nothing new.
    pub addresses: Vec<IpAddr>,
    /// The component's TLS settings for this host (`[[client_tls]]`, else the default).
    pub tls: Arc<TlsSettings>,
}

impl CheckedTarget {
    /// What a client should connect to, in turn: each checked address when `pin` (the
    /// client verifies TLS against a name given apart from the address, or speaks no
    /// TLS), else the host name itself (a TLS client that verifies the server's
    /// certificate against the name it connects to, so the name is what it must reach).
    pub fn hosts(&self, pin: bool) -> Vec<String> {
        if pin {
            self.addresses.iter().map(IpAddr::to_string).collect()
        } else {
            vec![self.target.host.clone()]
        }
    }
}

/// Runs `connect` on each of `hosts` in turn until one succeeds; the last failure if
/// none does.
pub(crate) async fn first_connected<T, E, Fut>(
    hosts: Vec<String>,
    mut connect: impl FnMut(String) -> Fut,
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut last = None;
    for host in hosts {
        match connect(host).await {
            Ok(connected) => return Ok(connected),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("a checked target has at least one host"))
}

impl ComponentGrants {
    /// The one outbound check for database and broker clients (Redis, PostgreSQL, MySQL,
    /// MQTT): `url`'s scheme is one of `schemes`, an `allowed_outbound_hosts` entry
    /// allows it, its host resolves, and no address it resolves to is refused (a blocked
    /// network, or a link-local address no entry names). HTTP and sockets ask the same
    /// policy about each address they connect to.
    pub(crate) async fn outbound_target(
        &self,
        url: &str,
        schemes: &[&str],
    ) -> Result<CheckedTarget, OutboundDenied> {
        let policy = &self.outbound;
        let target = policy
            .allowed_url(url, schemes)
            .ok_or(OutboundDenied::NotAllowed)?;
        let addresses = resolve(&target.host, target.port).await?;
        for &ip in &addresses {
            match policy.check_resolved(&target.host, ip) {
                Ok(()) => {}
                Err(denial @ Denial::Blocked { .. }) => {
                    tracing::warn!(host = %target.host, "outbound connection refused: {denial}");
                    return Err(OutboundDenied::Blocked(denial));
                }
                Err(denial @ Denial::LinkLocal(_)) => {
                    tracing::debug!(host = %target.host, "outbound connection refused: {denial}");
                    return Err(OutboundDenied::NotAllowed);
                }
            }
        }
        let tls = self.tls.for_host(&target.host, target.port);
        Ok(CheckedTarget {
            target,
            addresses,
            tls,
        })
    }
}

/// The addresses `host` names: itself when it is an IP address, else what it resolves to.
async fn resolve(host: &str, port: u16) -> Result<Vec<IpAddr>, OutboundDenied> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let unresolved = |why: String| OutboundDenied::Unresolved {
        host: host.to_owned(),
        why,
    };
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unresolved(e.to_string()))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() {
        return Err(unresolved("no addresses".into()));
    }
    Ok(addresses)
}

/// Every component's outbound policy, resolved at load.
#[derive(Default)]
pub struct OutboundPolicies {
    by_component: HashMap<String, Arc<OutboundPolicy>>,
}

impl Capability for OutboundPolicies {
    type Grant = Arc<OutboundPolicy>;
    type Instance = ();

    async fn load(ctx: &LoadContext<'_>) -> Result<Self, CapabilityError> {
        let blocked = Arc::new(ctx.options.runtime_config.block_networks.clone());
        let mut by_component = HashMap::new();
        for component in &ctx.app.components {
            let policy = resolve_policy(component, ctx.variables)?.with_blocked(blocked.clone());
            by_component.insert(component.id.clone(), Arc::new(policy));
        }
        Ok(Self { by_component })
    }

    fn grant(&self, component: &wisp_manifest::Component) -> Self::Grant {
        self.by_component
            .get(&component.id)
            .cloned()
            .unwrap_or_default()
    }

    // No `add_to_linker`: a rule, not an interface; every outbound client checks it.
}

/// Resolves `component`'s `allowed_outbound_hosts`. A template that renders to a
/// malformed entry is an error naming the component and the entry as written (never the
/// rendered value, which may hold a secret).
pub fn resolve_policy(
    component: &wisp_manifest::Component,
    variables: &AppVariables,
) -> Result<OutboundPolicy, CapabilityError> {
    let mut patterns = Vec::with_capacity(component.allowed_outbound_hosts.len());
    for entry in &component.allowed_outbound_hosts {
        let pattern = match entry {
            AllowedHost::Pattern(p) => p.clone(),
            AllowedHost::Template(template) => {
                let bad = |why: String| {
                    CapabilityError::Config(format!(
                        "component `{}`: allowed_outbound_hosts entry `{template}`: {why}",
                        component.id
                    ))
                };
                let rendered = variables.render(template).map_err(|e| bad(e.to_string()))?;
                parse_pattern(&rendered).map_err(|_| {
                    bad("its variables render it into something that is not \
                         `scheme://host:port`"
                        .into())
                })?
            }
        };
        patterns.push(pattern);
    }
    Ok(OutboundPolicy::new(patterns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(allowed: &[&str]) -> ComponentGrants {
        let patterns = allowed.iter().map(|p| parse_pattern(p).unwrap()).collect();
        ComponentGrants {
            outbound: Arc::new(OutboundPolicy::new(patterns)),
            ..ComponentGrants::default()
        }
    }

    #[tokio::test]
    async fn a_granted_name_is_handed_out_with_its_checked_addresses() {
        let grants = grants(&["redis://localhost:6379"]);
        let checked = grants
            .outbound_target("redis://localhost:6379", &["redis"])
            .await
            .unwrap();
        assert_eq!(checked.target.host, "localhost");
        assert!(checked.addresses.iter().all(|ip| ip.is_loopback()));
        assert!(!checked.addresses.is_empty());
        assert!(checked.tls.is_default());
        // Pinned, the client is given the addresses; unpinned, the name.
        assert!(
            checked
                .hosts(true)
                .iter()
                .all(|h| h.parse::<IpAddr>().is_ok())
        );
        assert_eq!(checked.hosts(false), ["localhost"]);
    }

    #[tokio::test]
    async fn ungranted_schemes_hosts_and_unresolvable_names_are_refused() {
        let grants = grants(&["redis://*:6379"]);
        for (url, schemes) in [
            ("redis://localhost:6380", &["redis"][..]),
            ("mysql://localhost:6379", &["mysql"][..]),
            ("redis://localhost:6379", &["rediss"][..]),
        ] {
            let denied = grants.outbound_target(url, schemes).await.unwrap_err();
            assert!(matches!(denied, OutboundDenied::NotAllowed), "{url}");
        }
        let denied = grants
            .outbound_target("redis://no-such-host.invalid:6379", &["redis"])
            .await
            .unwrap_err();
        assert!(
            matches!(&denied, OutboundDenied::Unresolved { host, .. } if host == "no-such-host.invalid"),
            "{denied:?}"
        );
        assert!(
            denied
                .to_string()
                .starts_with("cannot resolve `no-such-host.invalid`")
        );
    }

    #[tokio::test]
    async fn the_first_host_that_connects_wins_and_the_last_failure_is_reported() {
        let tried = std::sync::Mutex::new(Vec::new());
        let hosts = || vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let got: Result<String, String> = first_connected(hosts(), |h| {
            tried.lock().unwrap().push(h.clone());
            async move {
                if h == "b" {
                    Ok(h)
                } else {
                    Err(format!("{h} refused"))
                }
            }
        })
        .await;
        assert_eq!(got.unwrap(), "b");
        assert_eq!(*tried.lock().unwrap(), ["a", "b"]);
        let got: Result<String, String> =
            first_connected(hosts(), |h| async move { Err(format!("{h} refused")) }).await;
        assert_eq!(got.unwrap_err(), "c refused");
    }
}
