//! [`PluginResponse`]: what a plugin function answers.

use serde::Serialize;

use crate::PluginError;

/// The answer of a plugin function: status (200 unless set), headers, body.
///
/// ```
/// use op_plugin_sdk::{PluginResponse, json};
///
/// let res = PluginResponse::json(&json!({"res": "hello world"})).with_status(201);
/// assert_eq!(res.status(), 201);
/// assert_eq!(res.header("content-type"), Some("application/json"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginResponse {
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Default for PluginResponse {
    fn default() -> Self {
        Self::empty()
    }
}

impl PluginResponse {
    /// 200 with an empty body.
    pub fn empty() -> Self {
        Self {
            status: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with `value` serialized as JSON and `content-type: application/json`.
    ///
    /// Serializing plain data (maps, structs, `json!` values) cannot fail; a
    /// value whose `Serialize` implementation fails answers 500 with the reason.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::bytes(body).with_header("content-type", "application/json"),
            Err(err) => {
                Self::text(format!("cannot serialize the answer as JSON: {err}")).with_status(500)
            }
        }
    }

    /// 200 with a UTF-8 text body.
    pub fn text(text: impl Into<String>) -> Self {
        Self::bytes(text.into().into_bytes())
            .with_header("content-type", "text/plain; charset=utf-8")
    }

    /// 200 with a raw body and no content type.
    pub fn bytes(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: None,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a header (a name may be added several times).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// The HTTP status (200 unless set).
    pub fn status(&self) -> u16 {
        self.status.unwrap_or(200)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// All headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON, for assertions in tests (`null` when it is
    /// empty or not JSON).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text (lossy UTF-8).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn into_parts(self) -> (Option<u16>, Vec<(String, String)>, Vec<u8>) {
        (self.status, self.headers, self.body)
    }
}

impl From<serde_json::Value> for PluginResponse {
    fn from(value: serde_json::Value) -> Self {
        PluginResponse::json(&value)
    }
}

/// What a registered function may return: a [`PluginResponse`], a JSON value,
/// or a `Result` of either with any error convertible into [`PluginError`].
pub trait IntoPluginResult {
    /// Converts into the function's outcome.
    fn into_plugin_result(self) -> Result<PluginResponse, PluginError>;
}

impl IntoPluginResult for PluginResponse {
    fn into_plugin_result(self) -> Result<PluginResponse, PluginError> {
        Ok(self)
    }
}

impl IntoPluginResult for serde_json::Value {
    fn into_plugin_result(self) -> Result<PluginResponse, PluginError> {
        Ok(self.into())
    }
}

impl<T, E> IntoPluginResult for Result<T, E>
where
    T: Into<PluginResponse>,
    E: Into<PluginError>,
{
    fn into_plugin_result(self) -> Result<PluginResponse, PluginError> {
        self.map(Into::into).map_err(Into::into)
    }
}
