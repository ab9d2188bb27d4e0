//! The one HTTP/1.1 server of the examples (`kms-serve`'s origins and
//! `kms-relay`): hyper on tokio, in front of a handler that is a plain
//! function of a [`Request`] (the services stay testable without sockets).
//!
//! What a stranger can send is bounded before anything is allocated or a
//! thread is held ([`Limits`]):
//! - a body announced larger than the cap is answered 413 without being
//!   read; a body that grows past it while being read stops there (the
//!   handler sees [`RequestBody::TooLarge`]);
//! - headers must arrive within `header_timeout`, a body within
//!   `body_timeout` (408), a connection lasts at most `connection_lifetime`;
//! - at most `max_connections` connections at once: more are closed at
//!   accept. Slow clients hold a connection each, never a thread: the
//!   handlers run on a blocking pool only once a request is complete.
//!
//! [`Server::shutdown`] stops accepting and gives the requests in flight a
//! few seconds to finish.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{watch, Semaphore};

use super::{Request, RequestBody, Response};

/// How long in-flight requests may take once a shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What one connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request body read, in bytes (0: bodies are never read).
    pub max_body: usize,
    /// The time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// The time a client has to send a request's body.
    pub body_timeout: Duration,
    /// The longest a connection stays open, kept alive or not.
    pub connection_lifetime: Duration,
    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
}

impl Limits {
    /// The defaults with a body cap of `max_body` bytes: 10 s for headers,
    /// 10 s for a body, 5 minutes per connection, 256 connections.
    pub const fn with_max_body(max_body: usize) -> Self {
        Self {
            max_body,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(300),
            max_connections: 256,
        }
    }
}

/// What answers a complete request. It runs on a blocking thread: it may
/// read files or send a request of its own.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// A listening server; dropping it shuts it down.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `listener` on a thread of its own (named `name`) until
    /// [`Server::shutdown`].
    pub fn start(listener: std::net::TcpListener, name: &str, limits: Limits, handler: Handler) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().thread_name(name).build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, limits, handler, stopped).await,
                    Err(e) => eprintln!("cannot listen: {e}"),
                }
            });
            // A handler still running (its client gone) is not waited for
            // past the grace period.
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })?;
        Ok(Self { addr, stop, thread: Some(thread) })
    }

    /// The address bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server stops.
    pub fn wait(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops accepting, lets the requests in flight finish (a few seconds
    /// at most), and returns once the server is down.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        self.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    limits: Limits,
    handler: Handler,
    mut stopped: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    // Out of descriptors, say: wait a little rather than spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Over the cap: closed at once, nothing held.
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else { continue };
                let handler = Arc::clone(&handler);
                let service = service_fn(move |request| answer(request, limits, Arc::clone(&handler)));
                let mut builder = http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(limits.connection_lifetime, connection).await;
                    drop(permit);
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Reads the request within the limits, runs the handler on a blocking
/// thread, and writes its response with a `Content-Length` (never chunked).
async fn answer(
    request: hyper::Request<Incoming>,
    limits: Limits,
    handler: Handler,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let target = parts.uri.path_and_query().map_or_else(|| parts.uri.to_string(), |pq| pq.as_str().to_owned());
    let announced = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let body = if limits.max_body == 0 {
        // Nothing here takes a body: it is not read (and the connection is
        // not kept alive past it).
        RequestBody::Bytes(Vec::new())
    } else if announced.is_some_and(|len| len > limits.max_body as u64) {
        RequestBody::TooLarge
    } else {
        match tokio::time::timeout(limits.body_timeout, Limited::new(body, limits.max_body).collect()).await {
            Ok(Ok(collected)) => RequestBody::Bytes(collected.to_bytes().to_vec()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => RequestBody::TooLarge,
            Ok(Err(_)) => return Ok(into_hyper(Response::error(400, "the body could not be read"))),
            Err(_) => return Ok(into_hyper(Response::error(408, "the body did not arrive in time"))),
        }
    };
    let request = Request { method: parts.method.as_str().to_owned(), target, headers, body };
    let response = tokio::task::spawn_blocking(move || handler(request))
        .await
        .unwrap_or_else(|_| Response::error(500, "the request could not be answered"));
    Ok(into_hyper(response))
}

/// The response for hyper. A header that cannot be written (a control
/// character in a value) turns it into a bare 500 rather than a response
/// without that header.
fn into_hyper(response: Response) -> hyper::Response<Full<Bytes>> {
    let bare_500 = || {
        let mut r = hyper::Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    };
    let Ok(status) = hyper::StatusCode::from_u16(response.status) else { return bare_500() };
    let mut out = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() = status;
    for (name, value) in &response.headers {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            return bare_500();
        };
        out.headers_mut().append(name, value);
    }
    out
}

/// Blocks until the process gets SIGINT or SIGTERM (Ctrl-C on other
/// platforms), for a binary to shut its servers down gracefully. `Err` when
/// the signal handlers cannot be installed.
pub fn wait_for_signal() -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    })
}
