//! The fault suite: the `misbehave` plugin's faults, each while good calls
//! run beside it, answer within their limits in the ONES error shape; the
//! good calls all succeed; memory comes back after many faults; malformed
//! requests get a 4xx; the sandbox keeps files and sockets out of reach.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{client, error_reason, json, serve};
use op::gateway::GatewayLimits;
use op::imports::Installation;
use op::runtime::{LoadError, Plugin, Runtime, RuntimeConfig};

const P: &str = "/project/api/project";

/// The tests of this file run one at a time: one measures the process's
/// resident memory and others hold the one call slot for a while, which
/// tests running beside them would disturb.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn misbehave_with(edit: impl Fn(String) -> String, workspace: Option<&Path>) -> Arc<Plugin> {
    misbehave_in(&common::runtime(), edit, workspace).await
}

async fn misbehave_in(
    runtime: &Runtime,
    edit: impl Fn(String) -> String,
    workspace: Option<&Path>,
) -> Arc<Plugin> {
    let installation = Installation {
        workspace: workspace.map(Path::to_path_buf),
        records: None,
        ..Installation::default()
    };
    common::load_installed(
        runtime,
        op_test_plugins::MISBEHAVE_DIR,
        op_test_plugins::MISBEHAVE,
        edit,
        installation,
    )
    .await
}

/// Runs `fault` while 20 calls of `/ok` run beside it; returns the fault's
/// status and body, and checks every `/ok` succeeded.
async fn during_good_calls(origin: &str, fault: &str) -> (u16, serde_json::Value) {
    let fault_call = client().get(format!("{origin}{P}{fault}")).send();
    let good = (0..20).map(|_| {
        let url = format!("{origin}{P}/ok");
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            client().get(url).send().await.unwrap().status().as_u16()
        }
    });
    let (fault_res, good) = tokio::join!(fault_call, futures_util::future::join_all(good));
    assert!(
        good.iter().all(|s| *s == 200),
        "good calls failed beside {fault}: {good:?}"
    );
    let res = fault_res.unwrap();
    let status = res.status().as_u16();
    (status, json(res).await)
}

#[tokio::test]
async fn every_fault_answers_its_5xx_while_good_calls_succeed() {
    let _serial = SERIAL.lock().await;
    let (origin, _) = serve(
        vec![misbehave_with(|t| t, None).await],
        GatewayLimits::default(),
    )
    .await;
    for (route, status, model, words) in [
        ("/trap", 500, "plugin.trap", "`trap` (trapped)"),
        ("/oom", 500, "plugin.trap", "`oom` (ran out of memory)"),
        // Rust keeps its stack in linear memory: running off its end traps
        // (out-of-bounds access) before wasm's own stack limit is reached.
        ("/recurse", 500, "plugin.trap", "function `recurse`"),
        ("/loop", 504, "plugin.timeout", "`spin` within 2s"),
        (
            "/huge",
            500,
            "plugin.bad_response",
            "over the limit of 16777216 bytes",
        ),
    ] {
        let (got, body) = during_good_calls(&origin, route).await;
        assert_eq!(got, status, "{route}: {body}");
        assert_eq!(body["model"], model, "{route}: {body}");
        assert_eq!(body["type"], "error");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains(words), "{route}: {reason}");
        assert!(
            !reason.contains("wasm backtrace") && !reason.contains("panicked"),
            "{route} leaks: {reason}"
        );
    }
}

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn memory_comes_back_after_a_thousand_faults() {
    let _serial = SERIAL.lock().await;
    let (origin, _) = serve(
        vec![misbehave_with(|t| t, None).await],
        GatewayLimits::default(),
    )
    .await;
    let trap = format!("{origin}{P}/trap");
    for _ in 0..50 {
        assert_eq!(client().get(&trap).send().await.unwrap().status(), 500);
    }
    let before = resident();
    let http = client();
    for _ in 0..1000 {
        assert_eq!(http.get(&trap).send().await.unwrap().status(), 500);
    }
    let after = resident();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 32 * 1024 * 1024,
        "resident memory grew by {} MiB over 1,000 traps",
        grown >> 20
    );
    assert_eq!(
        http.get(format!("{origin}{P}/ok"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The misbehave plugin limited to one call at a time, in a runtime whose
/// callers wait at most `wait` for a slot, served; and that runtime.
async fn one_at_a_time(wait: Duration) -> (String, Runtime) {
    let runtime = Runtime::new(RuntimeConfig {
        queue_wait: wait,
        ..common::test_config()
    })
    .unwrap();
    let limited = misbehave_in(
        &runtime,
        |t| t.replace("sandbox:\n", "sandbox:\n  concurrency: 1\n"),
        None,
    )
    .await;
    (
        serve(vec![limited], GatewayLimits::default()).await.0,
        runtime,
    )
}

/// Starts a call of /loop, which holds the one slot for its 2 s time limit,
/// and returns once it runs (on a loaded machine it may take a while).
async fn hold_the_slot(
    origin: &str,
    runtime: &Runtime,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let looping = tokio::spawn(client().get(format!("{origin}{P}/loop")).send());
    while runtime.in_flight() == 0 && !looping.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    looping
}

#[tokio::test]
async fn over_the_concurrency_limit_callers_wait_then_get_503_with_retry_after() {
    let _serial = SERIAL.lock().await;
    // The one slot is held by /loop for its 2 s time limit; a caller that
    // may wait 200 ms is refused.
    let (origin, runtime) = one_at_a_time(Duration::from_millis(200)).await;
    let looping = hold_the_slot(&origin, &runtime).await;
    let res = client()
        .get(format!("{origin}{P}/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(json(res).await["model"], "plugin.unavailable");
    assert_eq!(looping.await.unwrap().unwrap().status(), 504);
    let res = client()
        .get(format!("{origin}{P}/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the slot is free again");
}

#[tokio::test]
async fn within_the_wait_a_caller_gets_the_slot_when_it_frees() {
    let _serial = SERIAL.lock().await;
    // A caller that may wait 10 s gets the slot when /loop gives it up.
    let (origin, runtime) = one_at_a_time(Duration::from_secs(10)).await;
    let looping = hold_the_slot(&origin, &runtime).await;
    let res = client()
        .get(format!("{origin}{P}/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "it waited instead of being refused");
    assert_eq!(looping.await.unwrap().unwrap().status(), 504);
}

#[tokio::test]
async fn malformed_requests_get_a_4xx() {
    let _serial = SERIAL.lock().await;
    let (origin, _) = serve(
        vec![misbehave_with(|t| t, None).await],
        GatewayLimits::default(),
    )
    .await;
    let huge_header = "x".repeat(128 * 1024);
    let res = client()
        .get(format!("{origin}{P}/ok"))
        .header("x-huge", huge_header)
        .send()
        .await
        .unwrap();
    let reason = error_reason(res, 431, "plugin.headers_too_large").await;
    assert!(reason.contains("over the limit of 65536 bytes"), "{reason}");
    // Just under the limit passes.
    let res = client()
        .get(format!("{origin}{P}/ok"))
        .header("x-big", "y".repeat(60 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client()
        .get(format!("{origin}{P}/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the server is still up");
}

#[tokio::test]
async fn files_outside_the_workspace_are_out_of_reach() {
    let _serial = SERIAL.lock().await;
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("README.txt"), "inside").unwrap();
    let (origin, _) = serve(
        vec![misbehave_with(|t| t, Some(workspace.path())).await],
        GatewayLimits::default(),
    )
    .await;
    let seen = json(
        client()
            .get(format!("{origin}{P}/files"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(seen["etc_passwd"]["refused"].is_string(), "{seen}");
    assert!(seen["parent"]["refused"].is_string(), "{seen}");
    assert_eq!(seen["workspace_read"]["ok"], "inside");
    assert_eq!(seen["workspace_write"]["ok"], "written");
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("note.txt")).unwrap(),
        "written by the plugin"
    );
    assert_eq!(seen["env"], 0);
    // Without a workspace, nothing at all is reachable.
    let (origin, _) = serve(
        vec![misbehave_with(|t| t, None).await],
        GatewayLimits::default(),
    )
    .await;
    let seen = json(
        client()
            .get(format!("{origin}{P}/files"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(seen["workspace_read"]["refused"].is_string(), "{seen}");
}

#[tokio::test]
async fn a_component_that_imports_sockets_is_refused_at_load() {
    let _serial = SERIAL.lock().await;
    let manifest = common::manifest_of(op_test_plugins::SNEAKY_DIR);
    let err = Plugin::load(
        &common::runtime(),
        manifest,
        "config/plugin.yaml",
        Path::new(op_test_plugins::SNEAKY),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LoadError::Link { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`wasi:sockets/"), "{text}");
    assert!(text.contains("which the host does not grant"), "{text}");
}
