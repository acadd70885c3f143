//! The generic JavaScript runner of op.
//!
//! A core wasm module of the `op:plugin` world with QuickJS inside. It is
//! never run as built: op writes a plugin's JS bundle into its memory
//! (`op_js_stage`), calls `wizer-initialize` (which evaluates the prelude and
//! the bundle and records the bundle's exported functions) and snapshots the
//! result (wizer), then componentizes it (wit-component). Every call then
//! starts from that snapshot in a fresh instance: `call` hands the prelude
//! the function's name (the request stays in Rust until the function reads
//! it), drives QuickJS's job queue and timers until the prelude reports the
//! answer or the error, and returns it.
//!
//! During the snapshot no import may be called (op's snapshot linker gives
//! only clocks and a fixed insecure seed): the WASI random import, the
//! monotonic clock's waits, `fetch`, `log` and `env` are reached only from
//! `call`. See README.md and CONTRACT.md.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt::Write as _;

use rquickjs::{
    Context, Ctx, Error, Exception, Function, Module, Object, Persistent, Runtime, Value,
    promise::PromiseState, qjs,
};

#[cfg(feature = "probe")]
mod probe;

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
use bindings::op::plugin::{env, fetch, log, objects, storage};

struct Runner;

bindings::export!(Runner);

/// The JS side of the runner (a function expression, see its head).
const PRELUDE: &str = include_str!("prelude.js");

/// Bytes QuickJS may allocate after the snapshot before its cycle collector
/// first runs. A short call never collects (a collection walks, and so
/// dirties, every object of the snapshot's heap); a call that allocates a
/// lot still does.
const GC_HEADROOM: usize = 16 * 1024 * 1024;

/// What the prelude gives back: the functions the runner calls.
struct Prelude {
    call: Persistent<Function<'static>>,
    settled: Persistent<Function<'static>>,
    fail_with: Persistent<Function<'static>>,
    adopt: Persistent<Function<'static>>,
    next_timer: Persistent<Function<'static>>,
    fire_timer: Persistent<Function<'static>>,
}

struct Engine {
    /// Kept alive with the context (never read).
    _runtime: Runtime,
    context: Context,
    prelude: Prelude,
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
    /// The request of the running call, read by the prelude's lazy fields.
    static REQUEST: RefCell<Option<Request>> = const { RefCell::new(None) };
    /// The outcome of the running call, set by `respond` or `fail`.
    static OUTCOME: RefCell<Option<Result<Response, PluginError>>> = const { RefCell::new(None) };
    static INIT_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Where `Object.prototype` is (it never moves or dies while the
    /// context lives): `print` shows an object natively only when it is
    /// plain, that is its prototype is this one or none.
    static OBJECT_PROTOTYPE: Cell<usize> = const { Cell::new(0) };
    /// Where `Array.prototype` is (the same way).
    static ARRAY_PROTOTYPE: Cell<usize> = const { Cell::new(0) };
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

/// Snapshot-time init: evaluates the staged bundle. A failure is a trap
/// (which fails the snapshot) with the message left for op in
/// `op_js_init_error`.
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
    match init(env_json, bundle) {
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
    let context = Context::full(&runtime).map_err(|e| format!("QuickJS context: {e}"))?;
    let (prelude, functions) = context.with(|ctx| -> Result<_, String> {
        let js = |e: Error| describe(&ctx, e);
        let op = install_natives(&ctx).map_err(js)?;
        let internal = internal_natives(&ctx).map_err(js)?;
        if !env_json.is_empty() {
            let env = ctx
                .json_parse(env_json)
                .map_err(|e| format!("snapshot env: {}", describe(&ctx, e)))?;
            internal.set("snapshotEnv", env).map_err(js)?;
        }
        let make: Function = ctx
            .eval(PRELUDE)
            .map_err(|e| format!("prelude: {}", describe(&ctx, e)))?;
        let runner: Object = make
            .call((op, internal))
            .map_err(|e| format!("prelude: {}", describe(&ctx, e)))?;
        let module = Module::declare(ctx.clone(), "plugin", source)
            .map_err(|e| format!("the bundle does not compile: {}", describe(&ctx, e)))?;
        let (module, promise) = module
            .eval()
            .map_err(|e| format!("the bundle's top level threw: {}", describe(&ctx, e)))?;
        while promise.state() == PromiseState::Pending && ctx.execute_pending_job() {}
        match promise.state() {
            PromiseState::Resolved => {}
            PromiseState::Rejected => {
                let err = promise.result::<Value>().and_then(|r| r.err());
                let shown = err.map(|e| describe(&ctx, e)).unwrap_or_default();
                return Err(format!("the bundle's top level threw: {shown}"));
            }
            PromiseState::Pending => {
                let timers: bool = runner
                    .get::<_, Function>("timersPending")
                    .and_then(|f| f.call(()))
                    .unwrap_or(false);
                return Err(if timers {
                    "the bundle's top level awaits a timer: timers do not run while op \
                     pre-initialises a plugin (at install)"
                        .into()
                } else {
                    "the bundle's top level awaits something that never settles".into()
                });
            }
        }
        let namespace = module
            .namespace()
            .map_err(|e| format!("module namespace: {}", describe(&ctx, e)))?;
        let mut functions = Vec::new();
        for key in namespace.keys::<String>() {
            let key = key.map_err(js)?;
            let value: Value = namespace.get(&key).map_err(js)?;
            if value.is_function() {
                functions.push(key);
            }
        }
        let ready: Function = runner.get("ready").map_err(js)?;
        ready.call::<_, ()>((namespace,)).map_err(js)?;
        // The warm-up's answer.
        OUTCOME.with(|o| o.borrow_mut().take());
        let get = |name: &str| -> Result<Persistent<Function<'static>>, String> {
            let f: Function = runner.get(name).map_err(js)?;
            Ok(Persistent::save(&ctx, f))
        };
        let prelude = Prelude {
            call: get("call")?,
            settled: get("settled")?,
            fail_with: get("failWith")?,
            adopt: get("adopt")?,
            next_timer: get("nextTimer")?,
            fire_timer: get("fireTimer")?,
        };
        Ok((prelude, functions))
    })?;
    runtime.run_gc();
    let used = runtime.memory_usage().malloc_size.max(0) as usize;
    runtime.set_gc_threshold(used + GC_HEADROOM);
    RANDOM.with(|r| {
        let (a, b, _) = r.get();
        r.set((a, b, false))
    });
    Ok(Engine {
        _runtime: runtime,
        context,
        prelude,
        functions,
    })
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
    if let Some(s) = value.as_string() {
        return s.to_string().unwrap_or_default();
    }
    let ctx = value.ctx();
    ctx.json_stringify(value.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("{value:?}"))
}

// ----- natives ----------------------------------------------------------

/// `globalThis.__op`: the natives of the contract.
fn install_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let op = Object::new(ctx.clone())?;
    op.set("fetch", Function::new(ctx.clone(), native_fetch)?)?;
    op.set("log", Function::new(ctx.clone(), native_log)?)?;
    op.set("print", Function::new(ctx.clone(), native_print)?)?;
    op.set(
        "randomBytes",
        Function::new(ctx.clone(), native_random_bytes)?,
    )?;
    op.set(
        "utf8Encode",
        Function::new(ctx.clone(), native_utf8_encode)?,
    )?;
    op.set(
        "utf8Decode",
        Function::new(ctx.clone(), native_utf8_decode)?,
    )?;
    op.set("storage", storage_natives(ctx)?)?;
    op.set("objects", objects_natives(ctx)?)?;
    op.set("fs", fs_natives(ctx)?)?;
    ctx.globals().set("__op", op.clone())?;
    let object: Object = ctx.globals().get("Object")?;
    let prototype: Object = object.get("prototype")?;
    OBJECT_PROTOTYPE.set(object_address(prototype.as_value()));
    let array: Object = ctx.globals().get("Array")?;
    let prototype: Object = array.get("prototype")?;
    ARRAY_PROTOTYPE.set(object_address(prototype.as_value()));
    let math: Object = ctx.globals().get("Math")?;
    math.set("random", Function::new(ctx.clone(), native_random)?)?;
    Ok(op)
}

/// The natives only the prelude sees.
fn internal_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let internal = Object::new(ctx.clone())?;
    internal.set("env", Function::new(ctx.clone(), native_env)?)?;
    internal.set("now", Function::new(ctx.clone(), native_now)?)?;
    internal.set("request", Function::new(ctx.clone(), native_request)?)?;
    internal.set("respond", Function::new(ctx.clone(), native_respond)?)?;
    internal.set("fail", Function::new(ctx.clone(), native_fail)?)?;
    Ok(internal)
}

fn native_random() -> f64 {
    RANDOM.with(|cell| {
        let (mut s0, mut s1, mut seeded) = cell.get();
        if !seeded && LIVE.get() {
            // First use in this instance: a fresh seed, so that two
            // instances made from one snapshot never share a sequence.
            let seed = wasip2::random::random::get_random_u64();
            s0 = seed | 1;
            s1 = seed.rotate_left(29) ^ 0x94d0_49bb_1331_11eb;
            seeded = true;
        }
        // xorshift128+
        let mut x = s0;
        let y = s1;
        s0 = y;
        x ^= x << 23;
        s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
        cell.set((s0, s1, seeded));
        ((s1.wrapping_add(y)) >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Milliseconds on the monotonic clock (the timers' time).
fn native_now() -> f64 {
    wasip2::clocks::monotonic_clock::now() as f64 / 1e6
}

fn native_log(level: rquickjs::Coerced<String>, message: rquickjs::Coerced<String>) {
    if !LIVE.get() {
        // Snapshot time: there is no host to log to.
        return;
    }
    log::log(log_level(&level.0), &message.0);
}

fn log_level(level: &str) -> log::Level {
    match level {
        "debug" => log::Level::Debug,
        "warn" | "warning" => log::Level::Warning,
        "error" => log::Level::Error,
        _ => log::Level::Info,
    }
}

/// `__op.print(level, args)`: logs `args` as `util.format(...args)` would
/// show them, and answers `true`, when every argument is of a kind shown
/// the same way by the SDK's `format` and by the runner's `console`: a first
/// string without `%`, then strings, numbers, booleans, `null`, `undefined`,
/// and plain objects and arrays (as `JSON.stringify` writes them). For
/// anything else it logs nothing and answers `false`, and the caller formats
/// in JS. A log line is on the path of most calls: this keeps its cost to
/// one native call and the engine's own JSON writer.
fn native_print<'js>(
    ctx: Ctx<'js>,
    level: rquickjs::Coerced<String>,
    args: rquickjs::Array<'js>,
) -> rquickjs::Result<bool> {
    let mut out = String::new();
    let mut start = 0;
    if let Ok(first) = args.get::<Value>(0)
        && let Some(first) = first.as_string()
    {
        let first = first.to_string()?;
        if first.contains('%') {
            return Ok(false);
        }
        out = first;
        start = 1;
    }
    for i in start..args.len() {
        let arg: Value = args.get(i)?;
        if !(out.is_empty() && i == 0) {
            out.push(' ');
        }
        if !show_natively(&ctx, &arg, &mut out)? {
            return Ok(false);
        }
    }
    if LIVE.get() {
        log::log(log_level(&level.0), &out);
    }
    Ok(true)
}

/// Appends `value` as `format` shows it, when it is of a kind [`native_print`]
/// shows; answers whether it was.
fn show_natively<'js>(
    ctx: &Ctx<'js>,
    value: &Value<'js>,
    out: &mut String,
) -> rquickjs::Result<bool> {
    if let Some(s) = value.as_string() {
        out.push_str(&s.to_string()?);
    } else if let Some(n) = value.as_int() {
        let _ = write!(out, "{n}");
    } else if let Some(n) = value.as_float() {
        if n == 0.0 && n.is_sign_negative() {
            // As Node's util.inspect (String(-0) is "0").
            out.push_str("-0");
        } else {
            out.push_str(&value.get::<rquickjs::Coerced<String>>()?.0);
        }
    } else if let Some(b) = value.as_bool() {
        out.push_str(if b { "true" } else { "false" });
    } else if value.is_null() {
        out.push_str("null");
    } else if value.is_undefined() {
        out.push_str("undefined");
    } else if value.is_object() && plain_container(value) {
        // A throw (a cycle, a BigInt, a getter) or nothing to write: the
        // JS side decides what to show.
        if let Some(text) = plain_json(ctx, value)? {
            // Built from UTF-8 pieces, so always UTF-8.
            out.push_str(std::str::from_utf8(&text).unwrap_or_default());
            return Ok(true);
        }
        match ctx.json_stringify(value.clone()) {
            Ok(Some(text)) => out.push_str(&text.to_string()?),
            Ok(None) => return Ok(false),
            Err(Error::Exception) => {
                let _ = ctx.catch();
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// How deep [`plain_json`] follows nested objects before it leaves the
/// value to the engine (which also reports a cycle as JSON.stringify does).
const PLAIN_JSON_DEPTH: usize = 32;

/// What [`write_plain`] did with a value.
enum Written {
    Done,
    /// `undefined`, a function or a symbol: left out of an object, `null`
    /// in an array.
    Nothing,
    /// Something only the engine's JSON.stringify writes right.
    Unsupported,
}

/// The JSON text of `value` exactly as `JSON.stringify` writes it, when it
/// is plain data: strings, numbers, booleans, `null`, and plain objects and
/// arrays of them (`undefined`, functions and symbols inside, as
/// JSON.stringify treats them). `None` for anything else: a `toJSON`, a
/// proxy, a class instance, a boxed value, a BigInt, a lone surrogate, a
/// nesting deeper than [`PLAIN_JSON_DEPTH`], `undefined` at the top; the
/// caller then uses the engine's JSON.stringify. Writing straight into
/// bytes skips the engine's wrapper object, key arrays and string buffers:
/// an answer's body is encoded on nearly every call.
fn plain_json<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> rquickjs::Result<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(64);
    Ok(match write_plain(ctx, value, &mut out, 0)? {
        Written::Done => Some(out),
        Written::Nothing | Written::Unsupported => None,
    })
}

fn write_plain<'js>(
    ctx: &Ctx<'js>,
    value: &Value<'js>,
    out: &mut Vec<u8>,
    depth: usize,
) -> rquickjs::Result<Written> {
    if value.is_string() {
        return Ok(if write_json_string(ctx, value, out)? {
            Written::Done
        } else {
            Written::Unsupported
        });
    }
    if let Some(n) = value.as_int() {
        let _ = write!(Bytes(out), "{n}");
        return Ok(Written::Done);
    }
    if let Some(n) = value.as_float() {
        if !n.is_finite() {
            out.extend_from_slice(b"null");
        } else if n == 0.0 {
            // -0 too.
            out.push(b'0');
        } else if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
            let _ = write!(Bytes(out), "{}", n as i64);
        } else {
            // The engine's own number-to-text (shortest round trip, JS's
            // exponent rules).
            out.extend_from_slice(value.get::<rquickjs::Coerced<String>>()?.0.as_bytes());
        }
        return Ok(Written::Done);
    }
    if let Some(b) = value.as_bool() {
        out.extend_from_slice(if b { b"true" } else { b"false" });
        return Ok(Written::Done);
    }
    if value.is_null() {
        out.extend_from_slice(b"null");
        return Ok(Written::Done);
    }
    if value.is_undefined() || value.is_function() || value.is_symbol() {
        return Ok(Written::Nothing);
    }
    let Some(object) = value.as_object() else {
        // BigInt and anything else unknown.
        return Ok(Written::Unsupported);
    };
    if depth >= PLAIN_JSON_DEPTH || !plain_container(value) || object.contains_key("toJSON")? {
        return Ok(Written::Unsupported);
    }
    if value.is_array() {
        let Some(array) = object.as_array() else {
            return Ok(Written::Unsupported);
        };
        out.push(b'[');
        for i in 0..array.len() {
            if i > 0 {
                out.push(b',');
            }
            let item: Value = array.get(i)?;
            match write_plain(ctx, &item, out, depth + 1)? {
                Written::Done => {}
                Written::Nothing => out.extend_from_slice(b"null"),
                Written::Unsupported => return Ok(Written::Unsupported),
            }
        }
        out.push(b']');
        return Ok(Written::Done);
    }
    out.push(b'{');
    let mut first = true;
    for prop in object.props::<rquickjs::String, Value>() {
        let (key, item) = prop?;
        let mark = out.len();
        if !first {
            out.push(b',');
        }
        if !write_json_string(ctx, key.as_value(), out)? {
            return Ok(Written::Unsupported);
        }
        out.push(b':');
        match write_plain(ctx, &item, out, depth + 1)? {
            Written::Done => first = false,
            Written::Nothing => out.truncate(mark),
            Written::Unsupported => return Ok(Written::Unsupported),
        }
    }
    out.push(b'}');
    Ok(Written::Done)
}

/// `value` (a string) as a JSON string literal, escaped as JSON.stringify
/// escapes; `false` (nothing written) for a string holding a lone
/// surrogate, which JSON.stringify writes as an escape such as `\ud800`.
fn write_json_string(
    ctx: &Ctx<'_>,
    value: &Value<'_>,
    out: &mut Vec<u8>,
) -> rquickjs::Result<bool> {
    let mut len: usize = 0;
    // SAFETY: `value` is a string (no conversion can run JS); QuickJS hands
    // out a UTF-8 copy (lone surrogates in their 3-byte form), freed below.
    unsafe {
        let ptr = qjs::JS_ToCStringLen(ctx.as_raw().as_ptr(), &mut len, value.as_raw());
        if ptr.is_null() {
            return Err(Error::Exception);
        }
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
        let lone = bytes
            .windows(2)
            .any(|w| w[0] == 0xed && (0xa0..=0xbf).contains(&w[1]));
        if !lone {
            out.reserve(bytes.len() + 2);
            out.push(b'"');
            for &b in bytes {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    0..0x20 => {
                        let _ = write!(Bytes(out), "\\u{b:04x}");
                    }
                    _ => out.push(b),
                }
            }
            out.push(b'"');
        }
        qjs::JS_FreeCString(ctx.as_raw().as_ptr(), ptr);
        Ok(!lone)
    }
}

/// `fmt::Write` into a byte buffer.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Whether `value` (an object) is a plain array (its prototype
/// `Array.prototype`) or a plain object (its prototype `Object.prototype` or
/// none), and no proxy.
fn plain_container(value: &Value<'_>) -> bool {
    if value.is_proxy() || value.is_function() {
        return false;
    }
    let Some(object) = value.as_object() else {
        return false;
    };
    let proto = object.get_prototype().map(|p| object_address(p.as_value()));
    if value.is_array() {
        proto == Some(ARRAY_PROTOTYPE.get())
    } else {
        proto.is_none() || proto == Some(OBJECT_PROTOTYPE.get())
    }
}

/// The address of an object value (0 for anything else).
fn object_address(value: &Value<'_>) -> usize {
    if !value.is_object() {
        return 0;
    }
    // SAFETY: reads the pointer of an object value; nothing is dereferenced.
    unsafe { qjs::JS_VALUE_GET_PTR(value.as_raw()) as usize }
}

/// `__op.randomBytes(n)`: `n` bytes of the host's secure random.
fn native_random_bytes<'js>(ctx: Ctx<'js>, n: Value<'js>) -> rquickjs::Result<Value<'js>> {
    if !LIVE.get() {
        return Err(Exception::throw_type(
            &ctx,
            "randomBytes cannot run at module top level: op evaluates the top level once, when \
             the plugin is installed, and the bytes would be the same in every call",
        ));
    }
    let n = n.as_number().unwrap_or(f64::NAN);
    if !(0.0..=2_147_483_647.0).contains(&n) || n.fract() != 0.0 {
        return Err(Exception::throw_range(
            &ctx,
            "randomBytes: the size must be an integer from 0 to 2147483647",
        ));
    }
    let bytes = wasip2::random::random::get_random_bytes(n as u64);
    uint8_array(&ctx, &bytes)
}

/// `__op.utf8Encode(s)`: the UTF-8 of `s`, a lone surrogate as U+FFFD.
fn native_utf8_encode<'js>(ctx: Ctx<'js>, s: Value<'js>) -> rquickjs::Result<Value<'js>> {
    let bytes = string_bytes(&ctx, &s)?;
    uint8_array(&ctx, &bytes)
}

/// `__op.utf8Decode(bytes, fatal)`.
fn native_utf8_decode<'js>(
    ctx: Ctx<'js>,
    bytes: Value<'js>,
    fatal: rquickjs::function::Opt<bool>,
) -> rquickjs::Result<rquickjs::String<'js>> {
    let text = with_bytes(&bytes, |b| match std::str::from_utf8(b) {
        Ok(s) => Ok(rquickjs::String::from_str(ctx.clone(), s)),
        Err(_) if fatal.0.unwrap_or(false) => Err(()),
        Err(_) => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &String::from_utf8_lossy(b),
        )),
    });
    match text {
        Some(Ok(s)) => s,
        Some(Err(())) => Err(Exception::throw_type(
            &ctx,
            "The encoded data was not valid for encoding utf-8",
        )),
        None => Err(Exception::throw_type(
            &ctx,
            "utf8Decode: the argument must be a Uint8Array or an ArrayBuffer",
        )),
    }
}

/// A new `Uint8Array` holding a copy of `bytes`.
fn uint8_array<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> rquickjs::Result<Value<'js>> {
    // SAFETY: QuickJS copies `bytes`; the result is a new owned value (or an
    // exception, which `handle` turns into an error).
    unsafe {
        let raw =
            qjs::JS_NewUint8ArrayCopy(ctx.as_raw().as_ptr(), bytes.as_ptr(), bytes.len() as _);
        if qjs::JS_IsException(raw) {
            return Err(Error::Exception);
        }
        Ok(Value::from_raw(ctx.clone(), raw))
    }
}

/// Runs `f` on the bytes of a `Uint8Array` or `ArrayBuffer` (`None` for
/// anything else). No JS may run meanwhile.
fn with_bytes<R>(value: &Value<'_>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let obj = value.as_object()?;
    if obj.as_typed_array::<u8>().is_some() {
        let array = obj.as_typed_array::<u8>()?;
        let raw = array.as_raw()?;
        // SAFETY: the slice is used before any JS runs again.
        return Some(f(unsafe { raw.as_ref() }));
    }
    // SAFETY: a plain class check.
    if unsafe { qjs::JS_GetTypedArrayType(value.as_raw()) } >= 0 {
        // Another typed array: its bytes, through its buffer.
        let ctx = value.ctx();
        let (mut offset, mut len, mut size) = (0, 0, 0);
        // SAFETY: `value` is a typed array, so this answers its buffer (a
        // new reference, freed below) and its window in it.
        unsafe {
            let buffer = qjs::JS_GetTypedArrayBuffer(
                ctx.as_raw().as_ptr(),
                value.as_raw(),
                &mut offset,
                &mut len,
                &mut size,
            );
            let buffer = Value::from_raw(ctx.clone(), buffer);
            let bytes = buffer.as_object()?.as_array_buffer()?.as_bytes()?;
            return Some(f(bytes.get(offset as usize..(offset + len) as usize)?));
        }
    }
    // SAFETY: a plain class check.
    if unsafe { qjs::JS_IsArrayBuffer(value.as_raw()) } {
        let buffer = obj.as_array_buffer()?;
        // SAFETY: as above.
        return Some(f(unsafe { buffer.as_bytes() }?));
    }
    None
}

/// The UTF-8 of a JS string (coerced), with each lone surrogate (which
/// QuickJS writes as its 3-byte WTF-8 form) replaced by U+FFFD.
fn string_bytes(ctx: &Ctx<'_>, value: &Value<'_>) -> rquickjs::Result<Vec<u8>> {
    let mut len: usize = 0;
    // SAFETY: QuickJS converts (coercing a non-string, which may throw) into
    // a buffer we copy and free at once.
    let mut bytes = unsafe {
        let ptr = qjs::JS_ToCStringLen(ctx.as_raw().as_ptr(), &mut len, value.as_raw());
        if ptr.is_null() {
            return Err(Error::Exception);
        }
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len).to_vec();
        qjs::JS_FreeCString(ctx.as_raw().as_ptr(), ptr);
        bytes
    };
    let mut i = 0;
    while i + 2 < bytes.len() {
        if bytes[i] == 0xed && (0xa0..=0xbf).contains(&bytes[i + 1]) {
            bytes[i..i + 3].copy_from_slice("\u{fffd}".as_bytes());
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(bytes)
}

/// A body given to a native: a `Uint8Array`, an `ArrayBuffer` or a string.
fn body_bytes(ctx: &Ctx<'_>, value: &Value<'_>) -> rquickjs::Result<Vec<u8>> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if value.is_string() {
        return string_bytes(ctx, value);
    }
    with_bytes(value, <[u8]>::to_vec).ok_or_else(|| {
        Exception::throw_type(
            ctx,
            "a body must be a string, a Uint8Array or an ArrayBuffer",
        )
    })
}

/// The environment as `[teamUUID, organizationUUID, instanceId, [k, v,
/// ...]]` (null at snapshot time: there is none).
fn native_env<'js>(ctx: Ctx<'js>) -> rquickjs::Result<Value<'js>> {
    if !LIVE.get() {
        return Ok(Value::new_null(ctx));
    }
    let current = env::current();
    let out = rquickjs::Array::new(ctx.clone())?;
    out.set(0, current.team_uuid)?;
    out.set(1, current.organization_uuid)?;
    out.set(2, current.instance_id)?;
    let config = rquickjs::Array::new(ctx.clone())?;
    let mut i = 0;
    for (k, v) in env::config() {
        config.set(i, k)?;
        config.set(i + 1, v)?;
        i += 2;
    }
    out.set(3, config)?;
    Ok(out.into_value())
}

/// A field of the running call's request: 0 params, 1 query, 2 headers
/// (flat `[k, v, ...]` arrays), 3 the body as text, 4 the body as a
/// `Uint8Array`.
fn native_request<'js>(ctx: Ctx<'js>, field: u32) -> rquickjs::Result<Value<'js>> {
    REQUEST.with(|req| {
        let req = req.borrow();
        let Some(req) = req.as_ref() else {
            return Ok(Value::new_undefined(ctx.clone()));
        };
        // An object of the pairs: the last value of a name wins.
        let record = |pairs: &[(String, String)]| -> rquickjs::Result<Value<'js>> {
            let out = Object::new(ctx.clone())?;
            for (k, v) in pairs {
                out.set(k.as_str(), v.as_str())?;
            }
            Ok(out.into_value())
        };
        match field {
            0 => record(&req.params),
            1 => record(&req.query),
            2 => {
                // The values of a repeated header joined with ", ", as
                // Node's IncomingMessage does (names arrive in lower case).
                let out = Object::new(ctx.clone())?;
                for (i, (k, v)) in req.headers.iter().enumerate() {
                    if req.headers[..i].iter().any(|(earlier, _)| earlier == k) {
                        continue;
                    }
                    let mut joined = std::borrow::Cow::Borrowed(v.as_str());
                    for (_, later) in req.headers[i + 1..].iter().filter(|(name, _)| name == k) {
                        let text = joined.to_mut();
                        text.push_str(", ");
                        text.push_str(later);
                    }
                    out.set(k.as_str(), joined.as_ref())?;
                }
                Ok(out.into_value())
            }
            3 => {
                if req.body.is_empty() {
                    return Ok(Value::new_undefined(ctx.clone()));
                }
                // JSON when it parses (JS_ParseJSON directly: no JS lookups),
                // else the text.
                if let Ok(value) = ctx.json_parse(req.body.as_slice()) {
                    return Ok(value);
                }
                let _ = ctx.catch();
                let text = String::from_utf8_lossy(&req.body);
                Ok(rquickjs::String::from_str(ctx.clone(), &text)?.into_value())
            }
            _ => uint8_array(&ctx, &req.body),
        }
    })
}

/// `respond(status | undefined, [k, v, ...], body, typed)`: the call's
/// answer. `body`: a string, a `Uint8Array`/`ArrayBuffer`/typed array
/// (bytes), nothing, or anything else (JSON, with `content-type:
/// application/json` unless `typed`).
fn native_respond<'js>(
    ctx: Ctx<'js>,
    status: Option<u16>,
    headers: rquickjs::Array<'js>,
    body: Value<'js>,
    typed: rquickjs::function::Opt<bool>,
) -> rquickjs::Result<()> {
    let mut pairs = Vec::with_capacity(headers.len() / 2 + 1);
    let mut i = 0;
    while i + 1 < headers.len() {
        pairs.push((headers.get(i)?, headers.get(i + 1)?));
        i += 2;
    }
    let body = if body.is_undefined() || body.is_null() {
        Vec::new()
    } else if body.is_string() {
        string_bytes(&ctx, &body)?
    } else if let Some(bytes) = with_bytes(&body, <[u8]>::to_vec) {
        bytes
    } else {
        if !typed.0.unwrap_or(false) {
            pairs.push(("content-type".into(), "application/json".into()));
        }
        match plain_json(&ctx, &body)? {
            Some(text) => text,
            None => match ctx.json_stringify(body)? {
                Some(text) => string_bytes(&ctx, text.as_value())?,
                None => Vec::new(),
            },
        }
    };
    settle(Ok(Response {
        status,
        headers: pairs,
        body,
    }));
    Ok(())
}

/// `fail(status, kind, reason, 'error' | 'warning')`: the call's error.
fn native_fail(status: u16, kind: String, reason: String, severity: String) {
    settle(Err(PluginError {
        status,
        kind: Some(kind),
        reason,
        severity: if severity == "warning" {
            Severity::Warning
        } else {
            Severity::Error
        },
    }));
}

fn settle(outcome: Result<Response, PluginError>) {
    OUTCOME.with(|o| {
        let mut o = o.borrow_mut();
        if o.is_none() {
            *o = Some(outcome);
        }
    });
}

/// `__op.fetch(req)`, see CONTRACT.md.
fn native_fetch<'js>(ctx: Ctx<'js>, req: Object<'js>) -> rquickjs::Result<Object<'js>> {
    if !LIVE.get() {
        return Err(throw_tag(
            &ctx,
            "invalid-request",
            "fetch cannot run at module top level (op evaluates the top level once, when the \
             plugin is installed)",
        ));
    }
    let timeout: Option<f64> = req.get("timeout")?;
    let request = fetch::FetchRequest {
        method: req.get::<_, rquickjs::Coerced<String>>("method")?.0,
        url: req.get::<_, rquickjs::Coerced<String>>("url")?.0,
        headers: pairs(&ctx, req.get("headers")?)?,
        query: pairs(&ctx, req.get("query")?)?,
        body: body_bytes(&ctx, &req.get::<_, Value>("body")?)?,
        root: req.get::<_, Option<bool>>("root")?.unwrap_or(true),
        team_uuid: req
            .get::<_, Option<rquickjs::Coerced<String>>>("teamUUID")?
            .map(|s| s.0),
        timeout_ms: timeout
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| t.min(u32::MAX as f64) as u32),
    };
    match fetch::fetch(&request) {
        Ok(answer) => {
            let out = Object::new(ctx.clone())?;
            out.set("status", answer.status)?;
            let headers = rquickjs::Array::new(ctx.clone())?;
            for (i, (k, v)) in answer.headers.into_iter().enumerate() {
                let pair = rquickjs::Array::new(ctx.clone())?;
                pair.set(0, k)?;
                pair.set(1, v)?;
                headers.set(i, pair)?;
            }
            out.set("headers", headers)?;
            out.set("body", uint8_array(&ctx, &answer.body)?)?;
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

/// `[[k, v], ...]` (absent: none) as pairs of strings.
fn pairs<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> rquickjs::Result<Vec<(String, String)>> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    let Some(array) = value.into_array() else {
        return Err(Exception::throw_type(
            ctx,
            "headers and query must be arrays of [name, value] pairs",
        ));
    };
    let mut out = Vec::with_capacity(array.len());
    for pair in array.iter::<rquickjs::Array>() {
        let pair = pair?;
        let k: rquickjs::Coerced<String> = pair.get(0)?;
        let v: rquickjs::Coerced<String> = pair.get(1)?;
        out.push((k.0, v.0));
    }
    Ok(out)
}

// ----- workspace files --------------------------------------------------

/// `__op.fs`: the workspace's files through WASI, see CONTRACT.md. The SDK
/// resolves and checks every path (under `/workspace`) before it gets here;
/// the host's WASI grants only that folder anyway.
fn fs_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("readFile", Function::new(ctx.clone(), fs_read_file)?)?;
    natives.set("writeFile", Function::new(ctx.clone(), fs_write_file)?)?;
    natives.set("readdir", Function::new(ctx.clone(), fs_readdir)?)?;
    natives.set("stat", Function::new(ctx.clone(), fs_stat)?)?;
    natives.set("mkdir", Function::new(ctx.clone(), fs_mkdir)?)?;
    natives.set("rm", Function::new(ctx.clone(), fs_rm)?)?;
    natives.set("rename", Function::new(ctx.clone(), fs_rename)?)?;
    Ok(natives)
}

/// An I/O error as `{tag: CODE, message}` (Node's error codes).
fn fs_error(ctx: &Ctx<'_>, err: &std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let code = match err.kind() {
        K::NotFound => "ENOENT",
        K::AlreadyExists => "EEXIST",
        K::PermissionDenied => "EACCES",
        K::NotADirectory => "ENOTDIR",
        K::IsADirectory => "EISDIR",
        K::DirectoryNotEmpty => "ENOTEMPTY",
        K::StorageFull | K::QuotaExceeded => "ENOSPC",
        K::InvalidInput | K::InvalidFilename => "EINVAL",
        K::CrossesDevices => "EXDEV",
        _ => "EIO",
    };
    throw_tag(ctx, code, &err.to_string())
}

fn fs_live(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    if LIVE.get() {
        Ok(())
    } else {
        Err(throw_tag(
            ctx,
            "EPERM",
            "the workspace cannot be used at module top level (op evaluates the top level once, \
             when the plugin is installed)",
        ))
    }
}

/// `__op.fs.readFile(path)` → `Uint8Array`.
fn fs_read_file<'js>(ctx: Ctx<'js>, path: String) -> rquickjs::Result<Value<'js>> {
    fs_live(&ctx)?;
    let bytes = std::fs::read(&path).map_err(|e| fs_error(&ctx, &e))?;
    uint8_array(&ctx, &bytes)
}

/// `__op.fs.writeFile(path, data, append)`; `data` a string or bytes.
fn fs_write_file<'js>(
    ctx: Ctx<'js>,
    path: String,
    data: Value<'js>,
    append: rquickjs::function::Opt<bool>,
) -> rquickjs::Result<()> {
    use std::io::Write as _;
    fs_live(&ctx)?;
    let bytes = body_bytes(&ctx, &data)?;
    let append = append.0.unwrap_or(false);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&path)
        .map_err(|e| fs_error(&ctx, &e))?;
    file.write_all(&bytes).map_err(|e| fs_error(&ctx, &e))
}

/// `__op.fs.readdir(path)` → `[[name, isDirectory], ...]`, sorted by name.
fn fs_readdir<'js>(ctx: Ctx<'js>, path: String) -> rquickjs::Result<rquickjs::Array<'js>> {
    fs_live(&ctx)?;
    let mut entries: Vec<(String, bool)> = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(|e| fs_error(&ctx, &e))? {
        let entry = entry.map_err(|e| fs_error(&ctx, &e))?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        entries.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    entries.sort();
    let out = rquickjs::Array::new(ctx.clone())?;
    for (i, (name, is_dir)) in entries.into_iter().enumerate() {
        let pair = rquickjs::Array::new(ctx.clone())?;
        pair.set(0, name)?;
        pair.set(1, is_dir)?;
        out.set(i, pair)?;
    }
    Ok(out)
}

/// `__op.fs.stat(path)` → `{size, isFile, isDirectory, mtimeMs}`.
fn fs_stat<'js>(ctx: Ctx<'js>, path: String) -> rquickjs::Result<Object<'js>> {
    fs_live(&ctx)?;
    let meta = std::fs::metadata(&path).map_err(|e| fs_error(&ctx, &e))?;
    let out = Object::new(ctx.clone())?;
    out.set("size", meta.len() as f64)?;
    out.set("isFile", meta.is_file())?;
    out.set("isDirectory", meta.is_dir())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    out.set("mtimeMs", mtime)?;
    Ok(out)
}

/// `__op.fs.mkdir(path, recursive)`.
fn fs_mkdir(ctx: Ctx<'_>, path: String, recursive: bool) -> rquickjs::Result<()> {
    fs_live(&ctx)?;
    let made = if recursive {
        std::fs::create_dir_all(&path)
    } else {
        std::fs::create_dir(&path)
    };
    made.map_err(|e| fs_error(&ctx, &e))
}

/// `__op.fs.rm(path, recursive)`: a file, or a directory (with
/// `recursive`, and what it holds).
fn fs_rm(ctx: Ctx<'_>, path: String, recursive: bool) -> rquickjs::Result<()> {
    fs_live(&ctx)?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| fs_error(&ctx, &e))?;
    let removed = match (meta.is_dir(), recursive) {
        (true, true) => std::fs::remove_dir_all(&path),
        (true, false) => Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory (give recursive: true)",
        )),
        (false, _) => std::fs::remove_file(&path),
    };
    removed.map_err(|e| fs_error(&ctx, &e))
}

/// `__op.fs.rename(from, to)`.
fn fs_rename(ctx: Ctx<'_>, from: String, to: String) -> rquickjs::Result<()> {
    fs_live(&ctx)?;
    std::fs::rename(&from, &to).map_err(|e| fs_error(&ctx, &e))
}

// ----- objects ----------------------------------------------------------

/// `__op.objects`: the object storage natives, see CONTRACT.md.
fn objects_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("upload", Function::new(ctx.clone(), objects_upload)?)?;
    natives.set("download", Function::new(ctx.clone(), objects_download)?)?;
    natives.set("put", Function::new(ctx.clone(), objects_put)?)?;
    natives.set("get", Function::new(ctx.clone(), objects_get)?)?;
    natives.set("delete", Function::new(ctx.clone(), objects_delete)?)?;
    Ok(natives)
}

/// A signed address as `{url, webUrl, fields: [[name, value]], expiresAt}`.
fn signed_url<'js>(ctx: &Ctx<'js>, signed: objects::SignedUrl) -> rquickjs::Result<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    out.set("url", signed.url)?;
    out.set("webUrl", signed.web_url)?;
    let fields = rquickjs::Array::new(ctx.clone())?;
    for (i, (name, value)) in signed.fields.into_iter().enumerate() {
        let pair = rquickjs::Array::new(ctx.clone())?;
        pair.set(0, name)?;
        pair.set(1, value)?;
        fields.set(i, pair)?;
    }
    out.set("fields", fields)?;
    out.set("expiresAt", signed.expires_at as f64)?;
    Ok(out)
}

/// `__op.objects.upload(key)` → a signed address.
fn objects_upload<'js>(ctx: Ctx<'js>, key: String) -> rquickjs::Result<Object<'js>> {
    storage_live(&ctx)?;
    let signed = objects::upload(&key).map_err(|e| storage_error(&ctx, e))?;
    signed_url(&ctx, signed)
}

/// `__op.objects.download(key)` → a signed address.
fn objects_download<'js>(ctx: Ctx<'js>, key: String) -> rquickjs::Result<Object<'js>> {
    storage_live(&ctx)?;
    let signed = objects::download(&key).map_err(|e| storage_error(&ctx, e))?;
    signed_url(&ctx, signed)
}

/// `__op.objects.put(key, contentType, bytes: Uint8Array | ArrayBuffer)`.
fn objects_put<'js>(
    ctx: Ctx<'js>,
    key: String,
    content_type: String,
    body: Value<'js>,
) -> rquickjs::Result<()> {
    storage_live(&ctx)?;
    let body = with_bytes(&body, <[u8]>::to_vec).ok_or_else(|| {
        throw_tag(
            &ctx,
            "invalid",
            "objects.put: the body must be a Uint8Array or an ArrayBuffer",
        )
    })?;
    objects::put(&key, &content_type, &body).map_err(|e| storage_error(&ctx, e))
}

/// `__op.objects.get(key)` → `{contentType, body: Uint8Array}` or
/// `undefined`.
fn objects_get<'js>(ctx: Ctx<'js>, key: String) -> rquickjs::Result<Option<Object<'js>>> {
    storage_live(&ctx)?;
    let Some(object) = objects::get(&key).map_err(|e| storage_error(&ctx, e))? else {
        return Ok(None);
    };
    let out = Object::new(ctx.clone())?;
    out.set("contentType", object.content_type)?;
    out.set("body", uint8_array(&ctx, &object.body)?)?;
    Ok(Some(out))
}

/// `__op.objects.delete(key)` → whether there was an object.
fn objects_delete(ctx: Ctx<'_>, key: String) -> rquickjs::Result<bool> {
    storage_live(&ctx)?;
    objects::delete(&key).map_err(|e| storage_error(&ctx, e))
}

// ----- storage ----------------------------------------------------------

/// `__op.storage`: the entity storage natives, see CONTRACT.md. Values
/// cross as JSON text; the host checks them against the declaration.
fn storage_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("get", Function::new(ctx.clone(), storage_get)?)?;
    natives.set("set", Function::new(ctx.clone(), storage_set)?)?;
    natives.set("delete", Function::new(ctx.clone(), storage_delete)?)?;
    natives.set("batchSet", Function::new(ctx.clone(), storage_batch_set)?)?;
    natives.set(
        "batchDelete",
        Function::new(ctx.clone(), storage_batch_delete)?,
    )?;
    natives.set("query", Function::new(ctx.clone(), storage_query)?)?;
    Ok(natives)
}

/// Refuses storage at module top level (snapshot time).
fn storage_live(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    if LIVE.get() {
        Ok(())
    } else {
        Err(throw_tag(
            ctx,
            "invalid",
            "storage cannot be used at module top level (op evaluates the top level once, when \
             the plugin is installed)",
        ))
    }
}

fn storage_error(ctx: &Ctx<'_>, err: storage::StorageError) -> Error {
    let (tag, message) = match err {
        storage::StorageError::Undeclared(m) => ("undeclared", m),
        storage::StorageError::Invalid(m) => ("invalid", m),
        storage::StorageError::TooLarge(m) => ("too-large", m),
        storage::StorageError::Unavailable(m) => ("unavailable", m),
    };
    throw_tag(ctx, tag, &message)
}

/// `__op.storage.get(entity, key)` → JSON text, or `undefined`.
fn storage_get(ctx: Ctx<'_>, entity: String, key: String) -> rquickjs::Result<Option<String>> {
    storage_live(&ctx)?;
    storage::get(&entity, &key).map_err(|e| storage_error(&ctx, e))
}

/// `__op.storage.set(entity, key, json)`.
fn storage_set(ctx: Ctx<'_>, entity: String, key: String, value: String) -> rquickjs::Result<()> {
    storage_live(&ctx)?;
    storage::set(&entity, &key, &value).map_err(|e| storage_error(&ctx, e))
}

/// `__op.storage.delete(entity, key)` → whether there was a record.
fn storage_delete(ctx: Ctx<'_>, entity: String, key: String) -> rquickjs::Result<bool> {
    storage_live(&ctx)?;
    storage::delete(&entity, &key).map_err(|e| storage_error(&ctx, e))
}

/// `__op.storage.batchSet(entity, [[key, json], ...])`.
fn storage_batch_set<'js>(
    ctx: Ctx<'js>,
    entity: String,
    entries: Value<'js>,
) -> rquickjs::Result<()> {
    storage_live(&ctx)?;
    let entries: Vec<storage::Entry> = pairs(&ctx, entries)?
        .into_iter()
        .map(|(key, value)| storage::Entry { key, value })
        .collect();
    storage::batch_set(&entity, &entries).map_err(|e| storage_error(&ctx, e))
}

/// `__op.storage.batchDelete(entity, [key, ...])`.
fn storage_batch_delete<'js>(
    ctx: Ctx<'js>,
    entity: String,
    keys: rquickjs::Array<'js>,
) -> rquickjs::Result<()> {
    storage_live(&ctx)?;
    let keys = keys
        .iter::<rquickjs::Coerced<String>>()
        .map(|k| k.map(|k| k.0))
        .collect::<rquickjs::Result<Vec<String>>>()?;
    storage::batch_delete(&entity, &keys).map_err(|e| storage_error(&ctx, e))
}

/// `__op.storage.query(entity, {index, partition: [json], condition:
/// [op, json, json?], descending, limit, cursor})` → `{entries: [[key,
/// json]], hasMore, endCursor}`.
fn storage_query<'js>(
    ctx: Ctx<'js>,
    entity: String,
    q: Object<'js>,
) -> rquickjs::Result<Object<'js>> {
    storage_live(&ctx)?;
    let partition: Option<rquickjs::Array> = q.get("partition")?;
    let partition = match partition {
        Some(values) => values
            .iter::<rquickjs::Coerced<String>>()
            .map(|v| v.map(|v| v.0))
            .collect::<rquickjs::Result<Vec<String>>>()?,
        None => Vec::new(),
    };
    let condition = match q.get::<_, Option<rquickjs::Array>>("condition")? {
        None => None,
        Some(c) => {
            let op: String = c.get(0)?;
            let a: String = c.get(1)?;
            Some(match op.as_str() {
                "equal" => storage::Condition::Equal(a),
                "lessThan" => storage::Condition::LessThan(a),
                "lessOrEqual" => storage::Condition::LessOrEqual(a),
                "greaterThan" => storage::Condition::GreaterThan(a),
                "greaterOrEqual" => storage::Condition::GreaterOrEqual(a),
                "between" => storage::Condition::Between((a, c.get(2)?)),
                "beginsWith" => storage::Condition::BeginsWith(a),
                other => {
                    return Err(throw_tag(
                        &ctx,
                        "invalid",
                        &format!("`{other}` is not a query condition"),
                    ));
                }
            })
        }
    };
    let limit: Option<f64> = q.get("limit")?;
    let request = storage::QueryRequest {
        entity,
        index: q.get("index")?,
        partition,
        condition,
        descending: q.get::<_, Option<bool>>("descending")?.unwrap_or(false),
        limit: limit
            .filter(|l| l.is_finite() && *l >= 0.0)
            .map(|l| l.min(u32::MAX as f64) as u32),
        cursor: q.get("cursor")?,
    };
    let page = storage::query(&request).map_err(|e| storage_error(&ctx, e))?;
    let out = Object::new(ctx.clone())?;
    let entries = rquickjs::Array::new(ctx.clone())?;
    for (i, entry) in page.entries.into_iter().enumerate() {
        let pair = rquickjs::Array::new(ctx.clone())?;
        pair.set(0, entry.key)?;
        pair.set(1, entry.value)?;
        entries.set(i, pair)?;
    }
    out.set("entries", entries)?;
    out.set("hasMore", page.has_more)?;
    out.set("endCursor", page.end_cursor)?;
    Ok(out)
}

// ----- the call ---------------------------------------------------------

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
        #[cfg(feature = "probe")]
        probe::start();
        LIVE.set(true);
        let outcome = ENGINE.with(|engine| {
            let Some(engine) = engine.get() else {
                return Err(plugin_error(500, "the JS runner was not initialised"));
            };
            engine
                .context
                .with(|ctx| call_in(&ctx, &engine.prelude, &function, req))
        });
        #[cfg(feature = "probe")]
        let outcome = outcome.map(|mut r| {
            r.headers.push(("x-op-probe".into(), probe::finish()));
            r
        });
        outcome
    }
}

fn call_in(
    ctx: &Ctx<'_>,
    prelude: &Prelude,
    function: &str,
    req: Request,
) -> Result<Response, PluginError> {
    let internal = |e: Error| plugin_error(500, &describe(ctx, e));
    let restore = |f: &Persistent<Function<'static>>| f.clone().restore(ctx).map_err(internal);
    let call = restore(&prelude.call)?;
    let (method, url) = (
        rquickjs::String::from_str(ctx.clone(), &req.method).map_err(internal)?,
        rquickjs::String::from_str(ctx.clone(), &req.url).map_err(internal)?,
    );
    REQUEST.with(|r| *r.borrow_mut() = Some(req));
    // The function's value; a throw is the call's error.
    let value: Value = match call.call((function, method, url)) {
        Ok(value) => value,
        Err(Error::Exception) => {
            let thrown = ctx.catch();
            restore(&prelude.fail_with)?
                .call::<_, ()>((thrown,))
                .map_err(internal)?;
            return take_outcome(function);
        }
        Err(e) => return Err(internal(e)),
    };
    if let Some(outcome) = OUTCOME.with(|o| o.borrow_mut().take()) {
        return outcome;
    }
    // A promise is followed here (its state read natively: no `then`, no
    // job when it is already settled, as an async function's usually is).
    let promise = match value.as_promise() {
        Some(p) => Some(p.clone()),
        None => {
            let thenable = value
                .as_object()
                .is_some_and(|o| o.get::<_, Value>("then").is_ok_and(|t| t.is_function()));
            if thenable {
                let adopted: Value = restore(&prelude.adopt)?
                    .call((value.clone(),))
                    .map_err(internal)?;
                adopted.into_promise()
            } else {
                None
            }
        }
    };
    let Some(promise) = promise else {
        restore(&prelude.settled)?
            .call::<_, ()>((value,))
            .map_err(internal)?;
        return take_outcome(function);
    };
    let mut timers: Option<(Function, Function)> = None;
    loop {
        while promise.state() == PromiseState::Pending && ctx.execute_pending_job() {}
        match promise.state() {
            PromiseState::Resolved => {
                let value: Value = promise
                    .result()
                    .unwrap_or(Err(Error::Unknown))
                    .map_err(internal)?;
                restore(&prelude.settled)?
                    .call::<_, ()>((value,))
                    .map_err(internal)?;
                return take_outcome(function);
            }
            PromiseState::Rejected => {
                let reason = match promise.result::<Value>() {
                    Some(Err(Error::Exception)) | None => ctx.catch(),
                    Some(Ok(v)) => v,
                    Some(Err(e)) => return Err(internal(e)),
                };
                restore(&prelude.fail_with)?
                    .call::<_, ()>((reason,))
                    .map_err(internal)?;
                return take_outcome(function);
            }
            PromiseState::Pending => {}
        }
        // No job left and still pending: wait for the earliest timer.
        if timers.is_none() {
            timers = Some((restore(&prelude.next_timer)?, restore(&prelude.fire_timer)?));
        }
        let (next, fire) = timers.as_ref().expect("set above");
        let wait: f64 = next.call(()).map_err(internal)?;
        if wait < 0.0 {
            return Err(plugin_error(
                500,
                &format!(
                    "`{function}` returned a promise that can never settle (no job and no timer \
                     is left)"
                ),
            ));
        }
        if wait > 0.0 {
            let nanos = (wait * 1e6).ceil() as u64;
            wasip2::clocks::monotonic_clock::subscribe_duration(nanos).block();
        }
        fire.call::<_, ()>(()).map_err(internal)?;
    }
}

/// The outcome the prelude reported.
fn take_outcome(function: &str) -> Result<Response, PluginError> {
    OUTCOME.with(|o| o.borrow_mut().take()).unwrap_or_else(|| {
        Err(plugin_error(
            500,
            &format!("`{function}` ended without an answer (the runner's prelude failed)"),
        ))
    })
}

fn plugin_error(status: u16, reason: &str) -> PluginError {
    PluginError {
        status,
        kind: Some("js_error".into()),
        reason: reason.into(),
        severity: Severity::Error,
    }
}
