//! Loading plugins: the export check against the manifest, the compile
//! cache, and refusing what is not a plugin component.

mod common;

use std::path::Path;

use op::runtime::{CompileCache, LoadError, Plugin, Runtime, RuntimeConfig};

const MANIFEST: &str = "\
service:
  app_id: hellowrd
  name: hello
  version: 1.0.0
apis:
  - type: addition
    methods: [POST]
    url: /hello
    function: helo
  - type: addition
    methods: [GET]
    url: /bye
    function: goodbye
";

#[tokio::test]
async fn functions_the_component_does_not_export_are_named_at_their_lines() {
    let manifest = op::manifest::parse(MANIFEST, "config/plugin.yaml").unwrap();
    let err = Plugin::load(
        &common::runtime(),
        manifest,
        "config/plugin.yaml",
        Path::new(op_test_plugins::HELLO),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoadError::MissingFunctions(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "config/plugin.yaml:9:15: apis[0].function: the backend does not export the function `helo` (did you mean `hello`?); it exports: hello\n\
         config/plugin.yaml:13:15: apis[1].function: the backend does not export the function `goodbye`; it exports: hello"
    );
}

#[tokio::test]
async fn loaded_plugins_list_their_functions() {
    let probe = common::probe().await;
    let mut functions = probe.functions().to_vec();
    functions.sort();
    assert_eq!(
        functions,
        [
            "Disable",
            "Enable",
            "Install",
            "Start",
            "Stop",
            "UnInstall",
            "Upgrade",
            "chatty",
            "crash",
            "custom",
            "echo",
            "echoCamel",
            "fail",
            "fetch",
            "hog",
            "order",
            "snoop",
            "spin"
        ]
    );
    assert_eq!(probe.limits().memory, 16 * 1024 * 1024);
    assert_eq!(probe.limits().time, std::time::Duration::from_millis(500));
    let hello = common::hello().await;
    assert_eq!(hello.limits().memory, 64 * 1024 * 1024);
    assert_eq!(hello.limits().time, std::time::Duration::from_secs(10));
    // The host caps what a plugin asks for.
    let text = std::fs::read_to_string(
        std::path::Path::new(op_test_plugins::HELLO_DIR).join("config/plugin.yaml"),
    )
    .unwrap()
        + "sandbox:\n  memory_mib: 4096\n  timeout_ms: 600000\n";
    let greedy = common::load_with(
        op::manifest::parse(&text, "config/plugin.yaml").unwrap(),
        op_test_plugins::HELLO,
    )
    .await;
    assert_eq!(
        greedy.limits().memory,
        256 * 1024 * 1024,
        "capped by the runtime's max_memory"
    );
    assert_eq!(
        greedy.limits().time,
        std::time::Duration::from_secs(60),
        "capped by the runtime's max_time"
    );
}

#[tokio::test]
async fn the_compile_cache_is_keyed_by_the_wasm_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::new(dir.path());
    let runtime = Runtime::new(RuntimeConfig {
        cache: Some(cache.clone()),
        max_instances: 8,
        max_memory: 128 * 1024 * 1024,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm = std::fs::read(op_test_plugins::HELLO).unwrap();
    let entry = cache.entry(runtime.engine(), &wasm);
    assert!(!entry.exists());
    let (_, hit) = cache.load(runtime.engine(), &wasm).unwrap();
    assert!(!hit && entry.exists());
    let (_, hit) = cache.load(runtime.engine(), &wasm).unwrap();
    assert!(hit);
    // A damaged entry is ignored and replaced.
    std::fs::write(&entry, b"not a compiled component").unwrap();
    let (_, hit) = cache.load(runtime.engine(), &wasm).unwrap();
    assert!(!hit);
    let (_, hit) = cache.load(runtime.engine(), &wasm).unwrap();
    assert!(hit);
    let mut other = wasm.clone();
    other.extend_from_slice(b"\0");
    assert_ne!(cache.entry(runtime.engine(), &other), entry);
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused_with_the_reason() {
    let manifest = op::manifest::parse(
        "service:\n  app_id: x\n  name: x\n  version: 1.0.0\n",
        "config/plugin.yaml",
    )
    .unwrap();
    let err = Plugin::from_bytes(
        &common::runtime(),
        manifest,
        "config/plugin.yaml",
        b"\0asm junk",
        "junk.wasm",
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("junk.wasm is not a valid plugin component"),
        "{err}"
    );
}

fn hello_request() -> op::bindings::Request {
    op::bindings::Request {
        method: "POST".into(),
        url: "/hello".into(),
        params: Vec::new(),
        query: Vec::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"x":1}"#.to_vec(),
        upstream: None,
    }
}

/// `hello`, loaded on `runtime`.
async fn hello_on(runtime: &Runtime) -> std::sync::Arc<Plugin> {
    common::load_installed(
        runtime,
        op_test_plugins::HELLO_DIR,
        op_test_plugins::HELLO,
        |text| text,
        op::imports::Installation::default(),
    )
    .await
}

/// Calls `hello` and checks that it answered.
async fn call_hello(plugin: &Plugin) {
    let answer = plugin
        .call("hello", &hello_request())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.body,
        br#"{"requestBody":{"x":1},"res":"hello world"}"#
    );
}

/// Instances are made ahead of calls within the runtime's budget: one per
/// plugin that has been called, none once the budget is spent, and the
/// budget comes back when a plugin is unloaded.
#[tokio::test]
async fn instances_made_ahead_stay_within_the_runtimes_budget() {
    let runtime = Runtime::new(RuntimeConfig {
        ready_instances: 1,
        ..common::test_config()
    })
    .unwrap();
    let (first, second) = (hello_on(&runtime).await, hello_on(&runtime).await);
    assert!(!first.has_ready_instance(), "none before the first call");
    let answer = |outcome: op::runtime::CallOutcome| outcome.unwrap().body;
    let expected = br#"{"requestBody":{"x":1},"res":"hello world"}"#.to_vec();
    assert_eq!(
        answer(first.call("hello", &hello_request()).await.unwrap()),
        expected
    );
    common::until_ready(&first).await;
    // The budget of one is spent: the second plugin's calls make theirs
    // on their own path, and still answer.
    assert_eq!(
        answer(second.call("hello", &hello_request()).await.unwrap()),
        expected
    );
    assert_eq!(runtime.ready_count(), 1);
    assert!(!second.has_ready_instance());
    // The first plugin's call takes its ready instance and makes the next.
    assert_eq!(
        answer(first.call("hello", &hello_request()).await.unwrap()),
        expected
    );
    common::until_ready(&first).await;
    drop(first);
    assert_eq!(runtime.ready_count(), 0, "unloading gives the budget back");
    assert_eq!(
        answer(second.call("hello", &hello_request()).await.unwrap()),
        expected
    );
    common::until_ready(&second).await;
}

/// An instance made ahead that waits 30 s for its call is dropped, and its
/// unit of the budget goes back (the clock is tokio's, paused and advanced).
#[tokio::test(start_paused = true)]
async fn an_instance_made_ahead_and_never_called_is_dropped_after_30_s() {
    let runtime = Runtime::new(common::test_config()).unwrap();
    let plugin = hello_on(&runtime).await;
    call_hello(&plugin).await;
    common::until_ready(&plugin).await;
    assert_eq!(runtime.ready_count(), 1);
    tokio::time::sleep(std::time::Duration::from_secs(29)).await;
    assert!(plugin.has_ready_instance(), "kept for 30 s");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(!plugin.has_ready_instance(), "dropped after 30 s");
    assert_eq!(runtime.ready_count(), 0);
    // The next call makes its own and a new one ahead.
    call_hello(&plugin).await;
    common::until_ready(&plugin).await;
}
