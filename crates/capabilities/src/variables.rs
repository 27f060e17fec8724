//! Application variables: resolved once at load from the providers (highest first:
//! `WISP_VARIABLE_<NAME>`, `SPIN_VARIABLE_<NAME>`, then the manifest default), then
//! rendered into each component's `variables` templates. A component sees only its own
//! keys. Values are never logged: errors name variables, never their values.

use crate::bindings::fermyon::spin::variables as spin_v2;
use crate::bindings::spin::variables::variables as spin_v3;
use crate::bindings::wasi::config::store as wasi_config;
use crate::capability::{Capability, LoadContext};
use crate::{CapabilitiesData, CapabilitiesView, CapabilityError, LinkerKind, ViewGetter};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmtime::component::Linker;
use wisp_manifest::App;
use wisp_manifest::Component;
use wisp_manifest::template::{is_valid_variable_name, render};

/// A variable problem found at load.
#[derive(Debug, thiserror::Error)]
pub enum VariablesError {
    /// A `required` variable no provider sets.
    #[error(
        "variable `{name}` is required but not set: export SPIN_VARIABLE_{upper} (or WISP_VARIABLE_{upper}) \
         or give it a `default` in [variables]"
    )]
    Required {
        /// The variable.
        name: String,
        /// Its environment form.
        upper: String,
    },
}

/// Every component's resolved variables.
pub struct AppVariables {
    /// App-level values, for templates outside a component's `variables`
    /// (e.g. `allowed_outbound_hosts`).
    app_values: HashMap<String, String>,
    components: HashMap<String, Arc<ComponentVariables>>,
}

/// One component's variables: each key's value, or why it has none.
#[derive(Default)]
pub struct ComponentVariables {
    values: BTreeMap<String, Result<String, String>>,
}

impl AppVariables {
    /// Resolves the app's variables from `env` (the process environment) and defaults.
    pub fn resolve(app: &App, env: &HashMap<String, String>) -> Result<Self, VariablesError> {
        let mut app_values: HashMap<String, String> = HashMap::new();
        for (name, var) in &app.variables {
            let upper = name.to_ascii_uppercase();
            let provided = env
                .get(&format!("WISP_VARIABLE_{upper}"))
                .or_else(|| env.get(&format!("SPIN_VARIABLE_{upper}")))
                .cloned()
                .or_else(|| var.default.clone());
            match provided {
                Some(v) => {
                    app_values.insert(name.clone(), v);
                }
                None if var.required => {
                    return Err(VariablesError::Required {
                        name: name.clone(),
                        upper,
                    });
                }
                None => {}
            }
        }
        let components = app
            .components
            .iter()
            .map(|c| {
                let values = c
                    .variables
                    .iter()
                    .map(|(key, template)| {
                        let value = render(template, |n| app_values.get(n).cloned())
                            .map_err(|e| e.to_string());
                        (key.clone(), value)
                    })
                    .collect();
                (c.id.clone(), Arc::new(ComponentVariables { values }))
            })
            .collect();
        Ok(Self {
            app_values,
            components,
        })
    }

    /// Renders `template` with the app's variables; the error names the first variable
    /// without a value.
    pub fn render(&self, template: &str) -> Result<String, wisp_manifest::template::RenderError> {
        render(template, |n| self.app_values.get(n).cloned())
    }

    /// The variables of component `id`.
    pub fn for_component(&self, id: &str) -> Arc<ComponentVariables> {
        self.components.get(id).cloned().unwrap_or_default()
    }
}

impl Capability for Arc<AppVariables> {
    type Grant = Arc<ComponentVariables>;
    type Instance = ();

    async fn load(ctx: &LoadContext<'_>) -> Result<Self, CapabilityError> {
        Ok(ctx.variables.clone())
    }

    fn grant(&self, component: &Component) -> Self::Grant {
        self.for_component(&component.id)
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        get: ViewGetter<T>,
        kind: LinkerKind,
    ) -> wasmtime::Result<()> {
        spin_v2::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        wasi_config::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        if kind == LinkerKind::Concurrent {
            spin_v3::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        }
        Ok(())
    }
}

impl ComponentVariables {
    fn get(&self, name: &str) -> Result<String, spin_v2::Error> {
        if !is_valid_variable_name(name) {
            return Err(spin_v2::Error::InvalidName(format!(
                "`{name}` is not a valid variable name (lowercase letters, digits and single `_`)"
            )));
        }
        match self.values.get(name) {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(why)) => Err(spin_v2::Error::Undefined(why.clone())),
            None => Err(spin_v2::Error::Undefined(format!(
                "no variable `{name}` for this component: declare it under [component.<id>.variables]"
            ))),
        }
    }
}

impl spin_v2::Host for CapabilitiesView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_v2::Error>> {
        Ok(self.caps.grants.variables.get(&name))
    }
}

impl wasi_config::Host for CapabilitiesView<'_> {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        Ok(match self.caps.grants.variables.get(&key) {
            Ok(v) => Ok(Some(v)),
            Err(spin_v2::Error::Undefined(why))
                if self.caps.grants.variables.values.contains_key(&key) =>
            {
                Err(wasi_config::Error::Upstream(why))
            }
            Err(_) => Ok(None),
        })
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        Ok(Ok(self
            .caps
            .grants
            .variables
            .values
            .iter()
            .filter_map(|(k, v)| v.as_ref().ok().map(|v| (k.clone(), v.clone())))
            .collect()))
    }
}

impl From<spin_v2::Error> for spin_v3::Error {
    fn from(e: spin_v2::Error) -> Self {
        match e {
            spin_v2::Error::InvalidName(m) => Self::InvalidName(m),
            spin_v2::Error::Undefined(m) => Self::Undefined(m),
            spin_v2::Error::Provider(m) => Self::Provider(m),
            spin_v2::Error::Other(m) => Self::Other(m),
        }
    }
}

impl spin_v3::Host for CapabilitiesView<'_> {}

/// `spin:variables/variables@3.0.0`: an `async func` on the WIT side, answered at once
/// from the same resolved values as version 2.
impl<U> spin_v3::HostWithStore<U> for crate::CapabilitiesData {
    async fn get(
        store: &wasmtime::component::Accessor<U, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, spin_v3::Error>> {
        Ok(store
            .with(|mut view| view.get().caps.grants.variables.get(&name))
            .map_err(Into::into))
    }
}
