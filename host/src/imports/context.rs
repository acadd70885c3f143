//! What the host knows about a plugin installation and about one call, and
//! the ONES credentials it signs calls with.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::manifest::{Manifest, OutboundRule};

/// An ONES user's credentials. The token is a secret: it is never
/// formatted, logged, or given to a plugin.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The `Ones-User-Id`.
    pub user_id: String,
    /// The `Ones-Auth-Token`.
    pub token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Where the plugin's super-admin credentials come from, per team.
pub trait SuperAdmins: Send + Sync {
    /// The super-admin of this plugin installation in `team`.
    fn for_team(&self, team: &str) -> Option<Credentials>;
}

/// One super-admin for every team (local development, a single team).
#[derive(Debug, Clone)]
pub struct SingleSuperAdmin(pub Credentials);

impl SuperAdmins for SingleSuperAdmin {
    fn for_team(&self, _team: &str) -> Option<Credentials> {
        Some(self.0.clone())
    }
}

/// No super-admin is configured: root calls fail with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct NoSuperAdmin;

impl SuperAdmins for NoSuperAdmin {
    fn for_team(&self, _team: &str) -> Option<Credentials> {
        None
    }
}

/// The ONES server a plugin talks to.
#[derive(Clone)]
pub struct OnesLink {
    /// Base URL, e.g. `http://127.0.0.1:3100` (no trailing `/`).
    pub base_url: String,
    /// The plugin's super-admins.
    pub super_admins: Arc<dyn SuperAdmins>,
}

impl fmt::Debug for OnesLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnesLink")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Where and how a plugin is installed.
#[derive(Debug, Clone, Default)]
pub struct Installation {
    /// The id of this installation.
    pub instance_id: String,
    /// The team a team-level plugin is installed in.
    pub team_uuid: Option<String>,
    /// The organization.
    pub organization_uuid: Option<String>,
    /// `service.config` values that override the manifest's defaults.
    pub config: Vec<(String, String)>,
    /// The ONES server, if any.
    pub ones: Option<OnesLink>,
    /// The plugin's `workspace/` directory, given to it as `/workspace`.
    pub workspace: Option<std::path::PathBuf>,
    /// The database that keeps the instance's entity storage; `None` for
    /// a host that keeps none.
    pub records: Option<Arc<dyn crate::storage::Records>>,
}

/// Everything a call of one plugin installation may use, shared by its calls.
#[derive(Debug)]
pub struct InstanceContext {
    /// The plugin's app_id.
    pub app_id: String,
    /// Whether it is organization-level.
    pub org_level: bool,
    /// The installation.
    pub installation: Installation,
    /// Effective `service.config` values.
    pub config: Vec<(String, String)>,
    /// The outbound allow-list.
    pub outbound: Vec<OutboundRule>,
    /// What its workspace holds, against its quota.
    pub workspace_usage: Arc<super::wasi::WorkspaceUsage>,
    /// Its entity storage, when the host keeps one.
    pub storage: Option<crate::storage::InstanceStorage>,
}

impl InstanceContext {
    /// Combines the manifest with its installation, whose workspace may
    /// hold `workspace_quota` bytes.
    pub fn new(manifest: &Manifest, mut installation: Installation, workspace_quota: u64) -> Self {
        let mut config: Vec<(String, String)> = manifest
            .service
            .config
            .iter()
            .chain(&manifest.config)
            .filter_map(|item| {
                let value = match item.value.as_ref()? {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => return None,
                    other => other.to_string(),
                };
                Some((item.key.clone(), value))
            })
            .collect();
        for (key, value) in std::mem::take(&mut installation.config) {
            match config.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => config.push((key, value)),
            }
        }
        if installation.instance_id.is_empty() {
            installation.instance_id = manifest.app_id().to_string();
        }
        let outbound = manifest
            .sandbox
            .iter()
            .flat_map(|s| s.outbound.iter())
            .filter_map(|rule| OutboundRule::parse(&rule.value).ok())
            .collect();
        let workspace_usage = Arc::new(super::wasi::WorkspaceUsage::new(
            manifest.app_id(),
            installation.workspace.clone(),
            workspace_quota,
        ));
        let storage = installation.records.clone().map(|records| {
            crate::storage::InstanceStorage::new(
                records,
                &installation.instance_id,
                &manifest.entities,
            )
        });
        InstanceContext {
            storage,
            app_id: manifest.app_id().to_string(),
            org_level: manifest.is_org_level(),
            installation,
            config,
            outbound,
            workspace_usage,
        }
    }

    /// The team calls act in: the installation's for a team-level plugin,
    /// otherwise the request's.
    pub fn team<'a>(&'a self, request_team: Option<&'a str>) -> Option<&'a str> {
        if self.org_level {
            request_team
        } else {
            self.installation.team_uuid.as_deref().or(request_team)
        }
    }
}

/// One call: which function runs, for whom, in which team.
#[derive(Debug)]
pub struct CallContext {
    /// The installation.
    pub instance: Arc<InstanceContext>,
    /// The function.
    pub function: String,
    /// An id for the log, unique in the process.
    pub request_id: String,
    /// The credentials of the request being served, if it carried them.
    pub caller: Option<Credentials>,
    /// The team of the request being served (its `:teamUUID`).
    pub request_team: Option<String>,
    /// OPFetch calls made so far.
    pub fetches: u32,
    /// The id of the timer task ability a scheduled call runs for.
    pub ability: Option<String>,
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

impl CallContext {
    /// A call of `function` with nothing known about the caller.
    pub fn new(instance: Arc<InstanceContext>, function: &str) -> Self {
        CallContext {
            instance,
            function: function.to_string(),
            request_id: format!("{:06x}", NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)),
            caller: None,
            request_team: None,
            fetches: 0,
            ability: None,
        }
    }

    /// A call serving `request`: its ONES credentials and team are kept.
    pub fn serving(
        instance: Arc<InstanceContext>,
        function: &str,
        request: &crate::bindings::Request,
    ) -> Self {
        let mut call = Self::new(instance, function);
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.trim().is_empty())
        };
        if let (Some(user_id), Some(token)) = (header("ones-user-id"), header("ones-auth-token")) {
            call.caller = Some(Credentials { user_id, token });
        }
        call.request_team = request
            .params
            .iter()
            .find(|(name, _)| name == "teamUUID")
            .map(|(_, value)| value.clone());
        call
    }
}
