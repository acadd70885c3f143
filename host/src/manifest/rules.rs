//! The second pass: rules between fields, on a manifest whose shape is right.

use std::collections::HashMap;
use std::fmt;

use super::model::{Api, ApiType, Language, Manifest};
use super::suggest::did_you_mean;
use super::{Diagnostic, Located};

/// An HTTP method a plugin entry may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
}

impl Method {
    /// Every method, in display order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Head,
        Method::Options,
    ];

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }

    /// Parses a method name, in any case.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a route's url.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Must equal the request's segment.
    Literal(String),
    /// `:name`: takes any non-empty segment as the parameter `name`.
    Param(String),
}

/// A parsed `url` of an `apis` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlPattern {
    /// The segments between slashes.
    pub segments: Vec<Segment>,
}

impl UrlPattern {
    /// Parses a url such as `/team/:teamUUID/items/:id`, or says why it is
    /// not one.
    pub fn parse(url: &str) -> Result<UrlPattern, String> {
        let Some(rest) = url.strip_prefix('/') else {
            return Err(format!("the url `{url}` must start with `/`"));
        };
        if let Some(bad) = url
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '?' | '#' | '*'))
        {
            let what = match bad {
                '?' => {
                    "a query (use the entry's `query` map to match on query parameters)".to_string()
                }
                '#' => "a fragment".to_string(),
                '*' => "a wildcard (use a `:name` segment)".to_string(),
                _ => "white space".to_string(),
            };
            return Err(format!("the url `{url}` contains {what}"));
        }
        for base in ["/project/api/project", "/wiki/api/wiki"] {
            if url == base || url.starts_with(&format!("{base}/")) {
                return Err(format!(
                    "the url `{url}` includes the API base `{base}`; urls are relative to it"
                ));
            }
        }
        if rest.is_empty() {
            return Err("the url `/` names no route; give a path below the API base".to_string());
        }
        let mut segments = Vec::new();
        let mut params: Vec<&str> = Vec::new();
        for raw in rest.split('/') {
            if raw.is_empty() {
                return Err(format!(
                    "the url `{url}` has an empty segment (`//` or a trailing `/`)"
                ));
            }
            if let Some(name) = raw.strip_prefix(':') {
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!(
                        "`{raw}` in the url `{url}` is not a valid parameter; write `:name` with letters, digits and `_`"
                    ));
                }
                if params.contains(&name) {
                    return Err(format!(
                        "the url `{url}` names the parameter `:{name}` twice"
                    ));
                }
                params.push(name);
                segments.push(Segment::Param(name.to_string()));
            } else {
                segments.push(Segment::Literal(raw.to_string()));
            }
        }
        Ok(UrlPattern { segments })
    }

    /// Whether the url has the `/team/:teamUUID` segments of a team-level API.
    pub fn is_team_level(&self) -> bool {
        self.segments.windows(2).any(|pair| {
            matches!(&pair[0], Segment::Literal(l) if l == "team")
                && matches!(&pair[1], Segment::Param(p) if p == "teamUUID")
        })
    }

    /// Whether the url starts with `/team/:teamUUID`.
    pub fn starts_with_team(&self) -> bool {
        matches!(self.segments.first(), Some(Segment::Literal(l)) if l == "team")
            && matches!(self.segments.get(1), Some(Segment::Param(p)) if p == "teamUUID")
    }

    /// The url with every parameter written `:`, so that `/a/:x` and `/a/:y`
    /// compare equal.
    pub fn shape(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(_) => out.push(':'),
            }
        }
        out
    }
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => write!(f, "/{l}")?,
                Segment::Param(p) => write!(f, "/:{p}")?,
            }
        }
        Ok(())
    }
}

/// Runs every rule; `check_service` is false when the service section had
/// shape errors already.
pub fn check(manifest: &Manifest, check_service: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if check_service {
        check_service_section(manifest, &mut out);
    }
    if let Some(sandbox) = &manifest.sandbox {
        check_limit(&mut out, sandbox.memory_mib.as_ref(), 1, 4096, "MiB");
        check_limit(&mut out, sandbox.timeout_ms.as_ref(), 1, 600_000, "ms");
        check_limit(&mut out, sandbox.concurrency.as_ref(), 1, 10_000, "calls");
        for host in &sandbox.outbound {
            if let Err(message) = super::OutboundRule::parse(&host.value) {
                out.push(diag(host, format!("invalid outbound host {message}")));
            }
        }
    }
    let mut seen: HashMap<String, &Located<Api>> = HashMap::new();
    for api in &manifest.apis {
        check_api(api, &mut seen, &mut out);
    }
    for event in &manifest.events {
        check_event(event, &mut out);
    }
    out
}

fn diag<T>(at: &Located<T>, message: String) -> Diagnostic {
    Diagnostic {
        pos: at.pos,
        path: at.path.clone(),
        message,
    }
}

fn check_limit(
    out: &mut Vec<Diagnostic>,
    value: Option<&Located<u64>>,
    min: u64,
    max: u64,
    unit: &str,
) {
    if let Some(v) = value
        && !(min..=max).contains(&v.value)
    {
        out.push(diag(
            v,
            format!(
                "{} {unit} is out of range; allowed: {min} to {max} {unit}",
                v.value
            ),
        ));
    }
}

fn check_service_section(manifest: &Manifest, out: &mut Vec<Diagnostic>) {
    let service = &manifest.service;
    let app_id = &service.app_id;
    if app_id.value.is_empty() {
        out.push(diag(app_id, "the app_id cannot be empty".into()));
    } else if let Some(bad) = app_id
        .value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        out.push(diag(
            app_id,
            format!(
                "the app_id `{}` contains `{bad}`; use letters, digits, `-` and `_`",
                app_id.value
            ),
        ));
    }
    if service.name.trim().is_empty() {
        out.push(Diagnostic {
            pos: service.pos,
            path: "service.name".into(),
            message: "the plugin name cannot be empty".into(),
        });
    }
    let version = &service.version;
    if !is_version(&version.value) {
        out.push(diag(
            version,
            format!(
                "the version `{}` is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.0.0 or 1.1.0-rc.1)",
                version.value
            ),
        ));
    }
    if let Some(scope) = &service.scope
        && !matches!(scope.value, 1 | 2)
    {
        out.push(diag(
            scope,
            format!(
                "scope {} is not valid; use 1 (team-level) or 2 (organization-level)",
                scope.value
            ),
        ));
    }
    if let (Some(scope), Some(mode)) = (&service.scope, &service.mode)
        && matches!(scope.value, 1 | 2)
        && scope.value != mode.value.scope()
    {
        let (said, level) = match scope.value {
            1 => ("team", "team-level"),
            _ => ("org", "organization-level"),
        };
        out.push(diag(
            mode,
            format!(
                "`mode: {}` contradicts `scope: {}` (line {}), which makes the plugin {level}; write `mode: {said}` or drop one of them",
                mode.value.name(),
                scope.value,
                scope.pos.line
            ),
        ));
    }
    if let Some(language) = &service.language
        && Language::parse(&language.value).is_none()
    {
        let hint = did_you_mean(&language.value, Language::NAMES.map(|(name, _)| name))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        out.push(diag(
            language,
            format!(
                "unknown language `{}`{hint}; use `nodejs` (or `node`) for a JavaScript/TypeScript backend, `rust` for a Rust one",
                language.value
            ),
        ));
    }
}

fn check_event(event: &Located<super::Event>, out: &mut Vec<Diagnostic>) {
    if event.event_type.value.trim().is_empty() {
        out.push(diag(
            &event.event_type,
            "the eventType cannot be empty".into(),
        ));
    }
    check_function_name(&event.function, out);
}

fn check_function_name(function: &Located<String>, out: &mut Vec<Diagnostic>) {
    if function.value.trim().is_empty() {
        out.push(diag(function, "the function name cannot be empty".into()));
    } else if function.value.chars().any(char::is_whitespace) {
        out.push(diag(
            function,
            format!(
                "the function name `{}` contains white space",
                function.value
            ),
        ));
    }
}

fn is_version(text: &str) -> bool {
    super::parse_version(text).is_some()
}

fn check_api<'a>(
    api: &'a Located<Api>,
    seen: &mut HashMap<String, &'a Located<Api>>,
    out: &mut Vec<Diagnostic>,
) {
    let entry = &api.path;
    let pattern = match UrlPattern::parse(&api.url) {
        Ok(pattern) => Some(pattern),
        Err(message) => {
            out.push(diag(&api.url, message));
            None
        }
    };
    if let Some(pattern) = &pattern
        && api.kind == ApiType::External
        && !pattern.starts_with_team()
    {
        out.push(diag(
            &api.url,
            format!(
                "an `external` url must start with `/team/:teamUUID`, found `{}`",
                api.url.value
            ),
        ));
    }
    check_function_name(&api.function, out);
    if let Some(query) = &api.query
        && query.value.keys().any(|k| k.is_empty())
    {
        out.push(diag(query, "a query parameter name cannot be empty".into()));
    }
    if api.methods.is_empty() {
        out.push(Diagnostic {
            pos: api.pos,
            path: format!("{entry}.methods"),
            message: "`methods` is empty; list at least one, e.g. [GET]".into(),
        });
    }
    let mut methods = Vec::new();
    for method in &api.methods {
        match Method::parse(&method.value) {
            Some(m) if methods.contains(&m) => {
                out.push(diag(method, format!("the method {m} is listed twice")));
            }
            Some(m) => methods.push(m),
            None => {
                let names = Method::ALL.map(Method::as_str);
                let hint = did_you_mean(&method.value, names)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("; use one of {}", names.join(", ")));
                out.push(diag(
                    method,
                    format!("unknown method `{}`{hint}", method.value),
                ));
            }
        }
    }
    let Some(pattern) = pattern else { return };
    let class = if api.kind.is_route() {
        "route"
    } else {
        api.kind.as_str()
    };
    let query = api
        .query
        .as_ref()
        .map(|q| format!("{:?}", q.value))
        .unwrap_or_default();
    for method in methods {
        let key = format!(
            "{class} {:?} {method} {} {query}",
            api.scope,
            pattern.shape()
        );
        if let Some(first) = seen.get(&key) {
            let what = if api.kind.is_route() {
                "route".to_string()
            } else {
                format!("`{}` hook", api.kind.as_str())
            };
            out.push(Diagnostic {
                pos: api.pos,
                path: entry.clone(),
                message: format!(
                    "duplicate {what} {method} {}: already declared by {} (line {})",
                    api.url.value, first.path, first.pos.line
                ),
            });
        } else {
            seen.insert(key, api);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns_parse_params_and_levels() {
        let p = UrlPattern::parse("/team/:teamUUID/items/:id").unwrap();
        assert!(p.is_team_level() && p.starts_with_team());
        assert_eq!(p.shape(), "/team/:/items/:");
        assert_eq!(p.to_string(), "/team/:teamUUID/items/:id");
        assert!(!UrlPattern::parse("/users/me").unwrap().is_team_level());
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, needle) in [
            ("hello", "must start with `/`"),
            ("/a//b", "empty segment"),
            ("/a/", "empty segment"),
            ("/a?x=1", "query"),
            ("/a/:", "not a valid parameter"),
            ("/a/:x/:x", "twice"),
            ("/project/api/project/hello", "API base"),
            ("/", "names no route"),
        ] {
            let err = UrlPattern::parse(url).unwrap_err();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn methods_parse_in_any_case() {
        assert_eq!(Method::parse("post"), Some(Method::Post));
        assert_eq!(Method::parse("FETCH"), None);
    }
}
