//! The part of WASI a plugin gets.

use std::path::Path;

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};

/// Most bytes of stdout and of stderr kept per call; the rest is dropped.
pub const OUTPUT_CAPACITY: usize = 64 * 1024;

/// A call's stdout and stderr, kept in memory and logged after the call.
#[derive(Clone)]
pub struct CapturedOutput {
    /// The guest's stdout.
    pub stdout: MemoryOutputPipe,
    /// The guest's stderr (where a Rust panic message goes).
    pub stderr: MemoryOutputPipe,
}

impl CapturedOutput {
    /// Empty buffers.
    pub fn new() -> Self {
        CapturedOutput {
            stdout: MemoryOutputPipe::new(OUTPUT_CAPACITY),
            stderr: MemoryOutputPipe::new(OUTPUT_CAPACITY),
        }
    }

    /// The stderr text so far (lossy UTF-8), for error reports.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Sends what the guest printed to the log, one line each.
    pub fn log(&self, plugin: &str, function: &str, request_id: &str) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines() {
                super::log::record(super::log::PluginLine {
                    level: tracing::Level::INFO,
                    plugin: plugin.to_string(),
                    function: function.to_string(),
                    request_id: request_id.to_string(),
                    stream: Some(stream),
                    message: line.to_string(),
                });
            }
        }
    }
}

impl Default for CapturedOutput {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a plugin's `workspace/` appears inside the sandbox.
pub const WORKSPACE_GUEST_PATH: &str = "/workspace";

/// A WASI context with clocks, random and captured stdio; the plugin's
/// workspace (read-write) as `/workspace` when it has one; no other
/// directory, no environment, no arguments, no network.
pub fn context(output: &CapturedOutput, workspace: Option<&Path>) -> WasiCtx {
    let mut builder = WasiCtx::builder();
    builder
        .stdout(output.stdout.clone())
        .stderr(output.stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if let Some(dir) = workspace
        && let Err(err) = builder.preopened_dir(dir, WORKSPACE_GUEST_PATH, FsPerms::ReadWrite)
    {
        tracing::warn!(workspace = %dir.display(), "the plugin's workspace cannot be opened: {err:#}");
    }
    builder.build()
}
