//! The HTTP/1 server under `op serve` and `op invoke run`: an accept loop
//! that bounds what idle and slow clients can hold.
//!
//! - **Header-read timeout.** A connection must deliver a whole request head
//!   within [`ServeOptions::header_read_timeout`] of being opened, or of the
//!   first byte of a later request; otherwise it is closed.
//! - **Body-read timeout.** While a request's body is being read, the
//!   client must send its next bytes within
//!   [`ServeOptions::body_read_timeout`]; otherwise the connection (and the
//!   request) is closed. Time the host itself takes to read (a plugin slot,
//!   ONES) does not count.
//! - **Write timeout.** A client that stops reading its answer (the socket
//!   accepts nothing for [`ServeOptions::write_timeout`]) is closed.
//! - **Idle keep-alive timeout.** A connection with no request in flight and
//!   nothing received for [`ServeOptions::idle_timeout`] is closed.
//! - **Connection cap.** At most [`ServeOptions::max_connections`] are open
//!   at once (by default derived from the process's descriptor limit, so
//!   that the host keeps descriptors for ONES, the plugins directory and the
//!   plugins). At the cap, a new connection closes the oldest one that has
//!   no request in flight; when every connection is busy, new ones wait in
//!   the listen backlog.
//! - **Out of descriptors.** When `accept` fails with `EMFILE` or `ENFILE`,
//!   the oldest idle connection is closed and the loop backs off (10 ms,
//!   doubling up to 1 s) rather than spinning; the condition is logged at
//!   most every 10 s.
//!
//! A request whose body has arrived is never cut by these bounds: the
//! plugin's time limit and ONES's timeout bound it.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Default [`ServeOptions::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServeOptions::body_read_timeout`].
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServeOptions::write_timeout`].
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServeOptions::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most connections by default, whatever the descriptor limit.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Descriptors kept for everything but client connections: at least this
/// many, or an eighth of the limit if that is more.
pub const RESERVED_DESCRIPTORS: usize = 128;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Longest time to receive a request head.
    pub header_read_timeout: Duration,
    /// Longest wait for the next bytes of a request body being read.
    pub body_read_timeout: Duration,
    /// Longest time the client's socket may accept nothing of an answer.
    pub write_timeout: Duration,
    /// Longest time a connection may stay open with nothing in flight and
    /// nothing received.
    pub idle_timeout: Duration,
    /// Most connections open at once; `None`: [`default_max_connections`].
    pub max_connections: Option<usize>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: None,
        }
    }
}

/// The soft limit on open descriptors of this process, where the system
/// says it (`/proc/self/limits`).
pub fn descriptor_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// The connection cap when none is configured: the descriptor limit less
/// [`RESERVED_DESCRIPTORS`] (or an eighth of it), at most
/// [`MAX_CONNECTIONS`]; 1,024 less the reserve where the limit is unknown.
pub fn default_max_connections() -> usize {
    let limit = descriptor_limit().unwrap_or(1024);
    let reserve = RESERVED_DESCRIPTORS.max(limit / 8);
    limit.saturating_sub(reserve).clamp(16, MAX_CONNECTIONS)
}

/// One open connection, as the accept loop sees it.
struct Conn {
    id: u64,
    /// Requests in flight (their responses not yet sent).
    busy: AtomicUsize,
    /// Milliseconds since `epoch` when the connection last became idle.
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` (plus one; 0: none) when the head now
    /// awaited began: the connection's start, or the first byte received
    /// after a response.
    head_since: AtomicU64,
    /// Milliseconds since `epoch` (plus one; 0: none) since the request
    /// body being read has been waiting for the client.
    body_waiting_since: AtomicU64,
    /// Milliseconds since `epoch` (plus one; 0: none) since a write to the
    /// client has been waiting for its socket.
    write_waiting_since: AtomicU64,
    /// Chosen to be closed.
    evicted: AtomicBool,
    evict: tokio::sync::Notify,
}

struct Shared {
    epoch: Instant,
    options: ServeOptions,
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Closes the oldest connection with nothing in flight; whether there
    /// was one.
    fn evict_oldest_idle(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for conn in conns.values() {
            if conn.busy.load(Ordering::Acquire) == 0 && !conn.evicted.swap(true, Ordering::AcqRel)
            {
                conn.evict.notify_one();
                return true;
            }
        }
        false
    }

    /// When the connection is to be closed if nothing changes (`None`: a
    /// request is in flight).
    fn deadline_ms(&self, conn: &Conn) -> Option<u64> {
        let since = |at: &AtomicU64, limit: Duration| {
            let at = at.load(Ordering::Acquire);
            (at > 0).then(|| at - 1 + limit.as_millis() as u64)
        };
        // An answer the client does not take, even one handed to hyper
        // whole (its request no longer in flight).
        let write = since(&conn.write_waiting_since, self.options.write_timeout);
        let other = if conn.busy.load(Ordering::Acquire) > 0 {
            since(&conn.body_waiting_since, self.options.body_read_timeout)
        } else if conn.head_since.load(Ordering::Acquire) > 0 {
            since(&conn.head_since, self.options.header_read_timeout)
        } else {
            let idle = self.options.idle_timeout.as_millis() as u64;
            Some(conn.idle_since.load(Ordering::Acquire) + idle)
        };
        match (write, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The client socket, noting when a request head begins to arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before
            && self.conn.busy.load(Ordering::Acquire) == 0
            && self.conn.head_since.load(Ordering::Acquire) == 0
        {
            let now = self.shared.now_ms() + 1;
            self.conn.head_since.store(now, Ordering::Release);
        }
        polled
    }
}

impl Watched {
    /// Notes whether a write waits for the client's socket.
    fn note_write<T>(&self, polled: Poll<T>) -> Poll<T> {
        let waiting = &self.conn.write_waiting_since;
        if polled.is_pending() {
            if waiting.load(Ordering::Acquire) == 0 {
                waiting.store(self.shared.now_ms() + 1, Ordering::Release);
            }
        } else if waiting.load(Ordering::Acquire) != 0 {
            waiting.store(0, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.note_write(polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.note_write(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.note_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request in flight; dropped when its response has been sent (or
/// abandoned).
struct InFlight {
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl InFlight {
    fn start(conn: Arc<Conn>, shared: Arc<Shared>) -> Self {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        conn.head_since.store(0, Ordering::Release);
        InFlight { conn, shared }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn
            .idle_since
            .store(self.shared.now_ms(), Ordering::Release);
        self.conn.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body, noting when it waits for the client.
struct Receiving {
    body: Incoming,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl HttpBody for Receiving {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let waiting = &self.conn.body_waiting_since;
        if polled.is_pending() {
            if waiting.load(Ordering::Acquire) == 0 {
                waiting.store(self.shared.now_ms() + 1, Ordering::Release);
            }
        } else {
            waiting.store(0, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.conn.body_waiting_since.store(0, Ordering::Release);
    }
}

/// A response body that ends its request's [`InFlight`] when dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

fn is_out_of_descriptors(err: &std::io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(err.raw_os_error(), Some(23 | 24))
}

fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted
    )
}

/// Serves `app` on `listener` with `options` until `shutdown` resolves;
/// then stops accepting, closes the idle connections and waits for the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = options
        .max_connections
        .unwrap_or_else(default_max_connections)
        .max(1);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        options,
        conns: Mutex::new(BTreeMap::new()),
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_id = 0u64;
    let mut backoff = Duration::from_millis(10);
    let mut last_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(err) if is_connection_error(&err) => continue,
            Err(err) => {
                let evicted = shared.evict_oldest_idle();
                if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                    last_warning = Some(Instant::now());
                    if is_out_of_descriptors(&err) {
                        tracing::warn!(
                            "cannot accept connections: {err} (the descriptor limit; \
                             closing an idle connection: {evicted}); backing off"
                        );
                    } else {
                        tracing::warn!("cannot accept connections: {err}; backing off");
                    }
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                shared.evict_oldest_idle();
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let now = shared.now_ms();
        let conn = Arc::new(Conn {
            id: next_id,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(now + 1),
            body_waiting_since: AtomicU64::new(0),
            write_waiting_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: tokio::sync::Notify::new(),
        });
        shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(conn.id, conn.clone());
        tasks.spawn(connection(
            stream,
            peer,
            conn,
            shared.clone(),
            app.clone(),
            stopping.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    app: Router,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let io = TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
        shared: shared.clone(),
    });
    let service = {
        let conn = conn.clone();
        let shared = shared.clone();
        hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            let in_flight = InFlight::start(conn.clone(), shared.clone());
            request.extensions_mut().insert(ConnectInfo(peer));
            let receiving = {
                let conn = conn.clone();
                let shared = shared.clone();
                move |body| Body::new(Receiving { body, conn, shared })
            };
            let answer = app.clone().oneshot(request.map(receiving));
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        body,
                        _in_flight: in_flight,
                    })
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header-read timeout is this loop's own (it also covers a
    // connection that sends nothing); hyper's would start when it first
    // polls for a head.
    builder.timer(TokioTimer::new()).header_read_timeout(None);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let options = shared.options;
    let shortest = options
        .header_read_timeout
        .min(options.idle_timeout)
        .min(options.body_read_timeout)
        .min(options.write_timeout);
    let tick = (shortest / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut shutting_down = *stopping.borrow();
    loop {
        let now = shared.now_ms();
        let sleep_for = match shared.deadline_ms(&conn) {
            Some(deadline) if deadline <= now => break,
            Some(deadline) => Duration::from_millis(deadline - now).min(tick),
            None => tick,
        };
        tokio::select! {
            result = served.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(target: "op::http", %peer, "connection ended: {err}");
                }
                break;
            }
            () = conn.evict.notified() => break,
            () = tokio::time::sleep(sleep_for) => {}
            changed = stopping.changed(), if !shutting_down => {
                if changed.is_err() || *stopping.borrow() {
                    // hyper closes the connection once its answer in
                    // flight is written (an idle one at once); the
                    // deadlines above still bound a client that stalls.
                    shutting_down = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
    shared
        .conns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&conn.id);
}
