//! The data every `Store` carries: the WASI context a component was granted, the
//! resource table, its capability grants (key-value, SQLite, variables), and the
//! `wasi:http` context whose outbound side [`OutboundHttp`] checks against the
//! component's `allowed_outbound_hosts`.

use crate::outbound::OutboundHttp;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-instance host state.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http_hooks: OutboundHttp,
    pub(crate) caps: wisp_capabilities::InstanceCapabilities,
    pub(crate) limits: crate::limiter::InstanceLimiter,
    pub(crate) slices: crate::busy::SliceTracker,
}

impl HostState {
    /// Readies a kept instance for a new event: its outbound requests belong to the new
    /// event's chain, and its run of CPU slices starts afresh.
    pub fn set_chain(&mut self, chain: crate::ChainContext) {
        self.http_hooks.chain = chain;
        self.slices.reset();
    }

    /// Whether the guest holds no host resources: true once a well-behaved `handle` has
    /// returned (request, response and body all dropped or finished).
    pub fn holds_no_resources(&self) -> bool {
        self.table.is_empty()
    }

    /// The view capability host implementations work on.
    pub(crate) fn capabilities(&mut self) -> wisp_capabilities::CapabilitiesView<'_> {
        wisp_capabilities::CapabilitiesView {
            table: &mut self.table,
            caps: &mut self.caps,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
