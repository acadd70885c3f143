//! The types of `config/plugin.yaml`, the ONES plugin manifest.
//!
//! Every key of the ONES format is known here so that a real ONES manifest
//! loads; sections the host does not act on (`abilities`, `modules`, `oauth`,
//! `storage`, `policy`, ...) are kept and otherwise ignored. A key that is in
//! no part of the format is an error.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    pub apis: Vec<Located<Api>>,
    /// ONES platform abilities (kept, not acted on).
    #[serde(default, deserialize_with = "recover_list")]
    pub abilities: Vec<Ability>,
    /// Front-end modules (kept, not acted on).
    #[serde(default, deserialize_with = "recover_list")]
    pub modules: Vec<Module>,
    /// OAuth settings (kept, not acted on).
    #[serde(default)]
    pub oauth: Option<serde_json::Value>,
    /// Plugin storage settings (kept, not acted on).
    #[serde(default)]
    pub storage: Option<serde_json::Value>,
    /// Platform policy settings (kept, not acted on).
    #[serde(default)]
    pub policy: Option<serde_json::Value>,
    /// Custom permission points, as some plugins declare them at the top level
    /// (kept, not acted on).
    #[serde(default, deserialize_with = "recover")]
    pub permission: Vec<PermissionPoint>,
    /// Custom configuration items at the top level (same shape as
    /// `service.config`).
    #[serde(default, deserialize_with = "recover")]
    pub config: Vec<ConfigItem>,
    /// Settings of the `op` host (memory, time, outbound hosts, hook failure
    /// policy); the one section that is not part of the ONES format.
    #[serde(default, deserialize_with = "recover")]
    pub sandbox: Option<Located<Sandbox>>,
}

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
    /// Display description.
    #[serde(default)]
    pub description: Option<String>,
    /// 1: team-level plugin, 2: organization-level plugin. Default 1.
    #[serde(default)]
    #[schemars(range(min = 1, max = 2))]
    pub scope: Option<Located<u8>>,
    /// Backend language (`nodejs` in ONES; informative here).
    #[serde(default)]
    pub language: Option<String>,
    /// Version of the backend language (reserved).
    #[serde(default)]
    pub language_version: Option<String>,
    /// Lowest platform host version.
    #[serde(default)]
    pub host_version: Option<String>,
    /// Platform host sub-version (reserved).
    #[serde(default)]
    pub host_sub_version: Option<String>,
    /// Lowest ONES version (reserved).
    #[serde(default)]
    pub min_system_version: Option<String>,
    /// Contact shown in logs and details.
    #[serde(default)]
    pub contact: Option<String>,
    /// Custom configuration items.
    #[serde(default, deserialize_with = "recover")]
    pub config: Vec<ConfigItem>,
    /// Custom permission points.
    #[serde(default, deserialize_with = "recover")]
    pub permission: Vec<PermissionPoint>,
    /// Deprecated plugin mode.
    #[serde(default)]
    pub mode: Option<String>,
    /// Deprecated logo.
    #[serde(default)]
    pub logo: Option<String>,
    /// Deprecated authorization statement.
    #[serde(default)]
    pub auth: Option<serde_json::Value>,
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

/// One custom permission point.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PermissionPoint {
    /// Display name.
    pub name: String,
    /// Unique identifier.
    pub field: String,
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

/// One entry of `abilities` (kept, not acted on).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Ability {
    /// Unique id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Alias (reserved).
    #[serde(default)]
    pub label: Option<String>,
    /// Id of the module bound to the ability.
    #[serde(default)]
    pub relate_module: Option<String>,
    /// Ability version.
    #[serde(default)]
    pub version: Option<String>,
    /// Ability type.
    #[serde(default)]
    pub ability_type: Option<String>,
    /// Function names the ability calls, by role.
    #[serde(default)]
    pub function: Option<BTreeMap<String, String>>,
    /// Ability configuration items.
    #[serde(default)]
    pub config: Option<Vec<serde_json::Value>>,
}

/// One entry of `modules` (kept, not acted on).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Module {
    /// Unique id within the plugin.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Icon path.
    #[serde(default)]
    pub icon: Option<String>,
    /// Link (exclusive with `entry`).
    #[serde(default)]
    pub link: Option<String>,
    /// Entry file.
    #[serde(default)]
    pub entry: Option<String>,
    /// Disables a standard ONES module.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Triggered by a user action.
    #[serde(default)]
    pub manual: Option<bool>,
    /// Loaded ahead of time.
    #[serde(default)]
    pub preload: Option<bool>,
    /// Slot type, e.g. `ones:global:banner`.
    #[serde(default)]
    pub module_type: Option<String>,
    /// Permission point that gates the module.
    #[serde(default)]
    pub permission: Option<String>,
    /// Revalidate permissions when the page context changes.
    #[serde(default)]
    pub need_permission_context: Option<bool>,
    /// Delay the module's destruction.
    #[serde(default)]
    pub enable_delay_destroy: Option<bool>,
    /// Module-specific settings.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// Module-specific properties.
    #[serde(default)]
    pub props: Option<serde_json::Value>,
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
