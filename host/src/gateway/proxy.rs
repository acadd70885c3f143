//! The upstream proxy: ONES API calls that no plugin route answers are
//! forwarded to ONES — method, path, query, headers and body — with
//! hop-by-hop headers dropped, `Host` rewritten and `X-Forwarded-*` added.
//! A call no hook looks at is streamed both ways without buffering.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use std::sync::OnceLock;

use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ipnet::IpNet;

use super::error::GatewayError;
use crate::imports::fetch::root_cause;

/// Where ONES is, for the proxy.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Base URL without a trailing `/`, e.g. `http://127.0.0.1:3100`.
    pub base_url: String,
    /// Longest wait for ONES's response headers.
    pub timeout: Duration,
    /// The proxies in front of op whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
}

impl Upstream {
    /// An upstream at `base_url` with the default 30 s timeout, trusting no
    /// proxy.
    pub fn new(base_url: impl Into<String>) -> Self {
        Upstream {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(30),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// The peers (addresses and CIDR blocks) whose `X-Forwarded-*`,
/// `Forwarded` and `X-Real-IP` headers reach ONES; from any other peer op
/// replaces them with its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is neither an address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or a CIDR block (e.g. `10.0.0.0/8`, `::1`)")]
pub struct BadProxy(pub String);

impl TrustedProxies {
    /// The proxies of `entries` (`10.0.0.7`, `10.0.0.0/8`, `fd00::/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadProxy> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(entry.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is one of them (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The headers that say who the client is; only a trusted proxy's reach ONES.
const FORWARDING: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "forwarded",
    "x-real-ip",
];

/// Headers that describe one connection, not the message.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (lower-case) is hop-by-hop: one of the standard ones, or
/// named by the message's `Connection` header (`connection`, its tokens).
fn is_hop_by_hop(name: &str, connection: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || connection.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// Removes the hop-by-hop headers (and those `Connection` names) from
/// `headers`: they describe a connection, not the message.
pub(super) fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let connection = connection_tokens(headers);
    let hop: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name.as_str(), &connection))
        .cloned()
        .collect();
    for name in hop {
        headers.remove(name);
    }
}

fn connection_tokens(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect()
}

/// The headers to send upstream: the client's, less hop-by-hop ones and
/// `Host`, with `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto` and
/// `X-Forwarded-Host` set by op. A client that is a trusted proxy keeps its
/// forwarding headers (op appends to `X-Forwarded-For` and fills in the
/// ones it did not send); from anyone else they are replaced (`Forwarded`
/// is dropped).
pub fn forward_headers(
    incoming: &HeaderMap,
    client_addr: Option<SocketAddr>,
    trusted: &TrustedProxies,
) -> HeaderMap {
    let connection = connection_tokens(incoming);
    let peer = client_addr.map(|addr| addr.ip().to_canonical());
    let from_proxy = peer.is_some_and(|ip| trusted.trusts(ip));
    let mut out = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || is_hop_by_hop(name.as_str(), &connection)
            || (!from_proxy && FORWARDING.contains(&name.as_str()))
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(ip) = peer {
        let ip = ip.to_string();
        let chain: Vec<&str> = out
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let forwarded = if chain.is_empty() {
            ip.clone()
        } else {
            format!("{}, {ip}", chain.join(", "))
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded) {
            out.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
        if !out.contains_key("x-real-ip")
            && let Ok(value) = HeaderValue::from_str(&ip)
        {
            out.insert(HeaderName::from_static("x-real-ip"), value);
        }
    }
    if !out.contains_key("x-forwarded-proto") {
        out.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
    }
    if let Some(host) = incoming.get(header::HOST)
        && !out.contains_key("x-forwarded-host")
    {
        out.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    out
}

/// The proxy's HTTP client: hyper's pooled client (keep-alive, no Nagle
/// delay), HTTP/1.1 over TCP or TLS (webpki roots). The body goes through
/// as it comes, in both directions.
type ProxyClient = Client<HttpsConnector<HttpConnector>, Body>;

fn proxy_client() -> Result<&'static ProxyClient, GatewayError> {
    static CLIENT: OnceLock<Result<ProxyClient, String>> = OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        http.enforce_http(false);
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|err| format!("TLS cannot be set up: {err}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(https))
    });
    client
        .as_ref()
        .map_err(|reason| GatewayError::BadGateway(reason.clone()))
}

/// Sends a request to ONES and waits for its response headers. A body that
/// turns out to be over `body_limit` bytes while it streams is cut there
/// (ONES sees it break off) and the client gets 413.
pub async fn send(
    upstream: &Upstream,
    metrics: Option<&super::Metrics>,
    method: &axum::http::Method,
    path_and_query: &str,
    headers: HeaderMap,
    body: Body,
    body_limit: usize,
) -> Result<axum::http::Response<Incoming>, GatewayError> {
    let body = Body::new(http_body_util::Limited::new(body, body_limit));
    let mut uri = String::with_capacity(upstream.base_url.len() + path_and_query.len());
    uri.push_str(&upstream.base_url);
    uri.push_str(path_and_query);
    let mut request = axum::http::Request::new(body);
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri
        .parse()
        .map_err(|_| GatewayError::BadRequest(format!("`{path_and_query}` cannot be forwarded")))?;
    *request.headers_mut() = headers;
    let started = metrics.map(|_| std::time::Instant::now());
    let outcome = tokio::time::timeout(upstream.timeout, proxy_client()?.request(request)).await;
    if let (Some(metrics), Some(started)) = (metrics, started) {
        metrics.record_upstream(started.elapsed());
    }
    match outcome {
        Err(_) => Err(GatewayError::UpstreamTimeout(format!(
            "ONES did not answer within {:?}",
            upstream.timeout
        ))),
        Ok(Err(err)) if root_cause(&err).is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit: body_limit })
        }
        Ok(Err(err)) => {
            let cause = root_cause(&err);
            tracing::warn!(
                upstream = upstream.base_url,
                "ONES cannot be reached: {cause}"
            );
            Err(GatewayError::BadGateway(format!(
                "ONES cannot be reached: {cause}"
            )))
        }
        Ok(Ok(response)) => Ok(response),
    }
}

/// ONES's response, streamed to the client as it arrives.
pub fn stream_back(response: axum::http::Response<Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers = response_headers(&parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// ONES's response headers, less hop-by-hop ones.
pub fn response_headers(incoming: &HeaderMap) -> HeaderMap {
    let connection = connection_tokens(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if !is_hop_by_hop(name.as_str(), &connection) && name != header::CONTENT_LENGTH {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// ONES's whole response body, up to `limit` bytes.
pub async fn read_all(
    response: axum::http::Response<Incoming>,
    limit: usize,
) -> Result<(u16, HeaderMap, Vec<u8>), GatewayError> {
    let (parts, body) = response.into_parts();
    let headers = response_headers(&parts.headers);
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok((
            parts.status.as_u16(),
            headers,
            collected.to_bytes().to_vec(),
        )),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(GatewayError::BadGateway(
            format!("the ONES answer is over the limit of {limit} bytes that hooks can read"),
        )),
        Err(err) => Err(GatewayError::BadGateway(format!(
            "the ONES answer broke off: {err}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped_and_forwarding_headers_added() {
        let mut incoming = HeaderMap::new();
        incoming.insert(header::HOST, HeaderValue::from_static("gateway:3001"));
        incoming.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        incoming.insert("x-private", HeaderValue::from_static("1"));
        incoming.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        incoming.insert("ones-user-id", HeaderValue::from_static("alice"));
        incoming.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        let trusted = TrustedProxies::parse(&["127.0.0.0/24"]).unwrap();
        let out = forward_headers(&incoming, Some("127.0.0.9:5000".parse().unwrap()), &trusted);
        assert!(out.get(header::HOST).is_none());
        assert!(
            out.get(header::CONNECTION).is_none()
                && out.get("x-private").is_none()
                && out.get("keep-alive").is_none()
        );
        assert_eq!(out["ones-user-id"], "alice");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-host"], "gateway:3001");
        assert_eq!(out["x-real-ip"], "127.0.0.9");
        // The same from a peer that is not a trusted proxy.
        let out = forward_headers(&incoming, Some("127.0.1.9:5000".parse().unwrap()), &trusted);
        assert_eq!(out["x-forwarded-for"], "127.0.1.9");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_blocks() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "::1", " 192.168.1.7 "]).unwrap();
        for (ip, yes) in [
            ("10.2.3.4", true),
            ("11.0.0.1", false),
            ("::1", true),
            ("::ffff:10.0.0.1", true),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
        ] {
            assert_eq!(trusted.trusts(ip.parse().unwrap()), yes, "{ip}");
        }
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33"]),
            Err(BadProxy("10.0.0.0/33".into()))
        );
        assert!(TrustedProxies::default().is_empty());
    }
}
