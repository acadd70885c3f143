//! The plugins' super-admins in `op serve`: one per plugin and team, from
//! a credentials file or the `OP_CREDENTIALS` environment variable.
//!
//! ```yaml
//! super_admins:
//!   - plugin: taskgrd1        # app_id (or instance id)
//!     team: TEAM0001          # omit: every team of the organization
//!     user_id: ADMIN001
//!     token: "..."
//! ```
//!
//! A team's own entry wins over the plugin's entry without a team.

use std::sync::Arc;

use serde::Deserialize;

use crate::imports::{Credentials, SuperAdmins};
use crate::manifest::{self, ManifestError};

#[derive(Debug, Default, Deserialize)]
struct CredentialsFile {
    #[serde(default)]
    super_admins: Vec<Entry>,
}

#[derive(Clone, Default, Deserialize)]
struct Entry {
    plugin: String,
    #[serde(default)]
    team: Option<String>,
    user_id: String,
    token: String,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("plugin", &self.plugin)
            .field("team", &self.team)
            .field("user_id", &self.user_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Every configured super-admin.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    entries: Arc<Vec<Entry>>,
}

impl CredentialStore {
    /// Parses credentials YAML; `shown` names it in errors (never its
    /// content: it holds tokens).
    pub fn parse(text: &str, shown: &str) -> Result<Self, ManifestError> {
        let file: CredentialsFile = manifest::parse_yaml(text, shown)?;
        Ok(CredentialStore {
            entries: Arc::new(file.super_admins),
        })
    }

    /// The super-admins of one plugin installation.
    pub fn for_instance(&self, app_id: &str, instance_id: &str) -> Arc<dyn SuperAdmins> {
        Arc::new(InstanceAdmins {
            entries: self
                .entries
                .iter()
                .filter(|e| e.plugin == app_id || e.plugin == instance_id)
                .cloned()
                .collect(),
        })
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

struct InstanceAdmins {
    entries: Vec<Entry>,
}

impl SuperAdmins for InstanceAdmins {
    fn for_team(&self, team: &str) -> Option<Credentials> {
        let exact = self
            .entries
            .iter()
            .find(|e| e.team.as_deref() == Some(team));
        let any = || self.entries.iter().find(|e| e.team.is_none());
        exact.or_else(any).map(|e| Credentials {
            user_id: e.user_id.clone(),
            token: e.token.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_entry_wins_over_the_plugin_wide_one() {
        let store = CredentialStore::parse(
            "super_admins:\n  - {plugin: p1, user_id: ANY, token: t0}\n  - {plugin: p1, team: T2, user_id: TWO, token: t2}\n  - {plugin: other, user_id: X, token: tx}\n",
            "credentials.yaml",
        )
        .unwrap();
        let admins = store.for_instance("p1", "inst1");
        assert_eq!(admins.for_team("T2").unwrap().user_id, "TWO");
        assert_eq!(admins.for_team("T9").unwrap().user_id, "ANY");
        assert!(store.for_instance("p3", "inst3").for_team("T2").is_none());
    }

    #[test]
    fn errors_name_the_place_not_the_secret() {
        let err = CredentialStore::parse(
            "super_admins:\n  - {plugin: p1, user: A, token: s3cr3t}\n",
            "credentials.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("credentials.yaml:2:"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
