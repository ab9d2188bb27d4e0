//! The listeners: one HTTP server per origin (static sites and the local
//! push service, [`crate::http::server`]), and the handle that stops them.

use std::{
    fmt, fs,
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::http::{
    self,
    server::{Limits, Server},
};

use super::{
    push_service::{self, PushService},
    site::{Body, Reply, Site},
    AllowedOrigin, PushSpec, Role, ServeError, SiteSpec,
};

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
    servers: Vec<Server>,
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
        let (addr, listener) = listen(spec.addr())?;
        bound.push((Arc::new(Handler::Static(site)), addr, listener));
    }
    if let Some(PushConfig { spec, allowed_origins }) = push {
        let (addr, listener) = listen(spec.addr())?;
        // The origin (the tokens' `aud`) carries the port actually bound.
        bound.push((Arc::new(Handler::Push(PushService::new(addr.port(), allowed_origins))), addr, listener));
    }

    let mut running = Running { origins: Vec::with_capacity(bound.len()), push: None, servers: Vec::new() };
    for (handler, addr, listener) in bound {
        let (root, limits) = match &*handler {
            // Static origins take no body: it is never read.
            Handler::Static(site) => (Some(site.root().clone()), Limits::with_max_body(0)),
            Handler::Push(_) => {
                running.push = Some(Arc::clone(&handler));
                (None, Limits::with_max_body(push_service::MAX_BODY_LEN))
            }
        };
        running.origins.push(BoundOrigin { role: handler.name(), addr, root });
        let name = format!("kms-serve-{}", handler.name());
        let answer = Arc::clone(&handler);
        let server = Server::start(listener, &name, limits, Arc::new(move |request| reply(&answer, request, options)))
            // Dropping `running` stops the servers already started.
            .map_err(ServeError::Thread)?;
        running.servers.push(server);
    }
    Ok(running)
}

/// A listening socket and the address it is bound to.
fn listen(addr: SocketAddr) -> Result<(SocketAddr, TcpListener), ServeError> {
    let listen_error = |source: io::Error| ServeError::Listen { addr, source: source.into() };
    let listener = TcpListener::bind(addr).map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    Ok((bound, listener))
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

    /// Blocks while the servers run (until they are shut down).
    pub fn wait(mut self) {
        for server in &mut self.servers {
            server.wait();
        }
    }

    /// Stops the servers (each lets its requests in flight finish) and
    /// waits for them.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running").field("origins", &self.origins).finish_non_exhaustive()
    }
}

/// Answers one request: a static file, or the push service at the
/// system's time. Logged to stderr when verbose.
fn reply(handler: &Handler, request: http::Request, options: Options) -> http::Response {
    let reply = match handler {
        Handler::Static(site) => site.handle(&request.method, &request.target),
        Handler::Push(push) => {
            let response = push.handle(&request, http::now_ms());
            Reply { status: response.status, headers: response.headers, body: Body::Bytes(response.body), note: None }
        }
    };
    if options.verbose {
        // Debug formatting escapes whatever control characters the client sent.
        let note = reply.note.map(|n| format!(" ({n})")).unwrap_or_default();
        eprintln!("kms-serve: {} {} {:?} {}{note}", handler.name(), request.method, request.target, reply.status);
    }
    into_response(reply)
}

/// The reply as a response. A file is read here, at most the length its
/// headers announced (a file that grows while being read cannot overrun
/// it); one that cannot be read is a 500.
fn into_response(reply: Reply) -> http::Response {
    let body = match reply.body {
        Body::Empty => Vec::new(),
        Body::Bytes(bytes) => bytes,
        Body::File { file, len } => {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 << 20));
            if file.take(len).read_to_end(&mut bytes).is_err() {
                return http::Response::error(500, "the file could not be read");
            }
            bytes
        }
    };
    http::Response { status: reply.status, headers: reply.headers, body }
}
