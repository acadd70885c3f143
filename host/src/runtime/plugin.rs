//! A loaded plugin: its manifest, its pre-instantiated component, and the
//! call path that gives every call a fresh, limited `Store`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Store, Trap};

use super::error::{CallError, LoadError, TrapKind};
use super::{DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, Runtime};
use crate::bindings::{PluginError, PluginPre, Request, Response};
use crate::imports::{CallContext, HostState, Installation, InstanceContext};
use crate::manifest::{Diagnostic, Manifest, ManifestError, did_you_mean};

/// What the guest answered: its response, or an error it reported on purpose.
pub type CallOutcome = Result<Response, PluginError>;

/// The limits of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes.
    pub memory: u64,
    /// Wall time, host calls included.
    pub time: Duration,
}

impl Limits {
    /// The plugin's own limits (sandbox section) or the defaults, capped by
    /// the runtime.
    pub fn for_manifest(manifest: &Manifest, runtime: &Runtime) -> Self {
        Limits {
            memory: manifest
                .memory_limit()
                .unwrap_or(DEFAULT_MEMORY_LIMIT)
                .min(runtime.config().max_memory),
            time: manifest
                .time_limit()
                .unwrap_or(DEFAULT_TIME_LIMIT)
                .min(runtime.config().max_time),
        }
    }
}

/// A plugin ready to serve calls.
pub struct Plugin {
    manifest: Arc<Manifest>,
    instance: Arc<InstanceContext>,
    /// One permit per call of this plugin that may run at once.
    slots: Arc<tokio::sync::Semaphore>,
    pre: PluginPre<HostState>,
    functions: Vec<String>,
    limits: Limits,
    runtime: Runtime,
    /// The instance made ahead for the next call (see [`Ready`]).
    ready: Arc<ReadySlot>,
    /// Whether instances may be made ahead: not for a component with a
    /// start function, whose code would run before its call is known.
    makes_ahead: bool,
}

/// How long an instance made ahead waits for its call before it is dropped
/// and its unit of the runtime's budget goes to a busier plugin.
const READY_IDLE: Duration = Duration::from_secs(30);

/// An instance made ahead of its call, off the request path: none of its
/// code has run, so it is as fresh as one made for the call. It holds one
/// unit of the runtime's ready budget, given back when it is taken or
/// dropped.
struct Ready {
    /// Which instance of the slot this is (for the idle check).
    id: u64,
    store: Store<HostState>,
    plugin: crate::bindings::Plugin,
    _budget: super::ReadyUnit,
    /// Dropped when the instance is taken (or dropped): ends the wait of
    /// the task that would drop it once idle.
    _taken: tokio::sync::oneshot::Sender<()>,
}

/// The one ready instance of a plugin, and whether one is being made.
#[derive(Default)]
struct ReadySlot {
    instance: std::sync::Mutex<Option<Ready>>,
    making: std::sync::atomic::AtomicBool,
    made: std::sync::atomic::AtomicU64,
}

impl ReadySlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Ready>> {
        self.instance.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Clears the slot's `making` flag when the making ends, however it ends
/// (the task may also be dropped with its runtime).
struct Making(std::sync::Weak<ReadySlot>);

impl Drop for Making {
    fn drop(&mut self) {
        if let Some(slot) = self.0.upgrade() {
            slot.making
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

/// What makes one ready instance.
struct MakeReady {
    making: Making,
    runtime: Runtime,
    limits: Limits,
    pre: PluginPre<HostState>,
    instance: Arc<InstanceContext>,
    budget: super::ReadyUnit,
}

impl MakeReady {
    async fn run(self) {
        let MakeReady {
            making,
            runtime,
            limits,
            pre,
            instance,
            budget,
        } = self;
        // Nothing is known of the call yet; the whole host state is made
        // again, with the call's context, when the instance is taken.
        let placeholder = CallContext::new(instance, "");
        let mut store = new_store(&runtime, limits, placeholder);
        let made = tokio::time::timeout(limits.time, pre.instantiate_async(&mut store)).await;
        let plugin = match made {
            Ok(Ok(plugin)) => plugin,
            // The call that comes next makes its own, and reports the
            // failure as its own.
            Ok(Err(err)) => {
                tracing::debug!("an instance could not be made ahead: {err:#}");
                return;
            }
            Err(_) => {
                tracing::debug!("an instance could not be made ahead in time");
                return;
            }
        };
        // The plugin may have been unloaded meanwhile.
        let Some(slot) = making.0.upgrade() else {
            return;
        };
        let id = slot.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (taken_tx, taken) = tokio::sync::oneshot::channel();
        let ready = Ready {
            id,
            store,
            plugin,
            _budget: budget,
            _taken: taken_tx,
        };
        let unused = {
            let mut held = slot.lock();
            // Another making may have filled it first: keep that one.
            if held.is_none() {
                held.replace(ready)
            } else {
                Some(ready)
            }
        };
        drop(unused);
        drop(making);
        // Unused for a while: drop it, and its unit goes back to the budget.
        // The wait ends as soon as the instance is taken.
        let weak = Arc::downgrade(&slot);
        drop(slot);
        if tokio::time::timeout(READY_IDLE, taken).await.is_ok() {
            return;
        }
        let Some(slot) = weak.upgrade() else {
            return;
        };
        let idle = {
            let mut held = slot.lock();
            match &*held {
                Some(ready) if ready.id == id => held.take(),
                _ => None,
            }
        };
        drop(idle);
    }
}

/// Whether `wasm` holds a start function (of a core module or of a
/// component), which runs while the instance is made.
fn has_start_function(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(|payload| {
        matches!(
            payload,
            Ok(wasmparser::Payload::StartSection { .. }
                | wasmparser::Payload::ComponentStartSection { .. })
        )
    })
}

/// A fresh `Store` for a call within `limits`.
fn new_store(runtime: &Runtime, limits: Limits, call: CallContext) -> Store<HostState> {
    let memory = usize::try_from(limits.memory).unwrap_or(usize::MAX);
    let mut store = Store::new(runtime.engine(), HostState::new(memory, call));
    store.limiter(|state| &mut state.limits);
    // Running wasm yields to the executor at every epoch tick, so that
    // a guest that spins never holds a worker thread: the timer around
    // the call (the time limit) ends it, and other calls go on meanwhile.
    // The yield is tokio's own, which lets the scheduler poll its I/O
    // and timer driver before the guest runs again: a plain self-waking
    // yield kept the current-thread scheduler from seeing new
    // connections and expired timers for as long as a guest spun.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| {
        Ok(wasmtime::UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("app_id", &self.app_id())
            .field("functions", &self.functions)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads the component at `wasm` for `manifest`. Errors about the manifest
    /// name it as `manifest_file`.
    pub async fn load(
        runtime: &Runtime,
        manifest: Manifest,
        manifest_file: &str,
        wasm: &Path,
    ) -> Result<Plugin, LoadError> {
        Self::load_installed(
            runtime,
            manifest,
            manifest_file,
            wasm,
            Installation::default(),
        )
        .await
    }

    /// Loads the component at `wasm` for an installation (team, ONES
    /// server, credentials, config values).
    pub async fn load_installed(
        runtime: &Runtime,
        manifest: Manifest,
        manifest_file: &str,
        wasm: &Path,
        installation: Installation,
    ) -> Result<Plugin, LoadError> {
        let shown = wasm.display().to_string();
        let bytes = std::fs::read(wasm).map_err(|source| LoadError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_bytes(
            runtime,
            manifest,
            manifest_file,
            &bytes,
            &shown,
            installation,
        )
        .await
    }

    /// Loads a component from memory; `shown` names it in errors.
    pub async fn from_bytes(
        runtime: &Runtime,
        manifest: Manifest,
        manifest_file: &str,
        wasm: &[u8],
        shown: &str,
        installation: Installation,
    ) -> Result<Plugin, LoadError> {
        let component = compile(runtime, wasm, shown)?;
        check_imports(runtime, &component, shown)?;
        let instance_pre = runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|err| LoadError::Link {
                path: shown.to_string(),
                reason: format!("{err:#}"),
            })?;
        let pre = PluginPre::new(instance_pre).map_err(|err| LoadError::Link {
            path: shown.to_string(),
            reason: format!("it does not export the `op:plugin/handler` interface: {err:#}"),
        })?;
        let limits = Limits::for_manifest(&manifest, runtime);
        let instance = Arc::new(InstanceContext::new(
            &manifest,
            installation,
            runtime.config().workspace_quota,
        ));
        let concurrency = manifest
            .sandbox
            .as_ref()
            .and_then(|s| s.concurrency.as_ref())
            .map_or(u64::MAX, |c| c.value)
            .min(u64::from(runtime.config().max_concurrency_per_plugin));
        let mut plugin = Plugin {
            manifest: Arc::new(manifest),
            instance,
            slots: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(concurrency).unwrap_or(1).max(1),
            )),
            pre,
            functions: Vec::new(),
            limits,
            runtime: runtime.clone(),
            ready: Arc::default(),
            makes_ahead: !has_start_function(wasm),
        };
        plugin.functions = plugin
            .probe_functions()
            .await
            .map_err(|err| LoadError::Probe {
                path: shown.to_string(),
                reason: err.to_string(),
            })?;
        check_functions(&plugin.manifest, &plugin.functions, manifest_file)?;
        Ok(plugin)
    }

    /// Whether an instance is made ahead, waiting for the next call. One
    /// is made, off the request path, once the plugin has been called
    /// (within the runtime's [`super::RuntimeConfig::ready_instances`]).
    pub fn has_ready_instance(&self) -> bool {
        self.ready.lock().is_some()
    }

    /// The manifest.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// The plugin's app_id.
    pub fn app_id(&self) -> &str {
        self.manifest.app_id()
    }

    /// The names of the functions the component exports.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }

    /// Whether the component exports `name`.
    pub fn has_function(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f == name)
    }

    /// The limits of each call.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Where and how the plugin is installed.
    pub fn instance(&self) -> &Arc<InstanceContext> {
        &self.instance
    }

    fn new_store(&self, call: CallContext) -> Store<HostState> {
        new_store(&self.runtime, self.limits, call)
    }

    /// Makes the next call's instance in a task of its own, unless one is
    /// ready or being made, or the runtime's ready budget is spent. The
    /// task runs when this call's task waits (for ONES, or for the client's
    /// next request once it has answered), or on another worker thread.
    fn make_ready(&self) {
        use std::sync::atomic::Ordering;
        if !self.makes_ahead || self.ready.making.swap(true, Ordering::AcqRel) {
            return;
        }
        let making = Making(Arc::downgrade(&self.ready));
        if self.ready.lock().is_some() {
            return;
        }
        let Some(budget) = self.runtime.ready_unit() else {
            return;
        };
        tokio::spawn(
            MakeReady {
                making,
                runtime: self.runtime.clone(),
                limits: self.limits,
                pre: self.pre.clone(),
                instance: self.instance.clone(),
                budget,
            }
            .run(),
        );
    }

    async fn probe_functions(&self) -> Result<Vec<String>, CallError> {
        let mut store = self.new_store(CallContext::new(self.instance.clone(), "functions"));
        let function = "functions";
        let limit = self.limits.time;
        let run = async {
            let instance = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|err| instantiate_error(function, err))?;
            instance
                .op_plugin_handler()
                .call_functions(&mut store)
                .await
                .map_err(|err| trap_error(function, err, String::new(), limit))
        };
        match tokio::time::timeout(limit, run).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout {
                function: function.to_string(),
                limit,
            }),
        }
    }

    /// Runs `function` with `request` in a fresh instance, within the limits.
    /// The instance for the plugin's next call is then made ahead (see
    /// [`Plugin::has_ready_instance`]).
    pub async fn call(&self, function: &str, request: &Request) -> Result<CallOutcome, CallError> {
        let call = CallContext::serving(self.instance.clone(), function, request);
        self.call_in(call, function, request, true).await
    }

    /// Runs the function of the timer task `ability` with `request` (which
    /// says which tick it is), as [`Plugin::call`] does; no user calls it,
    /// and its log lines carry the ability's id.
    pub async fn call_timer(
        &self,
        ability: &str,
        function: &str,
        request: &Request,
    ) -> Result<CallOutcome, CallError> {
        let mut call = CallContext::new(self.instance.clone(), function);
        call.ability = Some(ability.to_string());
        self.call_in(call, function, request, false).await
    }

    /// One call of `function`, which `call` describes; `ahead`: whether the
    /// next call's instance is made ahead (for requests, not for timer
    /// ticks and lifecycle hooks, which come seldom).
    async fn call_in(
        &self,
        call: CallContext,
        function: &str,
        request: &Request,
        ahead: bool,
    ) -> Result<CallOutcome, CallError> {
        // Bounded waiting: first for a slot of this plugin, then of the process.
        let wait = self.runtime.config().queue_wait;
        let started = std::time::Instant::now();
        let busy = || CallError::Busy {
            function: function.to_string(),
            waited: wait,
        };
        let _plugin_slot = acquire(&self.slots, wait).await.ok_or_else(busy)?;
        let _process_slot = acquire(self.runtime.slots(), wait.saturating_sub(started.elapsed()))
            .await
            .ok_or_else(busy)?;
        // A ready instance gives its unit of the budget back as it is
        // taken: it is now this call's, under the process slot above.
        let ready = self
            .ready
            .lock()
            .take()
            .map(|ready| (ready.store, ready.plugin));
        if ahead {
            self.make_ready();
        }
        let limit = self.limits.time;
        let (store, result) = match ready {
            Some((mut store, plugin)) => {
                // The host state of a store made for this call: its WASI
                // context (the monotonic clock starts now), its output
                // capture, and the call's own context.
                let memory = usize::try_from(self.limits.memory).unwrap_or(usize::MAX);
                *store.data_mut() = HostState::new(memory, call);
                store.set_epoch_deadline(1);
                let run = plugin
                    .op_plugin_handler()
                    .call_call(&mut store, function, request);
                let result = tokio::time::timeout(limit, run)
                    .await
                    .map(|done| done.map_err(Ok));
                (store, result)
            }
            None => {
                let mut store = self.new_store(call);
                let run = async {
                    let instance = self
                        .pre
                        .instantiate_async(&mut store)
                        .await
                        .map_err(|err| Err(instantiate_error(function, err)))?;
                    instance
                        .op_plugin_handler()
                        .call_call(&mut store, function, request)
                        .await
                        .map_err(Ok)
                };
                let result = tokio::time::timeout(limit, run).await;
                (store, result)
            }
        };
        let output = &store.data().output;
        output.log(&store.data().call);
        match result {
            Err(_) => Err(CallError::Timeout {
                function: function.to_string(),
                limit,
            }),
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(Err(call_error))) => Err(call_error),
            Ok(Err(Ok(trap))) => Err(trap_error(function, trap, output.stderr_text(), limit)),
        }
    }
}

/// An event in the life of an installation, whose hook name depends on
/// the plugin's level: `Install` or `OrgInstall`, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Installed (`Install`, `OrgInstall`).
    Install,
    /// Enabled (`Enable`, `OrgEnable`).
    Enable,
    /// Disabled (`Disable`, `OrgDisable`).
    Disable,
    /// Uninstalled (`UnInstall`, `OrgUnInstall`).
    UnInstall,
}

impl Lifecycle {
    /// The exported function that handles this event for a team-level
    /// (`org: false`) or organization-level plugin.
    pub fn hook(self, org: bool) -> &'static str {
        match (self, org) {
            (Lifecycle::Install, false) => "Install",
            (Lifecycle::Install, true) => "OrgInstall",
            (Lifecycle::Enable, false) => "Enable",
            (Lifecycle::Enable, true) => "OrgEnable",
            (Lifecycle::Disable, false) => "Disable",
            (Lifecycle::Disable, true) => "OrgDisable",
            (Lifecycle::UnInstall, false) => "UnInstall",
            (Lifecycle::UnInstall, true) => "OrgUnInstall",
        }
    }
}

/// A lifecycle hook that failed.
#[derive(Debug, thiserror::Error)]
#[error("the `{hook}` hook of plugin `{plugin}` failed: {reason}")]
pub struct LifecycleError {
    /// The plugin.
    pub plugin: String,
    /// The hook (`Install`, `Enable`, ...).
    pub hook: String,
    /// Why.
    pub reason: String,
}

impl Plugin {
    /// Runs the lifecycle hook `name` (`Install`, `Enable`, `Start`, `Stop`,
    /// `OrgInstall`, ...) if the plugin exports it; returns whether it ran.
    /// A hook that answers an error, traps or times out fails.
    pub async fn lifecycle(&self, name: &str) -> Result<bool, LifecycleError> {
        if !self.has_function(name) {
            return Ok(false);
        }
        let request = Request {
            method: "POST".into(),
            url: String::new(),
            params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            upstream: None,
        };
        let fail = |reason: String| LifecycleError {
            plugin: self.app_id().to_string(),
            hook: name.to_string(),
            reason,
        };
        let call = CallContext::serving(self.instance.clone(), name, &request);
        match self.call_in(call, name, &request, false).await {
            Ok(Ok(answer)) if (200..300).contains(&answer.status.unwrap_or(200)) => Ok(true),
            Ok(Ok(answer)) => Err(fail(format!(
                "it answered status {}",
                answer.status.unwrap_or(200)
            ))),
            Ok(Err(err)) => Err(fail(format!("{} {}", err.status, err.reason))),
            Err(err) => {
                err.log(self.app_id());
                Err(fail(err.summary()))
            }
        }
    }
}

/// Interfaces a plugin may import: the `op:plugin` host interfaces and the
/// granted part of WASI. Sockets, HTTP and anything else are refused.
pub const GRANTED_IMPORTS: [&str; 6] = [
    "op:plugin/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
];

/// Refuses a component that imports an interface the host does not grant,
/// naming it.
fn check_imports(runtime: &Runtime, component: &Component, shown: &str) -> Result<(), LoadError> {
    let ty = component.component_type();
    let refused: Vec<String> = ty
        .imports(runtime.engine())
        .map(|(name, _)| name.to_string())
        .filter(|name| {
            !GRANTED_IMPORTS
                .iter()
                .any(|granted| name.starts_with(granted))
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(LoadError::Link {
        path: shown.to_string(),
        reason: format!(
            "it imports {}, which the host does not grant (plugins get op:plugin, and WASI io, clocks, random, cli and filesystem)",
            refused
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// A permit of `slots`, waiting at most `wait`; no timer is set when one
/// is free at once (the common case).
async fn acquire(
    slots: &tokio::sync::Semaphore,
    wait: Duration,
) -> Option<tokio::sync::SemaphorePermit<'_>> {
    if let Ok(permit) = slots.try_acquire() {
        return Some(permit);
    }
    tokio::time::timeout(wait, slots.acquire()).await.ok()?.ok()
}

fn compile(runtime: &Runtime, wasm: &[u8], shown: &str) -> Result<Component, LoadError> {
    let compiled = match &runtime.config().cache {
        Some(cache) => cache.load(runtime.engine(), wasm).map(|(component, hit)| {
            tracing::debug!(component = shown, cache_hit = hit, "compiled");
            component
        }),
        None => Component::new(runtime.engine(), wasm),
    };
    compiled.map_err(|err| LoadError::Compile {
        path: shown.to_string(),
        reason: format!("{err:#}"),
    })
}

fn instantiate_error(function: &str, err: wasmtime::Error) -> CallError {
    CallError::Instantiate {
        function: function.to_string(),
        detail: format!("{err:#}"),
    }
}

fn trap_error(function: &str, err: wasmtime::Error, stderr: String, limit: Duration) -> CallError {
    let trap = err.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::Interrupt) {
        return CallError::Timeout {
            function: function.to_string(),
            limit,
        };
    }
    let message = format!("{err:?}");
    let kind = if trap == Some(Trap::StackOverflow) {
        TrapKind::StackOverflow
    } else if message.contains("forcing a memory growth failure")
        || message.contains("forcing trap when growing memory")
    {
        TrapKind::OutOfMemory
    } else {
        TrapKind::Trap
    };
    let detail = if stderr.trim().is_empty() {
        message
    } else {
        format!("{message}\nguest stderr:\n{}", stderr.trim_end())
    };
    CallError::Trap {
        function: function.to_string(),
        kind,
        detail,
    }
}

/// Every `function:` of `apis` and `events`, and every timer task's
/// `taskActionFunc`, must be exported; all missing ones are
/// reported at once, at their manifest lines, with the exported names.
fn check_functions(
    manifest: &Manifest,
    exported: &[String],
    manifest_file: &str,
) -> Result<(), ManifestError> {
    let mut diagnostics = Vec::new();
    let list = if exported.is_empty() {
        "none".to_string()
    } else {
        exported.join(", ")
    };
    let functions = manifest.apis.iter().map(|api| &api.function);
    let functions = functions
        .chain(manifest.events.iter().map(|event| &event.function))
        .chain(manifest.timers.iter().map(|timer| &timer.function));
    for name in functions {
        if exported.contains(&name.value) {
            continue;
        }
        let hint = did_you_mean(&name.value, exported.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        diagnostics.push(Diagnostic {
            pos: name.pos,
            path: name.path.clone(),
            message: format!(
                "the backend does not export the function `{}`{hint}; it exports: {list}",
                name.value
            ),
        });
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ManifestError {
            file: manifest_file.to_string(),
            diagnostics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::has_start_function;

    /// A core module with one empty function; `start` adds a start section
    /// that names it.
    fn module(start: bool) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type () -> ()
        wasm.extend([0x03, 0x02, 0x01, 0x00]); // one function of that type
        if start {
            wasm.extend([0x08, 0x01, 0x00]); // start: function 0
        }
        wasm.extend([0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]); // its empty body
        wasm
    }

    #[test]
    fn a_start_function_is_found_and_its_absence_too() {
        assert!(has_start_function(&module(true)));
        assert!(!has_start_function(&module(false)));
    }
}
