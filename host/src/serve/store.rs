//! The plugins directory of `op serve`: installed packages, instance state
//! and workspaces, shared by every replica that mounts it.
//!
//! ```text
//! PLUGINS_DIR/
//!   state.json                 instances, versions, enabled flags, generation
//!   packages/HASH.opkg         each installed package, by content hash
//!   instances/ID/WORKSPACE/    each instance's files (the folder its
//!                              record names; a fresh one per version)
//!   cache/                     compiled components
//!   .lock                      held while an admin change is made
//! ```
//!
//! `state.json` is replaced atomically (written to a temporary file,
//! flushed, renamed, the directory flushed), so a reader sees the old state
//! or the new one, never half of one. Every change bumps `generation`;
//! replicas poll it. Changes are serialized across replicas by an exclusive
//! lock on `.lock`.
//!
//! Workspaces are written by plugins, so the host treats them as hostile:
//! every host-side operation on them goes through `cap-std` (nothing
//! resolves outside the folder it is opened on) and follows no link. An
//! install or upgrade unpacks into a fresh folder (an upgrade first copies
//! the plugin's files over), flushes it, and switches to it by the atomic
//! replacement of `state.json`; the old folder is removed after. A change
//! that fails or is interrupted leaves the old folder as it was; its
//! leftovers are removed by the next change of that instance.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use crate::package::Package;

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
    /// The folder under `instances/ID/` that holds its workspace.
    #[serde(default = "default_workspace")]
    pub workspace: String,
}

/// The workspace folder of records written before workspaces had versions.
fn default_workspace() -> String {
    "workspace".to_string()
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

    /// The workspace folder of an instance (which may not exist yet).
    pub fn workspace_path(&self, record: &InstanceRecord) -> PathBuf {
        self.dir
            .join("instances")
            .join(&record.instance_id)
            .join(&record.workspace)
    }

    /// `instances/ID/`, created, opened as a capability.
    fn instance_dir(&self, instance_id: &str) -> Result<Dir, StoreError> {
        let path = self.dir.join("instances");
        let instances = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(io("cannot open", &path))?;
        let path = path.join(instance_id);
        match instances.create_dir(instance_id) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io("cannot create", &path)(err)),
        }
        instances
            .open_dir(instance_id)
            .map_err(io("cannot open", &path))
    }

    /// A fresh name for a workspace folder.
    pub fn new_workspace_name() -> String {
        format!("workspace-{}", &crate::dev::random_hex()[..16])
    }

    /// Makes the workspace folder `record.workspace` of an instance: the
    /// plugin's files of the `previous` folder copied (links as links,
    /// never followed), then the package's workspace unpacked over them, all
    /// flushed to disk. Nothing else changes: the caller switches to it by
    /// writing a record that names it. Leftovers of an interrupted change
    /// (folders no record names but `previous`) are removed first.
    pub fn prepare_workspace(
        &self,
        record: &InstanceRecord,
        previous: Option<&str>,
        package: &Package,
    ) -> Result<(), StoreError> {
        let (instance_id, name) = (record.instance_id.as_str(), record.workspace.as_str());
        let instance = self.instance_dir(instance_id)?;
        let path = self.dir.join("instances").join(instance_id);
        let entries = instance.entries().map_err(io("cannot read", &path))?;
        for entry in entries {
            let entry = entry.map_err(io("cannot read", &path))?;
            let name = entry.file_name();
            if previous.is_some_and(|p| name == p) {
                continue;
            }
            crate::package::remove_nofollow(&instance, &name).map_err(io("cannot clean", &path))?;
        }
        let filled = (|| {
            instance.create_dir(name)?;
            let fresh = instance.open_dir(name)?;
            if let Some(previous) = previous {
                match instance.open_dir(previous) {
                    Ok(old) => copy_tree(&old, &fresh)?,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
            package.unpack_workspace(&fresh)?;
            flush_tree(&fresh)?;
            sync(&instance)
        })();
        if let Err(err) = filled {
            if let Err(err) = crate::package::remove_nofollow(&instance, name) {
                tracing::warn!(
                    instance = instance_id,
                    "cannot remove a partial workspace: {err}"
                );
            }
            return Err(io("cannot prepare the workspace in", &path)(err));
        }
        Ok(())
    }

    /// Removes one workspace folder of an instance (after a switch).
    pub fn remove_workspace(&self, instance_id: &str, name: &str) {
        let removed = self
            .instance_dir(instance_id)
            .map_err(|err| err.to_string())
            .and_then(|dir| {
                crate::package::remove_nofollow(&dir, name).map_err(|err| err.to_string())
            });
        if let Err(err) = removed {
            tracing::warn!(
                instance = instance_id,
                "cannot remove an old workspace: {err}"
            );
        }
    }

    /// Removes an instance's files (following no link).
    pub fn remove_instance(&self, instance_id: &str) {
        let path = self.dir.join("instances");
        let removed = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .and_then(|dir| crate::package::remove_nofollow(&dir, instance_id));
        if let Err(err) = removed {
            tracing::warn!(
                instance = instance_id,
                "cannot remove the instance's files: {err}"
            );
        }
    }

    fn package_path(&self, content_hash: &str) -> PathBuf {
        let name = content_hash.trim_start_matches("sha256:");
        self.dir
            .join("packages")
            .join(format!("{name}.{}", crate::package::EXTENSION))
    }
}

/// Flushes a folder's entries to disk.
fn sync(dir: &Dir) -> std::io::Result<()> {
    // `Dir` handles may be path-only descriptors, which cannot be flushed:
    // open the folder itself for reading.
    dir.open(".")?.sync_all()
}

/// Flushes a folder and everything in it to disk: on Linux with one
/// `syncfs` of its filesystem (thousands of files in a package would make
/// thousands of `fsync`s), elsewhere file by file.
fn flush_tree(dir: &Dir) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::fs::syncfs(dir.open(".")?)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        for entry in dir.entries()? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                flush_tree(&entry.open_dir()?)?;
            } else if kind.is_file() {
                entry.open()?.sync_all()?;
            }
        }
        sync(dir)
    }
}

/// Copies the files, folders and links of `from` into `to`; a link
/// is copied as a link and never followed; anything else (a socket, a
/// fifo) is left out.
fn copy_tree(from: &Dir, to: &Dir) -> std::io::Result<()> {
    for entry in from.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            to.create_dir(&name)?;
            let (from_sub, to_sub) = (from.open_dir(&name)?, to.open_dir(&name)?);
            copy_tree(&from_sub, &to_sub)?;
        } else if kind.is_file() {
            let mut source = from.open(&name)?;
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            let mut target = to.open_with(&name, &options)?;
            std::io::copy(&mut source, &mut target)?;
        } else if kind.is_symlink() {
            #[cfg(unix)]
            to.symlink_contents(from.read_link_contents(&name)?, &name)?;
        }
    }
    Ok(())
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
            workspace: default_workspace(),
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
    fn a_workspace_is_prepared_flushed_and_removed_following_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("plugins")).unwrap();
        let (bytes, _) = crate::package::pack(
            "service:\n  app_id: storetst\n  name: s\n  version: 1.0.0\napis:\n  - type: addition\n    methods: [GET]\n    url: /a\n    function: a\n",
            "plugin.yaml",
            &crate::code::PluginCode::Component(b"component".to_vec()),
            None,
        )
        .unwrap();
        let package = crate::package::read(&bytes, "p").unwrap();
        let mut first = record("i1");
        first.workspace = Store::new_workspace_name();
        store.prepare_workspace(&first, None, &package).unwrap();
        let live = store.workspace_path(&first);
        std::fs::write(live.join("mine.txt"), "plugin data").unwrap();
        let mut second = first.clone();
        second.workspace = Store::new_workspace_name();
        store
            .prepare_workspace(&second, Some(&first.workspace), &package)
            .unwrap();
        let copied = store.workspace_path(&second);
        assert_eq!(
            std::fs::read_to_string(copied.join("mine.txt")).unwrap(),
            "plugin data"
        );
        store.remove_workspace("i1", &first.workspace);
        assert!(!live.exists());
        store.remove_instance("i1");
        assert!(!copied.exists());
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
