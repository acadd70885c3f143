//! What the host gives a plugin instance: the per-call state of a `Store`,
//! and one module per host interface. WASI is granted only in part (clocks,
//! random, stdout/stderr captured for the log); no sockets, files or host
//! environment variables.

pub mod wasi;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The state of one call's `Store`.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory and instance limits, enforced by the store's limiter.
    pub limits: StoreLimits,
    /// The guest's stdout and stderr, logged after the call.
    pub output: wasi::CapturedOutput,
}

impl HostState {
    /// State for one call with `memory_limit` bytes of linear memory.
    pub fn new(memory_limit: usize) -> Self {
        let output = wasi::CapturedOutput::new();
        HostState {
            wasi: wasi::context(&output),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            output,
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
