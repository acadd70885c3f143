//! A hostile plugin for the host's tests: it fills its workspace on demand
//! and makes symbolic links that point out of `/workspace`, which the host
//! must neither follow nor let fill the disk.

use op_plugin_sdk::{PluginError, PluginRequest, json, serde_json};
use serde::Deserialize;

#[derive(Deserialize)]
struct Write {
    path: String,
    bytes: usize,
    /// Write in chunks of this many bytes (one write when absent).
    chunk: Option<usize>,
}

fn workspace(path: &str) -> String {
    format!("/workspace/{path}")
}

/// Writes `bytes` bytes of `x` to `/workspace/PATH`; answers how many were
/// written and the error that stopped it, if any.
fn write(req: PluginRequest) -> Result<serde_json::Value, PluginError> {
    use std::io::Write as _;
    let ask: Write = req.json()?;
    let mut written = 0;
    let chunk = ask.chunk.unwrap_or(ask.bytes).max(1);
    let outcome = std::fs::File::create(workspace(&ask.path)).and_then(|mut file| {
        while written < ask.bytes {
            let n = chunk.min(ask.bytes - written);
            file.write_all(&vec![b'x'; n])?;
            written += n;
        }
        file.flush()
    });
    Ok(json!({
        "written": written,
        "error": outcome.err().map(|err| err.to_string()),
    }))
}

#[derive(Deserialize)]
struct Symlink {
    target: String,
    link: String,
}

/// Makes `/workspace/LINK` a symbolic link to TARGET, as given.
fn symlink(req: PluginRequest) -> Result<serde_json::Value, PluginError> {
    let ask: Symlink = req.json()?;
    let (dir, _) = wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, path)| path == "/workspace")
        .ok_or_else(|| PluginError::internal("no /workspace"))?;
    let made = dir.symlink_at(&ask.target, &ask.link);
    Ok(json!({ "error": made.err().map(|err| format!("{err:?}")) }))
}

/// Removes `/workspace/PATH` (`?path=`).
fn remove(req: PluginRequest) -> serde_json::Value {
    let path = req.query("path").unwrap_or_default().to_string();
    let removed = std::fs::remove_file(workspace(&path));
    json!({ "error": removed.err().map(|err| err.to_string()) })
}

/// Answers the text of `/workspace/PATH` (`?path=`).
fn read(req: PluginRequest) -> serde_json::Value {
    let path = req.query("path").unwrap_or_default().to_string();
    match std::fs::read_to_string(workspace(&path)) {
        Ok(text) => json!({ "text": text }),
        Err(err) => json!({ "error": err.to_string() }),
    }
}

op_plugin_sdk::export_functions! {
    write,
    symlink,
    remove,
    read,
}
