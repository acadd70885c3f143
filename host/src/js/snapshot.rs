//! Snapshot + componentize: from the runner's core module and a JS bundle
//! to a component of `wit/plugin.wit` that op loads like any other.
//!
//! 1. The runner is instrumented by wizer and instantiated in a private
//!    engine whose imports are stubs: the wall and monotonic clocks answer
//!    the current time (QuickJS reads them while it sets up), the insecure
//!    seed a fixed value (Rust's `HashMap` keys), every other import traps
//!    with its name (a snapshot cannot keep host state).
//! 2. The bundle is written into guest memory through the runner's
//!    `op_js_stage(len) -> ptr` export, then `wizer-initialize` evaluates it.
//! 3. Wizer snapshots memories and globals into a new core module, and
//!    wit-component turns it into a component using the `component-type`
//!    sections wit-bindgen left in the runner.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use wasmtime::{Config, Engine, Extern, Instance, Linker, Module, Store, Val, ValType};
use wasmtime_wizer::{InstanceState, SnapshotVal, Wizer};

use super::RUNNER;

/// Fuel for the snapshot-time evaluation of a bundle: a top level that spins
/// fails the install instead of hanging it.
const INIT_FUEL: u64 = 20_000_000_000;

/// Why a bundle could not be made into a component.
#[derive(Debug, thiserror::Error)]
pub enum JsBuildError {
    /// The runner module is not usable (instrumenting, compiling, linking).
    #[error("the JS runner cannot be prepared: {0}")]
    Runner(String),
    /// The bundle failed at snapshot time (syntax error, top-level throw,
    /// an import called at top level, fuel exhausted).
    #[error("the plugin's JS failed while op pre-initialised it: {0}")]
    Init(String),
    /// The snapshot could not be made into a component.
    #[error("the snapshot cannot be componentized: {0}")]
    Componentize(String),
}

/// The runner, instrumented by wizer and compiled for the snapshot engine:
/// the same for every plugin, so made once per process.
struct Prepared {
    wizer: Wizer,
    cx: wasmtime_wizer::ModuleContext<'static>,
    engine: Engine,
    module: Module,
    linker: Linker<()>,
}

fn prepared() -> Result<&'static Prepared, JsBuildError> {
    static PREPARED: OnceLock<Result<Prepared, String>> = OnceLock::new();
    PREPARED
        .get_or_init(|| {
            let fail = |e: wasmtime::Error| format!("{e:#}");
            let wizer = Wizer::new();
            let (cx, instrumented) = wizer.instrument(RUNNER).map_err(fail)?;
            // The snapshot engine runs each init once: compile fast, run slow.
            let mut config = Config::new();
            config
                .consume_fuel(true)
                .cranelift_opt_level(wasmtime::OptLevel::None);
            let engine = Engine::new(&config).map_err(fail)?;
            let module = Module::new(&engine, &instrumented).map_err(fail)?;
            let linker = stub_linker(&engine, &module).map_err(fail)?;
            Ok(Prepared {
                wizer,
                cx,
                engine,
                module,
                linker,
            })
        })
        .as_ref()
        .map_err(|reason| JsBuildError::Runner(reason.clone()))
}

/// Pre-initialises the runner with `bundle` (an ES module): the snapshot
/// core module. `env_json` is the `onesEnv` top-level code sees
/// ([`super::environment_json`]).
pub async fn snapshot(bundle: &str, env_json: &str) -> Result<Vec<u8>, JsBuildError> {
    if env_json.contains('\0') {
        return Err(JsBuildError::Init("the environment contains a NUL".into()));
    }
    let prepared = prepared()?;
    let runner_err = |e: wasmtime::Error| JsBuildError::Runner(format!("{e:#}"));
    let mut store = Store::new(&prepared.engine, ());
    store.set_fuel(INIT_FUEL).map_err(runner_err)?;
    let instance = prepared
        .linker
        .instantiate(&mut store, &prepared.module)
        .map_err(runner_err)?;

    // ENV \0 BUNDLE into guest memory.
    let mut staged = Vec::with_capacity(env_json.len() + 1 + bundle.len());
    staged.extend_from_slice(env_json.as_bytes());
    staged.push(0);
    staged.extend_from_slice(bundle.as_bytes());
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| JsBuildError::Runner("the runner exports no memory".into()))?;
    if let Some(Extern::Func(init)) = instance.get_export(&mut store, "_initialize") {
        init.typed::<(), ()>(&store)
            .and_then(|f| f.call(&mut store, ()))
            .map_err(runner_err)?;
    }
    let stage = instance
        .get_typed_func::<u32, u32>(&mut store, "op_js_stage")
        .map_err(runner_err)?;
    let len = u32::try_from(staged.len())
        .map_err(|_| JsBuildError::Init("the bundle is larger than 4 GiB".into()))?;
    let ptr = stage.call(&mut store, len).map_err(runner_err)?;
    memory
        .write(&mut store, ptr as usize, &staged)
        .map_err(|e| JsBuildError::Runner(e.to_string()))?;
    drop(staged);

    let init = instance
        .get_typed_func::<(), ()>(&mut store, prepared.wizer.get_init_func())
        .map_err(runner_err)?;
    if let Err(trap) = init.call(&mut store, ()) {
        let message = init_error(&mut store, &instance).unwrap_or_default();
        let reason = if !message.is_empty() {
            message
        } else if store.get_fuel().is_ok_and(|f| f == 0) {
            "the top level ran out of fuel (an endless loop?)".into()
        } else {
            format!("{trap:#}")
        };
        return Err(JsBuildError::Init(reason));
    }
    prepared
        .wizer
        .snapshot(
            &prepared.cx,
            &mut State {
                store: &mut store,
                instance,
            },
        )
        .await
        .map_err(runner_err)
}

/// The runner's message when its init failed on purpose.
fn init_error(store: &mut Store<()>, instance: &Instance) -> Option<String> {
    let func = instance
        .get_typed_func::<(), u32>(&mut *store, "op_js_init_error")
        .ok()?;
    let at = func.call(&mut *store, ()).ok()? as usize;
    let memory = instance.get_memory(&mut *store, "memory")?;
    let data = memory.data(&*store);
    let word = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(data.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    let (ptr, len) = (word(at)?, word(at + 4)?);
    Some(String::from_utf8_lossy(data.get(ptr..ptr + len)?).into_owned())
}

/// Every import of `module`: clocks answer the current time, anything else
/// traps naming itself.
fn stub_linker(engine: &Engine, module: &Module) -> wasmtime::Result<Linker<()>> {
    let mut linker = Linker::new(engine);
    for import in module.imports() {
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        let (module_name, name) = (import.module().to_string(), import.name().to_string());
        let clock = |m: &str| module_name.starts_with(m) && name == "now";
        if clock("wasi:clocks/monotonic-clock") && matches!(ty.results().next(), Some(ValType::I64))
        {
            let origin = Instant::now();
            linker.func_new(&module_name, &name, ty, move |_, _, out| {
                out[0] = Val::I64(origin.elapsed().as_nanos() as i64);
                Ok(())
            })?;
        } else if clock("wasi:clocks/wall-clock") && ty.params().len() == 1 {
            // `now: func() -> datetime` lowered as `(retptr)`: u64 seconds,
            // u32 nanoseconds.
            linker.func_new(&module_name, &name, ty, |mut caller, args, _| {
                let ptr = args[0].unwrap_i32() as u32 as usize;
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                let mut bytes = [0u8; 12];
                bytes[..8].copy_from_slice(&now.as_secs().to_le_bytes());
                bytes[8..].copy_from_slice(&now.subsec_nanos().to_le_bytes());
                let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                    wasmtime::bail!("no memory");
                };
                memory.write(&mut caller, ptr, &bytes)?;
                Ok(())
            })?;
        } else if module_name.starts_with("wasi:random/insecure-seed")
            && name == "insecure-seed"
            && ty.params().len() == 1
        {
            // Rust's `HashMap` keys (rquickjs's module tables): `tuple<u64,
            // u64>` through a retptr. A fixed seed, frozen in the snapshot:
            // these keys guard against hash flooding, not a secret.
            linker.func_new(&module_name, &name, ty, |mut caller, args, _| {
                let ptr = args[0].unwrap_i32() as u32 as usize;
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&0x243f_6a88_85a3_08d3u64.to_le_bytes());
                bytes[8..].copy_from_slice(&0x1319_8a2e_0370_7344u64.to_le_bytes());
                let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                    wasmtime::bail!("no memory");
                };
                memory.write(&mut caller, ptr, &bytes)?;
                Ok(())
            })?;
        } else {
            let shown = format!("{module_name}#{name}");
            linker.func_new(&module_name, &name, ty, move |_, _, _| {
                wasmtime::bail!(
                    "`{shown}` was called while op pre-initialised the plugin (at module top level); \
                     host calls are only possible inside a function call"
                )
            })?;
        }
    }
    Ok(linker)
}

/// Wizer reads the instance's globals and memories through this.
struct State<'a> {
    store: &'a mut Store<()>,
    instance: Instance,
}

impl InstanceState for State<'_> {
    async fn global_get(&mut self, name: &str, _: wasmtime_wizer::ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer names an exported global");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => panic!("unsupported global value {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer names an exported memory");
        contents(memory.data(&*self.store))
    }
}

/// The snapshot core module as a component of `wit/plugin.wit`.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>, JsBuildError> {
    let fail = |e: anyhow::Error| JsBuildError::Componentize(format!("{e:#}"));
    wit_component::ComponentEncoder::default()
        .module(core)
        .map_err(fail)?
        .validate(true)
        .encode()
        .map_err(fail)
}
