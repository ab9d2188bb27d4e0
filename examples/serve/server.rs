//! The listeners: one tiny_http server per origin, a few threads each, and
//! the handle that stops them.

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

use tiny_http::{Header, Response, Server, StatusCode};

use super::{
    site::{Body, Reply, Site},
    Role, ServeError, SiteSpec,
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
    root: PathBuf,
}

impl BoundOrigin {
    /// `kms`, `host` or `site`.
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

    /// The directory served, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The running servers. Dropping the handle stops them.
pub struct Running {
    origins: Vec<BoundOrigin>,
    servers: Vec<Arc<Server>>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// Binds every origin, then starts its threads. Nothing is left running if
/// any origin fails (a directory, a port).
pub fn start(origins: Vec<OriginConfig>, options: Options) -> Result<Running, ServeError> {
    if origins.is_empty() {
        return Err(ServeError::NoOrigins);
    }
    let mut bound = Vec::with_capacity(origins.len());
    for OriginConfig { role, spec } in origins {
        let root = canonical_dir(spec.dir())?;
        let site = Arc::new(Site::new(role, root)?);
        let listen_error = |source| ServeError::Listen { addr: spec.addr(), source };
        let listener = TcpListener::bind(spec.addr()).map_err(|e| listen_error(e.into()))?;
        let addr = listener.local_addr().map_err(|e| listen_error(e.into()))?;
        let server = Arc::new(Server::from_listener(listener, None).map_err(listen_error)?);
        bound.push((site, addr, server));
    }

    let mut running = Running {
        origins: Vec::with_capacity(bound.len()),
        servers: Vec::with_capacity(bound.len()),
        workers: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
    };
    for (site, addr, server) in bound {
        running.origins.push(BoundOrigin { role: site.role().name(), addr, root: site.root().clone() });
        running.servers.push(Arc::clone(&server));
        for n in 0..WORKERS_PER_ORIGIN {
            let (site, server, stop) = (Arc::clone(&site), Arc::clone(&server), Arc::clone(&running.stop));
            let worker = thread::Builder::new()
                .name(format!("kms-serve-{}-{n}", site.role().name()))
                .spawn(move || serve_requests(&server, &site, &stop, options))
                // Dropping `running` stops the threads already started.
                .map_err(ServeError::Thread)?;
            running.workers.push(worker);
        }
    }
    Ok(running)
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
    /// The origins, in the order given.
    pub fn origins(&self) -> &[BoundOrigin] {
        &self.origins
    }

    /// Writes the start-up lines a test harness waits for, and flushes:
    /// `kms-serve: <role> http://localhost:<port> <dir>` per origin, then
    /// `kms-serve: ready`.
    pub fn announce(&self, out: &mut impl Write) -> io::Result<()> {
        for origin in &self.origins {
            writeln!(out, "kms-serve: {} {} {}", origin.role, origin.url(), origin.root.display())?;
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
fn serve_requests(server: &Server, site: &Site, stop: &AtomicBool, options: Options) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(_) if stop.load(Ordering::SeqCst) => return,
            Err(e) => {
                if options.verbose {
                    eprintln!("kms-serve: {}: {e}", site.role().name());
                }
                continue;
            }
        };
        let method = request.method().as_str().to_owned();
        let reply = site.handle(&method, request.url());
        if options.verbose {
            // Debug formatting escapes whatever control characters the client sent.
            let note = reply.note.map(|n| format!(" ({n})")).unwrap_or_default();
            eprintln!("kms-serve: {} {method} {:?} {}{note}", site.role().name(), request.url(), reply.status);
        }
        let result = request.respond(into_response(reply));
        if let (Err(e), true) = (result, options.verbose) {
            eprintln!("kms-serve: {}: cannot respond: {e}", site.role().name());
        }
    }
}

/// The reply as a tiny_http response, always with a `Content-Length`. A
/// header that cannot be written turns the reply into a bare 500 rather
/// than a response without its security headers.
fn into_response(reply: Reply) -> Response<Box<dyn Read + Send>> {
    let bare_500 =
        || Response::new(StatusCode(500), Vec::new(), Box::new(io::empty()) as Box<dyn Read + Send>, Some(0), None);
    let headers: Result<Vec<Header>, ()> =
        reply.headers.iter().map(|(name, value)| Header::from_bytes(name.as_bytes(), value.as_bytes())).collect();
    let Ok(headers) = headers else {
        return bare_500();
    };
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
    let Ok(len) = usize::try_from(len) else {
        return bare_500();
    };
    // Never chunked (unless the client asks with TE): HEAD and fetches see
    // the length.
    Response::new(StatusCode(reply.status), headers, reader, Some(len), None).with_chunked_threshold(usize::MAX)
}
