//! OPFetch against a recording stand-in for ONES: which credentials reach
//! it, where paths go, the outbound allow-list, and that the super-admin's
//! token never reaches the plugin.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::upstream::{self, Upstream};
use common::{SignedAs, client, json, probe_fetch, serve};
use op::gateway::GatewayLimits;
use op::imports::{
    Credentials, Installation, NoSuperAdmin, OnesLink, SingleSuperAdmin, SuperAdmins,
};
use op::runtime::Plugin;
use serde_json::json;

const BASE: &str = "/project/api/project";
const ADMIN_ID: &str = "AdminU01";
const ADMIN_TOKEN: &str = "super-secret-admin-token-0f9e8d";
const TEAM: &str = "TeamOne1";

fn installation(ones: &Upstream, super_admins: Arc<dyn SuperAdmins>) -> Installation {
    Installation {
        instance_id: "inst0001".into(),
        team_uuid: Some(TEAM.into()),
        organization_uuid: Some("OrgOne01".into()),
        config: vec![("greeting".into(), "bonjour".into())],
        ones: Some(OnesLink {
            base_url: ones.origin.clone(),
            super_admins,
        }),
        workspace: None,
        records: None,
    }
}

fn admin() -> Arc<dyn SuperAdmins> {
    Arc::new(SingleSuperAdmin(Credentials {
        user_id: ADMIN_ID.into(),
        token: ADMIN_TOKEN.into(),
    }))
}

async fn load(
    dir: &str,
    wasm: &str,
    manifest_text: Option<String>,
    installation: Installation,
) -> Arc<Plugin> {
    let edit = move |text: String| manifest_text.clone().unwrap_or(text);
    common::load_installed(&common::runtime(), dir, wasm, edit, installation).await
}

async fn ones_api(ones: &Upstream) -> String {
    let plugin = load(
        op_test_plugins::ONES_API_DIR,
        op_test_plugins::ONES_API,
        None,
        installation(ones, admin()),
    )
    .await;
    serve(vec![plugin], GatewayLimits::default()).await.0
}

/// The probe, allowed to reach `allowed` (an origin) with absolute URLs.
async fn probe(
    ones: &Upstream,
    allowed: &str,
    extra_service: &str,
    super_admins: Arc<dyn SuperAdmins>,
) -> String {
    let text =
        std::fs::read_to_string(Path::new(op_test_plugins::PROBE_DIR).join("config/plugin.yaml"))
            .unwrap()
            .replace(
                "sandbox:\n",
                &format!("sandbox:\n  outbound:\n    - {allowed}\n"),
            )
            .replace(
                "  version: 0.1.0\n",
                &format!("  version: 0.1.0\n{extra_service}"),
            );
    let mut install = installation(ones, super_admins);
    if !extra_service.is_empty() {
        install.team_uuid = None;
    }
    let plugin = load(
        op_test_plugins::PROBE_DIR,
        op_test_plugins::PROBE,
        Some(text),
        install,
    )
    .await;
    serve(vec![plugin], GatewayLimits::default()).await.0
}

#[tokio::test]
async fn me_reaches_ones_with_exactly_the_callers_credentials() {
    let ones = upstream::start().await;
    let origin = ones_api(&ones).await;
    let res = client()
        .get(format!("{origin}{BASE}/me"))
        .signed_as("alice", "alice-token")
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
        ("GET", "/project/api/project/users/me")
    );
    assert_eq!(seen.header_values("ones-user-id"), ["alice"]);
    assert_eq!(seen.header_values("ones-auth-token"), ["alice-token"]);
}

/// A call that takes the instance op made ahead of it acts for its own
/// caller: the instance was made before anyone called.
#[tokio::test]
async fn an_instance_made_ahead_acts_for_the_caller_that_takes_it() {
    let ones = upstream::start().await;
    let plugin = load(
        op_test_plugins::ONES_API_DIR,
        op_test_plugins::ONES_API,
        None,
        installation(&ones, admin()),
    )
    .await;
    let origin = serve(vec![plugin.clone()], GatewayLimits::default())
        .await
        .0;
    for (at, (user, token)) in [
        ("alice", "alice-token"),
        ("bob", "bob-token"),
        ("alice", "alice-token"),
    ]
    .into_iter()
    .enumerate()
    {
        if at > 0 {
            common::until_ready(&plugin).await;
        }
        let res = client()
            .get(format!("{origin}{BASE}/me"))
            .signed_as(user, token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(json(res).await, json!({"uuid": user, "token_echo": token}));
        let seen = ones.last();
        assert_eq!(seen.header_values("ones-user-id"), [user]);
        assert_eq!(seen.header_values("ones-auth-token"), [token]);
    }
}

#[tokio::test]
async fn admin_me_reaches_ones_as_the_super_admin_even_when_the_caller_is_alice() {
    let ones = upstream::start().await;
    let origin = ones_api(&ones).await;
    let res = client()
        .get(format!("{origin}{BASE}/admin/me"))
        .signed_as("alice", "alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        !body.contains(ADMIN_TOKEN),
        "the token reached the client: {body}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"uuid": ADMIN_ID, "token_echo": "[redacted]"})
    );
    let seen = ones.last();
    assert_eq!(seen.uri, "/project/api/project/users/me");
    assert_eq!(seen.header_values("ones-user-id"), [ADMIN_ID]);
    assert_eq!(seen.header_values("ones-auth-token"), [ADMIN_TOKEN]);
}

#[tokio::test]
async fn the_projects_route_posts_items_view_as_super_admin_for_a_logged_in_user() {
    let ones = upstream::start().await;
    let origin = ones_api(&ones).await;
    let url = format!("{origin}{BASE}/team/{TEAM}/projects");
    let res = client().post(&url).send().await.unwrap();
    assert_eq!(res.status(), 401, "external routes need a user");
    assert!(ones.received().is_empty());
    let res = client()
        .post(&url)
        .signed_as("alice", "alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = ones.last();
    assert_eq!(
        (seen.method.as_str(), seen.uri.as_str()),
        ("POST", "/project/api/project/team/TeamOne1/items/view")
    );
    assert_eq!(seen.header_values("ones-user-id"), [ADMIN_ID]);
    assert_eq!(seen.header_values("content-type"), ["application/json"]);
    assert_eq!(&seen.body[..], br#"{"item_type":"project"}"#);
}

#[tokio::test]
async fn external_routes_are_for_users_ones_accepts() {
    let sim = op::dev::simulator::Simulator::start(None).await.unwrap();
    let team = sim.team_uuid();
    let installation = Installation {
        instance_id: "inst0001".into(),
        team_uuid: Some(team.clone()),
        organization_uuid: Some(sim.organization_uuid()),
        config: Vec::new(),
        ones: Some(OnesLink {
            base_url: sim.url(),
            super_admins: Arc::new(SingleSuperAdmin(sim.install("onesapi1"))),
        }),
        workspace: None,
        records: None,
    };
    let plugin = load(
        op_test_plugins::ONES_API_DIR,
        op_test_plugins::ONES_API,
        None,
        installation,
    )
    .await;
    let (origin, _) = serve(vec![plugin], GatewayLimits::default()).await;
    let alice = sim.sample_user();
    let url = format!("{origin}{BASE}/team/{team}/projects");
    let res = client()
        .post(&url)
        .signed_as(&alice.user_id, "not-her-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        json(res).await,
        json!({"model": "plugin.unauthorized", "reason": "ONES did not accept the caller's Ones-User-Id and Ones-Auth-Token", "type": "error"})
    );
    let res = client()
        .post(&url)
        .signed_as(&alice.user_id, &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["items"][1]["name"], "Gemini");
    // ONES unreachable: 502, never a guess.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let installation = Installation {
        team_uuid: Some(team.clone()),
        ones: Some(OnesLink {
            base_url: dead,
            super_admins: Arc::new(NoSuperAdmin),
        }),
        ..Installation::default()
    };
    let plugin = load(
        op_test_plugins::ONES_API_DIR,
        op_test_plugins::ONES_API,
        None,
        installation,
    )
    .await;
    let (origin, _) = serve(vec![plugin], GatewayLimits::default()).await;
    let res = client()
        .post(format!("{origin}{BASE}/team/{team}/projects"))
        .signed_as(&alice.user_id, &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(json(res).await["model"], "plugin.bad_gateway");
}

#[tokio::test]
async fn paths_go_to_the_project_or_wiki_base_and_non_2xx_answers_are_responses() {
    let ones = upstream::start().await;
    let origin = probe(&ones, "example.com", "", admin()).await;
    let out = probe_fetch(
        &origin,
        json!({"url": format!("/wiki/team/{TEAM}/page/P"), "query": [["a", "1 2"]]}),
    )
    .await;
    assert_eq!(out["status"], 200);
    assert_eq!(
        ones.last().uri,
        format!("/wiki/api/wiki/team/{TEAM}/page/P?a=1+2")
    );
    let out = probe_fetch(
        &origin,
        json!({"url": format!("/team/{TEAM}/tasks/add2"), "method": "POST", "body": "{}"}),
    )
    .await;
    assert_eq!(out["status"], 200);
    assert_eq!(
        ones.last().uri,
        format!("/project/api/project/team/{TEAM}/tasks/add2")
    );
    assert_eq!(&ones.last().body[..], b"{}");
    let out = probe_fetch(&origin, json!({"url": format!("/team/{TEAM}/missing")})).await;
    assert_eq!(
        out["status"], 404,
        "a 404 is an answer, not an error: {out}"
    );
    assert_eq!(out["body"], r#"{"errcode":"NotFound"}"#);
    let out = probe_fetch(&origin, json!({"url": "relative/path"})).await;
    assert_eq!(out["error"], "invalid-request");
    let before = ones.received().len();
    let out = probe_fetch(&origin, json!({"url": "/../../admin/secrets"})).await;
    assert_eq!(out["error"], "invalid-request", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("cannot leave the API base"),
        "{out}"
    );
    assert_eq!(ones.received().len(), before, "nothing was sent");
}

#[tokio::test]
async fn root_calls_replace_the_plugins_credential_headers() {
    let ones = upstream::start().await;
    let origin = probe(&ones, "example.com", "", admin()).await;
    probe_fetch(
        &origin,
        json!({"url": "/users/me", "headers": [["Ones-User-Id", "mallory"], ["ones-auth-token", "forged"]]}),
    )
    .await;
    let seen = ones.last();
    assert_eq!(seen.header_values("ones-user-id"), [ADMIN_ID]);
    assert_eq!(seen.header_values("ones-auth-token"), [ADMIN_TOKEN]);
    // root: false with the plugin's own user headers uses them.
    probe_fetch(
        &origin,
        json!({"url": "/users/me", "root": false, "headers": [["Ones-User-Id", "bob"], ["Ones-Auth-Token", "bob-token"]]}),
    )
    .await;
    assert_eq!(ones.last().header_values("ones-user-id"), ["bob"]);
    assert_eq!(ones.last().header_values("ones-auth-token"), ["bob-token"]);
}

#[tokio::test]
async fn missing_credentials_or_team_are_clear_errors() {
    let ones = upstream::start().await;
    let origin = probe(&ones, "example.com", "", Arc::new(NoSuperAdmin)).await;
    // root: false while serving a request without user headers.
    let res = client()
        .post(format!("{origin}{BASE}/fetch"))
        .body(json!({"url": "/users/me", "root": false}).to_string())
        .send()
        .await
        .unwrap();
    let out = json(res).await;
    assert_eq!(out["error"], "no-credentials");
    assert!(
        out["message"].as_str().unwrap().contains("root: false"),
        "{out}"
    );
    let out = probe_fetch(&origin, json!({"url": "/users/me"})).await;
    assert_eq!(out["error"], "no-credentials");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("OP_SUPER_ADMIN_TOKEN"),
        "{out}"
    );
    // A team-level plugin cannot act in another team.
    let origin = probe(&ones, "example.com", "", admin()).await;
    let out = probe_fetch(&origin, json!({"url": "/users/me", "team_uuid": "OtherTm"})).await;
    assert_eq!(out["error"], "no-team");
    assert!(ones.received().is_empty(), "nothing was sent");
    // An organization-level plugin must name the team outside team requests.
    let org = probe(&ones, "example.com", "  scope: 2\n", admin()).await;
    let out = probe_fetch(&org, json!({"url": "/users/me"})).await;
    assert_eq!(out["error"], "no-team");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("organization-level"),
        "{out}"
    );
    let out = probe_fetch(&org, json!({"url": "/users/me", "team_uuid": "AnyTeam1"})).await;
    assert_eq!(out["status"], 200);
    assert_eq!(ones.last().header_values("ones-user-id"), [ADMIN_ID]);
}

#[tokio::test]
async fn the_outbound_allow_list_holds_for_urls_and_redirects_and_gets_no_ones_headers() {
    let ones = upstream::start().await;
    let allowed = upstream::start().await;
    let other = upstream::start().await;
    let origin = probe(
        &ones,
        &format!("http://127.0.0.1:{}", allowed.port),
        "",
        admin(),
    )
    .await;
    let out = probe_fetch(
        &origin,
        json!({"url": format!("{}/data", allowed.origin), "headers": [["ones-user-id", "alice"], ["ones-auth-token", "alice-token"], ["x-keep", "1"]]}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let seen = allowed.last();
    assert_eq!(seen.uri, "/data");
    assert!(
        seen.header_values("ones-user-id").is_empty()
            && seen.header_values("ones-auth-token").is_empty()
    );
    assert_eq!(seen.header_values("x-keep"), ["1"]);

    let out = probe_fetch(&origin, json!({"url": format!("{}/data", other.origin)})).await;
    assert_eq!(out["error"], "not-allowed");
    let message = out["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{}", other.port)),
        "{message}"
    );
    assert!(
        message.contains(&format!("allowed: http://127.0.0.1:{}", allowed.port)),
        "{message}"
    );
    assert!(other.received().is_empty());

    // A redirect within the list is followed; one leaving it is refused.
    let inside = format!("{}/redirect?to={}/landed", allowed.origin, allowed.origin);
    let out = probe_fetch(&origin, json!({"url": inside})).await;
    assert_eq!(out["status"], 200);
    assert_eq!(allowed.last().uri, "/landed");
    let outside = format!("{}/redirect?to={}/stolen", allowed.origin, other.origin);
    let out = probe_fetch(&origin, json!({"url": outside})).await;
    assert_eq!(out["error"], "not-allowed");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .starts_with("a redirect to"),
        "{out}"
    );
    assert!(other.received().is_empty());
}

#[tokio::test]
async fn one_call_may_make_a_hundred_opfetch_calls_and_no_more() {
    let ones = upstream::start().await;
    // A generous time limit: this is about the count, not the clock.
    let plugin = common::load_installed(
        &common::runtime(),
        op_test_plugins::PROBE_DIR,
        op_test_plugins::PROBE,
        |t| t.replace("timeout_ms: 500", "timeout_ms: 30000"),
        installation(&ones, admin()),
    )
    .await;
    let (origin, _) = serve(vec![plugin], GatewayLimits::default()).await;
    let out = probe_fetch(&origin, json!({"url": "/users/me", "repeat": 100})).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(ones.received().len(), 100);
    let out = probe_fetch(&origin, json!({"url": "/users/me", "repeat": 101})).await;
    assert_eq!(out["error"], "too-many-calls", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 OPFetch calls"),
        "{out}"
    );
    assert_eq!(ones.received().len(), 200, "the 101st call was not sent");
}

#[tokio::test]
async fn a_refused_connection_is_an_error_that_says_so() {
    let ones = upstream::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let origin = probe(&ones, &format!("http://127.0.0.1:{port}"), "", admin()).await;
    let out = probe_fetch(
        &origin,
        json!({"url": format!("http://127.0.0.1:{port}/x")}),
    )
    .await;
    assert_eq!(out["error"], "connection-failed");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect to http://127.0.0.1"),
        "{out}"
    );
}

#[tokio::test]
async fn oversized_and_late_answers_are_errors_that_say_which() {
    let ones = upstream::start().await;
    let outside = upstream::start().await;
    let origin = probe(
        &ones,
        &format!("http://127.0.0.1:{}", outside.port),
        "",
        admin(),
    )
    .await;
    let out = probe_fetch(&origin, json!({"url": format!("{}/huge", outside.origin)})).await;
    assert_eq!(out["error"], "too-large", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 16777216 bytes"),
        "{out}"
    );
    let out = probe_fetch(
        &origin,
        json!({"url": format!("{}/slow", outside.origin), "timeout_ms": 200}),
    )
    .await;
    assert_eq!(out["error"], "timeout", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("did not answer GET /slow within 200ms"),
        "{out}"
    );
}

#[tokio::test]
async fn a_plugin_that_looks_everywhere_never_finds_the_super_admin_token() {
    let ones = upstream::start().await;
    let origin = probe(&ones, "example.com", "", admin()).await;
    let res = client()
        .get(format!("{origin}{BASE}/team/{TEAM}/snoop"))
        .signed_as("alice", "alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(ADMIN_TOKEN),
        "the plugin saw the token: {text}"
    );
    let seen: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        seen["env"],
        json!({"team_uuid": TEAM, "organization_uuid": "OrgOne01", "instance_id": "inst0001"})
    );
    assert_eq!(
        seen["config"],
        json!([["greeting", "bonjour"], ["limit", "5"]])
    );
    assert_eq!(seen["fetched"]["status"], 200);
    assert_eq!(seen["host_env"], json!([]), "no host environment variables");
    // The upstream did get the token: the host added it on the way out.
    assert_eq!(ones.last().header_values("ones-auth-token"), [ADMIN_TOKEN]);
}
