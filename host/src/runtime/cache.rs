//! Compiled code cached on disk, keyed by the wasm's hash and the engine.
//!
//! Each entry is a header and wasmtime's serialized component:
//!
//! ```text
//! MAGIC (8 bytes)  "opcwasm1"
//! wasm (32)        SHA-256 of the wasm it was compiled from
//! engine (8)       the engine's compatibility hash, as in the file name
//! payload (32)     SHA-256 of the serialized component that follows
//! payload          `Component::serialize`
//! ```
//!
//! An entry is written to a uniquely named temporary file in the cache
//! folder (so replicas sharing the folder, even with the same pid, never
//! write the same file), flushed, then renamed into place atomically. It is
//! deserialized only after its header matches the wasm and the engine and
//! its payload matches its hash; any other entry (torn, damaged, written
//! for something else) is compiled again and replaced, never loaded.
//! The cache folder must be writable only by `op`: a writer there can
//! forge an entry with matching hashes.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every entry.
const MAGIC: &[u8; 8] = b"opcwasm1";
/// The header's size.
const HEADER: usize = 8 + 32 + 8 + 32;

/// Where compiled components are kept between runs.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Why a cache entry is not used.
#[derive(Debug, thiserror::Error)]
enum EntryError {
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    #[error("it is not an entry of this cache")]
    NotAnEntry,
    #[error("it was compiled from other wasm")]
    OtherWasm,
    #[error("it was compiled for another engine")]
    OtherEngine,
    #[error("it is damaged (its content does not match its hash)")]
    Damaged,
}

fn engine_hash(engine: &Engine) -> u64 {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

impl CompileCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// The cache's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `wasm` compiled by `engine`.
    pub fn entry(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        self.entry_for(&Sha256::digest(wasm).into(), engine_hash(engine))
    }

    fn entry_for(&self, wasm_hash: &[u8; 32], engine: u64) -> PathBuf {
        let digest = hex::encode(wasm_hash);
        self.dir.join(format!("{digest}-{engine:016x}.cwasm"))
    }

    /// Loads `wasm` compiled, from the cache when it holds a sound entry,
    /// compiling and storing it otherwise (an unsound entry is replaced);
    /// the flag says whether it came from the cache. A cache that cannot be
    /// written only costs time.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<(Component, bool)> {
        // Both hashes once: they name the entry and are checked in it.
        let wasm_hash: [u8; 32] = Sha256::digest(wasm).into();
        let engine_hash = engine_hash(engine);
        let entry = self.entry_for(&wasm_hash, engine_hash);
        match std::fs::read(&entry) {
            Ok(bytes) => match check(&bytes, &wasm_hash, engine_hash) {
                Ok(payload) => match deserialize(engine, payload) {
                    Ok(component) => return Ok((component, true)),
                    Err(err) => {
                        tracing::warn!(file = %entry.display(), "ignoring an unusable compile cache entry: {err:#}")
                    }
                },
                Err(err) => {
                    tracing::warn!(file = %entry.display(), "ignoring a compile cache entry: {err}")
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(file = %entry.display(), "ignoring a compile cache entry: {}", EntryError::Read(err))
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(err) = self.store(&component, &wasm_hash, engine_hash, &entry) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {err:#}");
        }
        Ok((component, false))
    }

    fn store(
        &self,
        component: &Component,
        wasm_hash: &[u8; 32],
        engine_hash: u64,
        entry: &Path,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let payload = component.serialize()?;
        // A unique temporary file beside the entry, flushed, then renamed:
        // a reader sees the whole entry or none.
        let mut temporary = tempfile::Builder::new()
            .prefix(".partial-")
            .suffix(".cwasm")
            .tempfile_in(&self.dir)?;
        temporary.write_all(MAGIC)?;
        temporary.write_all(wasm_hash)?;
        temporary.write_all(&engine_hash.to_le_bytes())?;
        temporary.write_all(&Sha256::digest(&payload))?;
        temporary.write_all(&payload)?;
        temporary.as_file().sync_all()?;
        temporary.persist(entry)?;
        Ok(())
    }
}

/// The payload of a sound entry for this wasm and engine.
fn check<'a>(bytes: &'a [u8], wasm_hash: &[u8; 32], engine: u64) -> Result<&'a [u8], EntryError> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(EntryError::NotAnEntry);
    }
    if bytes[8..40] != wasm_hash[..] {
        return Err(EntryError::OtherWasm);
    }
    if bytes[40..48] != engine.to_le_bytes() {
        return Err(EntryError::OtherEngine);
    }
    let payload = &bytes[HEADER..];
    if Sha256::digest(payload)[..] != bytes[48..80] {
        return Err(EntryError::Damaged);
    }
    Ok(payload)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `check` found the payload whole and unchanged since this cache
    // wrote it with `Component::serialize` for this wasm and an engine with
    // the same compatibility hash; wasmtime checks its header and version
    // again.
    unsafe { Component::deserialize(engine, payload) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn engine() -> Engine {
        Engine::default()
    }

    #[test]
    fn an_entry_is_written_whole_and_loaded_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path().join("cache"));
        let engine = engine();
        let (_, hit) = cache.load(&engine, EMPTY_COMPONENT).unwrap();
        assert!(!hit);
        let (_, hit) = cache.load(&engine, EMPTY_COMPONENT).unwrap();
        assert!(hit, "the second load comes from the cache");
        // Nothing but the entry: no temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(".cwasm") && !names[0].starts_with('.'));
    }

    #[test]
    fn a_damaged_torn_or_foreign_entry_is_compiled_again_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path());
        let engine = engine();
        cache.load(&engine, EMPTY_COMPONENT).unwrap();
        let entry = cache.entry(&engine, EMPTY_COMPONENT);
        let good = std::fs::read(&entry).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut other_wasm = good.clone();
        other_wasm[8] ^= 1;
        let mut other_engine = good.clone();
        other_engine[40] ^= 1;
        // What an old op wrote: a bare serialized component, no header.
        let bare = Component::new(&engine, EMPTY_COMPONENT)
            .unwrap()
            .serialize()
            .unwrap();
        for (what, bytes) in [
            ("a flipped bit", flipped),
            ("a torn write", good[..good.len() / 2].to_vec()),
            ("another wasm's entry", other_wasm),
            ("another engine's entry", other_engine),
            ("garbage", b"garbage".to_vec()),
            ("no header", bare),
        ] {
            std::fs::write(&entry, &bytes).unwrap();
            let (_, hit) = cache.load(&engine, EMPTY_COMPONENT).unwrap();
            assert!(!hit, "{what} was loaded");
            let replaced = std::fs::read(&entry).unwrap();
            let wasm_hash: [u8; 32] = Sha256::digest(EMPTY_COMPONENT).into();
            assert!(
                replaced != bytes && check(&replaced, &wasm_hash, engine_hash(&engine)).is_ok(),
                "{what} was not replaced by a sound entry"
            );
        }
    }

    #[test]
    fn replicas_with_the_same_pid_write_distinct_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path());
        let engine = engine();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| cache.load(&engine, EMPTY_COMPONENT).unwrap());
            }
        });
        let (_, hit) = cache.load(&engine, EMPTY_COMPONENT).unwrap();
        assert!(hit);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
