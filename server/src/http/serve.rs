//! The HTTP server: the accept loop over hyper's HTTP/1.1 connections, with the limits of
//! [`HttpLimits`], serving the axum [`router`](super::router) on its own tokio runtime.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::Service;

use super::conn_io::{JsonErrors, SendTimeout};
use super::{ErrorResponse, HttpLimits, HttpState, MAX_HEAD_BYTES, MAX_HEADERS, SHUTDOWN_GRACE, router};

/// hyper's read and write buffer per connection: a request head must be complete within it
/// (else 431). Bounds the memory of many connections holding partial heads.
const MAX_BUF_BYTES: usize = 64 * 1024;

/// Connections the kernel completes and queues before the server accepts them. `std`'s bind
/// asks for 128: a burst of connects (500 in the tests) overflowed it in a few milliseconds of
/// the accept loop not running, and each connection over it waited a 1 s SYN retransmission.
const BACKLOG: u32 = 1024;

/// The running HTTP server. Dropping it shuts the server down like [`HttpHandle::shutdown`].
#[derive(Debug)]
pub struct HttpHandle {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpHandle {
    /// Stops accepting connections, lets in-flight requests finish for up to [`SHUTDOWN_GRACE`],
    /// and waits for the server thread to end. Blocks: call it from a plain thread, not from
    /// async code.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the HTTP server thread panicked");
        }
    }
}

impl Drop for HttpHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Binds `addr` now (port 0 picks a free port; a bad address or a port in use is an error here)
/// and serves [`router`] on a two-worker tokio runtime in a background thread, within
/// `state.limits`.
pub fn spawn_http(addr: SocketAddr, state: HttpState) -> io::Result<HttpHandle> {
    // Two blocking threads: password hashing is the only blocking work (bounded to one per core
    // anyway), and every extra thread that ever ran argon2 keeps its 19 MiB in its malloc arena
    // (a 1,000-login burst left the process at 940 MB RSS with tokio's default of 512).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .thread_name("http")
        .enable_all()
        .build()?;
    let listener = {
        let _context = runtime.enter();
        listen(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot listen for HTTP on {addr}: {e}")))?
    };
    let bound = listener.local_addr()?;
    let limits = state.limits;
    let app = router(state);
    let (stop, stop_rx) = watch::channel(false);
    let thread = std::thread::Builder::new().name("http-server".into()).spawn(move || {
        runtime.block_on(serve(listener, app, limits, stop_rx));
        runtime.shutdown_timeout(Duration::from_secs(1));
    })?;
    tracing::info!(addr = %bound, ?limits, "HTTP API listening");
    Ok(HttpHandle { addr: bound, stop, thread: Some(thread) })
}

/// Binds a listener with a queue of [`BACKLOG`] connections not yet accepted.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `std` and `tokio` binds do on Unix: a restart may bind while old connections linger in
    // TIME_WAIT (a port another listener holds is still refused).
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts connections until `stop`, then lets them finish for up to [`SHUTDOWN_GRACE`].
///
/// Timeouts: hyper's `header_read_timeout` runs from when a connection starts waiting for a
/// request head — when it opens, and again after each answer on a kept-alive connection (hyper
/// 1.12, `proto/h1/conn.rs`: `State::idle` re-arms the read so that `poll_read_head` starts the
/// timer) — so it bounds trickled heads and idle keep-alive alike. Bodies are read under
/// [`HttpLimits::body_timeout`] by the handlers (408); answers the client does not read, by
/// [`SendTimeout`].
async fn serve(listener: TcpListener, app: Router, limits: HttpLimits, mut stop: watch::Receiver<bool>) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_BUF_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refusals = Refusals::new(limits.max_connections);
    loop {
        let (stream, peer) = tokio::select! {
            // Err: the handle is gone, which also means stop.
            _ = stop.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refusals.refuse(&stream);
            continue;
        };
        // Answers are written in one piece; no reason to let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(JsonErrors::new(SendTimeout::new(stream, limits.body_timeout)));
        let app = app.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // A `Router` is always ready, so it may be called without `poll_ready`.
            app.clone().call(request)
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "HTTP connection closed on an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP requests still running after the shutdown grace period; dropped");
    }
}

/// Handles an `accept` error.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    // A connection that failed before it was accepted concerns only its client.
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    // Anything else (out of file descriptors, mostly) would fail again at once: back off.
    tracing::warn!(error = %e, "cannot accept HTTP connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Connections refused over `--http-max-connections`.
struct Refusals {
    /// The 503 answer, written before the connection is dropped.
    answer: Vec<u8>,
    /// Refused since the last warning.
    count: u64,
    warned: Option<Instant>,
}

impl Refusals {
    /// How often a run of refusals is logged.
    const WARN_EVERY: Duration = Duration::from_secs(10);

    fn new(max_connections: usize) -> Self {
        let error = format!("the server has too many open HTTP connections ({max_connections}); try again later");
        let body = serde_json::to_string(&ErrorResponse { error }).unwrap_or_default();
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        Self { answer: answer.into_bytes(), count: 0, warned: None }
    }

    /// Answers 503 and closes, without waiting: the socket is new, so its send buffer takes the
    /// answer at once, and the descriptor is freed now rather than held for a slow client.
    /// A client that already sent its request may see a reset instead of the answer.
    fn refuse(&mut self, stream: &TcpStream) {
        let _ = stream.try_write(&self.answer);
        self.count += 1;
        if self.warned.is_none_or(|at| at.elapsed() >= Self::WARN_EVERY) {
            tracing::warn!(refused = self.count, "HTTP connection limit reached: new connections are refused (503)");
            self.count = 0;
            self.warned = Some(Instant::now());
        }
    }
}
