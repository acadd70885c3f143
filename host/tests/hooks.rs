//! The gateway in front of a recording stand-in for ONES: the proxy, each
//! hook type with real guests, the conflict rules and the failure policies.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::upstream::{self, Upstream};
use common::{SignedAs, client, error_reason, json, serve_in_front_of};
use op::gateway::{GatewayLimits, PluginSet};
use op::imports::Installation;
use op::runtime::Plugin;
use serde_json::json;

const P: &str = "/project/api/project";
const TEAM: &str = "TeamOne1";

fn installed(ones: &Upstream, team: &str) -> Installation {
    common::installed_in(&ones.origin, team, "admin-token")
}

async fn plugin(
    dir: &str,
    wasm: &str,
    edit: impl Fn(String) -> String,
    installation: Installation,
) -> Arc<Plugin> {
    common::load_installed(&common::runtime(), dir, wasm, edit, installation).await
}

async fn task_guard(ones: &Upstream) -> Arc<Plugin> {
    plugin(
        op_test_plugins::TASK_GUARD_DIR,
        op_test_plugins::TASK_GUARD,
        |t| t,
        installed(ones, TEAM),
    )
    .await
}

async fn hooks(ones: &Upstream, edit: impl Fn(String) -> String) -> Arc<Plugin> {
    plugin(
        op_test_plugins::HOOKS_DIR,
        op_test_plugins::HOOKS,
        edit,
        installed(ones, TEAM),
    )
    .await
}

fn as_alice(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.signed_as("alice", "alice-token")
}

#[tokio::test]
async fn task_guard_rejects_blank_summaries_before_ones_and_lets_good_tasks_through() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![task_guard(&ones).await], &ones.origin).await;
    let url = format!("{origin}{P}/team/{TEAM}/tasks/add2");
    let res = as_alice(client().post(&url))
        .body(r#"{"tasks":[{"summary":"ok"},{"summary":"   "}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        json(res).await,
        json!({"model": "plugin.task_guard", "reason": "task 2 has an empty summary", "type": "warning"})
    );
    assert!(
        ones.received().is_empty(),
        "ONES never saw the refused call"
    );

    let good = r#"{"tasks":[{"summary":"Write the docs","project_uuid":"P1"}]}"#;
    let res = as_alice(client().post(&url))
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await,
        json!({"method": "POST", "uri": format!("{P}/team/{TEAM}/tasks/add2")})
    );
    let seen = ones.last();
    assert_eq!(seen.uri, format!("{P}/team/{TEAM}/tasks/add2"));
    assert_eq!(&seen.body[..], good.as_bytes());
    assert_eq!(seen.header_values("ones-user-id"), ["alice"]);
    assert_eq!(seen.header_values("ones-auth-token"), ["alice-token"]);
    assert_eq!(seen.header_values("x-forwarded-for"), ["127.0.0.1"]);

    // The plugin is installed in TEAM: another team's calls are not its business.
    let other = format!("{origin}{P}/team/OtherTm1/tasks/add2");
    let res = as_alice(client().post(&other))
        .body(r#"{"tasks":[{"summary":""}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(ones.last().uri, format!("{P}/team/OtherTm1/tasks/add2"));
}

#[tokio::test]
async fn calls_no_hook_looks_at_are_proxied_untouched() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![task_guard(&ones).await], &ones.origin).await;
    let res = as_alice(client().get(format!("{origin}{P}/users/me?lang=en&x=1")))
        .header("x-custom", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await,
        json!({"uuid": "alice", "token_echo": "alice-token"})
    );
    let seen = ones.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("GET", "/project/api/project/users/me?lang=en&x=1")
    );
    assert_eq!(seen.header_values("x-custom"), ["kept"]);
    assert!(
        seen.header_values("x-hop").is_empty(),
        "hop-by-hop headers are dropped"
    );
    assert_eq!(
        seen.header_values("host"),
        [ones.origin.trim_start_matches("http://")]
    );
    assert_eq!(seen.header_values("x-forwarded-proto"), ["http"]);

    // Wiki calls, other methods and large bodies go the same way.
    let big = vec![b'z'; 3 * 1024 * 1024];
    let res = client()
        .put(format!("{origin}/wiki/api/wiki/team/{TEAM}/page/P1"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = ones.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("PUT", "/wiki/api/wiki/team/TeamOne1/page/P1")
    );
    assert_eq!(seen.body.len(), big.len());
    // Non-2xx answers of ONES reach the client as they are.
    let res = client()
        .get(format!("{origin}{P}/team/{TEAM}/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(json(res).await, json!({"errcode": "NotFound"}));
    // Outside the API bases there is nothing to proxy.
    let res = client()
        .get(format!("{origin}/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(json(res).await["model"], "plugin.not_found");
}

#[tokio::test]
async fn replace_answers_instead_of_ones() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hooks(&ones, |t| t).await], &ones.origin).await;
    let res = as_alice(client().get(format!("{origin}{P}/users/me")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 203);
    assert_eq!(json(res).await, json!({"replaced": true, "user": "alice"}));
    assert!(ones.received().is_empty(), "ONES was not called");
}

#[tokio::test]
async fn prefix_rewrites_the_request_that_goes_to_ones() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hooks(&ones, |t| t).await], &ones.origin).await;
    let res = as_alice(client().post(format!("{origin}{P}/team/{TEAM}/items/view")))
        .header("content-type", "application/json")
        .body(r#"{"item_type":"project"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = ones.last();
    assert_eq!(seen.uri, format!("{P}/team/{TEAM}/items/view"));
    assert_eq!(&seen.body[..], br#"{"item_type":"rewritten"}"#);
    assert_eq!(seen.header_values("x-rewritten"), ["yes"]);
    assert_eq!(seen.header_values("ones-user-id"), ["alice"]);
    assert_eq!(seen.header_values("content-type"), ["application/json"]);
}

#[tokio::test]
async fn suffix_is_told_the_answer_and_cannot_change_it() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hooks(&ones, |t| t).await], &ones.origin).await;
    let res = as_alice(client().get(format!("{origin}{P}/team/{TEAM}/task/Task0009/info")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let expected = json!({"method": "GET", "uri": format!("{P}/team/{TEAM}/task/Task0009/info")});
    assert_eq!(json(res).await, expected);
    // The suffix ran before the client had its answer, and saw it.
    let seen = ones.last();
    assert_eq!(seen.uri, format!("{P}/suffix-seen"));
    let told: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(told["status"], 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(told["body"].as_str().unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        told["params"],
        json!([["teamUUID", TEAM], ["taskUUID", "Task0009"]])
    );
}

#[tokio::test]
async fn a_slow_subscriber_runs_after_the_client_has_its_answer() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hooks(&ones, |t| t).await], &ones.origin).await;
    let res = as_alice(client().post(format!("{origin}{P}/team/{TEAM}/tasks/add2")))
        .body(r#"{"tasks":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await["uri"],
        format!("{P}/team/{TEAM}/tasks/add2")
    );
    // The subscriber sleeps a second before reporting: the client already
    // has its answer while the subscriber has not reported yet.
    let reported = |ones: &Upstream| {
        ones.received()
            .iter()
            .any(|r| r.uri.ends_with("/subscribed"))
    };
    assert!(!reported(&ones), "the client waited for the subscriber");
    let mut waited = 0;
    while !reported(&ones) {
        assert!(waited < 100, "the subscriber never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let report = ones
        .received()
        .into_iter()
        .find(|r| r.uri.ends_with("/subscribed"))
        .unwrap();
    let told: serde_json::Value = serde_json::from_slice(&report.body).unwrap();
    assert_eq!(told["status"], 200);
}

#[tokio::test]
async fn a_failing_hook_fails_closed_by_default_and_is_skipped_when_fail_open() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hooks(&ones, |t| t).await], &ones.origin).await;
    let res = client()
        .get(format!("{origin}{P}/team/{TEAM}/crashy"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        json(res).await,
        json!({
            "model": "plugin.hook_failed",
            "reason": "plugin `hooks001` failed in its `intercept` hook `crashHook` (trapped); the call was refused",
            "type": "error"
        })
    );
    assert!(ones.received().is_empty());

    let open = hooks(&ones, |t| {
        t.replace("sandbox:\n", "sandbox:\n  hook_failure: fail-open\n")
    })
    .await;
    let (origin, _) = serve_in_front_of(vec![open], &ones.origin).await;
    let res = client()
        .get(format!("{origin}{P}/team/{TEAM}/crashy"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(ones.last().uri, format!("{P}/team/{TEAM}/crashy"));
}

#[tokio::test]
async fn plugin_sets_that_break_the_hook_rules_are_refused() {
    let ones = upstream::start().await;
    let first = hooks(&ones, |t| t).await;
    let second = hooks(&ones, |t| t.replace("app_id: hooks001", "app_id: hooks002")).await;
    let err = PluginSet::new(vec![first.clone(), second]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugins `hooks001` and `hooks002` conflict on GET /project/api/project/users/me: an API has one `replace` owner"
    );
    let interceptor = plugin(
        op_test_plugins::TASK_GUARD_DIR,
        op_test_plugins::TASK_GUARD,
        |t| {
            t.replace(
                "url: /team/:teamUUID/tasks/add2\n    function: guard",
                "url: /users/me\n    function: guard",
            )
            .replace("[POST]\n    url: /users/me", "[GET]\n    url: /users/me")
        },
        installed(&ones, TEAM),
    )
    .await;
    let err = PluginSet::new(vec![first.clone(), interceptor]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugins `hooks001` and `taskgrd1` conflict on GET /project/api/project/users/me: `intercept` and `subscribe` cannot be combined with `replace`"
    );
    // Team-level plugins installed in different teams may own the same
    // team-level API; in the same team they may not.
    let only_prefix = |t: String| {
        t.replace("app_id: hooks001", "app_id: hooks003").replace(
            "  - type: replace\n    methods: [GET]\n    url: /users/me\n    function: replaceMe\n",
            "",
        )
    };
    let elsewhere = plugin(
        op_test_plugins::HOOKS_DIR,
        op_test_plugins::HOOKS,
        only_prefix,
        installed(&ones, "OtherTm1"),
    )
    .await;
    assert!(PluginSet::new(vec![first.clone(), elsewhere]).is_ok());
    let same_team = plugin(
        op_test_plugins::HOOKS_DIR,
        op_test_plugins::HOOKS,
        only_prefix,
        installed(&ones, TEAM),
    )
    .await;
    let err = PluginSet::new(vec![first, same_team]).unwrap_err();
    assert!(
        err.to_string().contains("an API has one `prefix` owner"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_or_slow_ones_answers_502_or_504() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![task_guard(&ones).await], &dead).await;
    let res = client()
        .get(format!("{origin}{P}/users/me"))
        .send()
        .await
        .unwrap();
    let reason = error_reason(res, 502, "plugin.bad_gateway").await;
    assert!(reason.starts_with("ONES cannot be reached"), "{reason}");

    let set = PluginSet::new(vec![task_guard(&ones).await]).unwrap();
    let mut upstream = op::gateway::Upstream::new(&ones.origin);
    upstream.timeout = Duration::from_millis(300);
    let gateway = op::gateway::Gateway::with_upstream(set, GatewayLimits::default(), upstream);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(op::gateway::serve(
        listener,
        gateway,
        std::future::pending(),
    ));
    let res = client().get(format!("{origin}/slow")).send().await.unwrap();
    assert_eq!(res.status(), 404, "/slow is outside the API bases");
    let res = client()
        .get(format!("{origin}{P}/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(json(res).await["model"], "plugin.upstream_timeout");
}

#[tokio::test]
async fn lifecycle_hooks_run_when_exported_and_report_failures() {
    let ones = upstream::start().await;
    let plugin = hooks(&ones, |t| t).await;
    assert!(
        plugin.lifecycle("Install").await.unwrap(),
        "Install is exported and ran"
    );
    assert_eq!(ones.last().uri, format!("{P}/installed"));
    assert!(
        !plugin.lifecycle("Enable").await.unwrap(),
        "Enable is not exported: skipped"
    );
    let err = plugin.lifecycle("Start").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the `Start` hook of plugin `hooks001` failed: 409 not today"
    );
}

#[tokio::test]
async fn a_full_subscribe_queue_drops_and_counts_instead_of_waiting() {
    let ones = upstream::start().await;
    let subscriber = hooks(&ones, |t| t).await;
    // On this single-threaded test runtime the worker cannot run between
    // the pushes: the first fills the one place, the others overflow.
    let queue = op::gateway::SubscribeQueue::start(1);
    let request = op::bindings::Request {
        method: "POST".into(),
        url: "/team/TeamOne1/tasks/add2".into(),
        params: Vec::new(),
        query: Vec::new(),
        headers: Vec::new(),
        body: Vec::new(),
        upstream: None,
    };
    for _ in 0..5 {
        queue.push(subscriber.clone(), "replaceMe", request.clone());
    }
    assert_eq!(queue.depth(), 1);
    assert_eq!(queue.dropped(), 4);
}
