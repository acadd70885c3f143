//! The plugins directory of `op serve`: installed packages, instance state
//! and workspaces, shared by every replica that mounts it.
//!
//! ```text
//! PLUGINS_DIR/
//!   state.json                 instances, versions, enabled flags, generation
//!   packages/HASH.opkg         each installed package, by content hash
//!   instances/ID/workspace/    each instance's files
//!   cache/                     compiled components
//!   .lock                      held while an admin change is made
//! ```
//!
//! `state.json` is replaced atomically (written to a temporary file,
//! flushed, renamed, the directory flushed), so a reader sees the old state
//! or the new one, never half of one. Every change bumps `generation`;
//! replicas poll it. Changes are serialized across replicas by an exclusive
//! lock on `.lock`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state file.
pub const STATE_FILE: &str = "state.json";

/// One installed plugin instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Its id.
    pub instance_id: String,
    /// `service.app_id`.
    pub app_id: String,
    /// `service.name`.
    pub name: String,
    /// `service.version`.
    pub version: String,
    /// 1 (team) or 2 (organization).
    pub scope: u8,
    /// The team of a team-level instance.
    pub team_uuid: Option<String>,
    /// Whether it serves.
    pub enabled: bool,
    /// The package's content hash (`sha256:...`).
    pub content_hash: String,
    /// When it was installed (seconds since 1970).
    pub installed_at: u64,
    /// When it was last upgraded.
    pub upgraded_at: Option<u64>,
}

/// Everything installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Bumped by every change.
    pub generation: u64,
    /// The instances, in install order.
    pub instances: Vec<InstanceRecord>,
}

impl State {
    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Option<&InstanceRecord> {
        self.instances.iter().find(|i| i.instance_id == id)
    }

    /// The instance of this app_id.
    pub fn by_app_id(&self, app_id: &str) -> Option<&InstanceRecord> {
        self.instances.iter().find(|i| i.app_id == app_id)
    }
}

/// Why the plugins directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `state.json` is not valid.
    #[error("{} is damaged: {reason}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

/// The plugins directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Held while a change is made; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// Opens (and creates) the plugins directory.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for sub in ["packages", "instances", "cache"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Waits for the exclusive change lock (blocking: call it off the
    /// async executor).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        file.lock().map_err(io("cannot lock", &path))?;
        Ok(StoreLock { _file: file })
    }

    /// The current state (empty when nothing was ever installed).
    pub fn read(&self) -> Result<State, StoreError> {
        let path = self.dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| StoreError::Damaged {
                path,
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(err) => Err(io("cannot read", &path)(err)),
        }
    }

    /// Replaces the state atomically.
    pub fn write(&self, state: &State) -> Result<(), StoreError> {
        let path = self.dir.join(STATE_FILE);
        let temporary = self
            .dir
            .join(format!(".{STATE_FILE}.{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(state).map_err(|err| StoreError::Damaged {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        write_durably(&temporary, &bytes)?;
        std::fs::rename(&temporary, &path).map_err(io("cannot replace", &path))?;
        sync_dir(&self.dir)
    }

    /// Keeps a package's bytes under its content hash.
    pub fn save_package(&self, content_hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.package_path(content_hash);
        if path.exists() {
            return Ok(());
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        write_durably(&temporary, bytes)?;
        std::fs::rename(&temporary, &path).map_err(io("cannot write", &path))?;
        sync_dir(&self.dir.join("packages"))
    }

    /// A kept package's bytes.
    pub fn package(&self, content_hash: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.package_path(content_hash);
        std::fs::read(&path).map_err(io("cannot read", &path))
    }

    /// Removes a package no instance uses any more.
    pub fn remove_package(&self, content_hash: &str) {
        let path = self.package_path(content_hash);
        if let Err(err) = std::fs::remove_file(&path) {
            tracing::warn!(package = %path.display(), "cannot remove an unused package: {err}");
        }
    }

    /// An instance's workspace directory (created).
    pub fn workspace(&self, instance_id: &str) -> Result<PathBuf, StoreError> {
        let path = self
            .dir
            .join("instances")
            .join(instance_id)
            .join("workspace");
        std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        Ok(path)
    }

    /// Removes an instance's files.
    pub fn remove_instance(&self, instance_id: &str) {
        let path = self.dir.join("instances").join(instance_id);
        if let Err(err) = std::fs::remove_dir_all(&path) {
            tracing::warn!(instance = %path.display(), "cannot remove the instance's files: {err}");
        }
    }

    fn package_path(&self, content_hash: &str) -> PathBuf {
        let name = content_hash.trim_start_matches("sha256:");
        self.dir
            .join("packages")
            .join(format!("{name}.{}", crate::package::EXTENSION))
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = File::create(path).map_err(io("cannot create", path))?;
    file.write_all(bytes).map_err(io("cannot write", path))?;
    file.sync_all().map_err(io("cannot flush", path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot flush", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> InstanceRecord {
        InstanceRecord {
            instance_id: id.into(),
            app_id: format!("app-{id}"),
            name: "n".into(),
            version: "1.0.0".into(),
            scope: 1,
            team_uuid: Some("T1".into()),
            enabled: true,
            content_hash: "sha256:ab".into(),
            installed_at: 1,
            upgraded_at: None,
        }
    }

    #[test]
    fn state_and_packages_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read().unwrap(), State::default());
        let state = State {
            generation: 3,
            instances: vec![record("i1")],
        };
        store.write(&state).unwrap();
        store.save_package("sha256:ab", b"bytes").unwrap();
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.read().unwrap(), state);
        assert_eq!(again.package("sha256:ab").unwrap(), b"bytes");
        assert_eq!(
            again
                .read()
                .unwrap()
                .by_app_id("app-i1")
                .unwrap()
                .instance_id,
            "i1"
        );
    }

    #[test]
    fn a_damaged_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        let err = store.read().unwrap_err().to_string();
        assert!(err.contains("state.json is damaged"), "{err}");
    }

    #[test]
    fn the_lock_is_exclusive_across_handles() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let held = store.lock().unwrap();
        let other = File::options()
            .write(true)
            .open(dir.path().join(".lock"))
            .unwrap();
        assert!(other.try_lock().is_err(), "a second holder got the lock");
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
