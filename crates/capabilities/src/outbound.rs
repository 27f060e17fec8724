//! Each component's outbound grant: its `allowed_outbound_hosts` with `{{ variable }}`
//! templates resolved once at load into an [`OutboundPolicy`] that every outbound
//! capability (HTTP, service chaining, sockets, databases, brokers) checks before it
//! connects.

use crate::CapabilityError;
use crate::variables::AppVariables;
use std::net::IpAddr;
use wisp_manifest::outbound::{AllowedHost, Denial, OutboundPolicy, OutboundTarget, parse_pattern};

/// Why a database or broker client may not connect where a guest asked.
#[derive(Debug)]
pub(crate) enum OutboundDenied {
    /// No `allowed_outbound_hosts` entry allows the address (or its scheme is wrong), or
    /// it resolves to a link-local address no entry names.
    NotAllowed,
    /// It is allowed, but resolves into a network the runtime config blocks.
    Blocked(Denial),
}

/// The target `url` names if `policy` lets a database or broker client connect there:
/// its scheme is one of `schemes`, an entry allows it, and no address its host resolves
/// to is refused (a blocked network, or a link-local address no entry names). This is
/// the one check every such client makes; HTTP and sockets ask the same policy for the
/// addresses they connect to. (The clients resolve the name again themselves.)
pub(crate) async fn allowed_target(
    policy: &OutboundPolicy,
    url: &str,
    schemes: &[&str],
) -> Result<OutboundTarget, OutboundDenied> {
    let target = policy
        .allowed_url(url, schemes)
        .ok_or(OutboundDenied::NotAllowed)?;
    let addresses: Vec<IpAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        // A name that does not resolve fails in the client, with its own error.
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .unwrap_or_default(),
    };
    for ip in addresses {
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
    Ok(target)
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
