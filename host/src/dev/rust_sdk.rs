//! The Rust SDK (`op-plugin-sdk` and its macros) a Rust backend builds
//! against.
//!
//! A project depends on it as on any crate, `op-plugin-sdk = "0.1"`, and a
//! `[patch.crates-io]` in its `backend/Cargo.toml` takes the sources from
//! `.op/rust-sdk/` in the project: a link every op command that builds the
//! project (and `op new`) keeps pointing at the SDK this op was built
//! with. The SDK is embedded in the op binary and unpacked once into the
//! user's cache folder (`~/.cache/op/rust-sdk/<hash>`); its crates stand on
//! their own there (no workspace, every version written out). So a project
//! holds no path of this machine: it can move, be committed and be cloned,
//! and the author can drop the `[patch]` once the SDK is on crates.io.

use std::path::{Path, PathBuf};

use crate::embedded;

include!(concat!(env!("OUT_DIR"), "/rust_sdk_files.rs"));

/// The link's name under the project's `.op/`.
pub const LINK: &str = "rust-sdk";

/// Why the SDK could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RustSdkError {
    /// There is no folder to unpack it into.
    #[error("no cache folder for op's Rust SDK: set XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// Unpacking or linking failed.
    #[error("cannot make op's Rust SDK available at {place}: {source}")]
    Io {
        /// Where.
        place: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The SDK's folder (holding `op-plugin-sdk/`, `op-plugin-sdk-macros/`
/// and `wit/`), unpacked if need be.
pub fn locate() -> Result<PathBuf, RustSdkError> {
    let base = embedded::cache_base().ok_or(RustSdkError::NoCacheDir)?;
    let dir = embedded::folder(&base, LINK, RUST_SDK_FILES);
    let whole = |dir: &Path| dir.join("op-plugin-sdk/Cargo.toml").is_file();
    let io = |source| RustSdkError::Io {
        place: dir.display().to_string(),
        source,
    };
    embedded::unpack_once(&dir, RUST_SDK_FILES, whole, |_| Ok(()), io)?;
    Ok(dir)
}

/// Makes `project/.op/rust-sdk` point at this op's SDK.
pub fn link_into(project: &Path) -> Result<(), RustSdkError> {
    let sdk = locate()?;
    embedded::link_into(project, LINK, &sdk).map_err(|source| RustSdkError::Io {
        place: project.join(".op").join(LINK).display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_sdk_stands_on_its_own() {
        let files: std::collections::HashMap<&str, &[u8]> =
            RUST_SDK_FILES.iter().copied().collect();
        for needed in [
            "op-plugin-sdk/Cargo.toml",
            "op-plugin-sdk/README.md",
            "op-plugin-sdk/src/lib.rs",
            "op-plugin-sdk-macros/Cargo.toml",
            "op-plugin-sdk-macros/src/lib.rs",
            "wit/plugin.wit",
        ] {
            assert!(files.contains_key(needed), "{needed} is not embedded");
        }
        let manifest = std::str::from_utf8(files["op-plugin-sdk/Cargo.toml"]).unwrap();
        assert!(!manifest.contains("workspace"), "{manifest}");
        assert!(!manifest.contains("[lints]"), "{manifest}");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            manifest.contains(&format!("version = \"{version}\"")),
            "{manifest}"
        );
        assert!(
            manifest.contains(&format!(
                "op-plugin-sdk-macros = {{ version = \"={version}\", path = \"../op-plugin-sdk-macros\" }}"
            )),
            "{manifest}"
        );
        let macros = std::str::from_utf8(files["op-plugin-sdk-macros/Cargo.toml"]).unwrap();
        assert!(macros.contains("proc-macro = true"), "{macros}");
        assert!(!macros.contains("workspace"), "{macros}");
    }
}
