//! [`PluginError`]: a failure a function reports on purpose.

use std::fmt;

/// How serious a [`PluginError`] is. It reaches the client as the `type`
/// field of the ONES error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    /// A real failure (`"type": "error"`), the default.
    #[default]
    Error,
    /// A refusal the user can act on (`"type": "warning"`).
    Warning,
}

/// A failure a plugin function reports on purpose.
///
/// The client receives `status` and the ONES error body
/// `{"model": "plugin.<kind>", "reason": <reason>, "type": "error" | "warning"}`.
/// `kind` defaults to `error`.
///
/// ```
/// use op_plugin_sdk::PluginError;
///
/// let err = PluginError::bad_request("summary is required")
///     .with_kind("task_guard")
///     .warning();
/// assert_eq!(err.status(), 400);
/// assert_eq!(err.kind(), "task_guard");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    status: u16,
    kind: Option<String>,
    reason: String,
    severity: Severity,
}

impl PluginError {
    /// An error with this HTTP status and reason.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            kind: None,
            reason: reason.into(),
            severity: Severity::Error,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(400, reason)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(401, reason)
    }

    /// 403 Forbidden.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(403, reason)
    }

    /// 404 Not Found.
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(404, reason)
    }

    /// 500 Internal Server Error.
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(500, reason)
    }

    /// Sets the `kind`, which becomes the model `plugin.<kind>`.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Marks the error as a warning (`"type": "warning"`).
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// The HTTP status the client receives.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error's kind (`error` unless set).
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("error")
    }

    /// The human-readable reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub(crate) fn into_parts(self) -> (u16, Option<String>, String, Severity) {
        (self.status, self.kind, self.reason, self.severity)
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} plugin.{}: {}", self.status, self.kind(), self.reason)
    }
}

impl std::error::Error for PluginError {}

impl From<serde_json::Error> for PluginError {
    /// A JSON error while reading a request is the caller's fault: 400.
    fn from(err: serde_json::Error) -> Self {
        PluginError::bad_request(format!("invalid JSON body: {err}")).with_kind("bad_request")
    }
}
