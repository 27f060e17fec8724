//! Each component's outbound grant: its `allowed_outbound_hosts` with `{{ variable }}`
//! templates resolved once at load into an [`OutboundPolicy`] that every outbound
//! capability (HTTP, service chaining, sockets, databases, brokers) checks before it
//! connects.

use crate::CapabilityError;
use crate::variables::AppVariables;
use std::net::IpAddr;
use wisp_manifest::outbound::{AllowedHost, OutboundPolicy, OutboundTarget, parse_pattern};

/// The target `url` names if `policy` lets a database or broker client connect there:
/// its scheme is one of `schemes`, an entry allows it, and the addresses its host
/// resolves to are not link-local ones no entry names (the clients resolve the name
/// again themselves; this refuses the metadata address a wildcard would reach).
pub(crate) async fn allowed_target(
    policy: &OutboundPolicy,
    url: &str,
    schemes: &[&str],
) -> Option<OutboundTarget> {
    let target = policy.allowed_url(url, schemes)?;
    let addresses: Vec<IpAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        // A name that does not resolve fails in the client, with its own error.
        Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .unwrap_or_default(),
    };
    if addresses
        .iter()
        .all(|ip| policy.allows_resolved(&target.host, *ip))
    {
        Some(target)
    } else {
        tracing::debug!(host = %target.host, "outbound connection to a link-local address denied");
        None
    }
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
                let rendered = variables
                    .render(template)
                    .map_err(|missing| bad(format!("variable `{missing}` has no value")))?;
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
