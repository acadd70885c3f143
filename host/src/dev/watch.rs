//! Watching a plugin project for changes: `backend/` (sources, Cargo files)
//! and `config/plugin.yaml`.
//!
//! The watcher polls file metadata (modification time and size) instead of
//! subscribing to OS notifications: a plugin project holds a few dozen files,
//! a scan costs microseconds, and polling behaves the same on every file
//! system (network mounts, containers, editors that replace files by rename).
//! A burst of saves is collapsed: a change is reported once the tree has
//! stayed the same for [`SETTLE`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Folders under `backend/` that hold build output or installed packages,
/// not sources: cargo's `target/`, npm's `node_modules/`, bundlers' `dist/`.
const BUILD_OUTPUT: [&str; 3] = ["target", "node_modules", "dist"];

/// How often the tree is scanned.
pub const POLL: Duration = Duration::from_millis(200);
/// How long the tree must stay unchanged before a change is reported.
pub const SETTLE: Duration = Duration::from_millis(300);

/// The watched files of a project and their (modification time, size).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, (Option<SystemTime>, u64)>,
}

impl Snapshot {
    /// Scans `project`: every file under `backend/` except build output and
    /// installed packages ([`BUILD_OUTPUT`]), hidden files and editor
    /// backups, and `config/plugin.yaml`.
    pub fn scan(project: &Path) -> Self {
        let mut snapshot = Snapshot::default();
        snapshot.walk(&project.join("backend"), project);
        snapshot.add(&project.join("config/plugin.yaml"), project);
        snapshot
    }

    /// The files added, removed or changed since `earlier`, relative to the
    /// project directory.
    pub fn changes_since(&self, earlier: &Snapshot) -> Vec<PathBuf> {
        let mut changed: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(path, meta)| earlier.files.get(*path) != Some(meta))
            .map(|(path, _)| path.clone())
            .collect();
        changed.extend(
            earlier
                .files
                .keys()
                .filter(|path| !self.files.contains_key(*path))
                .cloned(),
        );
        changed.sort();
        changed
    }

    fn walk(&mut self, dir: &Path, project: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if ignored(&name) {
                continue;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => {
                    if !BUILD_OUTPUT.contains(&name.as_ref()) {
                        self.walk(&path, project);
                    }
                }
                Ok(_) => self.add(&path, project),
                Err(_) => {}
            }
        }
    }

    fn add(&mut self, path: &Path, project: &Path) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let relative = path.strip_prefix(project).unwrap_or(path).to_path_buf();
        self.files
            .insert(relative, (meta.modified().ok(), meta.len()));
    }
}

/// Hidden files (editor swap files, `.git`), editor backups (`x~`, `#x#`)
/// and `Cargo.lock`, which cargo itself rewrites while building.
fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "Cargo.lock"
}

/// Polls a project until its watched files change and then settle.
#[derive(Debug)]
pub struct Watcher {
    dir: PathBuf,
    seen: Snapshot,
}

impl Watcher {
    /// Starts watching `dir` from its current state.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let seen = Snapshot::scan(&dir);
        Watcher { dir, seen }
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files that changed since the last report (or since the start),
    /// or an empty list when nothing did. Does not wait.
    pub fn poll(&mut self) -> Vec<PathBuf> {
        let now = Snapshot::scan(&self.dir);
        let changed = now.changes_since(&self.seen);
        self.seen = now;
        changed
    }

    /// Waits until the watched files change and then stay unchanged for
    /// [`SETTLE`]; returns every file that changed in that burst.
    pub async fn changed(&mut self) -> Vec<PathBuf> {
        let mut changed = loop {
            tokio::time::sleep(POLL).await;
            let changed = self.poll();
            if !changed.is_empty() {
                break changed;
            }
        };
        loop {
            tokio::time::sleep(SETTLE).await;
            let more = self.poll();
            if more.is_empty() {
                changed.sort();
                changed.dedup();
                return changed;
            }
            changed.extend(more);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("backend/src")).unwrap();
        std::fs::create_dir_all(dir.path().join("backend/target/release")).unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("backend/src/lib.rs"), "fn a() {}").unwrap();
        std::fs::write(dir.path().join("backend/Cargo.toml"), "[package]").unwrap();
        std::fs::write(dir.path().join("config/plugin.yaml"), "service: {}").unwrap();
        dir
    }

    #[test]
    fn sources_cargo_files_and_the_manifest_are_watched() {
        let dir = project();
        let mut watcher = Watcher::new(dir.path());
        assert!(watcher.poll().is_empty());
        std::fs::write(dir.path().join("backend/src/lib.rs"), "fn a() { 1; }").unwrap();
        std::fs::write(dir.path().join("backend/src/new.rs"), "").unwrap();
        std::fs::write(dir.path().join("config/plugin.yaml"), "service: {x: 1}").unwrap();
        assert_eq!(
            watcher.poll(),
            [
                "backend/src/lib.rs",
                "backend/src/new.rs",
                "config/plugin.yaml"
            ]
            .map(PathBuf::from)
        );
        std::fs::remove_file(dir.path().join("backend/src/new.rs")).unwrap();
        assert_eq!(watcher.poll(), [PathBuf::from("backend/src/new.rs")]);
    }

    #[test]
    fn build_output_hidden_files_and_the_lock_file_are_not() {
        let dir = project();
        let mut watcher = Watcher::new(dir.path());
        for file in [
            "backend/target/release/x.wasm",
            "backend/src/.lib.rs.swp",
            "backend/src/lib.rs~",
            "backend/Cargo.lock",
            "config/local.yaml",
        ] {
            std::fs::write(dir.path().join(file), "x").unwrap();
        }
        assert!(watcher.poll().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_saves_is_one_change() {
        let dir = project();
        let mut watcher = Watcher::new(dir.path());
        let path = dir.path().join("backend/src/lib.rs");
        let writer = tokio::spawn(async move {
            for i in 0..5 {
                std::fs::write(&path, format!("fn a() {{ {i}; }} // {}", "x".repeat(i))).unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let changed = watcher.changed().await;
        writer.await.unwrap();
        assert_eq!(changed, [PathBuf::from("backend/src/lib.rs")]);
        assert!(
            watcher.poll().is_empty(),
            "every save of the burst was reported at once"
        );
    }
}
