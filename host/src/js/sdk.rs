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

use sha2::{Digest, Sha256};

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
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .ok_or(SdkError::NoCacheDir)?;
    let dir = base.join("op/js-sdk").join(&embedded_hash()[..16]);
    if dir.join("node_modules/.package-lock.json").is_file() {
        return Ok(dir);
    }
    // Unpacked and installed beside its place, then renamed into it: two
    // op processes starting at once never see half an SDK, and the one
    // that loses the race uses the winner's.
    let unpack_err = |source| SdkError::Unpack {
        dir: dir.display().to_string(),
        source,
    };
    let parent = dir.parent().unwrap_or(&dir);
    std::fs::create_dir_all(parent).map_err(unpack_err)?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)
        .map_err(unpack_err)?;
    unpack(staging.path()).map_err(unpack_err)?;
    eprintln!("installing op's JS SDK tools into {} ...", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(staging.path())
        .status()
        .map_err(SdkError::NoNpm)?;
    if !status.success() {
        return Err(SdkError::Install(dir.display().to_string()));
    }
    let staged = staging.keep();
    if std::fs::rename(&staged, &dir).is_err() {
        // Another op got there first (or a broken copy is in the way).
        let _ = std::fs::remove_dir_all(&staged);
        if !dir.join("node_modules/.package-lock.json").is_file() {
            return Err(SdkError::Install(dir.display().to_string()));
        }
    }
    Ok(dir)
}

fn embedded_hash() -> String {
    let mut hasher = Sha256::new();
    for (path, bytes) in SDK_FILES {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex::encode(hasher.finalize())
}

fn unpack(dir: &Path) -> std::io::Result<()> {
    for (path, bytes) in SDK_FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
    }
    Ok(())
}

/// Links the SDK at `project/.op/js-sdk`, so that the project's
/// `tsconfig.json` (types for editors) and its tests (the mock host) find it
/// by a relative path that stays the same wherever the project moves. The
/// link is made again when it points elsewhere.
pub fn link_into(project: &Path, sdk: &Path) -> std::io::Result<()> {
    let state = project.join(".op");
    std::fs::create_dir_all(&state)?;
    let link = state.join("js-sdk");
    let target = sdk.canonicalize()?;
    match std::fs::read_link(&link) {
        Ok(existing) if existing == target => return Ok(()),
        Ok(_) => std::fs::remove_file(&link)?,
        Err(_) if link.exists() => {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a link; remove it",
                link.display()
            )));
        }
        Err(_) => {}
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&target, &link)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(state.join("js-sdk.txt"), target.display().to_string())
    }
}
