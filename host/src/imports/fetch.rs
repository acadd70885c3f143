//! `op:plugin/fetch`: OPFetch. The host signs ONES calls with credentials
//! the plugin never sees, and keeps absolute URLs to the allow-list.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::HostState;
use super::context::{CallContext, Credentials, OnesLink};
use crate::bindings::op::plugin::fetch::Host;
use crate::bindings::{FetchError, FetchRequest, FetchResponse};
use crate::manifest::ApiScope;
use crate::storage::object_requests::{self, ObjectReply, ObjectRequest};
use crate::storage::signed_urls::API_PREFIX;

/// Largest answer body a plugin may receive (16 MiB, as ONES).
pub const MAX_FETCH_BODY: usize = 16 * 1024 * 1024;
/// Most OPFetch calls one invocation may make.
pub const MAX_FETCHES_PER_CALL: u32 = 100;
/// Time limit of one OPFetch call unless the plugin asks for less.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Most redirects followed for an absolute URL.
pub const MAX_REDIRECTS: usize = 10;

const USER_ID: &str = "ones-user-id";
const AUTH_TOKEN: &str = "ones-auth-token";
const REDACTED: &[u8] = b"[redacted]";

/// The process's one pooled HTTP client. Redirects are not followed by the
/// client: [`fetch`] follows them itself, checking each hop.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Whether ONES accepts `credentials` as a logged-in user (`GET /users/me`
/// answers 2xx). `Err` says why ONES could not be asked.
pub async fn verify_user(link: &OnesLink, credentials: &Credentials) -> Result<bool, String> {
    let url = Url::parse(&format!("{}/project/api/project/users/me", link.base_url))
        .map_err(|err| err.to_string())?;
    let mut headers = HeaderMap::new();
    sign(&mut headers, credentials)
        .map_err(|_| "the caller's credentials are not valid header values".to_string())?;
    let answer = send(
        Method::GET,
        url,
        headers,
        Vec::new(),
        DEFAULT_FETCH_TIMEOUT,
        DEFAULT_FETCH_TIMEOUT,
    )
    .await
    .map_err(|err| match err {
        FetchError::Timeout(m) | FetchError::ConnectionFailed(m) | FetchError::TooLarge(m) => m,
        _ => "the request could not be made".to_string(),
    })?;
    match answer.status {
        200..=299 => Ok(true),
        401 | 403 => Ok(false),
        other => Err(format!("ONES answered {other} to GET /users/me")),
    }
}

impl Host for HostState {
    async fn fetch(&mut self, req: FetchRequest) -> Result<FetchResponse, FetchError> {
        fetch(&mut self.call, req).await
    }
}

/// Performs one OPFetch call for `call`.
pub async fn fetch(call: &mut CallContext, req: FetchRequest) -> Result<FetchResponse, FetchError> {
    call.fetches += 1;
    if call.fetches > MAX_FETCHES_PER_CALL {
        return Err(FetchError::TooManyCalls(format!(
            "one call may make at most {MAX_FETCHES_PER_CALL} OPFetch calls"
        )));
    }
    let method = Method::from_bytes(req.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        FetchError::InvalidRequest(format!("`{}` is not an HTTP method", req.method))
    })?;
    let timeout = req
        .timeout_ms
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .unwrap_or(DEFAULT_FETCH_TIMEOUT)
        .min(DEFAULT_FETCH_TIMEOUT);
    let started = Instant::now();
    let result = if req.url.starts_with("http://") || req.url.starts_with("https://") {
        outside(call, method.clone(), req, timeout).await
    } else if req.url.starts_with(API_PREFIX) {
        Ok(own_object(call, &method, req).await)
    } else if req.url.starts_with('/') {
        ones(call, method.clone(), req, timeout).await
    } else {
        Err(FetchError::InvalidRequest(format!(
            "`{}` is neither a path of the ONES API (starting with `/`) nor an http(s) URL",
            req.url
        )))
    };
    let status = result.as_ref().map(|r| r.status).ok();
    tracing::debug!(
        target: "op::fetch",
        plugin = call.instance.app_id,
        function = call.function,
        request_id = call.request_id,
        %method,
        ?status,
        elapsed = ?started.elapsed(),
        "OPFetch"
    );
    result
}

/// A call to one of the instance's signed object addresses, answered by
/// the host itself as the gateway answers a browser's.
async fn own_object(call: &CallContext, method: &Method, req: FetchRequest) -> FetchResponse {
    let path = req.url.split(['?', '#']).next().unwrap_or_default();
    let token_text = path.strip_prefix(API_PREFIX).unwrap_or_default();
    let reply = if req.body.len() > object_requests::MAX_REQUEST_BYTES {
        ObjectReply::failure(
            413,
            "too_large",
            &format!(
                "a request to an object address carries at most {} bytes",
                object_requests::MAX_REQUEST_BYTES
            ),
        )
    } else {
        match object_requests::token(token_text) {
            Err(reply) => reply,
            Ok(token) => {
                let content_type = req
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                    .map(|(_, value)| value.as_str());
                let request = ObjectRequest {
                    method: method.as_str(),
                    content_type,
                    body: bytes::Bytes::from(req.body),
                };
                object_requests::answer(call.instance.storage.as_ref(), token, request).await
            }
        }
    };
    FetchResponse {
        status: reply.status,
        headers: reply
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
        body: reply.body.to_vec(),
    }
}

/// A call to the ONES API, signed by the host.
async fn ones(
    call: &CallContext,
    method: Method,
    req: FetchRequest,
    timeout: Duration,
) -> Result<FetchResponse, FetchError> {
    let Some(link) = &call.instance.installation.ones else {
        return Err(FetchError::ConnectionFailed(
            "no ONES server is configured for this plugin (set --ones-url or OP_ONES_URL)".into(),
        ));
    };
    let path = req.url.as_str();
    let OnesTarget {
        mut url,
        team: path_team,
        ..
    } = ones_url(&link.base_url, path)?;
    append_query(&mut url, &req.query);
    let (mut headers, own) = plugin_headers(&req.headers)?;
    let credentials = if req.root {
        let team = root_team(call, req.team_uuid.as_deref())?;
        // A team-level plugin acts in its team only, whatever the path says.
        if let Some(named) = path_team.filter(|named| !call.instance.org_level && named != team) {
            return Err(FetchError::NoTeam(format!(
                "this team-level plugin is installed in team {team} and cannot act in team {named}"
            )));
        }
        link.super_admins.for_team(team).ok_or_else(|| {
            FetchError::NoCredentials(format!(
                "no super-admin credentials for team {team}; configure OP_SUPER_ADMIN_USER_ID and OP_SUPER_ADMIN_TOKEN"
            ))
        })?
    } else {
        own.or_else(|| call.caller.clone()).ok_or_else(|| {
            FetchError::NoCredentials(
                "`root: false` needs a user: pass the ones-user-id and ones-auth-token headers, or call while serving a request that carries them"
                    .into(),
            )
        })?
    };
    sign(&mut headers, &credentials)?;
    let bearer = open_api_token(call, link, &mut headers)?;
    let mut answer = send(method, url, headers, req.body, timeout, timeout).await?;
    if req.root {
        scrub(&mut answer, credentials.token.as_bytes());
    }
    if let Some(token) = bearer {
        scrub(&mut answer, token.as_bytes());
    }
    Ok(answer)
}

/// The API base of ONES OpenAPI v2 for OPFetch paths (`/openapi/v2/...`).
const OPENAPI: &str = "/openapi";

/// What a plugin is given in place of an OpenAPI token
/// (`getOpenApiToken({teamID})` in the JS SDK): this prefix and the team.
pub const OPENAPI_STAND_IN: &str = "op-openapi-token:";

/// Swaps an `Authorization: Bearer op-openapi-token:TEAM` header for the
/// team's super-admin token, which serves as its OpenAPI token; returns the
/// secret it put in, for scrubbing. The stand-in means nothing anywhere
/// else: only this path to ONES exchanges it, and only for a team this
/// plugin may act in.
fn open_api_token(
    call: &CallContext,
    link: &OnesLink,
    headers: &mut HeaderMap,
) -> Result<Option<String>, FetchError> {
    let Some(value) = headers.get(reqwest::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Some(team) = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|v| v.trim().strip_prefix(OPENAPI_STAND_IN))
        .map(str::to_string)
    else {
        return Ok(None);
    };
    let asked = Some(team.as_str()).filter(|t| !t.is_empty());
    let allowed = root_team(call, asked)?;
    if !call.instance.org_level && allowed != team && !team.is_empty() {
        return Err(FetchError::NoTeam(format!(
            "this team-level plugin is installed in team {allowed} and cannot use the OpenAPI token of team {team}"
        )));
    }
    let credentials = link.super_admins.for_team(allowed).ok_or_else(|| {
        FetchError::NoCredentials(format!(
            "no super-admin credentials for team {allowed}, so no OpenAPI token"
        ))
    })?;
    let mut bearer =
        HeaderValue::from_str(&format!("Bearer {}", credentials.token)).map_err(|_| {
            FetchError::NoCredentials("the configured token is not a header value".into())
        })?;
    bearer.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    Ok(Some(credentials.token))
}

/// Where an OPFetch path goes on ONES.
#[derive(Debug, Clone)]
pub struct OnesTarget {
    /// The URL, as it is sent.
    pub url: Url,
    /// Its API base: `/project/api/project`, `/wiki/api/wiki` or
    /// `/openapi` (ONES OpenAPI v2, reached with a bearer token).
    pub base: &'static str,
    /// The team the path names (`/team/:teamUUID/...`), if any.
    pub team: Option<String>,
}

/// Where an OPFetch path (`/users/me`, `/wiki/...`) goes on the ONES at
/// `base_url`. The check is made on the URL as the client that sends it
/// parsed it (the `url` crate, which also resolves `.%2e`, reads `\` as
/// `/` and strips tabs and newlines), and again on that path's RFC 3986
/// form (what a normalising ONES or proxy would make of it): both must stay
/// under `/project/api/project/` or `/wiki/api/wiki/`.
pub fn ones_url(base_url: &str, path: &str) -> Result<OnesTarget, FetchError> {
    let refuse = |why: &str| {
        FetchError::InvalidRequest(format!(
            "`{}` {why}; ONES paths cannot leave the API base",
            path.escape_debug()
        ))
    };
    if path.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
        return Err(refuse("has a control character or a `\\`"));
    }
    let path_only = path.split(['?', '#']).next().unwrap_or_default();
    if path_only.split('/').any(|segment| {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        decoded == "." || decoded == ".."
    }) {
        return Err(refuse("has `.` or `..` segments"));
    }
    let (api, base) = if path == "/wiki" || path.starts_with("/wiki/") {
        (ApiScope::Wiki.base(), "/wiki/api")
    } else if path == OPENAPI || path.starts_with(&format!("{OPENAPI}/")) {
        (OPENAPI, "")
    } else {
        (ApiScope::Project.base(), "/project/api/project")
    };
    let url = Url::parse(&format!("{base_url}{base}{path}")).map_err(|err| {
        FetchError::InvalidRequest(format!("`{path}` does not make a URL: {err}"))
    })?;
    let origin = Url::parse(base_url)
        .map_err(|err| FetchError::InvalidRequest(format!("the ONES URL is not a URL: {err}")))?;
    let want = format!("{}{}", origin.path().trim_end_matches('/'), api);
    let sent = url.path();
    if url.origin() != origin.origin() || below(sent, &want).is_none() {
        return Err(refuse("does not stay under the API base once parsed"));
    }
    let normal = match crate::path::normalize(sent) {
        Ok((normal, _)) => normal,
        Err(err) => return Err(refuse(&err.to_string().replace("the request path ", ""))),
    };
    let Some(rest) = below(&normal, &want) else {
        return Err(refuse("leaves the API base once normalised"));
    };
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let team = match (segments.next(), segments.next()) {
        (Some(first), Some(named)) if first.eq_ignore_ascii_case("team") => Some(named.to_string()),
        _ => None,
    };
    Ok(OnesTarget {
        url,
        base: api,
        team,
    })
}

/// `path` below `base` (empty or starting with `/`), if it is there.
fn below<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    path.strip_prefix(base)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The team a root call acts in.
fn root_team<'a>(call: &'a CallContext, asked: Option<&'a str>) -> Result<&'a str, FetchError> {
    let instance = &call.instance;
    if !instance.org_level {
        let own = instance.installation.team_uuid.as_deref();
        if let (Some(own), Some(asked)) = (own, asked)
            && own != asked
        {
            return Err(FetchError::NoTeam(format!(
                "this team-level plugin is installed in team {own} and cannot act in team {asked}"
            )));
        }
    }
    asked.or_else(|| instance.team(call.request_team.as_deref())).ok_or_else(|| {
        FetchError::NoTeam(if instance.org_level {
            "an organization-level plugin must name the team (teamUUID) when the request it serves is not in a team".into()
        } else {
            "this plugin has no team: set OP_TEAM_UUID (or team_uuid in config/local.yaml)".into()
        })
    })
}

/// A call to an outside host of the allow-list; redirects are followed while
/// they stay in the list. ONES credentials are never sent.
async fn outside(
    call: &CallContext,
    mut method: Method,
    req: FetchRequest,
    timeout: Duration,
) -> Result<FetchResponse, FetchError> {
    let mut url = Url::parse(&req.url)
        .map_err(|err| FetchError::InvalidRequest(format!("`{}` is not a URL: {err}", req.url)))?;
    append_query(&mut url, &req.query);
    let (headers, _) = plugin_headers(&req.headers)?;
    let mut body = req.body;
    let deadline = Instant::now() + timeout;
    for hop in 0..=MAX_REDIRECTS {
        check_allowed(call, &url, hop > 0)?;
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = send(
            method.clone(),
            url.clone(),
            headers.clone(),
            body.clone(),
            left,
            timeout,
        )
        .await?;
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        let location = answer
            .headers
            .iter()
            .find(|(name, _)| name == "location")
            .map(|(_, value)| value.clone());
        match location {
            Some(location) if status.is_redirection() && status != StatusCode::NOT_MODIFIED => {
                url = url.join(&location).map_err(|err| {
                    FetchError::InvalidRequest(format!(
                        "the redirect to `{location}` is not a URL: {err}"
                    ))
                })?;
                if status == StatusCode::SEE_OTHER
                    || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                        && method == Method::POST)
                {
                    method = Method::GET;
                    body = Vec::new();
                }
            }
            _ => return Ok(answer),
        }
    }
    Err(FetchError::InvalidRequest(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn check_allowed(call: &CallContext, url: &Url, redirected: bool) -> Result<(), FetchError> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(0);
    let rules = &call.instance.outbound;
    if rules
        .iter()
        .any(|rule| rule.allows(url.scheme(), host, port))
    {
        return Ok(());
    }
    let list = if rules.is_empty() {
        "the list is empty; add hosts under sandbox.outbound in plugin.yaml".to_string()
    } else {
        format!(
            "allowed: {}",
            rules
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let what = if redirected { "a redirect to" } else { "" };
    Err(FetchError::NotAllowed(format!(
        "{what}{}{}://{host}:{port} is not on the plugin's outbound allow-list ({list})",
        if redirected { " " } else { "" },
        url.scheme()
    )))
}

fn append_query(url: &mut Url, query: &[(String, String)]) {
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
}

/// The plugin's headers as HTTP headers, without the ONES credential
/// headers (returned apart when both are set) and without the ones the
/// client manages.
fn plugin_headers(
    fields: &[(String, String)],
) -> Result<(HeaderMap, Option<Credentials>), FetchError> {
    let (mut user_id, mut token) = (None, None);
    let mut rest = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if name.eq_ignore_ascii_case(USER_ID) {
            user_id = Some(value.clone());
        } else if name.eq_ignore_ascii_case(AUTH_TOKEN) {
            token = Some(value.clone());
        } else {
            rest.push((name.clone(), value.clone()));
        }
    }
    let headers = super::headers::to_http(&rest, super::headers::Direction::Fetch)
        .map_err(|err| FetchError::InvalidRequest(err.to_string()))?;
    let own = match (user_id, token) {
        (Some(user_id), Some(token)) if !user_id.is_empty() && !token.is_empty() => {
            Some(Credentials { user_id, token })
        }
        _ => None,
    };
    Ok((headers, own))
}

fn sign(headers: &mut HeaderMap, credentials: &Credentials) -> Result<(), FetchError> {
    let invalid = || {
        FetchError::NoCredentials("the configured credentials are not valid header values".into())
    };
    headers.insert(
        USER_ID,
        HeaderValue::from_str(&credentials.user_id).map_err(|_| invalid())?,
    );
    let mut token = HeaderValue::from_str(&credentials.token).map_err(|_| invalid())?;
    token.set_sensitive(true);
    headers.insert(AUTH_TOKEN, token);
    Ok(())
}

/// One HTTP exchange within `timeout`; `limit` is the time limit as the
/// plugin set it, for the error message.
async fn send(
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
    limit: Duration,
) -> Result<FetchResponse, FetchError> {
    let target = format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    );
    let what = format!("{method} {}", url.path());
    let exchange = async {
        let mut response = client()
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|err| transport_error(&err, &target))?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_FETCH_BODY as u64)
        {
            return Err(too_large(&target));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| transport_error(&err, &target))?
        {
            if bytes.len() + chunk.len() > MAX_FETCH_BODY {
                return Err(too_large(&target));
            }
            bytes.extend_from_slice(&chunk);
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(FetchResponse {
            status: response.status().as_u16(),
            headers,
            body: bytes,
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout(format!(
            "{target} did not answer {what} within {limit:?}"
        ))),
    }
}

fn too_large(target: &str) -> FetchError {
    FetchError::TooLarge(format!(
        "the answer of {target} is over the limit of {MAX_FETCH_BODY} bytes"
    ))
}

/// The innermost cause of an error (e.g. "Connection refused (os error
/// 111)" under reqwest's and hyper's wrappers).
pub fn root_cause<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause
}

fn transport_error(err: &reqwest::Error, target: &str) -> FetchError {
    let cause = root_cause(err);
    if err.is_timeout() {
        FetchError::Timeout(format!("{target} did not answer in time"))
    } else if err.is_connect() {
        FetchError::ConnectionFailed(format!("cannot connect to {target}: {cause}"))
    } else {
        FetchError::ConnectionFailed(format!("the exchange with {target} failed: {cause}"))
    }
}

/// Replaces every occurrence of `secret` in the answer, so that an ONES API
/// that echoes the caller's token cannot hand the super-admin's to a plugin.
fn scrub(answer: &mut FetchResponse, secret: &[u8]) {
    if secret.is_empty() {
        return;
    }
    if contains(&answer.body, secret) {
        answer.body = replace(&answer.body, secret, REDACTED);
    }
    for (_, value) in &mut answer.headers {
        if contains(value.as_bytes(), secret) {
            *value =
                String::from_utf8_lossy(&replace(value.as_bytes(), secret, REDACTED)).into_owned();
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_removes_the_secret_from_body_and_headers() {
        let mut answer = FetchResponse {
            status: 200,
            headers: vec![("x-echo".into(), "tok-SECRET-1".into())],
            body: br#"{"token":"SECRET","again":"SECRETSECRET"}"#.to_vec(),
        };
        scrub(&mut answer, b"SECRET");
        assert_eq!(
            answer.body,
            br#"{"token":"[redacted]","again":"[redacted][redacted]"}"#
        );
        assert_eq!(answer.headers[0].1, "tok-[redacted]-1");
    }

    #[test]
    fn credential_headers_are_taken_out_of_the_plugins_headers() {
        let fields = vec![
            ("Ones-User-Id".to_string(), "alice".to_string()),
            ("ones-auth-token".to_string(), "t".to_string()),
            ("x-keep".to_string(), "1".to_string()),
            ("host".to_string(), "evil".to_string()),
        ];
        let (headers, own) = plugin_headers(&fields).unwrap();
        assert_eq!(
            own,
            Some(Credentials {
                user_id: "alice".into(),
                token: "t".into()
            })
        );
        assert!(
            headers.get(USER_ID).is_none()
                && headers.get(AUTH_TOKEN).is_none()
                && headers.get("host").is_none()
        );
        assert_eq!(headers["x-keep"], "1");
        assert_eq!(
            format!("{:?}", own.unwrap()),
            r#"Credentials { user_id: "alice", token: "<redacted>" }"#
        );
    }
}
