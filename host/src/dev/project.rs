//! A plugin project on disk: `config/plugin.yaml`, `backend/`, `.op/`.

use std::path::{Path, PathBuf};

use crate::manifest::{self, Manifest};

/// A plugin project directory.
#[derive(Debug, Clone)]
pub struct Project {
    dir: PathBuf,
}

impl Project {
    /// The project in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Project { dir: dir.into() }
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `config/plugin.yaml`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("config/plugin.yaml")
    }

    /// The manifest path as shown in messages: relative to the current
    /// directory when the project is given relatively.
    pub fn manifest_shown(&self) -> String {
        if self.dir == Path::new(".") || self.dir.as_os_str().is_empty() {
            "config/plugin.yaml".to_string()
        } else {
            self.manifest_path().display().to_string()
        }
    }

    /// Reads and validates the manifest.
    pub fn manifest(&self) -> Result<Manifest, manifest::LoadError> {
        manifest::load(&self.manifest_path(), &self.manifest_shown())
    }

    /// `.op/`: the project's local state (compile cache, simulator data,
    /// instance id).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join(".op")
    }

    /// The id of this local installation, kept in `.op/instance-id` so that
    /// a restart is the same instance.
    pub fn instance_id(&self) -> std::io::Result<String> {
        let file = self.state_dir().join("instance-id");
        match std::fs::read_to_string(&file) {
            Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
            _ => {
                let id = crate::ids::random_hex()[..16].to_string();
                std::fs::create_dir_all(self.state_dir())?;
                std::fs::write(&file, &id)?;
                Ok(id)
            }
        }
    }
}
