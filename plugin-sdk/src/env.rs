//! Where the plugin is installed, and its configuration.

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::op::plugin::env as wit;

/// Where this plugin instance runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The team it acts in (its own for a team-level plugin, else the team of
    /// the request being served).
    pub team_uuid: Option<String>,
    /// The organization.
    pub organization_uuid: Option<String>,
    /// The id of this installation.
    pub instance_id: String,
}

/// The plugin's environment.
pub fn environment() -> Environment {
    #[cfg(target_arch = "wasm32")]
    {
        let env = wit::current();
        Environment {
            team_uuid: env.team_uuid,
            organization_uuid: env.organization_uuid,
            instance_id: env.instance_id,
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::environment()
    }
}

/// Every `service.config` value (plugin.yaml defaults, overridden by the
/// host's configuration).
pub fn config() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    {
        wit::config()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::testing::config()
    }
}

/// One `service.config` value.
pub fn config_value(key: &str) -> Option<String> {
    config().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}
