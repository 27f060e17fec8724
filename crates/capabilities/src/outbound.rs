//! Each component's outbound grant: its `allowed_outbound_hosts` with `{{ variable }}`
//! templates resolved once at load into an [`OutboundPolicy`] that every outbound
//! capability (HTTP, service chaining, sockets, databases, brokers) checks before it
//! connects.

use crate::CapabilityError;
use crate::variables::AppVariables;
use wisp_manifest::outbound::{AllowedHost, OutboundPolicy, parse_pattern};

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
