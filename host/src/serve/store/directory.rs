//! The plugins directory as the store (the default): one host, or replicas
//! that share one volume.
//!
//! ```text
//! PLUGINS_DIR/
//!   state.json                 instances, versions, enabled flags, generation
//!   packages/HASH.opkg         each installed package, by content hash
//!   instances/ID/WORKSPACE/    each instance's files (super::super::workspaces)
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
use std::time::Duration;

use super::{Change, State, StateStore, StoreError, io};

/// The state file.
pub const STATE_FILE: &str = "state.json";
/// How often a replica reads `state.json` for changes made by the others.
pub const POLL: Duration = Duration::from_secs(1);

/// The plugins directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

/// A change under the directory's lock.
struct DirChange {
    store: DirStore,
    state: State,
    _lock: File,
}

impl DirStore {
    /// Opens (and creates) the plugins directory.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for sub in ["packages", "instances", "cache"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        }
        Ok(DirStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Waits for the exclusive change lock (blocking: call it off the
    /// async executor).
    fn lock(&self) -> Result<File, StoreError> {
        let path = self.dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        file.lock().map_err(io("cannot lock", &path))?;
        Ok(file)
    }

    /// The current state (empty when nothing was ever installed).
    pub fn read_now(&self) -> Result<State, StoreError> {
        let path = self.dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| StoreError::Damaged {
                place: path.display().to_string(),
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(err) => Err(io("cannot read", &path)(err)),
        }
    }

    /// Replaces the state atomically.
    fn write(&self, state: &State) -> Result<(), StoreError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = serde_json::to_vec_pretty(state).map_err(|err| StoreError::Damaged {
            place: path.display().to_string(),
            reason: err.to_string(),
        })?;
        write_atomically(&self.dir, ".state-", &path, &bytes)
    }

    fn save_package(&self, content_hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.package_path(content_hash);
        if path.exists() {
            return Ok(());
        }
        write_atomically(&self.dir.join("packages"), ".package-", &path, bytes)
    }

    /// Removes the files of `packages/` that `state` does not use.
    fn sweep_packages(&self, state: &State) {
        let folder = self.dir.join("packages");
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return;
        };
        let suffix = format!(".{}", crate::package::EXTENSION);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let used = name
                .strip_suffix(&suffix)
                .is_some_and(|hash| state.uses_package(&format!("sha256:{hash}")));
            if used {
                continue;
            }
            if let Err(err) = std::fs::remove_file(entry.path()) {
                tracing::warn!(package = %entry.path().display(), "cannot remove an unused package: {err}");
            }
        }
    }

    fn package_path(&self, content_hash: &str) -> PathBuf {
        let name = content_hash.trim_start_matches("sha256:");
        self.dir
            .join("packages")
            .join(format!("{name}.{}", crate::package::EXTENSION))
    }
}

#[async_trait::async_trait]
impl StateStore for DirStore {
    fn tick_gate(&self) -> Result<std::sync::Arc<dyn crate::timers::TickGate>, StoreError> {
        let gate = super::ticks::DirTicks::open(&self.dir)
            .map_err(super::io("cannot open timers.lock in", &self.dir))?;
        Ok(std::sync::Arc::new(gate))
    }

    fn records(&self) -> std::sync::Arc<dyn crate::storage::Records> {
        std::sync::Arc::new(crate::storage::SqliteFiles::new(self.dir.join("storage")))
    }

    fn describe(&self) -> String {
        format!("the plugins directory {}", self.dir.display())
    }

    fn shares_workspaces(&self) -> bool {
        true
    }

    async fn read(&self) -> Result<State, StoreError> {
        self.read_now()
    }

    async fn package(&self, content_hash: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.package_path(content_hash);
        std::fs::read(&path).map_err(io("cannot read", &path))
    }

    async fn begin(&self) -> Result<Box<dyn Change>, StoreError> {
        let store = self.clone();
        let lock = tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|err| StoreError::Io {
                what: "cannot wait for the lock of",
                path: self.dir.join(".lock"),
                source: std::io::Error::other(err.to_string()),
            })??;
        let state = self.read_now()?;
        Ok(Box::new(DirChange {
            store: self.clone(),
            state,
            _lock: lock,
        }))
    }

    async fn changed(&self) {
        tokio::time::sleep(POLL).await;
    }

    fn trouble(&self) -> Option<String> {
        None
    }
}

#[async_trait::async_trait]
impl Change for DirChange {
    fn state(&self) -> &State {
        &self.state
    }

    async fn put_package(&mut self, content_hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.store.save_package(content_hash, bytes)
    }

    async fn commit(self: Box<Self>, next: &State) -> Result<(), StoreError> {
        self.store.write(next)?;
        // Every package the new state does not use goes: those the old
        // state used, and those a failed or interrupted change left (this
        // change holds the lock, so no other one is writing).
        self.store.sweep_packages(next);
        Ok(())
    }
}

/// Writes `bytes` to `path` (in `folder`) whole or not at all: into a
/// temporary file named `prefix...` beside it, flushed, renamed over
/// `path`, and the folder flushed.
fn write_atomically(
    folder: &Path,
    prefix: &str,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut temporary = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(folder)
        .map_err(io("cannot create a file in", folder))?;
    temporary
        .write_all(bytes)
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(io("cannot write", temporary.path()))?;
    temporary
        .persist(path)
        .map_err(|err| io("cannot replace", path)(err.error))?;
    sync_dir(folder)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot flush", dir))
}

#[cfg(test)]
mod tests {
    use super::super::InstanceRecord;
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
            workspace: "workspace".into(),
        }
    }

    #[tokio::test]
    async fn state_and_packages_survive_a_reopen_and_unused_packages_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        assert_eq!(store.read().await.unwrap(), State::default());
        let state = State {
            generation: 1,
            instances: vec![record("i1")],
        };
        let mut change = store.begin().await.unwrap();
        change.put_package("sha256:ab", b"bytes").await.unwrap();
        change.commit(&state).await.unwrap();
        let again = DirStore::open(dir.path()).unwrap();
        assert_eq!(again.read().await.unwrap(), state);
        assert_eq!(again.package("sha256:ab").await.unwrap(), b"bytes");
        let change = again.begin().await.unwrap();
        change
            .commit(&State {
                generation: 2,
                instances: vec![],
            })
            .await
            .unwrap();
        assert!(
            again.package("sha256:ab").await.is_err(),
            "the unused package stays"
        );
        // What a change that never committed left goes with the next one.
        let mut failed = again.begin().await.unwrap();
        failed.put_package("sha256:cd", b"orphan").await.unwrap();
        drop(failed);
        std::fs::write(dir.path().join("packages/.package-x1"), b"half").unwrap();
        let change = again.begin().await.unwrap();
        change
            .commit(&State {
                generation: 3,
                instances: vec![],
            })
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("packages"))
                .unwrap()
                .count(),
            0
        );
        // Only the state file and the folders: no temporary file is left.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [".lock", "cache", "instances", "packages", STATE_FILE]
        );
    }

    #[tokio::test]
    async fn a_damaged_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        let err = store.read().await.unwrap_err().to_string();
        assert!(err.contains("state.json is damaged"), "{err}");
    }

    #[tokio::test]
    async fn the_change_lock_is_exclusive_until_the_change_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let held = store.begin().await.unwrap();
        let other = File::options()
            .write(true)
            .open(dir.path().join(".lock"))
            .unwrap();
        assert!(other.try_lock().is_err(), "a second holder got the lock");
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
