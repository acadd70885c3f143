//! The generic JavaScript runner of op (spike).
//!
//! A core wasm module of the `op:plugin` world with QuickJS inside. It is
//! never run as built: op writes a plugin's JS bundle into its memory
//! (`op_js_stage`), calls `wizer-initialize` (which evaluates the bundle and
//! records its exported functions) and snapshots the result (wizer), then
//! componentizes it (wit-component). Every call then starts from that
//! snapshot: `call` builds the request object, calls the exported async
//! function, drives QuickJS's job queue until the promise settles, and turns
//! the value or the throw into the WIT response or plugin error.
//!
//! During the snapshot no import may be called (op's snapshot linker gives
//! only clocks, at a fixed time): the WASI random import, `fetch`, `log` and
//! `env` are reached only from `call`.

use std::cell::{Cell, OnceCell, RefCell};

use rquickjs::loader::{BuiltinLoader, BuiltinResolver};
use rquickjs::{
    Array, Context, Ctx, Error, Function, Module, Object, Promise, Runtime, Value,
    promise::PromiseState,
};

// The export macro names `crate::bindings`, which is this module.
#[allow(clippy::crate_in_macro_def)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        default_bindings_module: "crate::bindings",
        pub_export_macro: true,
    });
}

use bindings::exports::op::plugin::handler::{Guest, PluginError, Request, Response};
use bindings::op::plugin::types::Severity;
use bindings::op::plugin::{env, fetch, log};

struct Runner;

bindings::export!(Runner);

/// The JS side of the runner: module shims for the ONES names and the
/// functions that shape requests, responses and errors.
const PRELUDE: &str = include_str!("prelude.js");
const ONES_FETCH: &str = include_str!("ones-fetch.js");
const ONES_LOGGER: &str = include_str!("ones-logger.js");

struct Engine {
    /// Kept alive with the context (never read).
    _runtime: Runtime,
    context: Context,
    functions: Vec<String>,
}

thread_local! {
    static ENGINE: OnceCell<Engine> = const { OnceCell::new() };
    /// The bundle op wrote through `op_js_stage`, taken by the init.
    static STAGED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Whether code is running inside `call` (imports may be used) rather
    /// than in the init (snapshot time: no imports).
    static LIVE: Cell<bool> = const { Cell::new(false) };
    /// xorshift128+ state of `Math.random`; reseeded from WASI random at
    /// the first use in each instance (the snapshot holds `seeded: false`).
    static RANDOM: Cell<(u64, u64, bool)> = const { Cell::new((0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, false)) };
}

/// Gives op `len` bytes of guest memory to write the bundle into before it
/// calls `wizer-initialize`. For op only; it stays exported after the
/// snapshot, where calling it only allocates.
#[unsafe(no_mangle)]
pub extern "C" fn op_js_stage(len: usize) -> *mut u8 {
    STAGED.with(|staged| {
        let mut staged = staged.borrow_mut();
        *staged = vec![0; len];
        staged.as_mut_ptr()
    })
}

/// Snapshot-time init: evaluates the staged bundle. On failure the message
/// is kept and every call answers it (op reads it with `functions()` at
/// load: an empty list with the error logged would hide it, so the error
/// is a trap here, which fails the snapshot with the JS message).
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn wizer_initialize() {
    // Run the static constructors now, so that the snapshot records them as
    // run and the first export call after it does not run them again.
    wit_bindgen::rt::run_ctors_once();
    let source = STAGED.with(|staged| {
        let mut staged = staged.borrow_mut();
        String::from_utf8(std::mem::take(&mut *staged))
    });
    let source = match source {
        Ok(source) => source,
        Err(_) => fail("the bundle is not UTF-8"),
    };
    // `ENV_JSON \0 BUNDLE`: the installation's `onesEnv` for top-level
    // reads at snapshot time, then the code.
    let (env_json, bundle) = source.split_once('\0').unwrap_or(("", &source));
    let result = init(env_json, bundle);
    match result {
        Ok(engine) => {
            ENGINE.with(|cell| {
                if cell.set(engine).is_err() {
                    fail("the runner was initialised twice")
                }
            });
        }
        Err(message) => fail(&message),
    }
    // Wipe the source text from the freed memory so that it does not ride in
    // the snapshot's data segments.
    let mut bytes = source.into_bytes();
    bytes.fill(0);
    std::hint::black_box(&bytes);
}

fn fail(message: &str) -> ! {
    // stderr is not reachable at snapshot time; the host reads this static
    // after the trap (see host/src/js/snapshot.rs).
    INIT_ERROR.with(|e| *e.borrow_mut() = message.as_bytes().to_vec());
    std::process::abort()
}

thread_local! {
    static INIT_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Where the init's error message is, for the host: `[ptr, len]`.
#[unsafe(no_mangle)]
pub extern "C" fn op_js_init_error() -> *const u32 {
    static mut OUT: [u32; 2] = [0, 0];
    INIT_ERROR.with(|e| {
        let e = e.borrow();
        // SAFETY: single-threaded guest; the host reads it right away.
        unsafe {
            OUT = [e.as_ptr() as u32, e.len() as u32];
            (&raw const OUT).cast()
        }
    })
}

fn init(env_json: &str, source: &str) -> Result<Engine, String> {
    let runtime = Runtime::new().map_err(|e| format!("QuickJS runtime: {e}"))?;
    runtime.set_max_stack_size(512 * 1024);
    let resolver = BuiltinResolver::default()
        .with_module("@ones-op/fetch")
        .with_module("@ones-op/node-logger");
    let loader = BuiltinLoader::default()
        .with_module("@ones-op/fetch", ONES_FETCH)
        .with_module("@ones-op/node-logger", ONES_LOGGER);
    runtime.set_loader(resolver, loader);
    let context = Context::full(&runtime).map_err(|e| format!("QuickJS context: {e}"))?;
    let functions = context.with(|ctx| -> Result<Vec<String>, String> {
        install_natives(&ctx).map_err(|e| describe(&ctx, e))?;
        if !env_json.is_empty() {
            let env = ctx
                .json_parse(env_json)
                .map_err(|e| format!("snapshot env: {}", describe(&ctx, e)))?;
            let op: Object = ctx.globals().get("__op").map_err(|e| describe(&ctx, e))?;
            op.set("snapshotEnv", env).map_err(|e| describe(&ctx, e))?;
        }
        ctx.eval::<(), _>(PRELUDE)
            .map_err(|e| format!("prelude: {}", describe(&ctx, e)))?;
        let module = Module::declare(ctx.clone(), "plugin", source)
            .map_err(|e| format!("the bundle does not compile: {}", describe(&ctx, e)))?;
        let (module, promise) = module
            .eval()
            .map_err(|e| format!("the bundle's top level threw: {}", describe(&ctx, e)))?;
        drive(&ctx, &promise);
        match promise.state() {
            PromiseState::Resolved => {}
            PromiseState::Rejected => {
                let err = promise.result::<Value>().and_then(|r| r.err());
                let shown = err.map(|e| describe(&ctx, e)).unwrap_or_default();
                return Err(format!("the bundle's top level threw: {shown}"));
            }
            PromiseState::Pending => {
                return Err("the bundle's top level awaits something that never settles".into());
            }
        }
        let namespace = module
            .namespace()
            .map_err(|e| format!("module namespace: {}", describe(&ctx, e)))?;
        let mut functions = Vec::new();
        for key in namespace.keys::<String>() {
            let key = key.map_err(|e| describe(&ctx, e))?;
            let value: Value = namespace.get(&key).map_err(|e| describe(&ctx, e))?;
            if value.is_function() {
                functions.push(key);
            }
        }
        ctx.globals()
            .set("__op_exports", namespace)
            .map_err(|e| describe(&ctx, e))?;
        let reset: Function = ctx
            .globals()
            .get("__op_reset")
            .map_err(|e| describe(&ctx, e))?;
        reset.call::<(), ()>(()).map_err(|e| describe(&ctx, e))?;
        Ok(functions)
    })?;
    runtime.run_gc();
    RANDOM.with(|r| {
        let (a, b, _) = r.get();
        r.set((a, b, false))
    });
    Ok(Engine {
        _runtime: runtime,
        context,
        functions,
    })
}

/// Runs QuickJS's job queue until `promise` settles or nothing is left to
/// run. (An exception inside a job rejects the promise it belongs to.)
fn drive(ctx: &Ctx<'_>, promise: &Promise<'_>) {
    while promise.state() == PromiseState::Pending {
        if !ctx.execute_pending_job() {
            break;
        }
    }
}

/// A JS exception (or rquickjs error) as text: `name: message` and the
/// stack when there is one.
fn describe(ctx: &Ctx<'_>, error: Error) -> String {
    if let Error::Exception = error {
        let value = ctx.catch();
        return describe_value(&value);
    }
    error.to_string()
}

fn describe_value(value: &Value<'_>) -> String {
    if let Some(obj) = value.as_object() {
        let message: Option<String> = obj.get("message").ok();
        let stack: Option<String> = obj.get("stack").ok();
        let name: Option<String> = obj.get("name").ok();
        if let Some(message) = message {
            let mut text = match name {
                Some(name) => format!("{name}: {message}"),
                None => message,
            };
            if let Some(stack) = stack.filter(|s| !s.is_empty()) {
                text.push('\n');
                text.push_str(stack.trim_end());
            }
            return text;
        }
    }
    let ctx = value.ctx();
    ctx.json_stringify(value.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// `__op`: the natives the prelude and the ONES shims call.
fn install_natives(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let op = Object::new(ctx.clone())?;
    op.set("fetch", Function::new(ctx.clone(), native_fetch)?)?;
    op.set("log", Function::new(ctx.clone(), native_log)?)?;
    op.set("env", Function::new(ctx.clone(), native_env)?)?;
    ctx.globals().set("__op", op)?;
    let math: Object = ctx.globals().get("Math")?;
    math.set("random", Function::new(ctx.clone(), native_random)?)?;
    Ok(())
}

fn native_random() -> f64 {
    RANDOM.with(|cell| {
        let (mut s0, mut s1, seeded) = cell.get();
        if !seeded && LIVE.get() {
            // First use in this instance: a fresh seed, so that two
            // instances made from one snapshot never share a sequence.
            let seed = wasip2::random::random::get_random_u64();
            s0 = seed | 1;
            s1 = seed.rotate_left(29) ^ 0x94d0_49bb_1331_11eb;
            cell.set((s0, s1, true));
        }
        // xorshift128+
        let mut x = s0;
        let y = s1;
        s0 = y;
        x ^= x << 23;
        s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
        let seeded = cell.get().2;
        cell.set((s0, s1, seeded));
        ((s1.wrapping_add(y)) >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn native_log(level: String, message: String) {
    if !LIVE.get() {
        // Snapshot time: there is no host to log to.
        return;
    }
    let level = match level.as_str() {
        "debug" => log::Level::Debug,
        "warn" | "warning" => log::Level::Warning,
        "error" => log::Level::Error,
        _ => log::Level::Info,
    };
    log::log(level, &message);
}

/// The environment as `[teamUUID, organizationUUID, instanceId, [[k, v]...]]`
/// (null before a call: at snapshot time there is none).
fn native_env<'js>(ctx: Ctx<'js>) -> rquickjs::Result<Value<'js>> {
    if !LIVE.get() {
        return Ok(Value::new_null(ctx));
    }
    let current = env::current();
    let out = Array::new(ctx.clone())?;
    out.set(0, current.team_uuid)?;
    out.set(1, current.organization_uuid)?;
    out.set(2, current.instance_id)?;
    let config = Array::new(ctx.clone())?;
    for (i, (k, v)) in env::config().into_iter().enumerate() {
        let pair = Array::new(ctx.clone())?;
        pair.set(0, k)?;
        pair.set(1, v)?;
        config.set(i, pair)?;
    }
    out.set(3, config)?;
    Ok(out.into_value())
}

/// `__op.fetch(req)`: `req` is the prelude's normalised shape
/// `{method, url, headers: [[k, v]], query: [[k, v]], body: string, root,
/// teamUUID, timeout}`; answers `{status, headers, body}` or throws
/// `{tag, message}`.
fn native_fetch<'js>(ctx: Ctx<'js>, req: Object<'js>) -> rquickjs::Result<Object<'js>> {
    if !LIVE.get() {
        return Err(throw_tag(
            &ctx,
            "invalid-request",
            "OPFetch cannot run at module top level (op evaluates the top level once, when the plugin is installed)",
        ));
    }
    let request = fetch::FetchRequest {
        method: req.get("method")?,
        url: req.get("url")?,
        headers: pairs(req.get("headers")?)?,
        query: pairs(req.get("query")?)?,
        body: req.get::<_, String>("body")?.into_bytes(),
        root: req.get("root")?,
        team_uuid: req.get("teamUUID")?,
        timeout_ms: req.get("timeout")?,
    };
    match fetch::fetch(&request) {
        Ok(answer) => {
            let out = Object::new(ctx.clone())?;
            out.set("status", answer.status)?;
            let headers = Array::new(ctx.clone())?;
            for (i, (k, v)) in answer.headers.into_iter().enumerate() {
                let pair = Array::new(ctx.clone())?;
                pair.set(0, k)?;
                pair.set(1, v)?;
                headers.set(i, pair)?;
            }
            out.set("headers", headers)?;
            out.set("body", String::from_utf8_lossy(&answer.body).into_owned())?;
            Ok(out)
        }
        Err(err) => {
            let (tag, message) = match err {
                fetch::FetchError::InvalidRequest(m) => ("invalid-request", m),
                fetch::FetchError::NoCredentials(m) => ("no-credentials", m),
                fetch::FetchError::NoTeam(m) => ("no-team", m),
                fetch::FetchError::NotAllowed(m) => ("not-allowed", m),
                fetch::FetchError::Timeout(m) => ("timeout", m),
                fetch::FetchError::ConnectionFailed(m) => ("connection-failed", m),
                fetch::FetchError::TooLarge(m) => ("too-large", m),
                fetch::FetchError::TooManyCalls(m) => ("too-many-calls", m),
            };
            Err(throw_tag(&ctx, tag, &message))
        }
    }
}

fn throw_tag(ctx: &Ctx<'_>, tag: &str, message: &str) -> Error {
    let build = || -> rquickjs::Result<Value<'_>> {
        let obj = Object::new(ctx.clone())?;
        obj.set("tag", tag)?;
        obj.set("message", message)?;
        Ok(obj.into_value())
    };
    match build() {
        Ok(value) => ctx.throw(value),
        Err(e) => e,
    }
}

fn pairs(array: Array<'_>) -> rquickjs::Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(array.len());
    for pair in array.iter::<Array>() {
        let pair = pair?;
        out.push((pair.get(0)?, pair.get(1)?));
    }
    Ok(out)
}

impl Guest for Runner {
    fn functions() -> Vec<String> {
        ENGINE.with(|engine| {
            engine
                .get()
                .map(|e| e.functions.clone())
                .unwrap_or_default()
        })
    }

    fn call(function: String, req: Request) -> Result<Response, PluginError> {
        LIVE.set(true);
        ENGINE.with(|engine| {
            let Some(engine) = engine.get() else {
                return Err(plugin_error(500, "the JS runner was not initialised"));
            };
            engine.context.with(|ctx| call_in(&ctx, &function, req))
        })
    }
}

fn call_in(ctx: &Ctx<'_>, function: &str, req: Request) -> Result<Response, PluginError> {
    let internal = |e: Error| plugin_error(500, &describe(ctx, e));
    let request = request_object(ctx, &req).map_err(internal)?;
    let invoke: Function = ctx.globals().get("__op_call").map_err(internal)?;
    let promise: Promise = invoke.call((function, request)).map_err(internal)?;
    drive(ctx, &promise);
    match promise.state() {
        PromiseState::Pending => Err(plugin_error(
            500,
            &format!(
                "`{function}` returned a promise that can never settle (nothing is left to run)"
            ),
        )),
        PromiseState::Resolved => {
            let out: Object = promise
                .result::<Object>()
                .unwrap_or(Err(Error::Unknown))
                .map_err(internal)?;
            let status: Option<u16> = out.get("status").map_err(internal)?;
            let headers = pairs(out.get("headers").map_err(internal)?).map_err(internal)?;
            let body: String = out.get("body").map_err(internal)?;
            Ok(Response {
                status,
                headers,
                body: body.into_bytes(),
            })
        }
        PromiseState::Rejected => {
            // The prelude turns every throw into {status, kind, reason, type}.
            let value = match promise.result::<Value>() {
                Some(Err(Error::Exception)) => ctx.catch(),
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(internal(e)),
                None => return Err(plugin_error(500, "rejected without a value")),
            };
            let Some(obj) = value.as_object() else {
                return Err(plugin_error(500, &describe_value(&value)));
            };
            let status: Option<u16> = obj.get("status").ok().flatten();
            let kind: Option<String> = obj.get("kind").ok().flatten();
            let reason: String = obj
                .get::<_, Option<String>>("reason")
                .ok()
                .flatten()
                .unwrap_or_else(|| describe_value(&value));
            let warning = obj
                .get::<_, Option<String>>("type")
                .ok()
                .flatten()
                .is_some_and(|t| t == "warning");
            Err(PluginError {
                status: status.unwrap_or(500),
                kind,
                reason,
                severity: if warning {
                    Severity::Warning
                } else {
                    Severity::Error
                },
            })
        }
    }
}

fn plugin_error(status: u16, reason: &str) -> PluginError {
    PluginError {
        status,
        kind: Some("js_error".into()),
        reason: reason.into(),
        severity: Severity::Error,
    }
}

/// The WIT request as the raw object the prelude's `__op_call` shapes into a
/// `PluginRequest`: `{method, url, params: [[k, v]], query: [[k, v]],
/// headers: [[k, v]], body: string}`.
fn request_object<'js>(ctx: &Ctx<'js>, req: &Request) -> rquickjs::Result<Object<'js>> {
    let obj = Object::new(ctx.clone())?;
    obj.set("method", req.method.as_str())?;
    obj.set("url", req.url.as_str())?;
    obj.set("params", pair_array(ctx, &req.params)?)?;
    obj.set("query", pair_array(ctx, &req.query)?)?;
    obj.set("headers", pair_array(ctx, &req.headers)?)?;
    obj.set("body", String::from_utf8_lossy(&req.body).as_ref())?;
    Ok(obj)
}

fn pair_array<'js>(ctx: &Ctx<'js>, pairs: &[(String, String)]) -> rquickjs::Result<Array<'js>> {
    let out = Array::new(ctx.clone())?;
    for (i, (k, v)) in pairs.iter().enumerate() {
        let pair = Array::new(ctx.clone())?;
        pair.set(0, k.as_str())?;
        pair.set(1, v.as_str())?;
        out.set(i, pair)?;
    }
    Ok(out)
}
