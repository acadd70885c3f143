//! [`PluginRequest`]: what a plugin function is called with.

use serde::de::DeserializeOwned;

use crate::PluginError;

/// The answer of ONES that a post-hook (`suffix`, `subscribe`) is told about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamResponse {
    /// HTTP status ONES answered with.
    pub status: u16,
    /// Response headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// One call of a plugin function, as the ONES platform describes it: method,
/// URL, path parameters, query, headers and body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginRequest {
    /// Upper-case HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query relative to the API base, e.g. `/hello?x=1`.
    pub url: String,
    /// Values of the route's `:name` segments.
    pub params: Vec<(String, String)>,
    /// Query parameters, percent-decoded, in request order.
    pub query: Vec<(String, String)>,
    /// Headers in request order; names are lower-case and may repeat.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The ONES answer, for post-hooks only.
    pub upstream: Option<UpstreamResponse>,
}

impl PluginRequest {
    /// A request with `method` and `url` (path and optional query, whose
    /// parameters are also put in [`PluginRequest::query`]); for tests.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        let url = url.into();
        let query = url
            .split_once('?')
            .map(|(_, query)| {
                query
                    .split('&')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                        (name.to_string(), value.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        PluginRequest {
            method: method.into().to_ascii_uppercase(),
            url,
            query,
            ..PluginRequest::default()
        }
    }

    /// A GET request for `url`; for tests.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A POST request for `url`; for tests.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// Adds the path parameter `name` (as a route's `:name` would).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Adds a header (its name lower-cased, as the host gives them).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets `value` as the JSON body, with its content type.
    pub fn with_json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).unwrap_or_default();
        self.with_header("content-type", "application/json")
    }

    /// Sets a raw body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The path without the query, e.g. `/hello`.
    pub fn path(&self) -> &str {
        self.url.split_once('?').map_or(&self.url, |(path, _)| path)
    }

    /// The value of the path parameter `name` (`:name` in the route's url).
    pub fn param(&self, name: &str) -> Option<&str> {
        find(&self.params, name)
    }

    /// The first value of the query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        find(&self.query, name)
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as UTF-8 text; a 400 [`PluginError`] when it is not.
    pub fn text(&self) -> Result<&str, PluginError> {
        std::str::from_utf8(&self.body).map_err(|_| {
            PluginError::bad_request("the body is not UTF-8 text").with_kind("bad_request")
        })
    }

    /// The body parsed as JSON into `T`; a 400 [`PluginError`] that says why
    /// when it does not parse.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// The body as a JSON value: `null` when the body is empty, a 400
    /// [`PluginError`] when it is not JSON.
    pub fn json_value(&self) -> Result<serde_json::Value, PluginError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        self.json()
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> PluginRequest {
        PluginRequest {
            method: "POST".into(),
            url: "/items/7?view=full".into(),
            params: vec![("id".into(), "7".into())],
            query: vec![("view".into(), "full".into())],
            headers: vec![("accept".into(), "a".into()), ("Accept".into(), "b".into())],
            body: body.as_bytes().to_vec(),
            upstream: None,
        }
    }

    #[test]
    fn test_requests_are_built_like_the_host_builds_them() {
        let req = PluginRequest::post("/items?view=full&x")
            .with_param("id", "7")
            .with_header("X-Trace", "t")
            .with_json(&serde_json::json!({"a": 1}));
        assert_eq!(req.method, "POST");
        assert_eq!(req.path(), "/items");
        assert_eq!(req.query("view"), Some("full"));
        assert_eq!(req.query("x"), Some(""));
        assert_eq!(req.param("id"), Some("7"));
        assert_eq!(req.header("x-trace"), Some("t"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.json_value().unwrap()["a"], 1);
    }

    #[test]
    fn accessors_read_params_query_and_headers() {
        let req = request("");
        assert_eq!(req.path(), "/items/7");
        assert_eq!(req.param("id"), Some("7"));
        assert_eq!(req.param("missing"), None);
        assert_eq!(req.query("view"), Some("full"));
        assert_eq!(req.header("ACCEPT"), Some("a"));
        assert_eq!(req.header_all("accept").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn json_body_parses_or_gives_a_400() {
        assert_eq!(request("").json_value().unwrap(), serde_json::Value::Null);
        assert_eq!(request(r#"{"x":1}"#).json_value().unwrap()["x"], 1);
        let err = request("{not json").json_value().unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.reason().starts_with("invalid JSON body"),
            "{}",
            err.reason()
        );
    }
}
