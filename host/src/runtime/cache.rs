//! Compiled code cached on disk, keyed by the wasm's hash and the engine.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept between runs.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// The file that holds `wasm` compiled by `engine`.
    pub fn entry(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = hex::encode(Sha256::digest(wasm));
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// Loads `wasm` compiled, from the cache when it is there, compiling and
    /// storing it otherwise. A cache that cannot be written only costs time.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<(Component, bool)> {
        let entry = self.entry(engine, wasm);
        if entry.exists() {
            match deserialize(engine, &entry) {
                Ok(component) => return Ok((component, true)),
                Err(err) => {
                    tracing::warn!(file = %entry.display(), "ignoring unusable compile cache entry: {err:#}")
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(err) = self.store(&component, &entry) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {err:#}");
        }
        Ok((component, false))
    }

    fn store(&self, component: &Component, entry: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize()?;
        // Write beside, then rename: a reader never sees half a file.
        let partial = entry.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, entry)?;
        Ok(())
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, entry: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is one this cache wrote with `Component::serialize`
    // (written whole, then renamed into place) for an engine with the same
    // compatibility hash; wasmtime checks its header and version again.
    unsafe { Component::deserialize_file(engine, entry) }
}
