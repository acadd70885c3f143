//! Unit tests of plugin functions, run natively with `cargo test` in
//! `backend/`: no host, no server, no wasm build.
//!
//! A [`MockHost`] stands in for the `op` host on the current thread while it
//! lives: [`OPFetch`](crate::OPFetch) calls are recorded and answered from
//! canned answers, [`environment`](crate::environment) and
//! [`config_value`](crate::config_value) read what the mock was given, and
//! [`Logger`](crate::Logger) lines are captured.
//!
//! ```
//! use op_plugin_sdk::testing::MockHost;
//! use op_plugin_sdk::{json, FetchResponse, OPFetch, PluginError, PluginRequest, PluginResponse};
//!
//! fn count_tasks(req: PluginRequest) -> Result<PluginResponse, PluginError> {
//!     let team = req.param("teamUUID").unwrap_or_default();
//!     let answer = OPFetch::get(format!("/team/{team}/tasks")).send()?;
//!     let tasks: Vec<serde_json::Value> = answer.json()?;
//!     op_plugin_sdk::Logger::info(format!("{} tasks", tasks.len()));
//!     Ok(PluginResponse::json(&json!({ "count": tasks.len() })))
//! }
//!
//! let host = MockHost::new()
//!     .on_fetch("GET", "/team/:team/tasks", FetchResponse::from_json(200, &json!([{}, {}])));
//! let res = count_tasks(PluginRequest::get("/count").with_param("teamUUID", "T1")).unwrap();
//! assert_eq!(res.body_json(), json!({ "count": 2 }));
//! assert_eq!(host.fetches()[0].url, "/team/T1/tasks");
//! assert!(host.fetches()[0].root, "sent as the plugin's super-admin");
//! assert!(host.logged("2 tasks"));
//! ```
//!
//! Without a `MockHost`, natively, `OPFetch` fails with a message that says
//! to create one, logs go to stderr and the environment is empty.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

pub use op_storage_rules::{Attribute, Entity, Index};

use crate::{Environment, FetchError, FetchResponse, OPFetch};

/// How an answer is chosen for a fetch: a function of the recorded request
/// that answers, or declines with `None`.
type Responder = Box<dyn Fn(&RecordedFetch) -> Option<Result<FetchResponse, FetchError>>>;

#[derive(Default)]
struct MockState {
    environment: Option<Environment>,
    config: Vec<(String, String)>,
    responders: Vec<Responder>,
    fetches: Vec<RecordedFetch>,
    logs: Vec<LogLine>,
    storage: op_storage_rules::MemoryStore,
    objects: op_storage_rules::MemoryObjects,
}

thread_local! {
    static CURRENT: RefCell<Vec<Rc<RefCell<MockState>>>> = const { RefCell::new(Vec::new()) };
}

/// The `op` host, mocked for the tests of the current thread (each `#[test]`
/// runs on its own thread). Created with [`MockHost::new`], set up with the
/// builder methods, and uninstalled when dropped.
#[must_use = "the mock host is uninstalled when dropped"]
pub struct MockHost {
    state: Rc<RefCell<MockState>>,
}

impl MockHost {
    /// Declares an entity, as plugin.yaml's `storage.entities` does: the
    /// [`storage`](crate::storage) calls of the test keep its records in
    /// memory, under the host's rules.
    ///
    /// ```
    /// use op_plugin_sdk::testing::{Attribute, Entity, Index, MockHost};
    /// use op_plugin_sdk::{json, storage};
    ///
    /// let _host = MockHost::new().entity(
    ///     Entity::new("employee")
    ///         .with(Attribute::string("dept", 64).required())
    ///         .with(Attribute::integer("age").default_value(json!(30)))
    ///         .with_index(Index::new("by_age", "age").partition(["dept"])),
    /// );
    /// storage::entity("employee").set("e1", &json!({ "dept": "eng" })).unwrap();
    /// let e1 = storage::entity("employee").get("e1").unwrap().unwrap();
    /// assert_eq!(e1, json!({ "dept": "eng", "age": 30 }));
    /// let err = storage::entity("employee").set("e2", &json!({ "age": 5 })).unwrap_err();
    /// assert!(err.to_string().contains("`employee.dept` is required"));
    /// ```
    pub fn entity(self, entity: Entity) -> Self {
        self.state.borrow_mut().storage.declare(entity);
        self
    }

    /// Installs an empty mock host on the current thread: no fetch
    /// answers, instance id `test-instance`, no team, no configuration.
    pub fn new() -> Self {
        let state = Rc::new(RefCell::new(MockState::default()));
        CURRENT.with(|stack| stack.borrow_mut().push(state.clone()));
        MockHost { state }
    }

    /// The team the plugin is installed in (or acting in).
    pub fn team(self, team_uuid: impl Into<String>) -> Self {
        self.environment_mut(|env| env.team_uuid = Some(team_uuid.into()));
        self
    }

    /// The organization.
    pub fn organization(self, organization_uuid: impl Into<String>) -> Self {
        self.environment_mut(|env| env.organization_uuid = Some(organization_uuid.into()));
        self
    }

    /// The instance id.
    pub fn instance_id(self, id: impl Into<String>) -> Self {
        self.environment_mut(|env| env.instance_id = id.into());
        self
    }

    /// A `service.config` value.
    pub fn config(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        {
            let mut state = self.state.borrow_mut();
            state.config.retain(|(k, _)| *k != key);
            state.config.push((key, value.into()));
        }
        self
    }

    /// Answers every fetch of `method` (any case; `*` for any) and `path`
    /// with `answer`. `path` is compared with the fetch's URL without its
    /// query; a `:name` segment matches any one segment, a final `*` any
    /// rest. When several answers match, the first one set up wins.
    pub fn on_fetch(self, method: &str, path: &str, answer: FetchResponse) -> Self {
        let rule = Rule::new(method, path);
        self.on_fetch_with(move |fetch| rule.matches(fetch).then(|| Ok(answer.clone())))
    }

    /// Makes every matching fetch (as for [`MockHost::on_fetch`]) fail
    /// with `error`, e.g. a `FetchError::Timeout`.
    pub fn on_fetch_error(self, method: &str, path: &str, error: FetchError) -> Self {
        let rule = Rule::new(method, path);
        self.on_fetch_with(move |fetch| rule.matches(fetch).then(|| Err(error.clone())))
    }

    /// Answers fetches with a function of the request; `None` passes the
    /// request on to the answers set up after this one.
    pub fn on_fetch_with(
        self,
        responder: impl Fn(&RecordedFetch) -> Option<Result<FetchResponse, FetchError>> + 'static,
    ) -> Self {
        self.state.borrow_mut().responders.push(Box::new(responder));
        self
    }

    /// Every fetch made so far, in order, answered or not.
    pub fn fetches(&self) -> Vec<RecordedFetch> {
        self.state.borrow().fetches.clone()
    }

    /// Every log line so far, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.state.borrow().logs.clone()
    }

    /// Whether some log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.state
            .borrow()
            .logs
            .iter()
            .any(|line| line.message.contains(text))
    }

    fn environment_mut(&self, change: impl FnOnce(&mut Environment)) {
        let mut state = self.state.borrow_mut();
        change(state.environment.get_or_insert_with(default_environment));
    }
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MockHost {
    fn drop(&mut self) {
        CURRENT.with(|stack| {
            stack
                .borrow_mut()
                .retain(|state| !Rc::ptr_eq(state, &self.state))
        });
    }
}

impl fmt::Debug for MockHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("MockHost")
            .field("environment", &state.environment)
            .field("config", &state.config)
            .field("answers", &state.responders.len())
            .field("fetches", &state.fetches)
            .field("logs", &state.logs)
            .finish()
    }
}

/// An [`OPFetch`] as the mock host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFetch {
    /// Upper-case method.
    pub method: String,
    /// The URL as the plugin gave it (relative for ONES).
    pub url: String,
    /// Headers the plugin set, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Query parameters the plugin added.
    pub query: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// `true` when sent as the plugin's super-admin.
    pub root: bool,
    /// The team it was sent for, if the plugin named one.
    pub team_uuid: Option<String>,
    /// Its time limit, if the plugin set one.
    pub timeout: Option<Duration>,
}

impl RecordedFetch {
    /// The URL without its query.
    pub fn path(&self) -> &str {
        self.url.split_once('?').map_or(&self.url, |(path, _)| path)
    }

    /// The body parsed as JSON (`null` when it is empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The level of a [`LogLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `Logger::debug`.
    Debug,
    /// `Logger::info`.
    Info,
    /// `Logger::warning`.
    Warning,
    /// `Logger::error`.
    Error,
}

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

/// A method and a path pattern.
struct Rule {
    method: String,
    segments: Vec<String>,
}

impl Rule {
    fn new(method: &str, path: &str) -> Self {
        Rule {
            method: method.to_ascii_uppercase(),
            segments: split(path).map(str::to_string).collect(),
        }
    }

    fn matches(&self, fetch: &RecordedFetch) -> bool {
        if self.method != "*" && self.method != fetch.method {
            return false;
        }
        let mut actual = split(fetch.path());
        for expected in &self.segments {
            if expected == "*" {
                return true;
            }
            match actual.next() {
                Some(segment) if expected.starts_with(':') || expected == segment => {}
                _ => return false,
            }
        }
        actual.next().is_none()
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

fn default_environment() -> Environment {
    Environment {
        team_uuid: None,
        organization_uuid: None,
        instance_id: "test-instance".to_string(),
    }
}

fn current() -> Option<Rc<RefCell<MockState>>> {
    CURRENT.with(|stack| stack.borrow().last().cloned())
}

/// `OPFetch::send` outside the host.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn fetch(request: &OPFetch) -> Result<FetchResponse, FetchError> {
    let Some(state) = current() else {
        return Err(FetchError::ConnectionFailed(format!(
            "OPFetch {} {} ran outside the op host; in a unit test, create an \
             op_plugin_sdk::testing::MockHost first",
            request.method, request.url
        )));
    };
    let recorded = RecordedFetch {
        method: request.method.clone(),
        url: request.url.clone(),
        headers: request.headers.clone(),
        query: request.query.clone(),
        body: request.body.clone(),
        root: request.root,
        team_uuid: request.team_uuid.clone(),
        timeout: request.timeout,
    };
    state.borrow_mut().fetches.push(recorded.clone());
    let state = state.borrow();
    state
        .responders
        .iter()
        .find_map(|responder| responder(&recorded))
        .unwrap_or_else(|| {
            Err(FetchError::ConnectionFailed(format!(
                "the MockHost has no answer for {} {}; set one up with MockHost::on_fetch",
                recorded.method,
                recorded.path()
            )))
        })
}

/// `Logger` outside the host.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn log(level: LogLevel, message: &str) {
    match current() {
        Some(state) => state.borrow_mut().logs.push(LogLine {
            level,
            message: message.to_string(),
        }),
        None => eprintln!("[{level:?}] {message}"),
    }
}

/// `environment()` outside the host.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn environment() -> Environment {
    current()
        .and_then(|state| state.borrow().environment.clone())
        .unwrap_or_else(default_environment)
}

/// The storage calls outside the host: the mock's records.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn with_storage<T>(
    f: impl FnOnce(&mut op_storage_rules::MemoryStore) -> Result<T, op_storage_rules::StorageError>,
) -> Result<T, op_storage_rules::StorageError> {
    match current() {
        Some(state) => f(&mut state.borrow_mut().storage),
        None => Err(op_storage_rules::StorageError::Unavailable(
            "storage ran outside the op host; in a unit test, create an \
             op_plugin_sdk::testing::MockHost and declare its entities with .entity(...)"
                .into(),
        )),
    }
}

/// The object storage calls outside the host: the mock's objects (every
/// mock host keeps some; nothing needs declaring).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn with_objects<T>(
    f: impl FnOnce(&mut op_storage_rules::MemoryObjects) -> Result<T, op_storage_rules::StorageError>,
) -> Result<T, op_storage_rules::StorageError> {
    match current() {
        Some(state) => f(&mut state.borrow_mut().objects),
        None => Err(op_storage_rules::StorageError::Unavailable(
            "object storage ran outside the op host; in a unit test, create an \
             op_plugin_sdk::testing::MockHost"
                .into(),
        )),
    }
}

/// `config()` outside the host.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn config() -> Vec<(String, String)> {
    current()
        .map(|state| state.borrow().config.clone())
        .unwrap_or_default()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::{Logger, config_value, environment, json};

    #[test]
    fn answers_are_matched_by_method_and_path_pattern() {
        let host = MockHost::new()
            .on_fetch(
                "get",
                "/team/:team/items/*",
                FetchResponse::from_json(200, &json!(1)),
            )
            .on_fetch("*", "/users/me", FetchResponse::from_json(201, &json!(2)));
        let a = OPFetch::get("/team/T/items/view/x?y=1").send().unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"1"[..]));
        let b = OPFetch::post("/users/me").root(false).send().unwrap();
        assert_eq!(b.status, 201);
        let missing = OPFetch::post("/team/T/items/view").send().unwrap_err();
        assert!(
            missing
                .message()
                .contains("no answer for POST /team/T/items/view"),
            "{missing}"
        );
        let fetches = host.fetches();
        assert_eq!(fetches.len(), 3, "unanswered calls are recorded too");
        assert!(fetches[0].root && !fetches[1].root);
    }

    #[test]
    fn errors_environment_config_and_logs_are_mocked() {
        let host = MockHost::new()
            .team("T1")
            .config("greeting", "hi")
            .on_fetch_error("*", "*", FetchError::Timeout("slow".into()));
        assert_eq!(
            OPFetch::get("/x").send(),
            Err(FetchError::Timeout("slow".into()))
        );
        assert_eq!(environment().team_uuid.as_deref(), Some("T1"));
        assert_eq!(environment().instance_id, "test-instance");
        assert_eq!(config_value("greeting").as_deref(), Some("hi"));
        Logger::warning("careful");
        assert_eq!(
            host.logs(),
            [LogLine {
                level: LogLevel::Warning,
                message: "careful".into()
            }]
        );
    }

    #[test]
    fn without_a_mock_host_a_fetch_says_what_to_do() {
        {
            let _gone = MockHost::new();
        }
        let err = OPFetch::get("/x").send().unwrap_err();
        assert!(
            err.message()
                .contains("create an op_plugin_sdk::testing::MockHost")
        );
    }
}
