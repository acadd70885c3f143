//! A call of the ONES API: the plugins' hooks around the upstream proxy.
//!
//! Order: every matching `intercept` (plugin load order, then declaration
//! order; the first non-2xx answer is the client's answer and ONES is not
//! called), then `prefix` (its answer's headers and body become the
//! request), then `replace` (its answer is the answer, ONES is not called) or
//! ONES itself, then `suffix` (told the answer, awaited, cannot change it),
//! then `subscribe` (queued; the client does not wait).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::GatewayError;
use super::exchange::{
    CallInfo, declared_over, into_http, plugin_error, plugin_headers, read_body,
};
use super::hooks::Hook;
use super::{Gateway, PluginSet, proxy};
use crate::bindings::{Request, Response as PluginResponse, UpstreamResponse};
use crate::manifest::{ApiScope, HookFailure, Method};
use crate::runtime::Plugin;

/// The API being called.
pub(super) struct Api<'a> {
    pub scope: ApiScope,
    /// The whole path, in the one form that was matched.
    pub path: &'a crate::path::ApiPath<'a>,
    /// The path below the API base.
    pub relative: &'a str,
    pub segments: &'a [&'a str],
    pub method: Option<Method>,
    pub query: Vec<(String, String)>,
}

/// What a hook's call came to.
enum HookOutcome {
    /// The function answered.
    Answer(PluginResponse),
    /// The function reported an error on purpose.
    Refused(GatewayError),
    /// The hook failed and the plugin says fail-open: go on without it.
    Skipped,
}

pub(super) async fn run(
    gateway: &Gateway,
    set: &PluginSet,
    parts: &Parts,
    body: Body,
    api: Api<'_>,
    info: &mut CallInfo,
) -> Result<Response, GatewayError> {
    let upstream = gateway
        .upstream()
        .ok_or_else(|| GatewayError::BadGateway("no ONES server is configured".into()))?;
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    // What was matched is what is forwarded: the path's one form.
    let owned;
    let path_and_query = match (api.path.changed(), parts.uri.query()) {
        (false, _) => parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |pq| pq.as_str()),
        (true, None) => api.path.path(),
        (true, Some(query)) => {
            owned = format!("{}?{query}", api.path.path());
            &owned
        }
    };
    let matching = set
        .hooks()
        .matching(api.scope, api.segments, api.method, &api.query);
    if matching.is_empty() {
        let limit = gateway.limits().max_request_body;
        if declared_over(&parts.headers, limit) {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        let headers = proxy::forward_headers(&parts.headers, client, &upstream.trusted_proxies);
        let response = proxy::send(
            upstream,
            gateway.metrics(),
            &parts.method,
            path_and_query,
            headers,
            body,
            limit,
        )
        .await?;
        return Ok(proxy::stream_back(response));
    }
    let limits = gateway.limits();
    let mut request = Request {
        method: parts.method.as_str().to_string(),
        url: match parts.uri.query() {
            Some(q) => format!("{}?{q}", api.relative),
            None => api.relative.to_string(),
        },
        params: Vec::new(),
        query: api.query,
        headers: plugin_headers(&parts.headers)?,
        body: read_body(&parts.headers, body, limits.max_request_body).await?,
        upstream: None,
    };
    let limit = limits.max_response_body;
    for (hook, params) in &matching.intercept {
        if let Step::Stop(response) =
            pre_hook(set, hook, params, &mut request, info, limit, false).await?
        {
            return Ok(response);
        }
    }
    if let Some((hook, params)) = &matching.prefix {
        match pre_hook(set, hook, params, &mut request, info, limit, false).await? {
            Step::Stop(response) => return Ok(response),
            Step::Go(Some(answer)) => apply_prefix(&mut request, answer),
            Step::Go(None) => {}
        }
    }
    if let Some((hook, params)) = &matching.replace
        && let Step::Stop(response) =
            pre_hook(set, hook, params, &mut request, info, limit, true).await?
    {
        return Ok(response);
    }
    let headers = outgoing_headers(
        &request.headers,
        &parts.headers,
        client,
        &upstream.trusted_proxies,
    )?;
    let response = proxy::send(
        upstream,
        gateway.metrics(),
        &parts.method,
        path_and_query,
        headers,
        // Post-hooks are given the request again: keep its body for them only.
        if matching.needs_answer() {
            request.body.clone()
        } else {
            std::mem::take(&mut request.body)
        }
        .into(),
        limits.max_request_body,
    )
    .await?;
    if !matching.needs_answer() {
        return Ok(proxy::stream_back(response));
    }
    let (status, headers, body) = proxy::read_all(response, limits.max_response_body).await?;
    request.upstream = Some(UpstreamResponse {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    });
    if let Some((hook, params)) = &matching.suffix {
        request.params.clone_from(params);
        let plugin = &set.plugins()[hook.plugin];
        match plugin.call(&hook.function, &request).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(
                plugin = hook.plugin_id,
                function = hook.function,
                "suffix hook answered {} {}",
                err.status,
                err.reason
            ),
            Err(err) => tracing::warn!(plugin = hook.plugin_id, "suffix hook failed: {err}"),
        }
    }
    for (hook, params) in &matching.subscribe {
        let mut notification = request.clone();
        notification.params.clone_from(params);
        gateway.subscribers().push(
            set.plugins()[hook.plugin].clone(),
            &hook.function,
            notification,
        );
    }
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    *out.headers_mut() = headers;
    Ok(out)
}

/// What a pre-hook decided.
enum Step {
    /// The call goes on; with the hook's 2xx answer unless it was skipped.
    Go(Option<PluginResponse>),
    /// The call ends with this answer.
    Stop(Response),
}

/// Runs a pre-hook with its path parameters. A non-2xx answer ends the call
/// (any answer does when `answer_ends` is set, as for `replace`); a plugin
/// error ends it with that error.
async fn pre_hook(
    set: &PluginSet,
    hook: &Hook,
    params: &[(String, String)],
    request: &mut Request,
    info: &mut CallInfo,
    limit: usize,
    answer_ends: bool,
) -> Result<Step, GatewayError> {
    request.params = params.to_vec();
    note(info, hook);
    match call_hook(set, hook, request).await? {
        HookOutcome::Answer(answer) if !answer_ends && is_success(&answer) => {
            Ok(Step::Go(Some(answer)))
        }
        HookOutcome::Answer(answer) => {
            into_http(answer, &set.plugins()[hook.plugin], &hook.function, limit).map(Step::Stop)
        }
        HookOutcome::Refused(err) => Err(err),
        HookOutcome::Skipped => Ok(Step::Go(None)),
    }
}

fn note(info: &mut CallInfo, hook: &Hook) {
    info.plugin = Some(hook.plugin_id.clone());
    info.function = Some(hook.label.clone());
}

fn is_success(answer: &PluginResponse) -> bool {
    (200..300).contains(&answer.status.unwrap_or(200))
}

/// Calls a pre-hook; a trap or timeout is handled by the plugin's failure
/// policy (fail-closed: 503 naming the plugin; fail-open: skipped).
async fn call_hook(
    set: &PluginSet,
    hook: &Hook,
    request: &Request,
) -> Result<HookOutcome, GatewayError> {
    let plugin: &Plugin = &set.plugins()[hook.plugin];
    match plugin.call(&hook.function, request).await {
        Ok(Ok(answer)) => Ok(HookOutcome::Answer(answer)),
        Ok(Err(err)) => Ok(HookOutcome::Refused(plugin_error(err))),
        Err(err) => {
            err.log(&hook.plugin_id);
            let what = err.summary();
            match hook.failure {
                HookFailure::FailClosed => Err(GatewayError::HookFailed {
                    plugin: hook.plugin_id.clone(),
                    kind: hook.kind.as_str(),
                    function: hook.function.clone(),
                    what,
                }),
                HookFailure::FailOpen => {
                    tracing::warn!(
                        plugin = hook.plugin_id,
                        function = hook.function,
                        "hook skipped (fail-open): {what}"
                    );
                    Ok(HookOutcome::Skipped)
                }
            }
        }
    }
}

/// A prefix hook's answer: its headers replace the request's headers of the
/// same names, and a non-empty body replaces the request's body.
fn apply_prefix(request: &mut Request, answer: PluginResponse) {
    for (name, _) in &answer.headers {
        request
            .headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
    }
    request.headers.extend(
        answer
            .headers
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v)),
    );
    if !answer.body.is_empty() {
        request.body = answer.body;
    }
}

/// The request headers as they go to ONES: the (possibly rewritten) plugin
/// view, with the proxy's forwarding rules applied.
fn outgoing_headers(
    fields: &[(String, String)],
    original: &HeaderMap,
    client: Option<SocketAddr>,
    trusted: &proxy::TrustedProxies,
) -> Result<HeaderMap, GatewayError> {
    use crate::imports::headers::{BadHeader, Direction, to_http};
    let mut headers = to_http(fields, Direction::Upstream).map_err(|err| {
        let (BadHeader::Name(name) | BadHeader::Value(name)) = err;
        GatewayError::BadRequest(format!("the header `{name}` cannot be forwarded"))
    })?;
    if let Some(host) = original.get(axum::http::header::HOST) {
        headers.insert(axum::http::header::HOST, host.clone());
    }
    Ok(proxy::forward_headers(&headers, client, trusted))
}
