//! The instances' workspaces on this replica's disk:
//! `PLUGINS_DIR/instances/ID/WORKSPACE/`.
//!
//! Workspaces are written by plugins, so the host treats them as hostile:
//! every host-side operation on them goes through `cap-std` (nothing
//! resolves outside the folder it is opened on) and follows no link. An
//! install or upgrade unpacks into a fresh folder (an upgrade first copies
//! the plugin's files over), flushes it, and switches to it by committing a
//! record that names it; the old folder is removed after. A change that
//! fails or is interrupted leaves the old folder as it was; its leftovers
//! are removed by the next change of that instance. A replica that could
//! not load a new version keeps the old folder until it does.
//!
//! With the directory store the replicas share these folders; with the
//! PostgreSQL store each replica keeps its own, unpacked from the package
//! when it first serves a version (see docs/serve.md).

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use super::store::{InstanceRecord, StoreError, io};
use crate::package::Package;

/// The `instances/` folder of a plugins directory.
#[derive(Debug, Clone)]
pub struct Workspaces {
    dir: PathBuf,
}

impl Workspaces {
    /// Opens (and creates) `PLUGINS_DIR/instances`.
    pub fn open(plugins_dir: &Path) -> Result<Self, StoreError> {
        let path = plugins_dir.join("instances");
        std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        Ok(Workspaces {
            dir: plugins_dir.to_path_buf(),
        })
    }

    /// The workspace folder of an instance (which may not exist yet).
    pub fn path(&self, record: &InstanceRecord) -> PathBuf {
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
    pub fn new_name() -> String {
        format!("workspace-{}", &crate::ids::random_hex()[..16])
    }

    /// Makes the workspace folder `record.workspace` of an instance: the
    /// plugin's files of the `previous` folder copied (links as links,
    /// never followed), then the package's workspace unpacked over them, all
    /// flushed to disk. Nothing else changes: the caller switches to it by
    /// writing a record that names it. Leftovers of an interrupted change
    /// (folders no record names but `previous`) are removed first.
    pub fn prepare(
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

    /// The workspace folders an instance has on this disk.
    pub fn folders(&self, instance_id: &str) -> Vec<String> {
        let path = self.dir.join("instances").join(instance_id);
        let Ok(dir) = Dir::open_ambient_dir(&path, cap_std::ambient_authority()) else {
            return Vec::new();
        };
        let Ok(entries) = dir.entries() else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }

    /// Removes one workspace folder of an instance (after a switch).
    pub fn remove(&self, instance_id: &str, name: &str) {
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

impl Workspaces {
    /// Whether the workspace folder of `record` is there.
    pub fn exists(&self, record: &InstanceRecord) -> bool {
        self.path(record).is_dir()
    }

    /// The ids of the instances that have files here.
    pub fn instance_ids(&self) -> Vec<String> {
        let path = self.dir.join("instances");
        match std::fs::read_dir(&path) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(err) => {
                tracing::warn!(dir = %path.display(), "cannot list the instances' files: {err}");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_is_prepared_flushed_and_removed_following_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let workspaces = Workspaces::open(&dir.path().join("plugins")).unwrap();
        let (bytes, _) = crate::package::pack(
            "service:\n  app_id: storetst\n  name: s\n  version: 1.0.0\napis:\n  - type: addition\n    methods: [GET]\n    url: /a\n    function: a\n",
            "plugin.yaml",
            &crate::code::PluginCode::Component(b"component".to_vec()),
            None,
        )
        .unwrap();
        let package = crate::package::read(&bytes, "p").unwrap();
        let mut first = InstanceRecord {
            instance_id: "i1".into(),
            app_id: "storetst".into(),
            name: "s".into(),
            version: "1.0.0".into(),
            scope: 1,
            team_uuid: Some("T1".into()),
            enabled: true,
            content_hash: "sha256:ab".into(),
            installed_at: 1,
            upgraded_at: None,
            workspace: Workspaces::new_name(),
        };
        assert!(!workspaces.exists(&first));
        workspaces.prepare(&first, None, &package).unwrap();
        assert!(workspaces.exists(&first));
        let live = workspaces.path(&first);
        std::fs::write(live.join("mine.txt"), "plugin data").unwrap();
        let mut second = first.clone();
        second.workspace = Workspaces::new_name();
        workspaces
            .prepare(&second, Some(&first.workspace), &package)
            .unwrap();
        let copied = workspaces.path(&second);
        assert_eq!(
            std::fs::read_to_string(copied.join("mine.txt")).unwrap(),
            "plugin data"
        );
        assert_eq!(workspaces.instance_ids(), ["i1"]);
        workspaces.remove("i1", &first.workspace);
        assert!(!live.exists());
        workspaces.remove_instance("i1");
        assert!(!copied.exists());
        first.instance_id = "i2".into();
        assert!(workspaces.instance_ids().is_empty());
    }
}
