//! The part of WASI a plugin gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtx};

use super::HostState;

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
    pub fn log(&self, call: &super::CallContext) {
        let (plugin, function, request_id) =
            (&call.instance.app_id, &call.function, &call.request_id);
        let ability = call.ability.as_deref();
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
                    ability: call.ability.clone(),
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
                    ability,
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

/// The workspace quota of an instance when the operator sets none (64 MiB).
pub const DEFAULT_WORKSPACE_QUOTA: u64 = 64 * 1024 * 1024;

/// The bytes an instance's workspace holds, against its quota, shared by
/// its calls.
///
/// What counts is the length of its regular files. The total is found by a
/// walk of the workspace (through `cap-std`, following no link) the first
/// time a call grows a file, and again after anything that may shrink it
/// (a removal, a rename, a truncating open); in between, each write adds
/// what it grows its file by. A write that would pass the quota fails with
/// "no space left on device" and writes nothing.
#[derive(Debug)]
pub struct WorkspaceUsage {
    app_id: String,
    root: Option<PathBuf>,
    limit: u64,
    /// `None` until walked, and after a change that may shrink it.
    used: Mutex<Option<u64>>,
}

/// Refusals by plugin, for `op_workspace_quota_refusals_total`.
static REFUSALS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

impl WorkspaceUsage {
    /// The usage of the workspace at `root` (none: nothing to count) of the
    /// plugin `app_id`, which may hold `limit` bytes.
    pub fn new(app_id: &str, root: Option<PathBuf>, limit: u64) -> Self {
        WorkspaceUsage {
            app_id: app_id.to_string(),
            root,
            limit,
            used: Mutex::new(None),
        }
    }

    /// The quota in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes the workspace holds, walking it if they are not known.
    pub fn used(&self) -> u64 {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used.get_or_insert_with(|| self.walk())
    }

    fn walk(&self) -> u64 {
        fn size(dir: &cap_std::fs::Dir) -> u64 {
            let Ok(entries) = dir.entries() else { return 0 };
            let mut total = 0u64;
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    if let Ok(sub) = entry.open_dir() {
                        total = total.saturating_add(size(&sub));
                    }
                } else if kind.is_file() {
                    let len = entry.metadata().map_or(0, |m| m.len());
                    total = total.saturating_add(len);
                }
            }
            total
        }
        self.root
            .as_deref()
            .and_then(|root| {
                cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).ok()
            })
            .map_or(0, |dir| size(&dir))
    }

    /// Takes `bytes` more of the quota, or refuses (and counts the refusal).
    pub fn grow(&self, bytes: u64) -> Result<(), std::io::Error> {
        if bytes == 0 {
            return Ok(());
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let now = *used.get_or_insert_with(|| self.walk());
        if now.saturating_add(bytes) > self.limit() {
            drop(used);
            *REFUSALS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(self.app_id.clone())
                .or_default() += 1;
            tracing::warn!(
                plugin = self.app_id,
                quota = self.limit(),
                "a write was refused: the plugin's workspace is full"
            );
            return Err(no_space());
        }
        *used = Some(now + bytes);
        Ok(())
    }

    /// Gives back `bytes` (a file was made shorter).
    pub fn shrink(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(now) = used.as_mut() {
            *now = now.saturating_sub(bytes);
        }
    }

    /// After a call that may free `freed` bytes (`None`: unknown): gives
    /// them back when it succeeded and they are known, and forgets the total
    /// otherwise.
    fn gave_back(&self, succeeded: bool, freed: Option<u64>) {
        match (succeeded, freed) {
            (true, Some(bytes)) => self.shrink(bytes),
            (true, None) => self.forget(),
            (false, _) => {}
        }
    }

    /// Forgets the total: the next growth walks the workspace again.
    pub fn forget(&self) {
        *self.used.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The error a write past the quota gets: no space left on device.
fn no_space() -> std::io::Error {
    #[cfg(target_os = "linux")]
    {
        std::io::Error::from(rustix::io::Errno::NOSPC)
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::io::Error::new(std::io::ErrorKind::StorageFull, "the workspace is full")
    }
}

/// Plugin writes refused by the workspace quota so far, by plugin (the
/// `op_workspace_quota_refusals_total{plugin}` metric).
pub fn quota_refusals() -> Vec<(String, u64)> {
    let refusals = REFUSALS.lock().unwrap_or_else(|e| e.into_inner());
    refusals
        .iter()
        .map(|(plugin, count)| (plugin.clone(), *count))
        .collect()
}

/// A file's length now, for what a write grows it by.
fn file_len(file: &std::fs::File) -> u64 {
    file.metadata().map_or(0, |m| m.len())
}

/// An output stream to a workspace file that takes what it grows the file
/// by from the quota before each write.
struct QuotaStream {
    inner: DynOutputStream,
    file: Arc<std::fs::File>,
    usage: Arc<WorkspaceUsage>,
    /// Where the next write goes; `None` for an appending stream.
    position: Option<u64>,
    /// The end of what this stream has written (writes may still be in
    /// flight, so the file's length can lag).
    end: u64,
}

impl QuotaStream {
    fn take(&mut self, len: u64) -> Result<(), std::io::Error> {
        let size = file_len(&self.file).max(self.end);
        let at = self.position.unwrap_or(size);
        let end = at.saturating_add(len);
        self.usage.grow(end.saturating_sub(size))?;
        self.end = self.end.max(end);
        if let Some(position) = self.position.as_mut() {
            *position = end;
        }
        Ok(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        if let Err(err) = self.take(bytes.len() as u64) {
            return Err(StreamError::LastOperationFailed(err.into()));
        }
        self.inner.write(bytes).inspect_err(|_| self.usage.forget())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }
}

/// The `wasi:filesystem/types` instance the host defines.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// The usage of the workspace of the instance a call belongs to.
fn usage_of(state: &HostState) -> Arc<WorkspaceUsage> {
    state.call.instance.workspace_usage.clone()
}

/// A descriptor's file, if it is one.
fn file_of(
    view: &mut WasiFilesystemCtxView<'_>,
    fd: &Resource<Descriptor>,
) -> wasmtime::Result<Option<Arc<std::fs::File>>> {
    Ok(match view.table.get(fd)? {
        Descriptor::File(f) => Some(f.file.clone()),
        Descriptor::Dir(_) => None,
    })
}

/// The result of a WASI filesystem call as the guest gets it.
fn answer<T>(
    view: &mut WasiFilesystemCtxView<'_>,
    result: wasmtime_wasi::p2::FsResult<T>,
) -> wasmtime::Result<(Result<T, ErrorCode>,)> {
    Ok((match result {
        Ok(value) => Ok(value),
        Err(err) => Err(types::Host::convert_error_code(view, err)?),
    },))
}

/// The size of the regular file at `path` under the directory `dir`, as
/// far as it is known: `Some(0)` when there is none (nothing to free),
/// `None` when it cannot be told.
async fn size_at(
    view: &mut WasiFilesystemCtxView<'_>,
    dir: &Resource<Descriptor>,
    path: &str,
) -> Option<u64> {
    let dir = Resource::new_borrow(dir.rep());
    match HostDescriptor::stat_at(view, dir, PathFlags::empty(), path.to_string()).await {
        Ok(stat) if stat.type_ == types::DescriptorType::RegularFile => Some(stat.size),
        Ok(_) => Some(0),
        Err(_) => None,
    }
}

/// Wraps a new output stream to `file` in a [`QuotaStream`].
fn quota_stream(
    view: &mut WasiFilesystemCtxView<'_>,
    result: wasmtime_wasi::p2::FsResult<Resource<DynOutputStream>>,
    file: Option<Arc<std::fs::File>>,
    usage: Arc<WorkspaceUsage>,
    position: Option<u64>,
) -> wasmtime::Result<(Result<Resource<DynOutputStream>, ErrorCode>,)> {
    let (stream, file) = match (result, file) {
        (Ok(stream), Some(file)) => (stream, file),
        (result, _) => return answer(view, result),
    };
    let inner: DynOutputStream = view.table.delete(stream)?;
    let wrapped: DynOutputStream = Box::new(QuotaStream {
        inner,
        end: file_len(&file),
        file,
        usage,
        position,
    });
    Ok((Ok(view.table.push(wrapped)?),))
}

/// Replaces the `wasi:filesystem/types` functions that grow or shrink
/// files with ones that keep the workspace quota; must be called after
/// WASI was added to `linker`.
pub fn add_quota_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.write",
        |mut store, (fd, buffer, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(async move {
                let usage = usage_of(store.data());
                let mut view = store.data_mut().filesystem();
                if let Some(file) = file_of(&mut view, &fd)? {
                    let end = offset.saturating_add(buffer.len() as u64);
                    if usage.grow(end.saturating_sub(file_len(&file))).is_err() {
                        return Ok((Err(ErrorCode::InsufficientSpace),));
                    }
                }
                let result = HostDescriptor::write(&mut view, fd, buffer, offset).await;
                if result.is_err() {
                    usage.forget();
                }
                answer(&mut view, result)
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.set-size",
        |mut store, (fd, size): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                let usage = usage_of(store.data());
                let mut view = store.data_mut().filesystem();
                if let Some(file) = file_of(&mut view, &fd)? {
                    let now = file_len(&file);
                    if size > now && usage.grow(size - now).is_err() {
                        return Ok((Err(ErrorCode::InsufficientSpace),));
                    }
                    usage.shrink(now.saturating_sub(size));
                }
                let result = HostDescriptor::set_size(&mut view, fd, size).await;
                if result.is_err() {
                    usage.forget();
                }
                answer(&mut view, result)
            })
        },
    )?;
    types.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            let usage = usage_of(store.data());
            let mut view = store.data_mut().filesystem();
            let file = file_of(&mut view, &fd)?;
            let result = HostDescriptor::write_via_stream(&mut view, fd, offset);
            quota_stream(&mut view, result, file, usage, Some(offset))
        },
    )?;
    types.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            let usage = usage_of(store.data());
            let mut view = store.data_mut().filesystem();
            let file = file_of(&mut view, &fd)?;
            let result = HostDescriptor::append_via_stream(&mut view, fd);
            quota_stream(&mut view, result, file, usage, None)
        },
    )?;
    // What may shrink the workspace gives back the size of the file it
    // removes or empties, taken just before; a call that fails makes the
    // total unknown (the next growth walks the workspace).
    types.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let usage = usage_of(store.data());
                let mut view = store.data_mut().filesystem();
                let freed = size_at(&mut view, &fd, &path).await;
                let result = HostDescriptor::unlink_file_at(&mut view, fd, path).await;
                usage.gave_back(result.is_ok(), freed);
                answer(&mut view, result)
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store,
         (fd, old, new_fd, new): (Resource<Descriptor>, String, Resource<Descriptor>, String)| {
            Box::new(async move {
                let usage = usage_of(store.data());
                let mut view = store.data_mut().filesystem();
                // A file the rename replaces is freed.
                let freed = size_at(&mut view, &new_fd, &new).await;
                let result = HostDescriptor::rename_at(&mut view, fd, old, new_fd, new).await;
                usage.gave_back(result.is_ok(), freed);
                answer(&mut view, result)
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (fd, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let usage = usage_of(store.data());
                let mut view = store.data_mut().filesystem();
                let truncate = open_flags.contains(OpenFlags::TRUNCATE);
                let freed = if truncate {
                    size_at(&mut view, &fd, &path).await
                } else {
                    Some(0)
                };
                let result =
                    HostDescriptor::open_at(&mut view, fd, path_flags, path, open_flags, flags)
                        .await;
                if truncate {
                    usage.gave_back(result.is_ok(), freed);
                }
                answer(&mut view, result)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
