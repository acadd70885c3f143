//! Rust backends: `backend/` is a cdylib crate, built with cargo for
//! wasm32-wasip2 into a component, cargo's progress and errors passed
//! through.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BuildError;

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Builds `project/backend` in release mode for wasm32-wasip2 and returns
/// the component's path. cargo's progress and diagnostics go to stderr.
pub fn build(project: &Path) -> Result<PathBuf, BuildError> {
    let backend = project.join("backend");
    let manifest = backend.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NoCrate {
            project: project.to_path_buf(),
            manifest,
        });
    }
    if target_missing(&backend) {
        return Err(BuildError::MissingTarget);
    }
    // The `[patch]` of a project made by `op new` reads the SDK through
    // this link; it is missing after a clone and stale after an op upgrade.
    crate::dev::rust_sdk::link_into(project)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .current_dir(&backend)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(BuildError::Spawn)?;
    let mut component = None;
    let canonical_manifest = manifest.canonicalize().unwrap_or_else(|_| manifest.clone());
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(path) = wasm_artifact(&line, &canonical_manifest) {
                component = Some(path);
            }
        }
    }
    let status = child.wait().map_err(BuildError::Spawn)?;
    if !status.success() {
        return Err(BuildError::Failed(status));
    }
    component.ok_or(BuildError::NoComponent { manifest })
}

/// The `.wasm` of a `compiler-artifact` message of the crate at `manifest`.
fn wasm_artifact(line: &str, manifest: &Path) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let from = Path::new(message["manifest_path"].as_str()?);
    if from != manifest {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

/// Whether the toolchain that would build `dir` has no wasm32-wasip2
/// standard library. When rustc cannot be asked, cargo will say.
fn target_missing(dir: &Path) -> bool {
    let Ok(output) = Command::new("rustc")
        .current_dir(dir)
        .args(["--print", "sysroot"])
        .output()
    else {
        return false;
    };
    if !output.status.success() {
        return false;
    }
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_read_from_cargo_messages() {
        let manifest = Path::new("/p/backend/Cargo.toml");
        let line = r#"{"reason":"compiler-artifact","manifest_path":"/p/backend/Cargo.toml","filenames":["/t/x.d","/t/hello.wasm"]}"#;
        assert_eq!(
            wasm_artifact(line, manifest),
            Some(PathBuf::from("/t/hello.wasm"))
        );
        let other = r#"{"reason":"compiler-artifact","manifest_path":"/dep/Cargo.toml","filenames":["/t/dep.wasm"]}"#;
        assert_eq!(wasm_artifact(other, manifest), None);
        assert_eq!(wasm_artifact("Compiling", manifest), None);
    }

    #[test]
    fn a_project_without_backend_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let err = build(dir.path()).unwrap_err();
        assert!(err.to_string().contains("backend/Cargo.toml"), "{err}");
    }
}
