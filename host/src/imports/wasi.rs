//! The part of WASI a plugin gets.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{FsPerms, WasiCtx};

/// Most bytes of stdout and of stderr kept per call; the rest is counted
/// and dropped (the guest's writes still succeed).
pub const OUTPUT_CAPACITY: usize = 64 * 1024;

/// A guest's stdout or stderr kept in memory up to a capacity. Unlike
/// wasmtime's `MemoryOutputPipe`, a write past the capacity is not an
/// error (which would make a Rust guest's `eprintln!` panic and trap the
/// call): the bytes over it are dropped and counted.
#[derive(Debug, Clone)]
pub struct CappedPipe {
    capacity: usize,
    buffer: Arc<Mutex<BytesMut>>,
    cut: Arc<AtomicUsize>,
}

impl CappedPipe {
    /// An empty pipe keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        CappedPipe {
            capacity,
            buffer: Arc::default(),
            cut: Arc::default(),
        }
    }

    /// The bytes kept.
    pub fn contents(&self) -> Bytes {
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .freeze()
    }

    /// How many bytes were written past the capacity.
    pub fn cut(&self) -> usize {
        self.cut.load(Ordering::Relaxed)
    }

    fn keep(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(buffer.len());
        let kept = bytes.len().min(room);
        buffer.extend_from_slice(&bytes[..kept]);
        if kept < bytes.len() {
            self.cut.fetch_add(bytes.len() - kept, Ordering::Relaxed);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always room: what does not fit is dropped.
        Ok(OUTPUT_CAPACITY)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// A call's stdout and stderr, kept in memory and logged after the call.
#[derive(Clone)]
pub struct CapturedOutput {
    /// The guest's stdout.
    pub stdout: CappedPipe,
    /// The guest's stderr (where a Rust panic message goes).
    pub stderr: CappedPipe,
}

impl CapturedOutput {
    /// Empty buffers.
    pub fn new() -> Self {
        CapturedOutput {
            stdout: CappedPipe::new(OUTPUT_CAPACITY),
            stderr: CappedPipe::new(OUTPUT_CAPACITY),
        }
    }

    /// The stderr text so far (lossy UTF-8), for error reports.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Sends what the guest printed to the log, one line each, and a last
    /// line saying how much was cut over [`OUTPUT_CAPACITY`].
    pub fn log(&self, plugin: &str, function: &str, request_id: &str) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            let cut = pipe.cut();
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
            if cut > 0 {
                // Logged at once: never dropped by the request's caps.
                tracing::warn!(
                    target: "op::plugin",
                    plugin,
                    function,
                    request_id,
                    stream,
                    "[{stream} cut: {cut} more bytes over the {} KiB kept per call]",
                    OUTPUT_CAPACITY / 1024
                );
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
