//! The types of `config/plugin.yaml`, the ONES plugin manifest.
//!
//! Two rules (docs/plugin-yaml.md): where op acts (the service's identity,
//! `apis`, `events`, `sandbox`, `config`) types and values are strict; where
//! ONES owns the meaning (`modules`, `abilities` of kinds op does not run,
//! `oauth`, `policy`, `permission`, `storage`, display fields) any shape is
//! accepted and kept as it was written, as a JSON value.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Notice;
use super::de::{Located, recover, recover_list};

/// A whole `plugin.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Manifest {
    /// Who the plugin is.
    #[serde(default, deserialize_with = "recover")]
    pub service: Located<Service>,
    /// The plugin's routes and its hooks on the ONES API.
    #[serde(default, deserialize_with = "recover_list")]
    #[schemars(with = "Option<Vec<Api>>")]
    pub apis: Vec<Located<Api>>,
    /// ONES event handlers (`[{eventType, function}]`); their functions must
    /// exist, but op does not deliver ONES events.
    #[serde(default, deserialize_with = "recover_list")]
    #[schemars(with = "Option<Vec<Event>>")]
    pub events: Vec<Located<Event>>,
    /// ONES platform abilities, kept as written; op checks and runs the
    /// `TimerTask` ones (docs/abilities.md).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub abilities: Option<serde_json::Value>,
    /// The `TimerTask` abilities, read out of `abilities` and checked.
    #[serde(skip)]
    #[schemars(skip)]
    pub timers: Vec<super::abilities::TimerTask>,
    /// Front-end modules (kept as written; ONES's front end owns them).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub modules: Option<serde_json::Value>,
    /// OAuth settings (kept, not acted on).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub oauth: Option<serde_json::Value>,
    /// Entity storage declarations, kept as written; op checks and keeps
    /// the `entities` (docs/storage.md).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub storage: Option<serde_json::Value>,
    /// The entities of `storage.entities`, read out of `storage` and checked.
    #[serde(skip)]
    #[schemars(skip)]
    pub entities: Vec<super::storage::Entity>,
    /// Platform policy settings (kept, not acted on).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub policy: Option<serde_json::Value>,
    /// Custom permission points, as some plugins declare them at the top level
    /// (kept, not acted on).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub permission: Option<serde_json::Value>,
    /// Custom configuration items at the top level (same shape as
    /// `service.config`).
    #[serde(default, deserialize_with = "recover")]
    #[schemars(with = "Option<Vec<ConfigItem>>")]
    pub config: Vec<ConfigItem>,
    /// Settings of the `op` host (memory, time, outbound hosts, hook failure
    /// policy); the one section that is not part of the ONES format.
    #[serde(default, deserialize_with = "recover")]
    pub sandbox: Option<Located<Sandbox>>,
    /// Warnings and notes about the file (unknown keys op ignores, sections
    /// it keeps without acting on them), in file order.
    #[serde(skip)]
    #[schemars(skip)]
    pub notices: Vec<Notice>,
}

/// A part of the manifest whose meaning ONES owns: any YAML value is
/// accepted and kept.
#[derive(JsonSchema)]
#[schemars(transparent)]
struct OnesOwned(#[allow(dead_code)] serde_json::Value);

/// The `service` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Service {
    /// Unique id of the plugin; the same across versions.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub app_id: Located<String>,
    /// Display name.
    pub name: String,
    /// The plugin's version (`MAJOR.MINOR.PATCH`).
    #[schemars(regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$"))]
    pub version: Located<String>,
    /// 1: team-level plugin, 2: organization-level plugin. Default 1, or
    /// what `mode` says.
    #[serde(default)]
    #[schemars(range(min = 1, max = 2))]
    pub scope: Option<Located<u8>>,
    /// `team` (team-level) or `org` (organization-level): the older
    /// spelling of `scope`; when both are given they must agree.
    #[serde(default)]
    pub mode: Option<Located<Mode>>,
    /// Backend language: `nodejs` or `node` (a JavaScript/TypeScript
    /// backend), or `rust`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^(nodejs|node|javascript|typescript|rust)$"))]
    pub language: Option<Located<String>>,
    /// Custom configuration items; their values reach the plugin.
    #[serde(default, deserialize_with = "recover")]
    #[schemars(with = "Option<Vec<ConfigItem>>")]
    pub config: Vec<ConfigItem>,
    /// Display description.
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub description: Option<serde_json::Value>,
    /// Version of the backend language (kept).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub language_version: Option<serde_json::Value>,
    /// Lowest platform host version (kept).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub host_version: Option<serde_json::Value>,
    /// Platform host sub-version (kept).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub host_sub_version: Option<serde_json::Value>,
    /// Lowest ONES version (kept).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub min_system_version: Option<serde_json::Value>,
    /// Contact shown in logs and details (kept).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub contact: Option<serde_json::Value>,
    /// Custom permission points (kept, not acted on).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub permission: Option<serde_json::Value>,
    /// Installation policy, e.g. `{policy: standard, target: ...}` (kept,
    /// not acted on).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub policy: Option<serde_json::Value>,
    /// Logo (kept).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub logo: Option<serde_json::Value>,
    /// Authorization statement (kept, not acted on).
    #[serde(default)]
    #[schemars(with = "OnesOwned")]
    pub auth: Option<serde_json::Value>,
}

/// `service.mode`: the plugin's level in its older spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A team-level plugin (`scope: 1`).
    Team,
    /// An organization-level plugin (`scope: 2`).
    Org,
}

impl Mode {
    /// The name as written in plugin.yaml.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Team => "team",
            Mode::Org => "org",
        }
    }

    /// The `scope` number this mode stands for.
    pub fn scope(self) -> u8 {
        match self {
            Mode::Team => 1,
            Mode::Org => 2,
        }
    }
}

/// The kind of backend `service.language` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `nodejs`, `node`, `javascript`, `typescript`: a JavaScript or
    /// TypeScript backend.
    JavaScript,
    /// `rust`: a Rust backend.
    Rust,
}

impl Language {
    /// The names `service.language` accepts, as ONES and op write them,
    /// and the backend each names.
    pub const NAMES: [(&'static str, Language); 5] = [
        ("nodejs", Language::JavaScript),
        ("node", Language::JavaScript),
        ("javascript", Language::JavaScript),
        ("typescript", Language::JavaScript),
        ("rust", Language::Rust),
    ];

    /// Parses a `service.language` value, as written in [`Language::NAMES`]
    /// (lower case, as ONES writes it and as the schema says).
    pub fn parse(name: &str) -> Option<Language> {
        Language::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, language)| *language)
    }
}

/// One entry of `events`: a function ONES would call on an event.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Event {
    /// The ONES event type, e.g. `task.created`.
    pub event_type: Located<String>,
    /// The exported function that handles it.
    pub function: Located<String>,
}

/// One item of `service.config`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ConfigItem {
    /// The item's key.
    pub key: String,
    /// Control type: `Input`, `TextArea`, `Password`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Whether a value is required.
    #[serde(default)]
    pub required: Option<bool>,
    /// Display label.
    #[serde(default)]
    pub label: Option<String>,
    /// Default value.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Description.
    #[serde(default)]
    pub desc: Option<String>,
}

/// What an `apis` entry does; see the table in the project's docs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiType {
    /// A new plugin route.
    Addition,
    /// A new team route for logged-in users (`/team/:teamUUID/...`).
    External,
    /// Answers instead of an ONES API.
    Replace,
    /// Rewrites the request before ONES.
    Prefix,
    /// Accepts or rejects the request before ONES.
    Intercept,
    /// Notified after ONES answered.
    Suffix,
    /// Notified after the client has ONES's answer.
    Subscribe,
}

impl ApiType {
    /// Whether entries of this type are routes of their own (as opposed to
    /// hooks on an ONES API).
    pub fn is_route(self) -> bool {
        matches!(self, ApiType::Addition | ApiType::External)
    }

    /// The name used in plugin.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Addition => "addition",
            ApiType::External => "external",
            ApiType::Replace => "replace",
            ApiType::Prefix => "prefix",
            ApiType::Intercept => "intercept",
            ApiType::Suffix => "suffix",
            ApiType::Subscribe => "subscribe",
        }
    }
}

/// Which ONES API base an entry lives under.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Deserialize,
    Serialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    /// `/project/api/project` (the default).
    #[default]
    Project,
    /// `/wiki/api/wiki`.
    Wiki,
}

impl ApiScope {
    /// The path prefix of this API base.
    pub fn base(self) -> &'static str {
        match self {
            ApiScope::Project => "/project/api/project",
            ApiScope::Wiki => "/wiki/api/wiki",
        }
    }
}

/// One entry of `apis`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Api {
    /// What the entry does.
    #[serde(rename = "type")]
    pub kind: ApiType,
    /// HTTP methods it answers.
    #[schemars(
        length(min = 1),
        inner(regex(
            pattern = r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|get|post|put|patch|delete|head|options)$"
        ))
    )]
    pub methods: Vec<Located<String>>,
    /// URL under the API base; `:name` segments are path parameters.
    #[schemars(regex(pattern = r"^/[^?#*\s]*$"))]
    pub url: Located<String>,
    /// The exported function that runs.
    pub function: Located<String>,
    /// API base (`project` or `wiki`).
    #[serde(default)]
    pub scope: ApiScope,
    /// Query parameters that must be present with these values for the entry
    /// to match.
    #[serde(default)]
    pub query: Option<Located<BTreeMap<String, String>>>,
    /// Free text for the author.
    #[serde(default)]
    pub description: Option<String>,
}

/// What a hook failure does to the ONES call it hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HookFailure {
    /// The call fails with 503 (the default).
    #[default]
    FailClosed,
    /// The hook is skipped and the call goes on.
    FailOpen,
}

/// The `sandbox` section: limits and permissions of this plugin in `op`.
/// Operators cap every value in the host configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Sandbox {
    /// Linear memory per call, in MiB (default 64).
    #[serde(default)]
    pub memory_mib: Option<Located<u64>>,
    /// Wall time per call, in milliseconds (default 10000).
    #[serde(default)]
    pub timeout_ms: Option<Located<u64>>,
    /// Hosts the plugin may reach with absolute URLs.
    #[serde(default)]
    pub outbound: Vec<Located<String>>,
    /// What a failing hook does to the call.
    #[serde(default)]
    pub hook_failure: HookFailure,
    /// Calls of this plugin that may run at once (default 64); more wait,
    /// then get 503.
    #[serde(default)]
    pub concurrency: Option<Located<u64>>,
}
