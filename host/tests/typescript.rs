//! TypeScript plugins over real HTTP: the examples and the TS probe, bundled
//! from source by `op-test-plugins`, pre-initialised and componentized by op,
//! in front of a recording stand-in for ONES.

mod common;

use std::sync::Arc;

use common::upstream::{self, Upstream};
use common::{SignedAs, client, error_reason, json, load_ts, serve, serve_in_front_of};
use op::gateway::GatewayLimits;
use op::imports::{Credentials, Installation, OnesLink, SingleSuperAdmin};
use op::runtime::Plugin;
use serde_json::{Value, json};

const BASE: &str = "/project/api/project";
const ADMIN_ID: &str = "AdminU01";
const ADMIN_TOKEN: &str = "ts-super-secret-admin-token-77aa";
const TEAM: &str = "TeamOne1";

fn installation(ones: &str) -> Installation {
    Installation {
        instance_id: "tsinst01".into(),
        team_uuid: Some(TEAM.into()),
        organization_uuid: Some("OrgOne01".into()),
        config: vec![("greeting".into(), "bonjour".into())],
        ones: Some(OnesLink {
            base_url: ones.to_string(),
            super_admins: Arc::new(SingleSuperAdmin(Credentials {
                user_id: ADMIN_ID.into(),
                token: ADMIN_TOKEN.into(),
            })),
        }),
        workspace: None,
        records: None,
    }
}

/// A fixed ONES origin: the snapshot (and so its cache entry) depends on
/// the installation, so the tests that only need an origin share one.
const NO_ONES: &str = "http://127.0.0.1:9";

async fn probe_at(ones: &str) -> Arc<Plugin> {
    load_ts(
        op_test_plugins::TS_PROBE_DIR,
        op_test_plugins::TS_PROBE,
        |text| text,
        installation(ones),
    )
    .await
}

async fn probe_served(ones: &Upstream) -> String {
    let probe = probe_at(&ones.origin).await;
    serve_in_front_of(vec![probe], &ones.origin).await.0
}

async fn post(origin: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{origin}{BASE}{path}"))
        .signed_as("AliceU01", "alice-token")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ts_hello_answers_the_ones_template() {
    let hello = load_ts(
        op_test_plugins::TS_HELLO_DIR,
        op_test_plugins::TS_HELLO,
        |text| text,
        installation(NO_ONES),
    )
    .await;
    assert_eq!(hello.functions(), ["jackFunc"]);
    let (origin, _) = serve(vec![hello], GatewayLimits::default()).await;
    let res = post(&origin, "/hello", json!({"x": 1})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(
        json(res).await,
        json!({"res": "hello world", "requestBody": {"x": 1}})
    );
}

#[tokio::test]
async fn the_request_reaches_the_function_in_the_ones_shape() {
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let res = client()
        .post(format!("{origin}{BASE}/echo/abc?q=0&q=1&r=two%20words"))
        .header("Ones-User-Id", "AliceU01")
        .header("Ones-Auth-Token", "alice-token")
        .header("X-Custom", "v1")
        .header("X-Twice", "a")
        .header("x-twice", "b")
        .body(r#"{"k":[1,2]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = json(res).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["params"], json!({"name": "abc"}));
    // A repeated query key: the last value, as before.
    assert_eq!(seen["query"], json!({"q": "1", "r": "two words"}));
    assert_eq!(seen["body"], json!({"k": [1, 2]}));
    assert_eq!(seen["headers"]["x-custom"], "v1");
    // A repeated header: its values joined, as Node's IncomingMessage does.
    assert_eq!(seen["headers"]["x-twice"], "a, b");
    // Headers answer look-ups in any case.
    assert_eq!(seen["userId"], json!(["AliceU01", "AliceU01", "AliceU01"]));
}

#[tokio::test]
async fn top_level_and_calls_see_the_installations_environment() {
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let seen = json(post(&origin, "/echo/env", json!({})).await).await;
    // Top level ran once, when op pre-initialised the plugin for this
    // installation: it saw the installation's team and config.
    assert_eq!(seen["topTeam"], TEAM);
    assert_eq!(seen["topConfig"], json!({"greeting": "bonjour"}));
    let env = &seen["env"];
    assert_eq!(env["teamUUID"], TEAM);
    assert_eq!(env["organizationUUID"], "OrgOne01");
    assert_eq!(env["orgUUID"], "OrgOne01");
    assert_eq!(env["instanceId"], "tsinst01");
    assert_eq!(env["greeting"], "bonjour");
    assert_eq!(
        seen["pluginConfig"],
        json!([{"arg_key": "greeting", "arg_value": "bonjour"}])
    );
}

#[tokio::test]
async fn another_installation_gets_its_own_top_level() {
    let mut other = installation(NO_ONES);
    other.team_uuid = Some("TeamTwo2".into());
    other.instance_id = "tsinst02".into();
    let probe = load_ts(
        op_test_plugins::TS_PROBE_DIR,
        op_test_plugins::TS_PROBE,
        |text| text,
        other,
    )
    .await;
    let (origin, _) = serve(vec![probe], GatewayLimits::default()).await;
    let seen = json(post(&origin, "/echo/env", json!({})).await).await;
    assert_eq!(seen["topTeam"], "TeamTwo2");
    assert_eq!(seen["env"]["instanceId"], "tsinst02");
}

#[tokio::test]
async fn math_random_and_random_bytes_differ_between_calls() {
    let probe = probe_at(NO_ONES).await;
    let (origin, _) = serve(vec![probe.clone()], GatewayLimits::default()).await;
    let a = json(post(&origin, "/random", json!({})).await).await;
    // The second call runs in the instance op made ahead of it, off the
    // request path: as fresh as one made on it, and reseeded all the same.
    common::until_ready(&probe).await;
    let b = json(post(&origin, "/random", json!({})).await).await;
    assert_ne!(a["random"], b["random"]);
    assert_ne!(a["bytes"], b["bytes"]);
    assert_eq!(
        (a["calls"].as_u64(), b["calls"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(a["bytes"].as_str().unwrap().len(), 16);
    // Date.now() is the real time, not the snapshot's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let seen = a["now"].as_f64().unwrap();
    assert!((now - seen).abs() < 60_000.0, "Date.now() {seen} vs {now}");
}

#[tokio::test]
async fn throws_and_rejections_become_the_ones_error_shape() {
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let reason = error_reason(
        post(&origin, "/fail/throw", json!({})).await,
        500,
        "plugin.error",
    )
    .await;
    assert!(reason.contains("boom"), "{reason}");
    let res = post(&origin, "/fail/reject", json!({})).await;
    assert_eq!(res.status(), 409);
    let body = json(res).await;
    assert_eq!(
        body,
        json!({"model": "plugin.conflict", "reason": "taken", "type": "warning"})
    );
    let res = post(&origin, "/fail/log", json!({})).await;
    assert_eq!(res.status(), 418);
    assert_eq!(json(res).await["reason"], "teapot");
    let reason = error_reason(
        post(&origin, "/fail/never", json!({})).await,
        500,
        "plugin.js_error",
    )
    .await;
    assert!(reason.contains("never settle"), "{reason}");
}

#[tokio::test]
async fn an_endless_loop_and_an_oom_in_js_are_cut_by_the_limits() {
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let started = std::time::Instant::now();
    let res = post(&origin, "/fail/spin", json!({})).await;
    assert_eq!(res.status(), 504, "{:?}", res.text().await);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let res = post(&origin, "/fail/oom", json!({})).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert!(status >= 500 && text.contains("memory"), "{status} {text}");
    // The plugin still answers afterwards: each call is a fresh instance.
    let res = post(&origin, "/shape/json", json!({})).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_call_that_allocates_megabytes_computes_what_node_computes() {
    // Megabytes of allocations in one call, most of them freed and reused:
    // growing strings and arrays keep their bytes, and a second call starts
    // from the snapshot again.
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    // `parts.join(',')` of "item-0" … "item-19999".
    let joined: usize = (0..20000).map(|i| format!("item-{i}").len()).sum::<usize>() + 19999;
    for _ in 0..2 {
        let res = post(&origin, "/shape/churn", json!({})).await;
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        assert_eq!(
            body,
            json!({
                "text": 20000,
                "head": "abcdefghijklmnopqrstuvwxyzab",
                "joined": joined,
                "last": "item-19999",
                "sum": 40000,
            })
        );
    }
}

#[tokio::test]
async fn timers_fire_in_order_and_really_wait() {
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let seen = json(post(&origin, "/timer", json!({})).await).await;
    assert!(seen["waited"].as_f64().unwrap() >= 70.0, "{seen}");
    assert_eq!(seen["order"], json!(["a", "b"]));
}

#[tokio::test]
async fn result_shapes_become_http_answers() {
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let res = post(&origin, "/shape/text", json!({})).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-one"], "a");
    let two: Vec<_> = res.headers().get_all("x-two").iter().collect();
    assert_eq!(two, ["b", "c"]);
    assert_eq!(res.text().await.unwrap(), "plain");
    let res = post(&origin, "/shape/bytes", json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), [0, 1, 2, 255]);
    let res = post(&origin, "/shape/empty", json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 0);
    let res = post(&origin, "/shape/raw", json!({"abc": 1})).await;
    assert_eq!(json(res).await["length"], 9);
}

/// Asks the probe for the OPFetch call form `form`; the answer's status and
/// JSON, and what ONES received.
async fn form(ones: &Upstream, origin: &str, order: Value) -> (u16, Value, upstream::Recorded) {
    ones.clear();
    let res = post(origin, "/fetch", order).await;
    let status = res.status().as_u16();
    let body = json(res).await;
    (status, body, ones.last())
}

#[tokio::test]
async fn every_opfetch_form_reaches_ones_with_the_right_credentials() {
    let ones = upstream::start().await;
    let origin = probe_served(&ones).await;

    // The docs' getUserme: the caller's own credentials, ONES's answer.
    let (status, body, got) = form(&ones, &origin, json!({"form": "docs-user"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(got.uri, format!("{BASE}/users/me"));
    assert_eq!(got.header_values("ones-user-id"), ["AliceU01"]);
    assert_eq!(got.header_values("ones-auth-token"), ["alice-token"]);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["status"], 200);
    assert_eq!(body["data"]["uuid"], "AliceU01");
    assert_eq!(body["same"], true);

    // root: true: the super-admin, whose token ONES echoes and op scrubs.
    let (status, body, got) = form(
        &ones,
        &origin,
        json!({"form": "docs-root", "path": format!("/team/{TEAM}/items/view")}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(got.method, "POST");
    assert_eq!(got.header_values("ones-user-id"), [ADMIN_ID]);
    assert_eq!(got.header_values("ones-auth-token"), [ADMIN_TOKEN]);
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["view"], json!(["[default]"]));

    let (_, _, got) = form(
        &ones,
        &origin,
        json!({"form": "path-config", "path": "/things"}),
    )
    .await;
    assert_eq!(got.method, "POST");
    assert_eq!(got.header_values("x-probe"), ["yes"]);
    assert_eq!(got.header_values("content-type"), ["application/json"]);
    assert_eq!(got.body.as_ref(), br#"{"a":1}"#);
    assert_eq!(got.header_values("ones-user-id"), [ADMIN_ID]);

    let (_, body, got) = form(
        &ones,
        &origin,
        json!({"form": "path-only", "path": "/plain"}),
    )
    .await;
    assert_eq!(got.method, "GET");
    assert_eq!(body["data"]["uri"], format!("{BASE}/plain"));

    let (_, _, got) = form(&ones, &origin, json!({"form": "url-key", "path": "/u"})).await;
    assert_eq!(got.method, "PUT");
    assert_eq!(got.body.as_ref(), b"plain text");

    let (_, _, got) = form(&ones, &origin, json!({"form": "get", "path": "/q"})).await;
    assert_eq!(got.uri, format!("{BASE}/q?q=x+y"));

    let (_, _, got) = form(&ones, &origin, json!({"form": "post", "path": "/p"})).await;
    assert_eq!(got.method, "POST");
    assert_eq!(got.body.as_ref(), br#"{"b":2}"#);

    let (_, _, got) = form(&ones, &origin, json!({"form": "create", "path": "/c"})).await;
    assert_eq!(got.header_values("x-made"), ["create"]);

    let (status, body, _) = form(
        &ones,
        &origin,
        json!({"form": "arraybuffer", "path": "/bin"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["bytes"].as_u64().unwrap() > 0);

    let (status, body, _) = form(&ones, &origin, json!({"form": "legacy", "path": "/l"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["body"]["uri"], format!("{BASE}/l"));
}

#[tokio::test]
async fn a_non_2xx_answer_rejects_with_a_fetch_error() {
    let ones = upstream::start().await;
    let origin = probe_served(&ones).await;
    let (status, body, _) = form(
        &ones,
        &origin,
        json!({"form": "path-only", "path": "/missing"}),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["fetchError"], true);
    assert_eq!(body["status"], 404);
    assert_eq!(body["responseStatus"], 404);
    assert_eq!(body["data"], json!({"errcode": "NotFound"}));
    // A transport failure rejects too, with the host's reason as its code;
    // nothing is sent.
    ones.clear();
    let res = post(
        &origin,
        "/fetch",
        json!({"form": "outside", "url": "http://not-allowed.example/x"}),
    )
    .await;
    assert_eq!(res.status(), 502);
    let body = json(res).await;
    assert_eq!(body["code"], "not-allowed", "{body}");
    assert!(ones.received().is_empty());
}

#[tokio::test]
async fn fetch_as_admin_gets_the_openapi_token_only_on_the_way_to_ones() {
    let ones = upstream::start().await;
    let origin = probe_served(&ones).await;
    let (status, body, got) = form(
        &ones,
        &origin,
        json!({"form": "openapi", "path": "/openapi/v2/project/projects"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        got.uri,
        format!("/openapi/v2/project/projects?teamID={TEAM}")
    );
    assert_eq!(
        got.header_values("authorization"),
        [format!("Bearer {ADMIN_TOKEN}")]
    );
}

#[tokio::test]
async fn a_hostile_plugin_that_echoes_everything_finds_no_secret() {
    let ones = upstream::start().await;
    let origin = probe_served(&ones).await;
    let res = client()
        .post(format!("{origin}{BASE}/echo/all"))
        .header("Ones-User-Id", "AliceU01")
        .header("Ones-Auth-Token", "alice-token")
        .body("{}")
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("openApiToken"), "{text}");
    assert!(!text.contains(ADMIN_TOKEN), "{text}");
    assert!(!text.contains(ADMIN_ID), "{text}");
    let seen: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(seen["openApiToken"], format!("op-openapi-token:{TEAM}"));
    // And ONES's echo of the super-admin token is scrubbed before the
    // plugin reads it.
    let (_, body, got) = form(
        &ones,
        &origin,
        json!({"form": "docs-root", "path": "/users/me"}),
    )
    .await;
    assert_eq!(got.header_values("ones-auth-token"), [ADMIN_TOKEN]);
    assert!(!body.to_string().contains(ADMIN_TOKEN), "{body}");
}

#[tokio::test]
async fn a_ts_intercept_rejects_and_ones_is_not_called() {
    let ones = upstream::start().await;
    let guard = load_ts(
        op_test_plugins::TS_GUARD_DIR,
        op_test_plugins::TS_GUARD,
        |text| text,
        installation(&ones.origin),
    )
    .await;
    let (origin, _) = serve_in_front_of(vec![guard], &ones.origin).await;
    let url = format!("{origin}{BASE}/team/{TEAM}/tasks/add2");
    let res = client()
        .post(&url)
        .signed_as("AliceU01", "alice-token")
        .body(r#"{"tasks":[{"summary":"  "}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = json(res).await;
    assert_eq!(body["model"], "plugin.task_guard");
    assert_eq!(body["type"], "warning");
    assert!(ones.received().is_empty(), "{:?}", ones.received());
    let res = client()
        .post(&url)
        .signed_as("AliceU01", "alice-token")
        .body(r#"{"tasks":[{"summary":"write the docs"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(ones.last().uri, format!("{BASE}/team/{TEAM}/tasks/add2"));
}

#[tokio::test]
async fn ts_ones_api_runs_the_docs_examples_as_written() {
    let ones = upstream::start().await;
    let plugin = load_ts(
        op_test_plugins::TS_ONES_API_DIR,
        op_test_plugins::TS_ONES_API,
        |text| text,
        installation(&ones.origin),
    )
    .await;
    let (origin, _) = serve_in_front_of(vec![plugin], &ones.origin).await;
    let res = client()
        .get(format!("{origin}{BASE}/me"))
        .signed_as("AliceU01", "alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["uuid"], "AliceU01");
    assert_eq!(
        ones.last().header_values("ones-auth-token"),
        ["alice-token"]
    );
    let res = client()
        .post(format!("{origin}{BASE}/projects"))
        .signed_as("AliceU01", "alice-token")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let got = ones.last();
    assert_eq!(got.uri, format!("{BASE}/team/{TEAM}/items/view"));
    assert_eq!(got.header_values("ones-user-id"), [ADMIN_ID]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_serve_installs_upgrades_and_restarts_ts_packages() {
    use common::serve::{Running, TEAM as SERVE_TEAM, admin_post, ts_package};
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = client();
    let running = Running::start(dir.path(), &ones.origin).await;
    let url = running.url(&format!("/admin/plugins?team={SERVE_TEAM}"));
    let hello = |version: &'static str, greeting: &'static str| {
        ts_package(
            op_test_plugins::TS_HELLO_DIR,
            op_test_plugins::TS_HELLO,
            move |m| m.replace("version: 1.0.0", &format!("version: {version}")),
            move |code| code.replace("hello world", greeting),
        )
    };
    let (status, installed) = admin_post(&client, url.clone(), hello("1.0.0", "hello world")).await;
    assert_eq!(status, 201, "{installed}");
    let guard = ts_package(
        op_test_plugins::TS_GUARD_DIR,
        op_test_plugins::TS_GUARD,
        |m| m,
        |code| code,
    );
    let (status, installed) = admin_post(&client, url.clone(), guard).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["plugin"]["hooks"][0]["type"], "intercept");

    let greet = |running: &Running| {
        let url = running.url(&format!("{BASE}/hello"));
        let client = client.clone();
        async move {
            let res = client.post(url).body(r#"{"n":1}"#).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    assert_eq!(
        greet(&running).await,
        (
            200,
            r#"{"res":"hello world","requestBody":{"n":1}}"#.to_string()
        )
    );
    let add = running.url(&format!("{BASE}/team/{SERVE_TEAM}/tasks/add2"));
    let res = client
        .post(&add)
        .body(r#"{"tasks":[{"summary":""}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(ones.received().is_empty());

    // An upgrade: the new bundle answers.
    let (status, upgraded) = admin_post(&client, url.clone(), hello("1.1.0", "hello again")).await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["action"], "upgraded");
    assert_eq!(
        greet(&running).await,
        (
            200,
            r#"{"res":"hello again","requestBody":{"n":1}}"#.to_string()
        )
    );

    // A restart loads both again from the plugins directory.
    running.shutdown().await;
    let running = Running::start(dir.path(), &ones.origin).await;
    assert_eq!(
        greet(&running).await,
        (
            200,
            r#"{"res":"hello again","requestBody":{"n":1}}"#.to_string()
        )
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_bundle_whose_top_level_throws_is_refused_with_the_js_message() {
    let manifest = common::manifest_of(op_test_plugins::TS_HELLO_DIR);
    let code = op::code::PluginCode::JavaScript(
        "export function jackFunc() {}\nthrow new TypeError('no config at start');\n".into(),
    );
    let err = code
        .load(
            &common::runtime(),
            manifest,
            "config/plugin.yaml",
            "plugin.js",
            installation(NO_ONES),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("plugin.js"), "{err}");
    assert!(err.contains("TypeError: no config at start"), "{err}");
}

#[tokio::test]
async fn node_built_ins_and_web_globals_work_in_the_sandbox() {
    let outside = upstream::start().await;
    let allowed = format!("http://127.0.0.1:{}", outside.port);
    let probe = load_ts(
        op_test_plugins::TS_PROBE_DIR,
        op_test_plugins::TS_PROBE,
        |text| {
            text.replace(
                "    - \"http://127.0.0.1\"",
                &format!("    - \"{allowed}\""),
            )
        },
        installation(NO_ONES),
    )
    .await;
    let (origin, _) = serve(vec![probe], GatewayLimits::default()).await;
    let res = post(
        &origin,
        "/builtins",
        json!({"outside": format!("{allowed}/hook?from=node")}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen = json(res).await;
    assert_eq!(seen["base64"], "aGVsbG8gb3A=");
    assert_eq!(seen["fromBase64"], "hello op");
    assert_eq!(seen["byteLength"], 6);
    assert_eq!(seen["concat"], "ab");
    assert_eq!(seen["host"], "ones.example.com");
    assert_eq!(seen["y"], "two words");
    assert_eq!(
        seen["href"],
        "https://ones.example.com/project/api?x=1&y=two+words&z=%C3%BC#frag"
    );
    assert_eq!(seen["params"], "a=1&b=x+y");
    assert_eq!(seen["encoded"], json!([104, 195, 169, 108, 108, 111]));
    assert_eq!(seen["decoded"], "héllo");
    assert_eq!(seen["uuid"].as_str().unwrap().len(), 36);
    assert_eq!(seen["random"], 4);
    assert_eq!(seen["formatted"], "answer is 42");
    // Node's http.request went out through OPFetch's outbound path.
    assert_eq!(seen["outside"]["status"], 200, "{seen}");
    let got = outside.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.uri, "/hook?from=node");
    assert_eq!(got.header_values("x-via"), ["node-http"]);
    assert_eq!(got.body.as_ref(), br#"{"from":"http.request"}"#);
    assert!(got.header_values("ones-auth-token").is_empty());
}

#[tokio::test]
async fn a_backend_written_as_ones_authors_write_them_runs_unchanged() {
    let ones = upstream::start().await;
    let plugin = load_ts(
        op_test_plugins::ONES_STYLE_DIR,
        op_test_plugins::ONES_STYLE,
        |text| text,
        installation(&ones.origin),
    )
    .await;
    let mut functions = plugin.functions().to_vec();
    functions.sort();
    assert_eq!(functions, ["approve", "listProjects"]);
    let (origin, _) = serve_in_front_of(vec![plugin], &ones.origin).await;
    // `methods: [get]`, a route with its team, `res.data || res`.
    let res = client()
        .get(format!("{origin}{BASE}/team/{TEAM}/projects"))
        .signed_as("AliceU01", "alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["team"], TEAM);
    assert_eq!(
        body["answered"]["uri"],
        format!("{BASE}/team/{TEAM}/projects/my_project")
    );
    assert_eq!(ones.last().header_values("ones-user-id"), [ADMIN_ID]);
    // Headers looked up in the casing the code guessed.
    let res = client()
        .post(format!("{origin}{BASE}/team/{TEAM}/approve/Proj0001"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client()
        .post(format!("{origin}{BASE}/team/{TEAM}/approve/Proj0001"))
        .signed_as("AliceU01", "alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["ok"], true);
    let got = ones.last();
    assert_eq!(got.uri, format!("{BASE}/team/{TEAM}/items/update"));
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        sent,
        json!({"project": "Proj0001", "approvedBy": "AliceU01"})
    );
}

#[tokio::test]
async fn log_lines_read_as_node_writes_them_whichever_path_formats_them() {
    // Strings, numbers and plain data are formatted by the runner natively;
    // class instances, cycles, maps, BigInts and printf strings by the
    // SDK's (or the console's) own format. Both read as Node's util.format.
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let res = post(&origin, "/logs", json!({"x": 1})).await;
    assert_eq!(res.status(), 200);
    let expected = [
        (
            "info",
            r#"[logs] plain {"x":1} text 42 -0 1.5 true null undefined [1,"a"]"#,
        ),
        ("warning", "[logs] printf n=7"),
        ("error", "[logs] class Point { x: 1, y: 2 }"),
        ("info", "[logs] cycle { name: 'c', self: [Circular] }"),
        ("info", "[logs] map Map(1) { 'k' => 1 }"),
        ("info", r#"[logs] console {"a":[1,{"b":null}]} -0 x"#),
        ("warning", "[logs] console fmt!"),
        ("info", "7 [logs] number first"),
        ("info", r#"{"first":"[logs] object first"} 2n"#),
    ];
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = op::imports::log::recent("tsprobe1")
            .into_iter()
            .filter(|line| line.message.contains("[logs]"))
            .map(|line| (line.level, line.message))
            .collect::<Vec<_>>();
        if seen.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let expected: Vec<(&str, String)> = expected
        .iter()
        .map(|(level, text)| (*level, text.to_string()))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn json_answers_match_the_engines_json_stringify_byte_for_byte() {
    // Plain data is written by the runner itself, the rest (toJSON, class
    // instances, boxed values, lone surrogates, deep nesting) by the
    // engine: both must give JSON.stringify's bytes.
    let (origin, _) = serve(vec![probe_at(NO_ONES).await], GatewayLimits::default()).await;
    let mut cases = 0;
    loop {
        let res = post(&origin, &format!("/json/{cases}"), json!({})).await;
        if res.status() == 404 {
            break;
        }
        assert_eq!(res.status(), 200, "case {cases}");
        assert_eq!(
            res.headers()["content-type"],
            "application/json",
            "case {cases}"
        );
        let engine = res.headers()["x-engine-json"].to_str().unwrap().to_string();
        let engine = percent_encoding::percent_decode_str(&engine)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let body = res.text().await.unwrap();
        assert_eq!(body, engine, "case {cases}");
        cases += 1;
    }
    assert_eq!(cases, 16, "every case was answered");
}
