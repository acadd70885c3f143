//! `op serve` as an operator uses it: plugins installed, upgraded, disabled
//! and removed through the admin API while traffic flows, in front of a
//! recording stand-in for ONES; restarts; replicas sharing one plugins
//! directory; metrics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::serve::{Running, TEAM, TOKEN, admin_get, admin_post, package};
use common::upstream;
use serde_json::{Value, json};

fn hello_version(version: &str) -> Vec<u8> {
    package(op_test_plugins::HELLO_DIR, op_test_plugins::HELLO, |m| {
        m.replace("version: 1.0.0", &format!("version: {version}"))
    })
}

async fn hello(client: &reqwest::Client, running: &Running) -> (u16, String) {
    let res = client
        .post(running.url("/project/api/project/hello"))
        .body(r#"{"x":1}"#)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Creates a task with this summary through the gateway; its status.
async fn add_task(client: &reqwest::Client, url: &str, summary: &str) -> u16 {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(json!({"tasks": [{"summary": summary}]}).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{line_start}` in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_installed_upgraded_under_load_and_survive_a_restart() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = common::client();
    let running = Running::start(dir.path(), &ones.origin).await;

    // Without the token: 401, and nothing happens.
    for request in [
        client.get(running.url("/admin/plugins")),
        client
            .post(running.url("/admin/plugins"))
            .body(hello_version("1.0.0")),
        client
            .post(running.url("/admin/plugins"))
            .bearer_auth("admin-token-0123456788")
            .body(hello_version("1.0.0")),
        client.delete(running.url("/admin/plugins/anything")),
    ] {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            res.headers()["connection"],
            "close",
            "its unread body ends the connection"
        );
    }
    assert!(running.server.state().await.unwrap().instances.is_empty());

    // Two plugins: a route and hooks.
    let url = running.url(&format!("/admin/plugins?team={TEAM}"));
    let (status, hello_installed) = admin_post(&client, url.clone(), hello_version("1.0.0")).await;
    assert_eq!(status, 201, "{hello_installed}");
    assert_eq!(hello_installed["action"], "installed");
    let hello_id = hello_installed["plugin"]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let guard = package(
        op_test_plugins::TASK_GUARD_DIR,
        op_test_plugins::TASK_GUARD,
        |m| m,
    );
    let (status, guard_installed) = admin_post(&client, url.clone(), guard).await;
    assert_eq!(status, 201, "{guard_installed}");
    let guard_id = guard_installed["plugin"]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        guard_installed["plugin"]["hooks"][0],
        json!({"type": "intercept", "methods": ["POST"], "url": "/project/api/project/team/:teamUUID/tasks/add2", "function": "guard"}),
        "{guard_installed}"
    );

    assert_eq!(
        hello(&client, &running).await,
        (
            200,
            r#"{"requestBody":{"x":1},"res":"hello world"}"#.to_string()
        )
    );
    let add = running.url(&format!("/project/api/project/team/{TEAM}/tasks/add2"));
    assert_eq!(add_task(&client, &add, " ").await, 400);
    assert!(
        ones.received()
            .iter()
            .all(|r| !r.uri.contains("tasks/add2"))
    );
    assert_eq!(add_task(&client, &add, "write tests").await, 200);
    assert!(ones.last().uri.ends_with("/tasks/add2"));

    // A package breaking the hook rules, a damaged one, an old version:
    // refused with the reason, nothing changes.
    let replacer = package(
        op_test_plugins::TASK_GUARD_DIR,
        op_test_plugins::TASK_GUARD,
        |m| {
            m.replace("app_id: taskgrd1", "app_id: replacer")
            .replace("type: intercept", "type: replace")
            .replace(
                "  - type: subscribe\n    methods: [POST]\n    url: /team/:teamUUID/tasks/add2\n    function: logCreated\n",
                "",
            )
        },
    );
    let (status, refusal) = admin_post(&client, url.clone(), replacer).await;
    assert_eq!(status, 409, "{refusal}");
    assert!(
        refusal["reason"].as_str().unwrap().contains("plugins `taskgrd1` and `replacer` conflict on POST /project/api/project/team/:teamUUID/tasks/add2"),
        "{refusal}"
    );
    let (status, refusal) = admin_post(&client, url.clone(), b"not a package".to_vec()).await;
    assert_eq!(
        (status, refusal["model"].as_str()),
        (400, Some("admin.bad_package"))
    );
    let (status, refusal) = admin_post(&client, url.clone(), hello_version("1.0.0")).await;
    assert_eq!(status, 409);
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("needs a higher version"),
        "{refusal}"
    );
    assert_eq!(running.server.state().await.unwrap().instances.len(), 2);

    // 20 upgrades in a row while requests run: none fails.
    let running = Arc::new(running);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut loaders = Vec::new();
    for _ in 0..4 {
        let (running, client, stop, sent, failed) = (
            running.clone(),
            client.clone(),
            stop.clone(),
            sent.clone(),
            failed.clone(),
        );
        loaders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = hello(&client, &running).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status != 200 || !body.contains("hello world") {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for minor in 1..=20 {
        let version = format!("1.0.{minor}");
        let (status, upgraded) = admin_post(&client, url.clone(), hello_version(&version)).await;
        assert_eq!(status, 200, "{upgraded}");
        assert_eq!(upgraded["action"], "upgraded");
        assert_eq!(upgraded["from"], format!("1.0.{}", minor - 1));
        assert_eq!(upgraded["plugin"]["version"], version);
        assert_eq!(upgraded["plugin"]["instance_id"], hello_id.as_str());
    }
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.await.unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent >= 20, "only {sent} requests ran during the upgrades");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "of {sent} requests");

    // The metrics count exactly that traffic, per plugin and function.
    let metrics = client
        .get(running.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &metrics,
            r#"op_calls_total{plugin="hellowrd",function="hello",outcome="ok"}"#
        ),
        sent as u64 + 1
    );
    assert_eq!(
        metric(
            &metrics,
            r#"op_calls_total{plugin="taskgrd1",function="intercept:guard",outcome="plugin.task_guard"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            &metrics,
            r#"op_call_duration_seconds_count{plugin="hellowrd",function="hello"}"#
        ),
        sent as u64 + 1
    );
    assert!(metric(&metrics, "op_upstream_duration_seconds_count") >= 1);
    assert_eq!(metric(&metrics, "op_plugins_serving"), 2);

    // Recent logs of the subscriber, disable and enable, the listing.
    let logs = admin_get(
        &client,
        running.url(&format!("/admin/plugins/{guard_id}/logs")),
    )
    .await;
    assert!(
        logs["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"].as_str().unwrap().starts_with("tasks created")),
        "{logs}"
    );
    let (status, disabled) = admin_post(
        &client,
        running.url(&format!("/admin/plugins/{hello_id}/disable")),
        vec![],
    )
    .await;
    assert_eq!(
        (status, disabled["plugin"]["state"].as_str()),
        (200, Some("disabled"))
    );
    let (status, body) = hello(&client, &running).await;
    assert!(
        status == 200 && body.contains(r#""uri":"/project/api/project/hello""#),
        "ONES answers it now: {body}"
    );
    let (status, _) = admin_post(
        &client,
        running.url(&format!("/admin/plugins/{hello_id}/enable")),
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    assert!(hello(&client, &running).await.1.contains("hello world"));
    let listed = admin_get(&client, running.url("/admin/plugins")).await;
    assert_eq!(listed["plugins"].as_array().unwrap().len(), 2);
    assert_eq!(listed["plugins"][0]["version"], "1.0.20");
    assert_eq!(
        listed["plugins"][0]["routes"][0]["url"],
        "/project/api/project/hello"
    );
    let ready = client.get(running.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // A restart comes back with the same instances, versions and flags.
    let Ok(running) = Arc::try_unwrap(running) else {
        panic!("a loader still holds the server");
    };
    running.shutdown().await;
    let running = Running::start(dir.path(), &ones.origin).await;
    assert_eq!(
        hello(&client, &running).await,
        (
            200,
            r#"{"requestBody":{"x":1},"res":"hello world"}"#.to_string()
        )
    );
    let listed = admin_get(&client, running.url("/admin/plugins")).await;
    let ids: Vec<&str> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [hello_id.as_str(), guard_id.as_str()]);

    // Uninstalled: its hooks no longer run, its files are gone.
    let res = client
        .delete(running.url(&format!("/admin/plugins/{guard_id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let add = running.url(&format!("/project/api/project/team/{TEAM}/tasks/add2"));
    assert_eq!(
        add_task(&client, &add, "").await,
        200,
        "the intercept is gone"
    );
    assert!(!dir.path().join("instances").join(&guard_id).exists());
    let res = client
        .delete(running.url(&format!("/admin/plugins/{guard_id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    running.shutdown().await;
}

/// The lifecycle hooks the admin calls run, in order, as the probe plugin
/// reports them (each hook prints `lifecycle: NAME`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_run_the_lifecycle_hooks_in_order() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = common::client();
    let running = Running::start(dir.path(), &ones.origin).await;
    let probe = |version: &str| {
        package(op_test_plugins::PROBE_DIR, op_test_plugins::PROBE, |m| {
            m.replace("version: 0.1.0", &format!("version: {version}"))
        })
    };
    let url = running.url(&format!("/admin/plugins?team={TEAM}"));
    let (status, installed) = admin_post(&client, url.clone(), probe("0.1.0")).await;
    assert_eq!(status, 201, "{installed}");
    let id = installed["plugin"]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = admin_post(&client, url, probe("0.1.1")).await;
    assert_eq!(status, 200);
    for action in ["disable", "enable"] {
        let (status, _) = admin_post(
            &client,
            running.url(&format!("/admin/plugins/{id}/{action}")),
            vec![],
        )
        .await;
        assert_eq!(status, 200);
    }
    let logs = admin_get(&client, running.url(&format!("/admin/plugins/{id}/logs"))).await;
    let hooks: Vec<&str> = logs["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str()?.strip_prefix("lifecycle: "))
        .collect();
    assert_eq!(
        hooks,
        [
            "Install", "Enable", "Start", // install
            "Upgrade", "Start", "Stop", // upgrade: the new version starts, then the old stops
            "Stop", "Disable", // disable
            "Enable", "Start", // enable
        ]
    );
    let res = client
        .delete(running.url(&format!("/admin/plugins/{id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let body = common::json(res).await;
    assert_eq!(
        body["warnings"],
        json!([]),
        "Stop, Disable and UnInstall ran: {body}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_plugins_directory_follow_each_other() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = common::client();
    let a = Running::start(dir.path(), &ones.origin).await;
    let b = Running::start(dir.path(), &ones.origin).await;
    let (status, installed) = admin_post(
        &client,
        a.url(&format!("/admin/plugins?team={TEAM}")),
        hello_version("1.0.0"),
    )
    .await;
    assert_eq!(status, 201, "{installed}");
    let id = installed["plugin"]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hello(&client, &b).await.1.contains("hello world") {
        assert!(
            Instant::now() < deadline,
            "replica b never served the plugin"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A change made through b reaches a.
    let (status, _) = admin_post(
        &client,
        b.url(&format!("/admin/plugins/{id}/disable")),
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while hello(&client, &a).await.1.contains("hello world") {
        assert!(
            Instant::now() < deadline,
            "replica a still serves a disabled plugin"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn readyz_says_why_when_ones_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ones = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let running = Running::start(dir.path(), &ones).await;
    let res = common::client()
        .get(running.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = common::json(res).await;
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{body}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plugin_serves_two_teams_as_two_instances() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &ones.origin).await;
    common::serve::one_plugin_in_two_teams(&running.origin).await;
    running.shutdown().await;
}
