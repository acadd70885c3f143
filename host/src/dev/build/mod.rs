//! Building a plugin project's `backend/` into the code op loads: a Rust
//! crate into a component ([`rust`], cargo), a TypeScript backend into one
//! ES module ([`typescript`], the JS SDK's esbuild). The backend's files
//! decide which, and `service.language` when it has both
//! ([`BackendKind::of`]).

pub mod rust;
pub mod typescript;

use std::path::{Path, PathBuf};

use crate::code::PluginCode;
use crate::manifest::{Language, Manifest};

pub use rust::WASM_TARGET;

/// The kinds of backend op builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `backend/Cargo.toml`: a cdylib crate.
    Rust,
    /// `backend/package.json` and `backend/src/index.ts`: a TypeScript (or
    /// JavaScript) backend.
    TypeScript,
}

impl BackendKind {
    /// The kind of `project`'s backend. The backend's files decide:
    /// `backend/package.json` is TypeScript, `backend/Cargo.toml` is Rust
    /// (a manifest copied from ONES says `language: nodejs` whatever the
    /// backend became). Only a backend with both is decided by
    /// `service.language`.
    pub fn of(project: &Path, manifest: &Manifest) -> Result<BackendKind, BuildError> {
        let backend = project.join("backend");
        let ts = backend.join("package.json").is_file();
        let rust = backend.join("Cargo.toml").is_file();
        match (ts, rust) {
            (true, false) => Ok(BackendKind::TypeScript),
            (false, true) => Ok(BackendKind::Rust),
            (true, true) => match manifest.language() {
                Some(Language::JavaScript) => Ok(BackendKind::TypeScript),
                Some(Language::Rust) => Ok(BackendKind::Rust),
                None => Err(BuildError::Ambiguous {
                    project: project.to_path_buf(),
                }),
            },
            (false, false) => Err(BuildError::NoBackend {
                project: project.to_path_buf(),
            }),
        }
    }
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The code to load or pack.
    pub code: PluginCode,
    /// The file it was read from (the component or the bundle).
    pub artifact: PathBuf,
}

/// Builds `project`'s backend, whichever its kind. Progress and the
/// compiler's errors go to stderr.
pub fn build_backend(project: &Path, manifest: &Manifest) -> Result<Built, BuildError> {
    match BackendKind::of(project, manifest)? {
        BackendKind::Rust => {
            let artifact = rust::build(project)?;
            let bytes = std::fs::read(&artifact).map_err(|source| BuildError::Read {
                path: artifact.clone(),
                source,
            })?;
            Ok(Built {
                code: PluginCode::Component(bytes),
                artifact,
            })
        }
        BackendKind::TypeScript => typescript::build(project),
    }
}

/// Why a backend could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// There is no backend: neither `backend/package.json` nor
    /// `backend/Cargo.toml`.
    #[error(
        "{} has no backend (expected backend/package.json for TypeScript or backend/Cargo.toml for Rust)",
        project.display()
    )]
    NoBackend {
        /// The plugin project.
        project: PathBuf,
    },
    /// The backend has both a `package.json` and a `Cargo.toml`, and
    /// `service.language` does not say which one is meant.
    #[error(
        "{} has both backend/package.json and backend/Cargo.toml; say which one op builds with service.language (nodejs or rust)",
        project.display()
    )]
    Ambiguous {
        /// The plugin project.
        project: PathBuf,
    },
    /// There is no crate where one was expected.
    #[error("{} has no backend crate (expected {})", project.display(), manifest.display())]
    NoCrate {
        /// The plugin project.
        project: PathBuf,
        /// The file that is missing.
        manifest: PathBuf,
    },
    /// The built file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// op's Rust SDK could not be linked into the project.
    #[error(transparent)]
    RustSdk(#[from] crate::dev::rust_sdk::RustSdkError),
    /// The TypeScript backend could not be bundled.
    #[error(transparent)]
    Bundle(#[from] crate::js::bundle::BundleError),
    /// The Rust toolchain lacks the wasm target.
    #[error(
        "the Rust target {WASM_TARGET} is not installed; install it with `rustup target add {WASM_TARGET}`"
    )]
    MissingTarget,
    /// cargo could not be started.
    #[error("cannot run cargo: {0}")]
    Spawn(std::io::Error),
    /// cargo reported errors (already shown on stderr).
    #[error("the backend did not build (cargo exited with {0}); the compiler's errors are above")]
    Failed(std::process::ExitStatus),
    /// The build succeeded without producing a component.
    #[error("cargo built {} but produced no .wasm; is `crate-type = [\"cdylib\"]` set in its [lib] section?", manifest.display())]
    NoComponent {
        /// The backend's Cargo.toml.
        manifest: PathBuf,
    },
}
