//! Bundling a TypeScript backend into one ES module with the JS SDK's
//! `op-build` (esbuild, pinned by the SDK's lock file), run by Node.
//!
//! The bundle resolves `@ones-op/*` and the Node built-ins real plugins use
//! to the SDK, never fetching anything; the backend's own `node_modules`
//! serve its other imports. The compiler's messages (`file:line:col:
//! error: ...`) go to stderr as they come.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::sdk::SdkError;

/// Why a backend could not be bundled.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// No SDK to bundle with.
    #[error(transparent)]
    Sdk(#[from] SdkError),
    /// Node could not be started.
    #[error(
        "TypeScript plugins need Node.js on the PATH (cannot run `node`: {0}); install Node.js 18 or newer"
    )]
    NoNode(std::io::Error),
    /// The build reported errors (already shown on stderr).
    #[error("the backend did not build; the errors are above")]
    Failed,
    /// The build said it succeeded but left no bundle.
    #[error("op-build reported success but wrote no bundle at {0}")]
    NoBundle(String),
}

/// What `op-build` made.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle file.
    pub path: PathBuf,
    /// Its text.
    pub code: String,
    /// How long bundling (and type checking) took, as `op-build` measured it.
    pub took: Duration,
}

/// Bundles `backend` into `out` with the SDK at `sdk` ([`super::sdk::locate`]),
/// checking types first when `check_types`.
pub fn bundle(
    sdk: &Path,
    backend: &Path,
    out: &Path,
    check_types: bool,
) -> Result<Bundle, BundleError> {
    if let Some(parent) = out.parent() {
        // A missing folder is reported by op-build itself.
        let _ = std::fs::create_dir_all(parent);
    }
    let mut command = Command::new("node");
    command
        .arg(sdk.join("bin/op-build.mjs"))
        .arg("--backend")
        .arg(backend)
        .arg("--out")
        .arg(out);
    if check_types {
        command.arg("--check-types");
    }
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(BundleError::NoNode)?;
    if !output.status.success() {
        return Err(BundleError::Failed);
    }
    let report = String::from_utf8_lossy(&output.stdout);
    let ms = report
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .and_then(|value| value["ms"].as_f64())
        .unwrap_or(0.0);
    let code = std::fs::read_to_string(out)
        .map_err(|_| BundleError::NoBundle(out.display().to_string()))?;
    Ok(Bundle {
        path: out.to_path_buf(),
        code,
        took: Duration::from_secs_f64(ms.max(0.0) / 1000.0),
    })
}
