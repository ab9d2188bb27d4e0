//! The listeners: one tiny_http server per origin (static sites and the
//! local push service), a few threads each, and the handle that stops them.

use std::{
    fmt, fs,
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
};

use crate::http;

use tiny_http::Server;

use super::{
    push_service::{self, PushService, Response},
    site::{Body, Reply, Site},
    AllowedOrigin, PushSpec, Role, ServeError, SiteSpec,
};

/// Threads answering requests per origin: enough for a page, its worker
/// script and its WASM bundle to load side by side.
const WORKERS_PER_ORIGIN: usize = 4;

/// One origin to serve.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// What the origin is for.
    pub role: Role,
    /// Where it listens and what it serves.
    pub spec: SiteSpec,
}

/// The local push service to run (`--push`).
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Where it listens.
    pub spec: PushSpec,
    /// The origins whose pages may call it (CORS): the `--allow-host` values.
    pub allowed_origins: Vec<AllowedOrigin>,
}

/// Settings that apply to every origin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Log one line per request to stderr.
    pub verbose: bool,
}

/// An origin that is listening.
#[derive(Debug, Clone)]
pub struct BoundOrigin {
    role: &'static str,
    addr: SocketAddr,
    root: Option<PathBuf>,
}

impl BoundOrigin {
    /// `kms`, `host`, `site` or `push`.
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// The address bound (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL browsers use: `http://localhost:<port>`, whatever loopback
    /// address is bound, because WebAuthn's relying party id is `localhost`.
    pub fn url(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    /// The directory served, canonical; `None` for the push service.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }
}

/// What answers the requests of one listener.
enum Handler {
    Static(Site),
    Push(PushService),
}

impl Handler {
    fn name(&self) -> &'static str {
        match self {
            Self::Static(site) => site.role().name(),
            Self::Push(_) => "push",
        }
    }
}

/// The running servers. Dropping the handle stops them.
pub struct Running {
    origins: Vec<BoundOrigin>,
    push: Option<Arc<Handler>>,
    servers: Vec<Arc<Server>>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// Binds every origin, then starts its threads. Nothing is left running if
/// any origin fails (a directory, a port).
pub fn start(origins: Vec<OriginConfig>, options: Options) -> Result<Running, ServeError> {
    start_with_push(origins, None, options)
}

/// [`start`], and the local push service when `push` is given (announced
/// after the other origins).
pub fn start_with_push(
    origins: Vec<OriginConfig>,
    push: Option<PushConfig>,
    options: Options,
) -> Result<Running, ServeError> {
    if origins.is_empty() && push.is_none() {
        return Err(ServeError::NoOrigins);
    }
    let mut bound = Vec::with_capacity(origins.len() + 1);
    for OriginConfig { role, spec } in origins {
        let root = canonical_dir(spec.dir())?;
        let site = Site::new(role, root)?;
        let (addr, server) = listen(spec.addr())?;
        bound.push((Arc::new(Handler::Static(site)), addr, server));
    }
    if let Some(PushConfig { spec, allowed_origins }) = push {
        let (addr, server) = listen(spec.addr())?;
        // The origin (the tokens' `aud`) carries the port actually bound.
        bound.push((Arc::new(Handler::Push(PushService::new(addr.port(), allowed_origins))), addr, server));
    }

    let mut running = Running {
        origins: Vec::with_capacity(bound.len()),
        push: None,
        servers: Vec::with_capacity(bound.len()),
        workers: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
    };
    for (handler, addr, server) in bound {
        let root = match &*handler {
            Handler::Static(site) => Some(site.root().clone()),
            Handler::Push(_) => {
                running.push = Some(Arc::clone(&handler));
                None
            }
        };
        running.origins.push(BoundOrigin { role: handler.name(), addr, root });
        running.servers.push(Arc::clone(&server));
        for n in 0..WORKERS_PER_ORIGIN {
            let (handler, server, stop) = (Arc::clone(&handler), Arc::clone(&server), Arc::clone(&running.stop));
            let worker = thread::Builder::new()
                .name(format!("kms-serve-{}-{n}", handler.name()))
                .spawn(move || serve_requests(&server, &handler, &stop, options))
                // Dropping `running` stops the threads already started.
                .map_err(ServeError::Thread)?;
            running.workers.push(worker);
        }
    }
    Ok(running)
}

/// A listening socket and its tiny_http server.
fn listen(addr: SocketAddr) -> Result<(SocketAddr, Arc<Server>), ServeError> {
    let listen_error = |source| ServeError::Listen { addr, source };
    let listener = TcpListener::bind(addr).map_err(|e| listen_error(e.into()))?;
    let bound = listener.local_addr().map_err(|e| listen_error(e.into()))?;
    let server = Server::from_listener(listener, None).map_err(listen_error)?;
    Ok((bound, Arc::new(server)))
}

/// The directory, canonical, if it is one.
fn canonical_dir(dir: &Path) -> Result<PathBuf, ServeError> {
    let root_error = |source| ServeError::Root { dir: dir.to_path_buf(), source };
    let root = fs::canonicalize(dir).map_err(root_error)?;
    if root.is_dir() {
        Ok(root)
    } else {
        Err(root_error(io::Error::new(io::ErrorKind::NotADirectory, "not a directory")))
    }
}

impl Running {
    /// The origins, in the order given, the push service last.
    pub fn origins(&self) -> &[BoundOrigin] {
        &self.origins
    }

    /// The push service, when one runs (its state, for tests).
    pub fn push_service(&self) -> Option<&PushService> {
        match self.push.as_deref() {
            Some(Handler::Push(push)) => Some(push),
            _ => None,
        }
    }

    /// Writes the start-up lines a test harness waits for, and flushes:
    /// `kms-serve: <role> http://localhost:<port> <dir>` per origin (`-` for
    /// the push service, which serves no directory), then `kms-serve: ready`.
    pub fn announce(&self, out: &mut impl Write) -> io::Result<()> {
        for origin in &self.origins {
            let dir = origin.root.as_deref().map_or_else(|| "-".into(), |root| root.display().to_string());
            writeln!(out, "kms-serve: {} {} {dir}", origin.role, origin.url())?;
        }
        writeln!(out, "kms-serve: ready")?;
        out.flush()
    }

    /// Blocks while the servers run (until the process is stopped).
    pub fn wait(mut self) {
        for worker in std::mem::take(&mut self.workers) {
            let _ = worker.join();
        }
    }

    /// Stops the servers and waits for their threads.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Each unblock releases one thread waiting in `recv`.
        for server in &self.servers {
            for _ in 0..WORKERS_PER_ORIGIN {
                server.unblock();
            }
        }
        for worker in std::mem::take(&mut self.workers) {
            let _ = worker.join();
        }
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("origins", &self.origins).finish_non_exhaustive()
    }
}

/// One worker: answer requests until stopped.
fn serve_requests(server: &Server, handler: &Handler, stop: &AtomicBool, options: Options) {
    let name = handler.name();
    loop {
        let mut request = match server.recv() {
            Ok(request) => request,
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(e) => {
                if options.verbose {
                    eprintln!("kms-serve: {name}: {e}");
                }
                continue;
            }
        };
        let method = request.method().as_str().to_owned();
        let reply = match handler {
            Handler::Static(site) => site.handle(&method, request.url()),
            Handler::Push(push) => push_reply(push, &mut request),
        };
        if options.verbose {
            // Debug formatting escapes whatever control characters the client sent.
            let note = reply.note.map(|n| format!(" ({n})")).unwrap_or_default();
            eprintln!("kms-serve: {name} {method} {:?} {}{note}", request.url(), reply.status);
        }
        let result = request.respond(into_response(reply));
        if let (Err(e), true) = (result, options.verbose) {
            eprintln!("kms-serve: {name}: cannot respond: {e}");
        }
    }
}

/// Reads the request (a body of at most [`push_service::MAX_BODY_LEN`] + 1
/// bytes, none at all when a larger `Content-Length` is announced) and
/// lets the push service answer it at the system's time.
fn push_reply(push: &PushService, request: &mut tiny_http::Request) -> Reply {
    let response = match http::read_request(request, push_service::MAX_BODY_LEN) {
        Ok(request) => push.handle(&request, http::now_ms()),
        Err(_) => Response::error(400, "the body could not be read"),
    };
    Reply { status: response.status, headers: response.headers, body: Body::Bytes(response.body), note: None }
}

/// The reply as a tiny_http response, always with a `Content-Length`.
fn into_response(reply: Reply) -> tiny_http::Response<Box<dyn Read + Send>> {
    let (reader, len): (Box<dyn Read + Send>, u64) = match reply.body {
        Body::Empty => (Box::new(io::empty()), 0),
        Body::Bytes(bytes) => {
            let len = bytes.len() as u64;
            (Box::new(io::Cursor::new(bytes)), len)
        }
        // `take`: a file that grows while being sent cannot overrun the
        // Content-Length already written.
        Body::File { file, len } => (Box::new(file.take(len)), len),
    };
    http::tiny_response(reply.status, &reply.headers, reader, len)
}
