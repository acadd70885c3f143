//! Paths that try to leave the ONES API base or slip past a hook (issue 18,
//! items 3, 4 and 13), against a served gateway in front of a recording
//! stand-in for ONES. Every case checks what reached ONES and that the
//! super-admin's token never left the API base.

mod common;

use std::sync::Arc;

use common::upstream::{self, Upstream};
use common::{probe_fetch, raw, serve, serve_in_front_of};
use op::gateway::GatewayLimits;
use op::imports::Installation;
use op::runtime::Plugin;
use serde_json::json;

const P: &str = "/project/api/project";
const TEAM: &str = "TeamOne1";
const ADMIN_TOKEN: &str = "super-secret-admin-token-5a4b3c";

fn installed(ones: &Upstream) -> Installation {
    common::installed_in(&ones.origin, TEAM, ADMIN_TOKEN)
}

async fn plugin(dir: &str, wasm: &str, ones: &Upstream) -> Arc<Plugin> {
    common::load_installed(&common::runtime(), dir, wasm, |t| t, installed(ones)).await
}

/// The task-guard example (an intercept on task creation) served in front
/// of `ones`; its origin.
async fn task_guard_in_front_of(ones: &Upstream) -> String {
    let guard = plugin(
        op_test_plugins::TASK_GUARD_DIR,
        op_test_plugins::TASK_GUARD,
        ones,
    )
    .await;
    serve_in_front_of(vec![guard], &ones.origin).await.0
}

fn post_as_alice(path: &str, body: &str) -> Vec<u8> {
    raw::request(
        "POST",
        path,
        &[
            "Ones-User-Id: alice",
            "Ones-Auth-Token: alice-token",
            "Content-Type: application/json",
        ],
        body.as_bytes(),
    )
}

const BLANK: &str = r#"{"tasks":[{"summary":"  "}]}"#;
const GOOD: &str = r#"{"tasks":[{"summary":"Write the docs"}]}"#;

#[tokio::test]
async fn every_spelling_of_a_hooked_api_runs_the_hook_and_reaches_ones_in_one_form() {
    let ones = upstream::start().await;
    let origin = task_guard_in_front_of(&ones).await;
    let one_form = format!("{P}/team/{TEAM}/tasks/add2");
    for spelling in [
        one_form.clone(),
        format!("{P}/team/{TEAM}/tasks/add2/"),
        format!("{P}/team/{TEAM}//tasks/add2"),
        format!("{P}/team/{TEAM}/./tasks/add2"),
        format!("{P}/team/{TEAM}/tasks/x/../add2"),
        format!("{P}//team/{TEAM}/tasks/add2"),
        format!("/{P}/team/{TEAM}/tasks/add2"),
        format!("{P}/team/{TEAM}/tasks/%61dd2"),
        format!("{P}/team/{TEAM}/tasks/x/%2e%2E/add2"),
        format!("{P}/team/{TEAM}/tasks/x/.%2e/add2"),
        format!("/x/..{P}/team/{TEAM}/tasks/add2"),
    ] {
        let answer = raw::text(&origin, &post_as_alice(&spelling, BLANK)).await;
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.contains("plugin.task_guard"),
            "{spelling}: the hook did not refuse it: {answer}"
        );
        assert!(
            ones.received().is_empty(),
            "{spelling} reached ONES past the hook"
        );
        // A good task goes through, and ONES gets the form that was matched.
        let answer = raw::status(&origin, &post_as_alice(&spelling, GOOD)).await;
        assert_eq!(answer, Some(200), "{spelling}");
        let seen = ones.received();
        assert_eq!(seen.len(), 1, "{spelling}");
        assert_eq!(seen[0].uri, one_form, "{spelling}");
        assert_eq!(&seen[0].body[..], GOOD.as_bytes());
        ones.clear();
    }
}

#[tokio::test]
async fn paths_that_leave_the_api_base_or_hide_separators_are_refused_with_400() {
    let ones = upstream::start().await;
    let origin = task_guard_in_front_of(&ones).await;
    for path in [
        format!("{P}/../../admin/x"),
        format!("{P}/%2e%2e/%2e%2e/admin/x"),
        format!("{P}/.%2e/.%2e/admin/x"),
        "/wiki/api/wiki/../../x".to_string(),
        format!("{P}/team/{TEAM}/tasks/add2;jsessionid=1"),
        format!("{P}/team/{TEAM}%2Ftasks/add2"),
        format!("{P}/team/{TEAM}/tasks\\add2"),
        format!("{P}/team/{TEAM}/tasks/add2%00"),
        format!("{P}/team/{TEAM}/tasks/add%zz"),
        format!("{P}/team/{TEAM}/tasks/add2%"),
    ] {
        let answer = raw::text(&origin, &post_as_alice(&path, GOOD)).await;
        assert!(
            answer.starts_with("HTTP/1.1 400") && answer.contains("plugin.bad_request"),
            "{path}: {answer}"
        );
    }
    assert!(ones.received().is_empty(), "ONES got {:?}", ones.received());
    // Not under an API base at all: not proxied.
    let status = raw::status(&origin, &post_as_alice("/admin/x", GOOD)).await;
    assert_eq!(status, Some(404));
    assert!(ones.received().is_empty());
}

async fn probe_for(ones: &Upstream) -> String {
    let probe = plugin(op_test_plugins::PROBE_DIR, op_test_plugins::PROBE, ones).await;
    serve(vec![probe], GatewayLimits::default()).await.0
}

#[tokio::test]
async fn opfetch_paths_that_the_url_parser_would_take_out_of_the_api_base_are_refused() {
    let ones = upstream::start().await;
    let origin = probe_for(&ones).await;
    for url in [
        "/.%2e/.%2e/x",
        "/%2e./%2e./x",
        "/.%2E/.%2E/.%2E/x",
        "/wiki/.%2e/.%2e/x",
        "/wiki/%2e%2e/%2e%2e/x",
        "/..\\..\\x",
        "/\\..\\..\\x",
        "/.\t./.\t./x",
        "/.\n./.\n./x",
        "/.\r./.\r./x",
        "/users/..%2f..%2f..%2fx",
        "/users;x/../../x",
    ] {
        let answer = probe_fetch(&origin, json!({"url": url})).await;
        assert_eq!(answer["error"], "invalid-request", "{url:?}: {answer}");
    }
    assert!(ones.received().is_empty(), "ONES got {:?}", ones.received());
    // Paths that stay in the base still go, signed.
    let answer = probe_fetch(&origin, json!({"url": "/users/me"})).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let answer = probe_fetch(&origin, json!({"url": "/wiki/team/TeamOne1/page/P1"})).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let seen: Vec<String> = ones.received().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        seen,
        [
            format!("{P}/users/me"),
            format!("/wiki/api/wiki/team/{TEAM}/page/P1")
        ]
    );
    // Both went signed as the plugin's super-admin: the token reached ONES
    // on these two calls under the base, and on no other.
    for seen in ones.received() {
        assert_eq!(
            seen.header_values("ones-auth-token"),
            [ADMIN_TOKEN],
            "{}",
            seen.uri
        );
    }
}

#[tokio::test]
async fn a_team_level_plugin_cannot_act_in_another_team_by_its_path() {
    let ones = upstream::start().await;
    let origin = probe_for(&ones).await;
    for url in [
        "/team/OtherTm1/items/view",
        "/wiki/team/OtherTm1/page/P1",
        "/team/%4FtherTm1/items/view",
        "//team/OtherTm1/items/view",
        "/TEAM/OtherTm1/items/view",
        "/team/TeamOne1/../OtherTm1/items/view",
        "/team/TeamOne1/.%2e/OtherTm1/items/view",
    ] {
        let answer = probe_fetch(&origin, json!({"url": url, "method": "POST"})).await;
        assert!(
            answer["error"] == "no-team" || answer["error"] == "invalid-request",
            "{url}: {answer}"
        );
    }
    // Naming the other team in `teamUUID` was already refused.
    let answer = probe_fetch(
        &origin,
        json!({"url": "/team/OtherTm1/items/view", "team_uuid": "OtherTm1"}),
    )
    .await;
    assert_eq!(answer["error"], "no-team", "{answer}");
    assert!(ones.received().is_empty(), "ONES got {:?}", ones.received());
    // Its own team is fine, as the super-admin.
    let answer = probe_fetch(
        &origin,
        json!({"url": format!("/team/{TEAM}/items/view"), "method": "POST"}),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let seen = ones.last();
    assert_eq!(seen.uri, format!("{P}/team/{TEAM}/items/view"));
    assert_eq!(seen.header_values("ones-auth-token"), [ADMIN_TOKEN]);
    // With the user's own credentials ONES decides: the host does not refuse.
    let answer = probe_fetch(
        &origin,
        json!({"url": "/team/OtherTm1/items/view", "method": "POST", "root": false}),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(
        ones.last().header_values("ones-auth-token"),
        ["alice-token"]
    );
}
