//! What a plugin call costs: instantiate a fresh instance of `hello` (Rust)
//! and of `ts-hello` (TypeScript) from its `InstancePre` and call it, and
//! route matching in a table of 1,000 routes. Run with `cargo bench -p op --bench invoke` (see BENCHMARKS.md).

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use op::bindings::{PluginPre, Request};
use op::gateway::RouteTable;
use op::imports::{CallContext, HostState, Installation, InstanceContext};
use op::manifest::{ApiScope, Method};
use op::runtime::{Plugin, Runtime, RuntimeConfig};
use wasmtime::Store;
use wasmtime::component::Component;

/// The allocator of the `op` binary (see `host/src/main.rs`), so that the
/// figures are those of the host as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn hello_request() -> Request {
    Request {
        method: "POST".into(),
        url: "/hello".into(),
        params: Vec::new(),
        query: Vec::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"x":1}"#.to_vec(),
        upstream: None,
    }
}

/// A runtime that makes every instance on its call's path: what is
/// measured is the instantiation and the call, not an instance made ahead.
fn runtime_without_ready_instances() -> Runtime {
    Runtime::new(RuntimeConfig {
        ready_instances: 0,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn instantiate_and_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = runtime_without_ready_instances();
    let dir = Path::new(op_test_plugins::HELLO_DIR).join("config/plugin.yaml");
    let manifest = op::manifest::load(&dir, "config/plugin.yaml").unwrap();
    let plugin = rt
        .block_on(Plugin::load(
            &runtime,
            manifest,
            "config/plugin.yaml",
            Path::new(op_test_plugins::HELLO),
        ))
        .unwrap();
    let request = hello_request();
    let answer = rt
        .block_on(plugin.call("hello", &request))
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.body,
        br#"{"requestBody":{"x":1},"res":"hello world"}"#
    );
    c.bench_function("hello: instantiate + call", |b| {
        b.iter(|| {
            let outcome = rt
                .block_on(plugin.call("hello", black_box(&request)))
                .unwrap();
            black_box(outcome.unwrap());
        })
    });
}

/// The reference for the figure above: the same call on one instance that
/// is kept and reused (what a host without per-call isolation pays).
fn call_on_a_reused_instance(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let component = Component::from_file(runtime.engine(), op_test_plugins::HELLO).unwrap();
    let pre = PluginPre::new(runtime.linker().instantiate_pre(&component).unwrap()).unwrap();
    let manifest_path = Path::new(op_test_plugins::HELLO_DIR).join("config/plugin.yaml");
    let manifest = op::manifest::load(&manifest_path, "config/plugin.yaml").unwrap();
    let instance = Arc::new(InstanceContext::new(
        &manifest,
        Installation::default(),
        op::imports::wasi::DEFAULT_WORKSPACE_QUOTA,
    ));
    let call = CallContext::new(instance, "hello");
    let mut store = Store::new(runtime.engine(), HostState::new(64 << 20, call));
    store.set_epoch_deadline(1 << 40);
    let instance = rt.block_on(pre.instantiate_async(&mut store)).unwrap();
    let request = hello_request();
    c.bench_function("hello: call on a reused instance (reference)", |b| {
        b.iter(|| {
            let outcome = rt
                .block_on(instance.op_plugin_handler().call_call(
                    &mut store,
                    "hello",
                    black_box(&request),
                ))
                .unwrap();
            black_box(outcome.unwrap());
        })
    });
}

fn route_matching(c: &mut Criterion) {
    let mut text =
        String::from("service:\n  app_id: many\n  name: many\n  version: 1.0.0\napis:\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "  - type: addition\n    methods: [GET]\n    url: /area{}/items{i}/:id\n    function: f{i}\n",
            i % 10
        ));
    }
    let manifest = op::manifest::parse(&text, "plugin.yaml").unwrap();
    let table = RouteTable::new([&manifest]);
    let segments = ["area9", "items999", "42"];
    let found = table
        .find(
            ApiScope::Project,
            &segments,
            Some(Method::Get),
            &[],
            None,
            None,
        )
        .unwrap();
    assert_eq!(found.route.function, "f999");
    c.bench_function("route matching: last of 1,000 routes", |b| {
        b.iter(|| {
            let found = table.find(
                ApiScope::Project,
                black_box(&segments),
                Some(Method::Get),
                &[],
                None,
                None,
            );
            black_box(found.is_ok());
        })
    });
}

/// The same for the TypeScript template (`example-plugins/ts-hello`): its
/// bundle pre-initialised into a component by op, a fresh instance per
/// call, the function's log line included.
fn ts_instantiate_and_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = runtime_without_ready_instances();
    let dir = Path::new(op_test_plugins::TS_HELLO_DIR).join("config/plugin.yaml");
    // A bundle loaded as ts-hello's code, the way op serve loads it.
    let load = |bundle: &str| {
        let manifest = op::manifest::load(&dir, "config/plugin.yaml").unwrap();
        let code = op::code::PluginCode::JavaScript(std::fs::read_to_string(bundle).unwrap());
        rt.block_on(code.load(
            &runtime,
            manifest,
            "config/plugin.yaml",
            "plugin.js",
            Installation::default(),
        ))
        .unwrap()
    };
    let plugin = load(op_test_plugins::TS_HELLO);
    let request = hello_request();
    let answer = rt
        .block_on(plugin.call("jackFunc", &request))
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.body,
        br#"{"res":"hello world","requestBody":{"x":1}}"#
    );
    c.bench_function("ts-hello: instantiate + call", |b| {
        b.iter(|| {
            let outcome = rt
                .block_on(plugin.call("jackFunc", black_box(&request)))
                .unwrap();
            black_box(outcome.unwrap());
        })
    });
    // `OP_BENCH_JS=name=bundle.js,...`: bundles exporting `jackFunc`, each
    // loaded as ts-hello's code and called in turn (300 calls a round, 30
    // rounds), so that their figures share the machine's moment; prints the
    // best and the median round. For attributing a JS call's cost (see
    // BENCHMARKS.md).
    let mut variants = Vec::new();
    for item in std::env::var("OP_BENCH_JS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let (name, path) = item.split_once('=').unwrap();
        let plugin = load(path);
        rt.block_on(plugin.call("jackFunc", &request))
            .unwrap()
            .unwrap();
        variants.push((name.to_string(), plugin, Vec::new()));
    }
    if !variants.is_empty() {
        for _round in 0..30 {
            for (_, plugin, times) in variants.iter_mut() {
                let t = std::time::Instant::now();
                for _ in 0..300 {
                    black_box(
                        rt.block_on(plugin.call("jackFunc", black_box(&request)))
                            .unwrap()
                            .unwrap(),
                    );
                }
                times.push(t.elapsed().as_nanos() as f64 / 300.0 / 1000.0);
            }
        }
        for (name, _, times) in variants.iter_mut() {
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "VARIANT {name:14} min {:6.2} µs  median {:6.2} µs",
                times[0],
                times[times.len() / 2]
            );
        }
    }
}

criterion_group!(
    benches,
    instantiate_and_call,
    ts_instantiate_and_call,
    call_on_a_reused_instance,
    route_matching
);
criterion_main!(benches);
