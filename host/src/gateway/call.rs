//! One plugin call: HTTP request → route → plugin request → fresh instance →
//! HTTP response, with one log line per call.

use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::error::GatewayError;
use super::exchange::{
    CallInfo, call_error, header_value_text, into_http, plugin_error, plugin_headers, read_body,
};
use super::routes::Miss;
use super::{Gateway, PluginSet};
use crate::bindings::Request;
use crate::imports::Credentials;
use crate::imports::fetch::verify_user;
use crate::imports::log;
use crate::manifest::{ApiType, Method};
use crate::runtime::Plugin;

/// Header that picks one plugin when several answer a route.
pub const PLUGIN_ID_HEADER: &str = "ones-plugin-id";
/// The header that picks the team's instance of a plugin installed in
/// several teams, for a route whose url has no `:teamUUID`.
pub const TEAM_HEADER: &str = "ones-team-uuid";

pub(super) async fn handle(
    State(gateway): State<Gateway>,
    request: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut info = CallInfo::default();
    let set = gateway.current();
    let ((response, failure), lines, dropped) = log::collect(async {
        match dispatch(&gateway, &set, request, &mut info).await {
            Ok(response) => (response, None),
            Err(err) => {
                let model = gateway.metrics().map(|_| err.model());
                (err.into_response(), model)
            }
        }
    })
    .await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(metrics) = gateway.metrics() {
        metrics.record_call(
            info.plugin.as_deref().unwrap_or_default(),
            info.function.as_deref().unwrap_or_default(),
            failure.as_deref().unwrap_or("ok"),
            elapsed,
        );
    }
    match (&info.plugin, &info.function) {
        (Some(plugin), Some(function)) => tracing::info!(
            target: "op::call",
            status,
            "{method} {path} -> {plugin}::{function} {status} in {elapsed:.1?}"
        ),
        _ => {
            tracing::info!(target: "op::call", status, "{method} {path} {status} in {elapsed:.1?}")
        }
    }
    // What the plugins said while serving it, under the call's line.
    for line in &lines {
        log::emit(line);
    }
    if dropped > 0 {
        let kept = log::MAX_LINES_PER_REQUEST;
        tracing::warn!(
            target: "op::plugin",
            "{dropped} more plugin log lines of this request were dropped (at most {kept} are kept)"
        );
    }
    response
}

async fn dispatch(
    gateway: &Gateway,
    set: &PluginSet,
    request: axum::extract::Request,
    info: &mut CallInfo,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    check_header_size(gateway, &parts.headers)?;
    // The one form of the path: what is matched below is what is forwarded.
    let api_path = match crate::path::api_path(parts.uri.path()) {
        Ok(Some(api_path)) => api_path,
        Ok(None) => {
            return Err(GatewayError::NoRoute {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
            });
        }
        Err(err) => return Err(GatewayError::BadPath(err)),
    };
    let (scope, relative) = (api_path.scope(), api_path.relative());
    let segments = decode_segments(relative)?;
    let segment_refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let plugin_id = header_text(&parts.headers, PLUGIN_ID_HEADER)?;
    let team = header_text(&parts.headers, TEAM_HEADER)?;
    let method = Method::parse(parts.method.as_str());
    let found = set.routes().find(
        scope,
        &segment_refs,
        method,
        &query,
        plugin_id.as_deref(),
        team.as_deref(),
    );
    let matched = match found {
        Ok(matched) => matched,
        Err(Miss::NoRoute | Miss::MethodNotAllowed(_)) if gateway.upstream().is_some() => {
            let api = super::ones_call::Api {
                scope,
                path: &api_path,
                relative,
                segments: &segment_refs,
                method,
                query,
            };
            return super::ones_call::run(gateway, set, &parts, body, api, info).await;
        }
        Err(miss) => return Err(miss_error(miss, &parts)),
    };
    let route = matched.route;
    let plugin: &Plugin = &set.plugins()[route.plugin];
    info.plugin = Some(route.plugin_id.clone());
    info.function = Some(route.function.clone());
    if route.kind == ApiType::External {
        let caller = require_login(&parts.headers)?;
        if let Some(link) = &plugin.instance().installation.ones {
            match verify_user(link, &caller).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(GatewayError::Unauthorized(
                        "ONES did not accept the caller's Ones-User-Id and Ones-Auth-Token".into(),
                    ));
                }
                Err(reason) => {
                    tracing::warn!(
                        plugin = route.plugin_id,
                        "cannot check a caller with ONES: {reason}"
                    );
                    return Err(GatewayError::BadGateway(format!(
                        "cannot check the caller with ONES: {reason}"
                    )));
                }
            }
        }
    }
    let body = read_body(&parts.headers, body, gateway.limits().max_request_body).await?;
    let url = match parts.uri.query() {
        Some(q) => format!("{relative}?{q}"),
        None => relative.to_string(),
    };
    let request = Request {
        method: parts.method.as_str().to_string(),
        url,
        params: matched.params,
        query,
        headers: plugin_headers(&parts.headers)?,
        body,
        upstream: None,
    };
    match plugin.call(&route.function, &request).await {
        Ok(Ok(answer)) => into_http(
            answer,
            plugin,
            &route.function,
            gateway.limits().max_response_body,
        ),
        Ok(Err(err)) => Err(plugin_error(err)),
        Err(err) => Err(call_error(err, plugin)),
    }
}

fn decode_segments(relative: &str) -> Result<Vec<String>, GatewayError> {
    relative[1..]
        .split('/')
        .map(|segment| {
            percent_decode_str(segment)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| {
                    GatewayError::BadRequest(
                        "the request path is not valid UTF-8 once decoded".into(),
                    )
                })
        })
        .collect()
}

/// Refuses headers over the gateway's size limit (names and values).
pub(super) fn check_header_size(
    gateway: &Gateway,
    headers: &HeaderMap,
) -> Result<(), GatewayError> {
    let size: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    let limit = gateway.limits().max_request_headers;
    if size > limit {
        return Err(GatewayError::HeadersTooLarge { size, limit });
    }
    Ok(())
}

fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, GatewayError> {
    headers
        .get(name)
        .map(|value| header_value_text(name, value))
        .transpose()
}

fn miss_error(miss: Miss, parts: &Parts) -> GatewayError {
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    match miss {
        Miss::NoRoute => GatewayError::NoRoute { method, path },
        Miss::MethodNotAllowed(allowed) => GatewayError::MethodNotAllowed {
            method,
            path,
            allowed,
        },
        Miss::Ambiguous(plugins) => GatewayError::AmbiguousRoute {
            method,
            path,
            plugins,
        },
        Miss::TeamNeeded { plugin, teams } => GatewayError::TeamNeeded {
            plugin,
            method,
            path,
            teams,
        },
        Miss::NotInPlugin(plugin) => GatewayError::NotInPlugin {
            plugin,
            method,
            path,
        },
    }
}

/// `external` routes are for logged-in users: the request must carry the
/// ONES user id and token, which ONES then verifies when the plugin has a
/// ONES server.
fn require_login(headers: &HeaderMap) -> Result<Credentials, GatewayError> {
    let value = |name: &str| -> Result<String, GatewayError> {
        let text = header_text(headers, name)?.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(GatewayError::Unauthorized(format!(
                "this route is for logged-in users; the `{name}` header is missing"
            )));
        }
        Ok(text)
    };
    Ok(Credentials {
        user_id: value("ones-user-id")?,
        token: value("ones-auth-token")?,
    })
}
