//! Spike of issue 19 end to end: snapshot the QuickJS runner with a JS
//! bundle inside op, componentize it, load it with `Plugin`, call it, check
//! the snapshot hazards, and time a fresh instance + call against the Rust
//! `hello` example in the same run.
//!
//! ```sh
//! (cd js-runner && cargo build --release)   # see js-runner/SPIKE.md for the env
//! cargo run --release -p op --example js_spike [RUNNER.wasm] [BUNDLE.js]
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use op::imports::Installation;
use op::runtime::bindings::Request;
use op::runtime::{Plugin, Runtime, RuntimeConfig};

const BUNDLE: &str = r#"
import { OPFetch, isFetchError } from '@ones-op/fetch'
import { Logger } from '@ones-op/node-logger'

// Real plugins read onesEnv at module top level.
const TEAM_AT_TOP = globalThis.onesEnv.teamUUID
const RANDOM_AT_TOP = Math.random()
const NOW_AT_TOP = Date.now()

export async function jackFunc(request) {
  Logger.info('[Plugin] body %s', request.body)
  return { body: { res: 'hello world', requestBody: request.body } }
}

export async function quiet(request) {
  return { body: { res: 'hello world', requestBody: request.body } }
}
export function plain() { return { body: 'ok' } }

export async function hazards(request) {
  await null
  return { body: {
    random: Math.random(), randomAtTop: RANDOM_AT_TOP,
    now: Date.now(), nowAtTop: NOW_AT_TOP,
    teamAtTop: TEAM_AT_TOP, teamNow: globalThis.onesEnv.teamUUID,
    instanceId: onesEnv.instanceId, userId: request.headers['Ones-User-Id'],
  } }
}

export async function getUserme(request) {
  try {
    return await OPFetch({ path: '/users/me', method: 'GET', root: false, teamUUID: '' })
  } catch (e) {
    return { statusCode: 502, body: { fetchError: isFetchError(e), message: e.message } }
  }
}

export async function throws() { throw new Error('boom') }
export async function rejectsWarning() {
  return Promise.reject({ statusCode: 400, body: { reason: 'bad input', type: 'warning', model: 'plugin.bad_input' } })
}
export function neverSettles() { return new Promise(() => {}) }
export async function spins() { for (;;) {} }
"#;

const MANIFEST: &str = "service:\n  app_id: tshello\n  name: ts-hello\n  version: 1.0.0\n  language: nodejs\napis:\n  - type: addition\n    methods: [POST]\n    url: /hello\n    function: jackFunc\n";

fn request(body: &str) -> Request {
    Request {
        method: "POST".into(),
        url: "/hello".into(),
        params: Vec::new(),
        query: Vec::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("ones-user-id".into(), "u1".into()),
        ],
        body: body.as_bytes().to_vec(),
        upstream: None,
    }
}

fn p50(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let runner_path = args
        .get(1)
        .map(Into::into)
        .unwrap_or_else(|| root.join("js-runner/target/wasm32-wasip2/release/op_js_runner.wasm"));
    let bundle = match args.get(2) {
        Some(p) => std::fs::read_to_string(p).expect("read bundle"),
        None => BUNDLE.to_string(),
    };
    let runner = std::fs::read(&runner_path).expect("read runner (build js-runner first)");
    println!("runner core module: {} bytes", runner.len());

    let env = r#"{"teamUUID":"TEAM0001","organizationUUID":"ORG00001","orgUUID":"ORG00001","instanceId":"snap"}"#;
    let started = Instant::now();
    let built = op::js::build_component(&runner, &bundle, env).await;
    let built = match built {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    println!(
        "snapshot: {:?}, componentize: {:?}, total {:?}; component {} bytes",
        built.snapshot_time,
        built.componentize_time,
        started.elapsed(),
        built.component.len()
    );

    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let manifest = op::manifest::parse(MANIFEST, "plugin.yaml").unwrap();
    let installation = Installation {
        instance_id: "inst-1".into(),
        team_uuid: Some("TEAM0001".into()),
        organization_uuid: Some("ORG00001".into()),
        ..Installation::default()
    };
    let started = Instant::now();
    let plugin = Plugin::from_bytes(
        &runtime,
        manifest,
        "plugin.yaml",
        &built.component,
        "ts-hello",
        installation,
    )
    .await
    .unwrap_or_else(|e| panic!("load: {e}"));
    println!("compile + load in op: {:?}", started.elapsed());
    println!("functions: {:?}", plugin.functions());

    let show = |outcome: &op::runtime::CallOutcome| match outcome {
        Ok(r) => format!("{:?} {}", r.status, String::from_utf8_lossy(&r.body)),
        Err(e) => format!("plugin error {e:?}"),
    };
    let r = request(r#"{"x":1}"#);
    for f in [
        "jackFunc",
        "hazards",
        "hazards",
        "getUserme",
        "throws",
        "rejectsWarning",
        "neverSettles",
    ] {
        let started = Instant::now();
        match plugin.call(f, &r).await {
            Ok(outcome) => println!("{f}: {} ({:?})", show(&outcome), started.elapsed()),
            Err(e) => println!("{f}: call error {e}"),
        }
    }
    println!(
        "host now: {}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    if std::env::var_os("SPIKE_SPIN").is_some() {
        let started = Instant::now();
        match plugin.call("spins", &r).await {
            Ok(outcome) => println!("spins: {}", show(&outcome)),
            Err(e) => println!("spins: call error {e} after {:?}", started.elapsed()),
        }
    }

    // The Rust hello example, same run.
    let hello_manifest = op::manifest::load(
        &Path::new(op_test_plugins::HELLO_DIR).join("config/plugin.yaml"),
        "config/plugin.yaml",
    )
    .unwrap();
    let hello = Plugin::load(
        &runtime,
        hello_manifest,
        "config/plugin.yaml",
        Path::new(op_test_plugins::HELLO),
    )
    .await
    .unwrap();
    let n: usize = std::env::var("SPIKE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    for round in 0..2 {
        let js_fns = std::env::var("SPIKE_FNS").unwrap_or_else(|_| "jackFunc,quiet,plain".into());
        let mut cases: Vec<(&str, &Plugin, &str)> =
            js_fns.split(',').map(|f| (f, &plugin, f)).collect();
        cases.push(("rust hello", &hello, "hello"));
        for (name, plugin, f) in cases {
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let started = Instant::now();
                let outcome = plugin.call(f, &r).await.unwrap();
                samples.push(started.elapsed());
                std::hint::black_box(outcome.unwrap());
            }
            let (p50, p99) = p50(samples);
            println!(
                "round {round}: {name}: fresh instance + call p50 {p50:?} p99 {p99:?} (n={n})"
            );
        }
    }

    // Where the time goes: a fresh Store + instantiate alone, and calls on
    // one reused instance (not how op runs plugins; a breakdown only).
    let component =
        wasmtime::component::Component::new(runtime.engine(), &built.component).unwrap();
    let pre = op::runtime::bindings::PluginPre::new(
        runtime.linker().instantiate_pre(&component).unwrap(),
    )
    .unwrap();
    let hello_component =
        wasmtime::component::Component::from_file(runtime.engine(), op_test_plugins::HELLO)
            .unwrap();
    let hello_pre = op::runtime::bindings::PluginPre::new(
        runtime.linker().instantiate_pre(&hello_component).unwrap(),
    )
    .unwrap();
    let ctx = plugin.instance().clone();
    for (name, pre, f) in [("js", &pre, "plain"), ("rust", &hello_pre, "hello")] {
        let new_store = || {
            let call = op::imports::CallContext::new(ctx.clone(), f);
            let mut store = wasmtime::Store::new(
                runtime.engine(),
                op::imports::HostState::new(64 << 20, call),
            );
            store.set_epoch_deadline(1 << 40);
            store
        };
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let mut store = new_store();
            let started = Instant::now();
            let instance = pre.instantiate_async(&mut store).await.unwrap();
            samples.push(started.elapsed());
            std::hint::black_box(instance);
        }
        let (p50i, _) = p50(samples);
        let mut store = new_store();
        let instance = pre.instantiate_async(&mut store).await.unwrap();
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let out = instance
                .op_plugin_handler()
                .call_call(&mut store, f, &r)
                .await
                .unwrap();
            samples.push(started.elapsed());
            std::hint::black_box(out.unwrap());
        }
        let (p50c, _) = p50(samples);
        println!(
            "{name}: instantiate alone p50 {p50i:?}; call `{f}` on a reused instance p50 {p50c:?}"
        );
    }
}
