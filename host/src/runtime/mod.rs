//! Running plugin components: one [`Runtime`] (engine, linker, epoch ticker,
//! compile cache) per process, one [`Plugin`] (pre-instantiated component)
//! per loaded plugin, and a fresh `Store` for every call.

mod cache;
mod error;
mod plugin;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::CompileCache;
pub use error::{CallError, LoadError, TrapKind};
pub use plugin::{CallOutcome, Lifecycle, LifecycleError, Limits, Plugin};

use crate::imports::HostState;

/// How often the epoch ticker advances: running wasm yields to the async
/// executor this often, so a spinning guest never holds a worker thread.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Bytes of each pooled linear memory kept resident between calls.
const KEEP_RESIDENT: usize = 2 * 1024 * 1024;

/// Default linear memory per call (64 MiB).
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
/// Default wall time per call (10 s).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Settings of the process-wide runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles every load.
    pub cache: Option<CompileCache>,
    /// Instances that may exist at once across all plugins.
    pub max_instances: u32,
    /// Largest linear memory any plugin may be allowed, in bytes.
    pub max_memory: u64,
    /// Longest wall time any plugin may be allowed per call.
    pub max_time: Duration,
    /// Calls of one plugin that may run at once, unless its sandbox
    /// section asks for fewer.
    pub max_concurrency_per_plugin: u32,
    /// How long a call waits for a free slot before it is refused.
    pub queue_wait: Duration,
    /// Most bytes the files of one instance's workspace may hold
    /// ([`crate::imports::wasi::DEFAULT_WORKSPACE_QUOTA`] unless set).
    pub workspace_quota: u64,
    /// Instances that may be made ahead of their calls, across all plugins
    /// (at most one per plugin; 0 makes every instance on its call's path).
    /// They are pooled beside `max_instances`, not counted in it.
    pub ready_instances: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache: None,
            max_instances: 1000,
            max_memory: 4 * 1024 * 1024 * 1024,
            max_time: Duration::from_secs(60),
            max_concurrency_per_plugin: 64,
            queue_wait: Duration::from_secs(2),
            workspace_quota: crate::imports::wasi::DEFAULT_WORKSPACE_QUOTA,
            ready_instances: 64,
        }
    }
}

/// The engine and everything shared by every plugin of the process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    /// One permit per instance that may exist at once in the process.
    slots: Arc<tokio::sync::Semaphore>,
    /// Instances made ahead of their calls now (at most
    /// `config.ready_instances`).
    ready: Arc<AtomicU32>,
}

/// One unit of the runtime's budget of instances made ahead, given back
/// when dropped.
#[derive(Debug)]
pub(crate) struct ReadyUnit(Arc<AtomicU32>);

impl Drop for ReadyUnit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, epoch interruption), the linker
    /// with the host's imports, and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        let mut pool = PoolingAllocationConfig::default();
        // Room for the calls' instances and those made ahead of them.
        let pooled = config.max_instances.saturating_add(config.ready_instances);
        pool.total_component_instances(pooled)
            .total_core_instances(pooled.saturating_mul(4))
            .total_memories(pooled.saturating_mul(2))
            .total_tables(pooled.saturating_mul(4))
            .total_stacks(pooled)
            .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX))
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            // Reset reused memories and tables with memset instead of
            // madvise: no page faults and no TLB shootdowns on the next call.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024)
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(64))
            .max_wasm_stack(512 * 1024);
        let engine = Engine::new(&wasm).map_err(LoadError::engine)?;
        let mut linker = Linker::new(&engine);
        crate::imports::add_to_linker(&mut linker).map_err(LoadError::engine)?;
        start_epoch_ticker(&engine);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                slots: Arc::new(tokio::sync::Semaphore::new(config.max_instances as usize)),
                ready: Arc::default(),
                config,
            }),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The linker holding the host's imports.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    /// The process-wide instance slots.
    pub(crate) fn slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.slots
    }

    /// A unit of the budget of instances made ahead, if any is left.
    pub(crate) fn ready_unit(&self) -> Option<ReadyUnit> {
        let budget = self.inner.config.ready_instances;
        self.inner
            .ready
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < budget).then_some(n + 1)
            })
            .ok()
            .map(|_| ReadyUnit(self.inner.ready.clone()))
    }

    /// Instances made ahead of their calls (or being made), waiting for them.
    pub fn ready_count(&self) -> u32 {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Instances running now, across all plugins.
    pub fn in_flight(&self) -> u64 {
        let free = self.inner.slots.available_permits() as u64;
        u64::from(self.inner.config.max_instances).saturating_sub(free)
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }
}

/// One thread per engine advances its epoch; it ends with the engine.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("op-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(err) = spawned {
        tracing::error!(
            "cannot start the epoch ticker, time limits will not interrupt wasm: {err}"
        );
    }
}
