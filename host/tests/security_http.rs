//! Hostile HTTP against a served gateway in front of a recording stand-in
//! for ONES (issue 18, items 11 and 12, and the raw-socket part of the
//! suite): forged forwarding headers, plugin answers that are not HTTP,
//! malformed requests sent byte for byte. After each, a good request still
//! answers and nothing unexpected reached ONES.

mod common;

use std::sync::Arc;

use common::upstream::{self, Upstream};
use common::{client, error_reason, raw, serve_in_front_of};
use op::gateway::{Gateway, GatewayLimits, PluginSet, TrustedProxies};
use op::runtime::Plugin;

const P: &str = "/project/api/project";

async fn hostile() -> Arc<Plugin> {
    common::load(
        op_test_plugins::HOSTILE_NET_DIR,
        op_test_plugins::HOSTILE_NET,
    )
    .await
}

/// A good plugin call and a good proxied call both still answer.
async fn still_serves(origin: &str, ones: &Upstream) {
    let res = client()
        .get(format!("{origin}{P}/echo/a/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let before = ones.received().len();
    let res = client()
        .get(format!("{origin}{P}/still/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(ones.received().len(), before + 1);
    assert_eq!(ones.last().uri, format!("{P}/still/here"));
}

async fn probe_in_front_of_ones() -> (String, Upstream) {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![common::probe().await], &ones.origin).await;
    (origin, ones)
}

const FORGED: [(&str, &str); 5] = [
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-proto", "https"),
    ("forwarded", "for=6.6.6.6;host=evil.example;proto=https"),
    ("x-real-ip", "6.6.6.6"),
];

fn forged(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    FORGED.iter().fold(request, |request, (name, value)| {
        request.header(*name, *value)
    })
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_client_are_replaced() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hostile().await], &ones.origin).await;
    let host = origin.trim_start_matches("http://").to_string();
    // Proxied as it is, and through a hook (which rebuilds the headers).
    for path in ["/users/x", "/guarded"] {
        let res = forged(client().get(format!("{origin}{P}{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let seen = ones.last();
        assert_eq!(seen.uri, format!("{P}{path}"));
        assert_eq!(
            seen.header_values("x-forwarded-for"),
            ["127.0.0.1"],
            "{path}"
        );
        assert_eq!(seen.header_values("x-real-ip"), ["127.0.0.1"], "{path}");
        assert_eq!(seen.header_values("x-forwarded-proto"), ["http"], "{path}");
        assert_eq!(
            seen.header_values("x-forwarded-host"),
            [host.as_str()],
            "{path}"
        );
        assert!(seen.header_values("forwarded").is_empty(), "{path}");
    }
}

#[tokio::test]
async fn forwarding_headers_from_a_trusted_proxy_reach_ones_with_the_peer_appended() {
    let ones = upstream::start().await;
    let mut upstream = op::gateway::Upstream::new(&ones.origin);
    upstream.trusted_proxies = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1"]).unwrap();
    let set = PluginSet::new(vec![hostile().await]).unwrap();
    let gateway = Gateway::with_upstream(set, GatewayLimits::default(), upstream);
    let (origin, _) = common::serve_gateway(gateway).await;
    for path in ["/users/x", "/guarded"] {
        let res = forged(client().get(format!("{origin}{P}{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let seen = ones.last();
        assert_eq!(
            seen.header_values("x-forwarded-for"),
            ["6.6.6.6, 127.0.0.1"],
            "{path}"
        );
        for (name, value) in &FORGED[1..] {
            assert_eq!(seen.header_values(name), [*value], "{path}: {name}");
        }
    }
}

#[tokio::test]
async fn plugin_statuses_outside_200_to_599_are_a_bad_response() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hostile().await], &ones.origin).await;
    for status in [0, 1, 100, 101, 103, 199, 600, 999, 65535] {
        for path in ["/answer", "/guarded"] {
            let res = client()
                .get(format!("{origin}{P}{path}?status={status}"))
                .send()
                .await
                .unwrap();
            let reason = error_reason(res, 500, "plugin.bad_response").await;
            assert!(reason.contains("hostile1"), "{reason}");
        }
    }
    assert!(
        ones.received().is_empty(),
        "a refused hook let the call through"
    );
    for status in [200, 204, 302, 404, 599] {
        let res = client()
            .get(format!("{origin}{P}/answer?status={status}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
    }
    // A 101 does not take the connection over: the next request on it is
    // answered.
    let pipelined = [
        format!("GET {P}/answer?status=101 HTTP/1.1\r\nHost: gateway.test\r\n\r\n").into_bytes(),
        raw::request("GET", &format!("{P}/answer"), &[], b""),
    ]
    .concat();
    assert_eq!(raw::statuses(&origin, &pipelined).await, [500, 200]);
}

#[tokio::test]
async fn hop_by_hop_headers_from_a_plugin_are_dropped() {
    let ones = upstream::start().await;
    let (origin, _) = serve_in_front_of(vec![hostile().await], &ones.origin).await;
    let headers = [
        "upgrade:websocket",
        "keep-alive:timeout%3D1",
        "connection:x-secret",
        "x-secret:1",
        "proxy-authenticate:Basic",
        "proxy-authorization:Basic%20eA%3D%3D",
        "te:trailers",
        "trailer:x-later",
        "transfer-encoding:chunked",
        "x-fine:yes",
    ];
    let query: String = headers.iter().map(|h| format!("&header={h}")).collect();
    for path in ["/answer?status=200", "/guarded?status=403"] {
        let res = client()
            .get(format!("{origin}{P}{path}{query}"))
            .send()
            .await
            .unwrap();
        for name in [
            "upgrade",
            "keep-alive",
            "x-secret",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailer",
        ] {
            assert!(res.headers().get(name).is_none(), "{path}: {name} passed");
        }
        assert_eq!(res.headers()["x-fine"], "yes", "{path}");
        assert_eq!(res.text().await.unwrap(), "from the hostile plugin");
    }
}

#[tokio::test]
async fn malformed_request_lines_get_an_error_and_the_gateway_goes_on() {
    let (origin, ones) = probe_in_front_of_ones().await;
    let long = format!("GET {P}/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let cases: Vec<Vec<u8>> = vec![
        b"GET\r\n\r\n".to_vec(),
        format!("GET {P}/echo/a/b\r\n\r\n").into_bytes(),
        format!("GET {P}/echo/a/b HTTP/1.1 extra\r\nHost: x\r\n\r\n").into_bytes(),
        format!("GET {P}/echo/a b HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        format!("GET {P}/echo/a/b HTTP/9.9\r\nHost: x\r\n\r\n").into_bytes(),
        b"GET project/api/project/echo/a/b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"\x00\x01\x02\x03\r\n\r\n".to_vec(),
        b"G\xc3\xa9T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        format!("GET {P}/echo/a/b HTTP/1.1\r\nHost x\r\n\r\n").into_bytes(),
        format!("GET {P}/echo/a/b HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n").into_bytes(),
        long.into_bytes(),
    ];
    for case in &cases {
        let status = raw::status(&origin, case).await;
        assert!(
            status.is_none_or(|s| (400..500).contains(&s) || s == 505),
            "{:?}: {status:?}",
            String::from_utf8_lossy(&case[..case.len().min(80)])
        );
        assert!(ones.received().is_empty(), "{:?}", ones.received());
    }
    still_serves(&origin, &ones).await;
}

#[tokio::test]
async fn a_1_mib_header_and_10_000_headers_are_refused_with_431() {
    let (origin, ones) = probe_in_front_of_ones().await;
    let big = format!("X-Big: {}", "a".repeat(1024 * 1024));
    let request = raw::request("GET", &format!("{P}/echo/a/b"), &[&big], b"");
    assert_eq!(raw::status(&origin, &request).await, Some(431));
    let many: Vec<String> = (0..10_000).map(|i| format!("X-H{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let request = raw::request("GET", &format!("{P}/users/x"), &many, b"");
    assert_eq!(raw::status(&origin, &request).await, Some(431));
    assert!(ones.received().is_empty());
    still_serves(&origin, &ones).await;
}

#[tokio::test]
async fn invalid_utf_8_and_percent_encoding_in_paths_are_400() {
    let (origin, ones) = probe_in_front_of_ones().await;
    for path in [
        format!("{P}/echo/\u{0}"),
        format!("{P}/echo/%FF/b"),
        format!("{P}/users/%C3%28"),
        format!("{P}/users/%zz"),
        format!("{P}/users/%"),
        format!("{P}/users/%4"),
    ] {
        let request = raw::request("GET", &path, &[], b"");
        let answer = raw::text(&origin, &request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path:?}: {answer}");
    }
    // Raw bytes that are not UTF-8 never make a URI.
    let mut request = format!("GET {P}/users/").into_bytes();
    request.extend_from_slice(b"\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(raw::status(&origin, &request).await, Some(400));
    assert!(ones.received().is_empty(), "{:?}", ones.received());
    still_serves(&origin, &ones).await;
}

#[tokio::test]
async fn content_length_with_transfer_encoding_smuggles_no_second_request_to_ones() {
    let (origin, ones) = probe_in_front_of_ones().await;
    let smuggled = format!("GET {P}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    for framing in [
        ["Content-Length: 6", "Transfer-Encoding: chunked"],
        ["Transfer-Encoding: chunked", "Content-Length: 6"],
    ] {
        for path in ["/users/x", "/hello"] {
            let body = format!("0\r\n\r\n{smuggled}");
            let request = format!(
                "POST {P}{path} HTTP/1.1\r\nHost: x\r\n{}\r\n{}\r\n\r\n{body}",
                framing[0], framing[1]
            );
            let statuses = raw::statuses(&origin, request.as_bytes()).await;
            assert!(statuses.len() <= 1, "{framing:?} {path}: {statuses:?}");
        }
    }
    let seen = ones.received();
    assert!(seen.iter().all(|r| !r.uri.contains("smuggled")), "{seen:?}");
    assert!(seen.len() <= 2, "{seen:?}");
    for request in &seen {
        assert!(request.body.is_empty(), "{request:?}");
    }
    still_serves(&origin, &ones).await;
}

fn chunked(total: usize) -> Vec<u8> {
    let chunk = vec![b'x'; 1024 * 1024];
    let mut body = Vec::with_capacity(total + 1024);
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len());
        body.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        body.extend_from_slice(&chunk[..n]);
        body.extend_from_slice(b"\r\n");
        left -= n;
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

#[tokio::test]
async fn bodies_over_the_limit_chunked_or_of_100_mib_are_413_to_plugins_and_to_ones() {
    let (origin, ones) = probe_in_front_of_ones().await;
    let over = chunked(16 * 1024 * 1024 + 1);
    for path in ["/hello", "/users/x"] {
        let request = raw::request(
            "POST",
            &format!("{P}{path}"),
            &["Transfer-Encoding: chunked"],
            &over,
        );
        let answer = raw::text(&origin, &request).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 413"),
            "{path}: {}",
            &answer[..answer.len().min(300)]
        );
        // A 100 MiB body is refused on its Content-Length, before it is read.
        let mut request = raw::request(
            "POST",
            &format!("{P}{path}"),
            &["Content-Length: 104857600"],
            b"",
        );
        request.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
        let answer = raw::text(&origin, &request).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path}: {}",
            &answer[..answer.len().min(300)]
        );
    }
    for request in ones.received() {
        assert!(
            request.body.len() <= 16 * 1024 * 1024,
            "ONES got a body of {} bytes",
            request.body.len()
        );
    }
    still_serves(&origin, &ones).await;
}
