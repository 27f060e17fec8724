//! Selective deployment: an app cut down to some of its components (Spin's
//! `SPIN_COMPONENTS_TO_RETAIN`, `spin up --component-id`), so one image can be split
//! across deployments that each run a part of it.

use crate::outbound::{AllowedHost, HostMatch, INTERNAL_DOMAIN};
use crate::{App, ManifestError};

impl App {
    /// Keeps only the components named in `ids`, and the triggers that run them. Every id
    /// must name a component, and no kept component may chain (`http://<id>.spin.internal`)
    /// to one that is dropped, since those requests could only fail.
    pub fn retain_components(&mut self, ids: &[&str]) -> Result<(), ManifestError> {
        let error = |message: String, fix: &str| {
            ManifestError::new(&self.manifest_path, message).fix(fix.to_owned())
        };
        if ids.is_empty() {
            return Err(error(
                "no component to retain".into(),
                "name at least one component id",
            ));
        }
        if let Some(missing) = ids.iter().find(|id| self.component(id).is_none()) {
            let known: Vec<&str> = self.components.iter().map(|c| c.id.as_str()).collect();
            return Err(error(
                format!("there is no component `{missing}` to retain"),
                &format!("the app's components are: {}", known.join(", ")),
            ));
        }
        for c in self
            .components
            .iter()
            .filter(|c| ids.contains(&c.id.as_str()))
        {
            for host in &c.allowed_outbound_hosts {
                if let Some(target) = chained_component(host)
                    && target != "*"
                    && !ids.contains(&target)
                {
                    return Err(error(
                        format!(
                            "component `{}` chains to `{target}.{INTERNAL_DOMAIN}`, which is not \
                             retained",
                            c.id
                        ),
                        "retain that component too",
                    ));
                }
            }
        }
        self.components.retain(|c| ids.contains(&c.id.as_str()));
        self.triggers
            .retain(|t| ids.contains(&t.component.as_str()));
        Ok(())
    }
}

/// The component an `allowed_outbound_hosts` entry reaches by service chaining (`*` for
/// all of them), if it is such an entry.
fn chained_component(host: &AllowedHost) -> Option<&str> {
    let AllowedHost::Pattern(pattern) = host else {
        return None;
    };
    match &pattern.host {
        HostMatch::Exact(name) => name
            .strip_suffix(INTERNAL_DOMAIN)
            .and_then(|rest| rest.strip_suffix('.')),
        HostMatch::Subdomains(domain) if domain == INTERNAL_DOMAIN => Some("*"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;
    use std::path::Path;

    const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "split"
[[trigger.http]]
route = "/front"
component = "front"
[[trigger.http]]
route = "/back"
component = "back"
[[trigger.http]]
route = "/other"
component = "other"
[component.front]
source = "front.wasm"
allowed_outbound_hosts = ["http://back.spin.internal"]
[component.back]
source = "back.wasm"
[component.other]
source = "other.wasm"
"#;

    fn app() -> crate::App {
        parse(APP, Path::new("/app/spin.toml")).expect("the test manifest loads")
    }

    #[test]
    fn keeps_the_named_components_and_their_triggers() {
        let mut app = app();
        app.retain_components(&["back", "other"]).unwrap();
        let ids: Vec<&str> = app.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["back", "other"]);
        let routed: Vec<&str> = app.triggers.iter().map(|t| t.component.as_str()).collect();
        assert_eq!(routed, ["back", "other"]);
    }

    #[test]
    fn refuses_an_unknown_id_and_a_broken_chain() {
        let unknown = app().retain_components(&["nope"]).unwrap_err();
        assert!(
            unknown.to_string().contains("no component `nope`"),
            "{unknown}"
        );
        assert!(
            unknown.to_string().contains("back, front, other"),
            "{unknown}"
        );
        let chain = app().retain_components(&["front"]).unwrap_err();
        assert!(
            chain.to_string().contains("chains to `back.spin.internal`"),
            "{chain}"
        );
        let mut app = app();
        app.retain_components(&["front", "back"]).unwrap();
        assert_eq!(app.components.len(), 2);
    }
}
