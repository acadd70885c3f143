//! Local-development settings of a plugin project: flags, then `OP_*`
//! environment variables, then `config/local.yaml`, then defaults.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::imports::Credentials;
use crate::manifest::{self, ManifestError};

/// `config/local.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LocalFile {
    /// Base URL of a real ONES server; without one the simulator starts.
    #[serde(default)]
    pub ones_url: Option<String>,
    /// The team the plugin is installed in.
    #[serde(default)]
    pub team_uuid: Option<String>,
    /// The organization it is installed in.
    #[serde(default)]
    pub organization_uuid: Option<String>,
    /// The plugin's super-admin on that ONES.
    #[serde(default)]
    pub super_admin: Option<SuperAdminFile>,
    /// Values that override `service.config` defaults.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// `super_admin:` in `config/local.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SuperAdminFile {
    /// Its `Ones-User-Id`.
    pub user_id: String,
    /// Its `Ones-Auth-Token`.
    pub token: String,
}

/// The effective settings.
#[derive(Debug, Clone, Default)]
pub struct LocalSettings {
    /// ONES base URL; `None` starts the simulator.
    pub ones_url: Option<String>,
    /// Team of the installation.
    pub team_uuid: Option<String>,
    /// Organization of the installation.
    pub organization_uuid: Option<String>,
    /// The super-admin.
    pub super_admin: Option<Credentials>,
    /// `service.config` overrides.
    pub config: Vec<(String, String)>,
}

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The file exists and cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is invalid.
    #[error(transparent)]
    Invalid(#[from] ManifestError),
    /// Only half of the super-admin is configured.
    #[error("OP_SUPER_ADMIN_USER_ID and OP_SUPER_ADMIN_TOKEN must be set together")]
    HalfSuperAdmin,
}

/// Reads `config/local.yaml` of `project` (if present) and the environment
/// (`env` gives a variable's value), with `ones_url_flag` on top.
pub fn settings(
    project: &Path,
    ones_url_flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<LocalSettings, LocalError> {
    let path = project.join("config/local.yaml");
    let shown = path.display().to_string();
    let file: LocalFile = match std::fs::read_to_string(&path) {
        Ok(text) => manifest::parse_yaml(&text, &shown)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => LocalFile::default(),
        Err(source) => {
            return Err(LocalError::Read {
                path: shown,
                source,
            });
        }
    };
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let super_admin = match (env("OP_SUPER_ADMIN_USER_ID"), env("OP_SUPER_ADMIN_TOKEN")) {
        (Some(user_id), Some(token)) => Some(Credentials { user_id, token }),
        (None, None) => file.super_admin.map(|s| Credentials {
            user_id: s.user_id,
            token: s.token,
        }),
        _ => return Err(LocalError::HalfSuperAdmin),
    };
    Ok(LocalSettings {
        ones_url: ones_url_flag
            .map(str::to_string)
            .or_else(|| env("OP_ONES_URL"))
            .or(file.ones_url)
            .map(|url| url.trim_end_matches('/').to_string()),
        team_uuid: env("OP_TEAM_UUID").or(file.team_uuid),
        organization_uuid: env("OP_ORGANIZATION_UUID").or(file.organization_uuid),
        super_admin,
        config: file.config.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(local: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/local.yaml"), local).unwrap();
        dir
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = project(
            "ones_url: http://file\nteam_uuid: FILETEAM\nsuper_admin:\n  user_id: fileadmin\n  token: filetoken\nconfig:\n  greeting: hi\n",
        );
        let none = |_: &str| None;
        let s = settings(dir.path(), None, none).unwrap();
        assert_eq!(s.ones_url.as_deref(), Some("http://file"));
        assert_eq!(s.team_uuid.as_deref(), Some("FILETEAM"));
        assert_eq!(s.super_admin.unwrap().user_id, "fileadmin");
        assert_eq!(s.config, [("greeting".to_string(), "hi".to_string())]);
        let env = |name: &str| match name {
            "OP_ONES_URL" => Some("http://env/".to_string()),
            "OP_TEAM_UUID" => Some("ENVTEAM".to_string()),
            "OP_SUPER_ADMIN_USER_ID" => Some("envadmin".to_string()),
            "OP_SUPER_ADMIN_TOKEN" => Some("envtoken".to_string()),
            _ => None,
        };
        let s = settings(dir.path(), None, env).unwrap();
        assert_eq!(s.ones_url.as_deref(), Some("http://env"));
        assert_eq!(s.team_uuid.as_deref(), Some("ENVTEAM"));
        assert_eq!(s.super_admin.unwrap().user_id, "envadmin");
        let s = settings(dir.path(), Some("http://flag"), env).unwrap();
        assert_eq!(s.ones_url.as_deref(), Some("http://flag"));
    }

    #[test]
    fn bad_files_and_half_credentials_are_errors() {
        let dir = project("ones_ur: http://x\n");
        let err = settings(dir.path(), None, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "local.yaml:1:1: ones_ur: unknown key `ones_ur`; did you mean `ones_url`?"
            ),
            "{err}"
        );
        let dir = project("");
        let env = |name: &str| (name == "OP_SUPER_ADMIN_TOKEN").then(|| "t".to_string());
        assert!(matches!(
            settings(dir.path(), None, env),
            Err(LocalError::HalfSuperAdmin)
        ));
        let missing = tempfile::tempdir().unwrap();
        assert!(
            settings(missing.path(), None, |_| None)
                .unwrap()
                .ones_url
                .is_none()
        );
    }
}
