//! Where `op serve` keeps what is installed: instances, versions, enabled
//! flags, the generation counter and the packages by content hash.
//!
//! Two backends behind one trait, [`StateStore`]:
//!
//! - [`directory`]: the plugins directory (`state.json`, `packages/`, an
//!   exclusive file lock), the default, for one host (replicas on one
//!   machine or one shared volume follow it by polling once a second);
//! - [`postgres`]: a PostgreSQL database (`store: postgres://...`), for a
//!   fleet: each change is one transaction under an advisory lock, every
//!   committed change is announced with `NOTIFY`, and every replica
//!   `LISTEN`s and loads it.
//!
//! Workspaces and the compile cache are files on the replica's disk in
//! both cases ([`super::workspaces`]); only with the directory backend are
//! they shared by the replicas that mount it.

pub mod directory;
pub mod postgres;
pub mod ticks;

use serde::{Deserialize, Serialize};

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

    /// The instance with this id, to change it.
    pub fn instance_mut(&mut self, id: &str) -> Option<&mut InstanceRecord> {
        self.instances.iter_mut().find(|i| i.instance_id == id)
    }

    /// The instances of this app_id (one per team it is installed in).
    pub fn by_app_id<'a>(&'a self, app_id: &'a str) -> impl Iterator<Item = &'a InstanceRecord> {
        self.instances.iter().filter(move |i| i.app_id == app_id)
    }

    /// Whether any instance runs this package.
    pub fn uses_package(&self, content_hash: &str) -> bool {
        self.instances
            .iter()
            .any(|i| i.content_hash == content_hash)
    }
}

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was done.
        what: &'static str,
        /// On which path.
        path: std::path::PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// What the store holds is not valid.
    #[error("{place} is damaged: {reason}")]
    Damaged {
        /// The file or table.
        place: String,
        /// What is wrong.
        reason: String,
    },
    /// The database cannot be reached (or went away during the change; if
    /// that was during its `COMMIT`, the change may have landed: the next
    /// read of the state tells).
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The database refused a statement.
    #[error("the database refused `{what}`: {reason}")]
    Database {
        /// What was being done.
        what: &'static str,
        /// Its message.
        reason: String,
    },
    /// Another replica's change held the change lock for all of `waited`.
    #[error(
        "another change has been in progress for over {} s (on another replica); try again",
        waited.as_secs()
    )]
    Busy {
        /// How long this change waited.
        waited: std::time::Duration,
    },
    /// Another change committed in between (the generation moved).
    #[error("the store changed under this change (generation {expected} is now {found})")]
    Raced {
        /// The generation the change started from.
        expected: u64,
        /// The generation found at commit.
        found: u64,
    },
}

/// A file error of `path` as a store error, saying what was being done.
pub(crate) fn io(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

impl StoreError {
    /// Whether the store is out of reach (as opposed to refusing).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A change in progress: it holds the store's exclusive change lock (for
/// every replica) and the state as it was when the lock was taken.
/// Dropping it without [`Change::commit`] changes no state (a package it
/// kept may stay, unused, until the next commit sweeps it).
#[async_trait::async_trait]
pub trait Change: Send {
    /// The state the change starts from.
    fn state(&self) -> &State;

    /// Keeps a package's bytes under its content hash, as part of the
    /// change.
    async fn put_package(&mut self, content_hash: &str, bytes: &[u8]) -> Result<(), StoreError>;

    /// Makes `next` the state, all of it or nothing, and announces it to
    /// the replicas; packages no instance of `next` uses are removed.
    /// `next.generation` must be one more than the starting state's.
    async fn commit(self: Box<Self>, next: &State) -> Result<(), StoreError>;
}

/// The store of `op serve`, as every replica sees it.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// What it is, for logs and `/readyz` (a database URL without its
    /// password).
    fn describe(&self) -> String;

    /// Whether the replicas share the workspace folders (one directory);
    /// otherwise each replica unpacks the workspaces it serves itself.
    fn shares_workspaces(&self) -> bool;

    /// The current state.
    async fn read(&self) -> Result<State, StoreError>;

    /// A kept package's bytes.
    async fn package(&self, content_hash: &str) -> Result<Vec<u8>, StoreError>;

    /// Waits for the change lock and begins a change.
    async fn begin(&self) -> Result<Box<dyn Change>, StoreError>;

    /// Resolves when the state may have changed: a change was announced,
    /// the connection came back, or the store's polling interval passed
    /// (the directory's [`directory::POLL`], the database's
    /// [`postgres::SAFETY_POLL`]).
    async fn changed(&self);

    /// Why the store is out of reach now, if it is.
    fn trouble(&self) -> Option<String>;

    /// The gate that lets one replica run each timer task tick
    /// ([`ticks`]); called once, when the server starts.
    fn tick_gate(&self) -> Result<std::sync::Arc<dyn crate::timers::TickGate>, StoreError>;

    /// The database that keeps the instances' entity storage: SQLite files
    /// in `storage/` of the plugins directory, or tables of the PostgreSQL
    /// database; called once, when the server starts.
    fn records(&self) -> std::sync::Arc<dyn crate::storage::Records>;
}

/// Opens the store `url` names (`postgres://...`), or the plugins directory
/// when there is none; schema migrations are applied before it answers.
pub async fn open(
    url: Option<&str>,
    plugins_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn StateStore>, StoreError> {
    match url {
        Some(url) => Ok(std::sync::Arc::new(postgres::PgStore::connect(url).await?)),
        None => Ok(std::sync::Arc::new(directory::DirStore::open(plugins_dir)?)),
    }
}
