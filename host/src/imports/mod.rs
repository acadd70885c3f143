//! What the host gives a plugin instance: the per-call state of a `Store`,
//! and one module per host interface (`fetch`, `log`, `env`, `storage`, `objects`, and the part of
//! WASI that is granted: clocks, random, stdout/stderr captured for the log;
//! no sockets, files or host environment variables).

pub mod context;
pub mod env;
pub mod fetch;
pub mod headers;
pub mod log;
pub mod objects;
pub mod storage;
pub mod wasi;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use context::{
    CallContext, Credentials, Installation, InstanceContext, NoSuperAdmin, OnesLink,
    SingleSuperAdmin, SuperAdmins,
};

use crate::bindings;

/// The state of one call's `Store`.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory and instance limits, enforced by the store's limiter.
    pub limits: StoreLimits,
    /// The guest's stdout and stderr, logged after the call.
    pub output: wasi::CapturedOutput,
    /// Who is called, for whom.
    pub call: CallContext,
}

impl HostState {
    /// State for one call with `memory_limit` bytes of linear memory.
    pub fn new(memory_limit: usize, call: CallContext) -> Self {
        let output = wasi::CapturedOutput::new();
        HostState {
            wasi: wasi::context(&output, call.instance.installation.workspace.as_deref()),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            output,
            call,
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

impl bindings::op::plugin::types::Host for HostState {}

/// Adds every host interface to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasi::add_quota_to_linker(linker)?;
    bindings::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    Ok(())
}
