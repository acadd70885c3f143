//! Where op's JS SDK (`plugin-sdk-js/`: the `@ones-op/*` modules, their
//! types, the Node built-in shims and the `op-build` bundler) is found.
//!
//! `OP_JS_SDK=<dir>` names an SDK folder to use as it is (a checkout's
//! `plugin-sdk-js`, with its `node_modules` installed). Otherwise op uses
//! the copy embedded in its own binary: it is unpacked once into the user's
//! cache folder (`$XDG_CACHE_HOME/op/js-sdk/<hash>`, else
//! `~/.cache/op/js-sdk/<hash>`) and its pinned tools (esbuild, TypeScript)
//! are installed there by `npm ci` from the SDK's `package-lock.json`. Each
//! op version has its own folder, so two versions never share tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::embedded;

include!(concat!(env!("OUT_DIR"), "/js_sdk_files.rs"));

/// Why no SDK could be had.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// `OP_JS_SDK` names a folder without the SDK in it.
    #[error("OP_JS_SDK={0} holds no JS SDK (expected bin/op-build.mjs in it)")]
    NotAnSdk(String),
    /// This op was built without the SDK's files.
    #[error("this op was built without its JS SDK (plugin-sdk-js was missing); set OP_JS_SDK")]
    NotEmbedded,
    /// There is no folder to unpack it into.
    #[error("no cache folder for the JS SDK: set XDG_CACHE_HOME, HOME or OP_JS_SDK")]
    NoCacheDir,
    /// Unpacking failed.
    #[error("cannot unpack the JS SDK into {dir}: {source}")]
    Unpack {
        /// The folder.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// `npm` could not be run.
    #[error(
        "TypeScript plugins need Node.js and npm on the PATH (cannot run `npm`: {0}); install Node.js 18 or newer"
    )]
    NoNpm(std::io::Error),
    /// `npm ci` failed.
    #[error("installing the JS SDK's tools with `npm ci` in {0} failed; npm's messages are above")]
    Install(String),
}

/// The SDK folder, unpacked and installed if need be.
pub fn locate() -> Result<PathBuf, SdkError> {
    if let Some(dir) = std::env::var_os("OP_JS_SDK") {
        let dir = PathBuf::from(dir);
        if !dir.join("bin/op-build.mjs").is_file() {
            return Err(SdkError::NotAnSdk(dir.display().to_string()));
        }
        return Ok(dir);
    }
    if SDK_FILES.is_empty() {
        return Err(SdkError::NotEmbedded);
    }
    let base = embedded::cache_base().ok_or(SdkError::NoCacheDir)?;
    let dir = embedded::folder(&base, "js-sdk", SDK_FILES);
    let installed = |dir: &Path| dir.join("node_modules/.package-lock.json").is_file();
    let install = |staging: &Path| {
        eprintln!("installing op's JS SDK tools into {} ...", dir.display());
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(staging)
            .status()
            .map_err(SdkError::NoNpm)?;
        if status.success() {
            Ok(())
        } else {
            Err(SdkError::Install(dir.display().to_string()))
        }
    };
    let unpack_err = |source| SdkError::Unpack {
        dir: dir.display().to_string(),
        source,
    };
    embedded::unpack_once(&dir, SDK_FILES, installed, install, unpack_err)?;
    Ok(dir)
}

/// Links the SDK at `project/.op/js-sdk`, so that the project's
/// `tsconfig.json` (types for editors) and its tests (the mock host) find it
/// by a relative path that stays the same wherever the project moves. The
/// link is made again when it points elsewhere.
pub fn link_into(project: &Path, sdk: &Path) -> std::io::Result<()> {
    embedded::link_into(project, "js-sdk", sdk)
}
