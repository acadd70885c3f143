//! Snapshots kept on disk, so that a restart or a second installation with
//! the same bundle and environment skips the pre-initialisation.
//!
//! An entry is `<cache>/js/<key>.wasm`, `key` the SHA-256 of the runner,
//! the bundle and the environment. Its content is the SHA-256 of the
//! component followed by the component: a torn or damaged entry does not
//! match and is made again. Entries are written to a unique temporary file
//! in the same folder and renamed into place, so replicas sharing the
//! folder never read half an entry. (The component is compiled and checked
//! again by the compile cache after this; a forged entry can only be a
//! component the sandbox runs like any other.)

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{JsBuildError, runner_hash};
use crate::runtime::Runtime;

/// The component for `bundle` in the environment `env_json`: from the
/// runtime's cache folder when it holds it, else snapshotted,
/// componentized and stored there. Without a cache folder, made every time.
pub async fn component(
    runtime: &Runtime,
    bundle: &str,
    env_json: &str,
) -> Result<Vec<u8>, JsBuildError> {
    let dir = runtime
        .config()
        .cache
        .as_ref()
        .map(|cache| cache.dir().join("js"));
    let entry = dir.as_ref().map(|dir| entry(dir, bundle, env_json));
    if let Some(component) = entry.as_deref().and_then(read) {
        return Ok(component);
    }
    let core = super::snapshot(bundle, env_json).await?;
    let component = super::componentize(&core)?;
    if let (Some(dir), Some(entry)) = (&dir, &entry)
        && let Err(err) = store(dir, entry, &component)
    {
        tracing::warn!(dir = %dir.display(), "cannot write the snapshot cache: {err}");
    }
    Ok(component)
}

fn entry(dir: &Path, bundle: &str, env_json: &str) -> PathBuf {
    let mut key = Sha256::new();
    key.update(runner_hash().as_bytes());
    key.update([0]);
    key.update((bundle.len() as u64).to_le_bytes());
    key.update(bundle.as_bytes());
    key.update(env_json.as_bytes());
    dir.join(format!("{}.wasm", hex::encode(key.finalize())))
}

fn read(entry: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(entry).ok()?;
    if bytes.len() < 32 || Sha256::digest(&bytes[32..])[..] != bytes[..32] {
        tracing::warn!(file = %entry.display(), "ignoring a damaged snapshot cache entry");
        return None;
    }
    Some(bytes[32..].to_vec())
}

fn store(dir: &Path, entry: &Path, component: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".partial-")
        .suffix(".wasm")
        .tempfile_in(dir)?;
    temporary.write_all(&Sha256::digest(component))?;
    temporary.write_all(component)?;
    temporary.as_file().sync_all()?;
    temporary.persist(entry).map_err(|err| err.error)?;
    Ok(())
}
