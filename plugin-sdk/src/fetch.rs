//! [`OPFetch`]: call the ONES API (as the plugin's super-admin or as the
//! calling user) or an allowed outside host.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::op::plugin::fetch as wit;
use crate::PluginError;

/// A request to ONES or to an allowed outside host, built like the ONES
/// `OPFetch` options and sent with [`OPFetch::send`].
///
/// A relative `url` goes to the ONES API: `/wiki/...` to the wiki API, any
/// other path to the project API. By default (`root(true)`) the host signs
/// the call as the plugin's super-admin; the secret never reaches the plugin.
///
/// ```no_run
/// use op_plugin_sdk::{OPFetch, PluginError, PluginRequest, PluginResponse};
///
/// fn me(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
///     // As the user who called this function:
///     let answer = OPFetch::get("/users/me").root(false).send()?;
///     Ok(answer.into())
/// }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an OPFetch does nothing until it is sent"]
pub struct OPFetch {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) root: bool,
    pub(crate) team_uuid: Option<String>,
    pub(crate) timeout: Option<Duration>,
}

impl OPFetch {
    /// A request with any method.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        OPFetch {
            method: method.into().to_ascii_uppercase(),
            url: url.into(),
            headers: Vec::new(),
            query: Vec::new(),
            body: Vec::new(),
            root: true,
            team_uuid: None,
            timeout: None,
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// A PUT request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }

    /// A DELETE request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body (and `content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, PluginError> {
        self.body = serde_json::to_vec(value).map_err(|err| {
            PluginError::internal(format!("cannot serialize the request body: {err}"))
        })?;
        self.headers.retain(|(name, _)| name != "content-type");
        Ok(self.header("content-type", "application/json"))
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// `true` (the default): call as the plugin's super-admin. `false`:
    /// call with the user credentials set by [`OPFetch::user`], or else with
    /// those of the request being served.
    pub fn root(mut self, root: bool) -> Self {
        self.root = root;
        self
    }

    /// Calls as this user (implies `root(false)`).
    pub fn user(self, user_id: impl Into<String>, token: impl Into<String>) -> Self {
        self.root(false)
            .header("ones-user-id", user_id)
            .header("ones-auth-token", token)
    }

    /// The team to act in (needed by organization-level plugins outside a
    /// team request).
    pub fn team_uuid(mut self, team: impl Into<String>) -> Self {
        self.team_uuid = Some(team.into());
        self
    }

    /// A time limit for this call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request. Any HTTP answer, 4xx and 5xx included, is an
    /// `Ok`; a [`FetchError`] means no answer could be had.
    pub fn send(self) -> Result<FetchResponse, FetchError> {
        #[cfg(target_arch = "wasm32")]
        {
            self.send_to_host()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::testing::fetch(&self)
        }
    }

    #[cfg(target_arch = "wasm32")]
    fn send_to_host(self) -> Result<FetchResponse, FetchError> {
        let request = wit::FetchRequest {
            method: self.method,
            url: self.url,
            headers: self.headers,
            query: self.query,
            body: self.body,
            root: self.root,
            team_uuid: self.team_uuid,
            timeout_ms: self
                .timeout
                .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)),
        };
        match wit::fetch(&request) {
            Ok(answer) => Ok(FetchResponse {
                status: answer.status,
                headers: answer.headers,
                body: answer.body,
            }),
            Err(err) => Err(FetchError::from_wit(err)),
        }
    }
}

/// The answer to an [`OPFetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl FetchResponse {
    /// An answer with `status` and a raw body (for tests with
    /// [`MockHost`](crate::testing::MockHost)).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        FetchResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// An answer with `status` and `value` as its JSON body (for tests with
    /// [`MockHost`](crate::testing::MockHost)).
    pub fn from_json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        FetchResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON; a 502 [`PluginError`] when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            PluginError::new(
                502,
                format!(
                    "the answer (status {}) is not the JSON expected: {err}",
                    self.status
                ),
            )
            .with_kind("bad_gateway")
        })
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl From<FetchResponse> for crate::PluginResponse {
    /// Passes the answer on: status, content type and body.
    fn from(answer: FetchResponse) -> Self {
        let content_type = answer.header("content-type").map(str::to_string);
        let mut response = crate::PluginResponse::bytes(answer.body).with_status(answer.status);
        if let Some(content_type) = content_type {
            response = response.with_header("content-type", content_type);
        }
        response
    }
}

/// Why an [`OPFetch`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The request cannot be sent as it is.
    InvalidRequest(String),
    /// No credentials to call ONES with.
    NoCredentials(String),
    /// No team to act in.
    NoTeam(String),
    /// The host is not on the plugin's outbound allow-list.
    NotAllowed(String),
    /// No answer in time.
    Timeout(String),
    /// The server could not be reached.
    ConnectionFailed(String),
    /// The answer is too large.
    TooLarge(String),
    /// Too many calls in one invocation.
    TooManyCalls(String),
}

impl FetchError {
    #[cfg(target_arch = "wasm32")]
    fn from_wit(err: wit::FetchError) -> Self {
        match err {
            wit::FetchError::InvalidRequest(m) => FetchError::InvalidRequest(m),
            wit::FetchError::NoCredentials(m) => FetchError::NoCredentials(m),
            wit::FetchError::NoTeam(m) => FetchError::NoTeam(m),
            wit::FetchError::NotAllowed(m) => FetchError::NotAllowed(m),
            wit::FetchError::Timeout(m) => FetchError::Timeout(m),
            wit::FetchError::ConnectionFailed(m) => FetchError::ConnectionFailed(m),
            wit::FetchError::TooLarge(m) => FetchError::TooLarge(m),
            wit::FetchError::TooManyCalls(m) => FetchError::TooManyCalls(m),
        }
    }

    /// The explanation given by the host.
    pub fn message(&self) -> &str {
        match self {
            FetchError::InvalidRequest(m)
            | FetchError::NoCredentials(m)
            | FetchError::NoTeam(m)
            | FetchError::NotAllowed(m)
            | FetchError::Timeout(m)
            | FetchError::ConnectionFailed(m)
            | FetchError::TooLarge(m)
            | FetchError::TooManyCalls(m) => m,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for FetchError {}

impl From<FetchError> for PluginError {
    /// A failed fetch answers the client 504 for a timeout, 502 otherwise,
    /// with the kind `fetch`.
    fn from(err: FetchError) -> Self {
        let status = match err {
            FetchError::Timeout(_) => 504,
            _ => 502,
        };
        PluginError::new(status, format!("OPFetch failed: {err}")).with_kind("fetch")
    }
}
