//! The JS runner end to end in op: snapshot the QuickJS runner with a JS
//! bundle, componentize it, load it with `Plugin`, check the runner's side
//! of js-runner/CONTRACT.md, and time a fresh instance + call against the
//! Rust `hello` example in the same run. Kept in js-runner/host-prototype/
//! (see js-runner/README.md for how to run it).
//!
//! ```sh
//! cargo run --release -p op --example js_spike [RUNNER.wasm] [BUNDLE.js]
//! ```
//! Without BUNDLE: js-runner/bench/hello.js + contract.js.
//! SPIKE_N (5000), SPIKE_FNS (jackFunc,quiet,plain), SPIKE_SPIN=1,
//! SPIKE_CHECKS=0 (timings only).

use std::path::Path;
use std::time::{Duration, Instant};

use op::imports::Installation;
use op::runtime::bindings::Request;
use op::runtime::{Plugin, Runtime, RuntimeConfig};

const MANIFEST: &str = "service:\n  app_id: tshello\n  name: ts-hello\n  version: 1.0.0\n  language: nodejs\n  config:\n    - key: color\n      default: blue\napis:\n  - type: addition\n    methods: [POST]\n    url: /hello\n    function: jackFunc\n";

fn request(body: &str) -> Request {
    Request {
        method: "POST".into(),
        url: "/hello?x=1".into(),
        params: vec![("id".into(), "7".into())],
        query: vec![("x".into(), "1".into())],
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("ones-user-id".into(), "u1".into()),
            ("x-twice".into(), "a".into()),
            ("x-twice".into(), "b".into()),
        ],
        body: body.as_bytes().to_vec(),
        upstream: None,
    }
}

fn p50(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 99 / 100])
}

/// Minor page faults of this thread so far.
fn minflt() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // Fields after the name: state(3) ppid pgrp session tty tpgid flags minflt(10).
    after.split_whitespace().nth(7).and_then(|v| v.parse().ok()).unwrap_or(0)
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
        None => {
            let bench = root.join("js-runner/bench");
            std::fs::read_to_string(bench.join("hello.js")).unwrap()
                + &std::fs::read_to_string(bench.join("contract.js")).unwrap()
        }
    };
    let checks = std::env::var("SPIKE_CHECKS").map_or(true, |v| v != "0");
    let runner = std::fs::read(&runner_path).expect("read runner (build js-runner first)");
    println!("runner core module: {} bytes", runner.len());

    let env = r#"{"teamUUID":"TEAM0001","organizationUUID":"ORG00001","orgUUID":"ORG00001","instanceId":"snap","config":{"color":"blue"}}"#;
    let started = Instant::now();
    let built = match op::js::build_component(&runner, &bundle, env).await {
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
        Ok(r) => format!(
            "{:?} {:?} {}",
            r.status,
            r.headers,
            String::from_utf8_lossy(&r.body)
        ),
        Err(e) => format!("plugin error {e:?}"),
    };
    let r = request(r#"{"x":1}"#);
    if checks {
        for f in [
            "jackFunc", "hazards", "hazards", "request", "utf8", "binary", "text", "nothing",
            "timers", "console_", "getUserme", "throws", "rejectsWarning", "throwsOnes",
            "throwsString", "neverSettles", "missing",
        ] {
            if !plugin.has_function(f) && f != "missing" {
                continue;
            }
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
    }
    if std::env::var_os("SPIKE_SPIN").is_some() {
        let started = Instant::now();
        match plugin.call("spins", &r).await {
            Ok(outcome) => println!("spins: {}", show(&outcome)),
            Err(e) => println!("spins: call error {e} after {:?}", started.elapsed()),
        }
    }

    // Guest work per fresh call, in wasmtime fuel (about one unit per wasm
    // instruction): deterministic, unlike the timings on a shared machine.
    {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true).wasm_component_model(true);
        let profile: usize = std::env::var("SPIKE_PROFILE").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        if profile > 0 {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&config).unwrap();
        let mut linker = wasmtime::component::Linker::new(&engine);
        op::imports::add_to_linker(&mut linker).unwrap();
        let component = wasmtime::component::Component::new(&engine, &built.component).unwrap();
        let pre = op::runtime::bindings::PluginPre::new(linker.instantiate_pre(&component).unwrap())
            .unwrap();
        let js_fns = std::env::var("SPIKE_FNS").unwrap_or_else(|_| "jackFunc,quiet,plain".into());
        let ctx = plugin.instance().clone();
        for f in js_fns.split(',') {
            let call = op::imports::CallContext::serving(ctx.clone(), f, &r);
            let mut store = wasmtime::Store::new(&engine, op::imports::HostState::new(64 << 20, call));
            store.set_fuel(u64::MAX).unwrap();
            let instance = pre.instantiate_async(&mut store).await.unwrap();
            let before = store.get_fuel().unwrap();
            let out = instance
                .op_plugin_handler()
                .call_call(&mut store, f, &r)
                .await
                .unwrap();
            let used = before - store.get_fuel().unwrap();
            println!("fuel: {f}: {used} per fresh call ({})", if out.is_ok() { "ok" } else { "error" });
            // SPIKE_PROFILE=N: N more fresh calls of the first function, to
            // run under `perf record` (wasm functions named by the perf map).
            for _ in 0..profile {
                let call = op::imports::CallContext::serving(ctx.clone(), f, &r);
                let mut store = wasmtime::Store::new(&engine, op::imports::HostState::new(64 << 20, call));
                store.set_fuel(u64::MAX).unwrap();
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let out = instance.op_plugin_handler().call_call(&mut store, f, &r).await.unwrap();
                std::hint::black_box(out.ok());
            }
            if profile > 0 {
                return;
            }
        }
    }

    // SPIKE_ALSO=label=runner.wasm,...: more runners, snapshotted with the
    // same bundle and timed in the same loop (a same-run comparison).
    let mut others: Vec<(String, Plugin)> = Vec::new();
    for spec in std::env::var("SPIKE_ALSO").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
        let (label, path) = spec.split_once('=').expect("label=path");
        let runner = std::fs::read(path).expect("read runner");
        let built = op::js::build_component(&runner, &bundle, env).await.unwrap_or_else(|e| panic!("{e}"));
        let manifest = op::manifest::parse(MANIFEST, "plugin.yaml").unwrap();
        let installation = Installation {
            instance_id: "inst-1".into(),
            team_uuid: Some("TEAM0001".into()),
            organization_uuid: Some("ORG00001".into()),
            ..Installation::default()
        };
        let other = Plugin::from_bytes(&runtime, manifest, "plugin.yaml", &built.component, label, installation)
            .await
            .unwrap_or_else(|e| panic!("load: {e}"));
        others.push((label.to_string(), other));
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
    let rounds: usize = std::env::var("SPIKE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    for round in 0..rounds {
        let js_fns = std::env::var("SPIKE_FNS").unwrap_or_else(|_| "jackFunc,quiet,plain".into());
        let mut cases: Vec<(String, &Plugin, &str)> =
            js_fns.split(',').map(|f| (f.to_string(), &plugin, f)).collect();
        for (label, other) in &others {
            cases.extend(js_fns.split(',').map(|f| (format!("{label} {f}"), other, f)));
        }
        cases.push(("rust hello".into(), &hello, "hello"));
        // Interleaved (each iteration calls every case once), so that the
        // machine's noise falls on all cases alike.
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); cases.len()];
        let mut probes: Vec<Option<String>> = vec![None; cases.len()];
        let faults = minflt();
        for _ in 0..n {
            for (i, (_, plugin, f)) in cases.iter().enumerate() {
                let started = Instant::now();
                let outcome = plugin.call(f, &r).await.unwrap();
                samples[i].push(started.elapsed());
                let outcome = outcome.unwrap();
                if probes[i].is_none() {
                    probes[i] = outcome
                        .headers
                        .iter()
                        .find(|(k, _)| k == "x-op-probe")
                        .map(|(_, v)| v.clone());
                }
                std::hint::black_box(outcome);
            }
        }
        let faults = (minflt() - faults) as f64 / (n * cases.len()) as f64;
        let rust = p50(samples[cases.len() - 1].clone()).0;
        for (i, (name, _, _)) in cases.iter().enumerate() {
            let (p50, p99) = p50(std::mem::take(&mut samples[i]));
            println!(
                "round {round}: {name}: fresh instance + call p50 {p50:?} p99 {p99:?} \
                 ({:.2}x rust hello, n={n}){}",
                p50.as_secs_f64() / rust.as_secs_f64(),
                probes[i].as_ref().map(|p| format!("; probe {p}")).unwrap_or_default()
            );
        }
        println!("round {round}: {faults:.2} minor faults/call");
    }

    // Where the time goes: a fresh Store + instantiate alone, and calls on
    // one reused instance (not how op runs plugins; a breakdown only).
    if std::env::var("SPIKE_BREAKDOWN").is_ok_and(|v| v == "0") {
        return;
    }
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
    for (name, pre, f) in [("js", &pre, "plain"), ("js", &pre, "jackFunc"), ("rust", &hello_pre, "hello")] {
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
        let mut samples = Vec::with_capacity(n.min(2000));
        for _ in 0..n.min(2000) {
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
