//! The gateway over real HTTP on loopback, with real guests built from
//! source: routing, the function contract, errors in the ONES shape.

mod common;

use common::{SignedAs, client, error_reason, json, serve};
use op::gateway::GatewayLimits;
use serde_json::json;

const BASE: &str = "/project/api/project";

#[tokio::test]
async fn hello_answers_its_template_route() {
    let (origin, _) = serve(vec![common::hello().await], GatewayLimits::default()).await;
    let res = client()
        .post(format!("{origin}{BASE}/hello"))
        .body(r#"{"x":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"requestBody":{"x":1},"res":"hello world"}"#
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_ones_error_shape() {
    let (origin, _) = serve(vec![common::hello().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!("{origin}{BASE}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        json(res).await,
        json!({"model": "plugin.not_found", "reason": "no route for GET /project/api/project/nope", "type": "error"})
    );
    let res = client()
        .get(format!("{origin}/somewhere/else"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = client()
        .delete(format!("{origin}{BASE}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    assert_eq!(json(res).await["model"], "plugin.method_not_allowed");
}

#[tokio::test]
async fn the_plugin_receives_method_url_params_query_headers_and_body() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let res = client()
        .put(format!("{origin}{BASE}/echo/a%20b/c?x=1&y=2&y=3"))
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body("raw body")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = json(res).await;
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["url"], "/echo/a%20b/c?x=1&y=2&y=3");
    assert_eq!(seen["path"], "/echo/a%20b/c");
    assert_eq!(seen["params"], json!([["first", "a b"], ["second", "c"]]));
    assert_eq!(seen["query"], json!([["x", "1"], ["y", "2"], ["y", "3"]]));
    assert_eq!(seen["body"], "raw body");
    let headers = seen["headers"].as_array().unwrap();
    let multi: Vec<&str> = headers
        .iter()
        .filter(|h| h[0] == "x-multi")
        .map(|h| h[1].as_str().unwrap())
        .collect();
    assert_eq!(multi, ["one", "two"]);
}

#[tokio::test]
async fn the_query_map_picks_the_entry_and_responses_keep_status_and_headers() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!("{origin}{BASE}/pick?mode=custom"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let values: Vec<_> = res
        .headers()
        .get_all("x-probe")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(values, ["one", "two"]);
    assert_eq!(res.text().await.unwrap(), "made by the probe");
    let res = client()
        .get(format!("{origin}{BASE}/pick?mode=other"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["url"], "/pick?mode=other");
}

#[tokio::test]
async fn plugin_errors_keep_their_status_kind_and_severity() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!(
            "{origin}{BASE}/fail?status=409&kind=task_guard&warning=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(
        json(res).await,
        json!({"model": "plugin.task_guard", "reason": "the probe was asked to fail", "type": "warning"})
    );
    let res = client()
        .get(format!("{origin}{BASE}/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        json(res).await,
        json!({"model": "plugin.error", "reason": "the probe was asked to fail", "type": "error"})
    );
    // A status that is not an error status becomes a 500.
    let res = client()
        .get(format!("{origin}{BASE}/fail?status=200"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn typed_json_bodies_parse_or_answer_400_with_the_reason() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let url = format!("{origin}{BASE}/order");
    let res = client()
        .post(&url)
        .body(r#"{"item":"pen","count":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await, json!({"ordered": "pen", "count": 2}));
    let res = client().post(&url).body("not json").send().await.unwrap();
    let reason = error_reason(res, 400, "plugin.bad_request").await;
    assert!(
        reason.starts_with("invalid JSON body: expected"),
        "{reason}"
    );
    let res = client()
        .post(&url)
        .body(r#"{"item":"pen"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        json(res).await["reason"]
            .as_str()
            .unwrap()
            .contains("missing field `count`")
    );
}

#[tokio::test]
async fn a_trap_answers_500_naming_the_function_and_the_host_keeps_serving() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!("{origin}{BASE}/crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body = json(res).await;
    assert_eq!(body["model"], "plugin.trap");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("`crash`"), "{reason}");
    assert!(
        !reason.contains("panicked") && !reason.contains("backtrace"),
        "leaks detail: {reason}"
    );
    let res = client()
        .get(format!("{origin}{BASE}/echo/a/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_time_limit_answers_504_and_the_memory_limit_500() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!("{origin}{BASE}/spin"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    let body = json(res).await;
    assert_eq!(body["model"], "plugin.timeout");
    assert!(
        body["reason"].as_str().unwrap().contains("`spin`"),
        "{body}"
    );
    let res = client()
        .get(format!("{origin}{BASE}/hog"))
        .send()
        .await
        .unwrap();
    let reason = error_reason(res, 500, "plugin.trap").await;
    assert!(reason.contains("ran out of memory"), "{reason}");
}

#[tokio::test]
async fn request_bodies_over_the_limit_answer_413_and_at_the_limit_pass() {
    let limits = GatewayLimits {
        max_request_body: 1024,
        ..GatewayLimits::default()
    };
    let (origin, _) = serve(vec![common::probe().await], limits).await;
    let url = format!("{origin}{BASE}/echo/a/b");
    let res = client()
        .post(&url)
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["body"].as_str().unwrap().len(), 1024);
    let res = client()
        .post(&url)
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(json(res).await["model"], "plugin.body_too_large");
    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks = vec![
        Ok::<_, std::io::Error>(vec![b'a'; 700]),
        Ok(vec![b'a'; 700]),
    ];
    let body = reqwest::Body::wrap_stream(futures_stream(chunks));
    let res = client().post(&url).body(body).send().await.unwrap();
    assert_eq!(res.status(), 413);
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Chunks(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Chunks(chunks.into_iter())
}

#[tokio::test]
async fn external_routes_need_a_logged_in_user() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let url = format!("{origin}{BASE}/team/TEAM0001/who");
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body = json(res).await;
    assert_eq!(body["model"], "plugin.unauthorized");
    assert!(
        body["reason"].as_str().unwrap().contains("ones-user-id"),
        "{body}"
    );
    let res = client()
        .get(&url)
        .signed_as("U1", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["params"], json!([["teamUUID", "TEAM0001"]]));
}

#[tokio::test]
async fn the_plugin_id_header_chooses_between_plugins_sharing_a_route() {
    let (origin, _) = serve(
        vec![common::hello().await, common::probe().await],
        GatewayLimits::default(),
    )
    .await;
    let url = format!("{origin}{BASE}/hello");
    let res = client().post(&url).body("{}").send().await.unwrap();
    let reason = error_reason(res, 400, "plugin.ambiguous_route").await;
    assert!(reason.contains("hellowrd, probe001"), "{reason}");
    let res = client()
        .post(&url)
        .header("Ones-Plugin-Id", "hellowrd")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["res"], "hello world");
    let res = client()
        .post(&url)
        .header("Ones-Plugin-Id", "probe001")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["method"], "POST");
    let res = client()
        .post(&url)
        .header("Ones-Plugin-Id", "nobody")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn malformed_requests_get_a_400_with_a_reason() {
    let (origin, _) = serve(vec![common::probe().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!("{origin}{BASE}/echo/a/b"))
        .header(
            "x-bytes",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        json(res).await,
        json!({"model": "plugin.bad_request", "reason": "the header `x-bytes` is not valid UTF-8", "type": "error"})
    );
    let res = client()
        .get(format!("{origin}{BASE}/echo/%ff/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn healthz_says_its_status_and_not_the_plugins() {
    let (origin, gateway) = serve(vec![common::hello().await], GatewayLimits::default()).await;
    let res = client()
        .get(format!("{origin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await, json!({"status": "ok"}));
    // Nor after a new plugin set.
    gateway.replace(op::gateway::PluginSet::new(vec![common::probe().await]).unwrap());
    let res = client()
        .get(format!("{origin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await, json!({"status": "ok"}));
}
