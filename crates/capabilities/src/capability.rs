//! The one shape every capability has, and the macro that assembles the capabilities
//! into the app, component and instance states the engine holds.
//!
//! A capability (key-value, SQLite, variables, outbound Redis, …) is a type that
//! implements [`Capability`]: it reads its part of the configuration and builds its
//! app-wide state once at load (validating what components ask of it), says what each
//! component is granted, names the per-instance state it needs, and adds its interfaces
//! to a linker for each engine kind. `capabilities!` in `lib.rs` lists them, one line
//! each, and generates [`crate::AppCapabilities`], [`crate::ComponentGrants`] and
//! [`crate::InstanceCapabilities`] from the list, so nothing outside the capability's
//! own module names it. Unlike Spin's factors there is no generic machinery: the list is
//! fixed at compile time and each state is a plain field.

use crate::{CapabilitiesView, CapabilityError, CapabilityOptions};
use std::future::Future;
use std::sync::Arc;
use wasmtime::component::Linker;
use wisp_manifest::{App, Component};

/// Which engine a linker is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkerKind {
    /// The engine with component-model-async: every interface version, `async func`s
    /// included.
    Concurrent,
    /// The engine without it (WASI 0.2): only the functions such an engine can call.
    Sync,
}

/// What a capability is given to build its app-wide state.
pub(crate) struct LoadContext<'a> {
    /// The app.
    pub app: &'a App,
    /// The state directory, runtime config and variable sources.
    pub options: &'a CapabilityOptions,
    /// The app's variables, resolved first: other capabilities render templates with
    /// them (`allowed_outbound_hosts`, trigger addresses).
    pub variables: &'a Arc<crate::variables::AppVariables>,
}

/// A function giving host implementations their view of one instance.
pub type ViewGetter<T> = fn(&mut T) -> CapabilitiesView<'_>;

/// One capability: its app-wide state is `Self`.
pub(crate) trait Capability: Sized + Send + Sync + 'static {
    /// What one component may use of it; cloned into every instance's grants.
    type Grant: Clone + Default + Send + Sync + 'static;
    /// Its per-instance state (connection counts, say); `()` for most.
    type Instance: Default + Send + 'static;

    /// Reads this capability's configuration and builds its app-wide state, refusing a
    /// component that asks for something nothing serves.
    fn load(ctx: &LoadContext<'_>) -> impl Future<Output = Result<Self, CapabilityError>> + Send;

    /// What `component` is granted.
    fn grant(&self, component: &Component) -> Self::Grant;

    /// Adds this capability's interfaces (every version the engine kind can call) to
    /// `linker`. Settings that other capabilities or the engine use (TLS, the outbound
    /// policy) have none.
    fn add_to_linker<T: Send + 'static>(
        _linker: &mut Linker<T>,
        _get: ViewGetter<T>,
        _kind: LinkerKind,
    ) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// Generates the app, component and instance states from the list of capabilities:
/// `name: AppStateType` per line, each type implementing [`Capability`]. Capabilities
/// load in list order.
macro_rules! capabilities {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        /// App-wide capability state: every store, database, pool and resolved setting,
        /// built once when the app loads.
        pub struct AppCapabilities {
            $( $(#[$doc])* pub(crate) $name: $ty, )*
        }

        /// What one component is granted; shared by all its instances.
        // A capability whose grant is `()` (settings used elsewhere) has a field no
        // host function reads.
        #[allow(dead_code)]
        #[derive(Clone, Default)]
        pub struct ComponentGrants {
            $( $(#[$doc])* pub(crate) $name: <$ty as $crate::capability::Capability>::Grant, )*
        }

        /// Per-instance capability state: a handle on the component's grants, and what
        /// each capability keeps per instance.
        // Most capabilities keep nothing per instance: their `()` fields are never read.
        #[allow(dead_code)]
        #[derive(Default)]
        pub struct InstanceCapabilities {
            pub(crate) grants: std::sync::Arc<ComponentGrants>,
            $( $(#[$doc])* pub(crate) $name: <$ty as $crate::capability::Capability>::Instance, )*
        }

        impl InstanceCapabilities {
            /// State for one instance of a component with `grants`.
            pub fn new(grants: std::sync::Arc<ComponentGrants>) -> Self {
                Self {
                    grants,
                    $( $name: Default::default(), )*
                }
            }
        }

        impl AppCapabilities {
            /// Builds every capability's app state, in list order.
            async fn load_each(
                ctx: &$crate::capability::LoadContext<'_>,
            ) -> Result<Self, CapabilityError> {
                Ok(Self {
                    $( $name: <$ty as $crate::capability::Capability>::load(ctx).await?, )*
                })
            }

            /// What `component` may use: only its own labels, variables and hosts.
            pub fn grants_for(&self, component: &wisp_manifest::Component) -> ComponentGrants {
                use $crate::capability::Capability as _;
                ComponentGrants {
                    $( $name: self.$name.grant(component), )*
                }
            }
        }

        /// Adds every capability's interfaces for an engine of `kind` to `linker`.
        pub fn add_capabilities_to_linker<T: Send + 'static>(
            linker: &mut wasmtime::component::Linker<T>,
            get: $crate::capability::ViewGetter<T>,
            kind: $crate::capability::LinkerKind,
        ) -> wasmtime::Result<()> {
            $( <$ty as $crate::capability::Capability>::add_to_linker(linker, get, kind)?; )*
            Ok(())
        }
    };
}
pub(crate) use capabilities;

/// Implements [`Capability`] for a state that needs no configuration and is the same for
/// every component (a connection pool shared by the app, say): it is built empty, each
/// grant is a clone of it, and `$body` adds its interfaces to `$linker`.
macro_rules! shared_capability {
    ($state:ty, instance: $instance:ty, |$linker:ident, $get:ident, $kind:ident| $body:block) => {
        impl $crate::capability::Capability for $state {
            type Grant = Self;
            type Instance = $instance;

            async fn load(
                _: &$crate::capability::LoadContext<'_>,
            ) -> Result<Self, $crate::CapabilityError> {
                Ok(Self::default())
            }

            fn grant(&self, _: &wisp_manifest::Component) -> Self {
                self.clone()
            }

            fn add_to_linker<T: Send + 'static>(
                $linker: &mut wasmtime::component::Linker<T>,
                $get: $crate::ViewGetter<T>,
                $kind: $crate::LinkerKind,
            ) -> wasmtime::Result<()> $body
        }
    };
}
pub(crate) use shared_capability;
