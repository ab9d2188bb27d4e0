//! One origin: what it answers to a method and a request target, and the
//! headers every one of its responses carries. No sockets here.

use std::{fs::File, path::PathBuf};

use super::{
    kms_origin::KMS_CONFIG_PATH,
    static_files::{self, Found, Refusal, RequestPath},
    KmsPolicy, ServeError,
};

/// What an origin is for.
#[derive(Debug, Clone)]
pub enum Role {
    /// The KMS origin: strict security headers and `/kms-config.json`.
    Kms(KmsPolicy),
    /// The host origin (the PWA): plain static files.
    Host,
    /// Another plain static origin.
    Site,
}

impl Role {
    /// `kms`, `host` or `site`, as printed on the start-up lines.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Kms(_) => "kms",
            Self::Host => "host",
            Self::Site => "site",
        }
    }
}

/// The body of a [`Reply`].
#[derive(Debug)]
pub(super) enum Body {
    Empty,
    Bytes(Vec<u8>),
    File { file: File, len: u64 },
}

/// A response, before it meets the HTTP library.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// Why a request was refused, for the `--verbose` log.
    pub note: Option<&'static str>,
}

impl Reply {
    fn ok(content_type: &'static str, body: Body) -> Self {
        Self { status: 200, headers: vec![("Content-Type", content_type.into())], body, note: None }
    }

    fn error(status: u16, note: &'static str) -> Self {
        let text = format!("{status} {}\n", reason_phrase(status));
        Self {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: Body::Bytes(text.into_bytes()),
            note: Some(note),
        }
    }

    fn refused(refusal: Refusal) -> Self {
        Self::error(refusal.status, refusal.reason)
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        _ => "Error",
    }
}

/// A route whose body the server makes rather than reads from the directory.
#[derive(Debug)]
struct Generated {
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

/// One origin, ready to answer requests.
#[derive(Debug)]
pub(super) struct Site {
    role: Role,
    root: PathBuf,
    headers: Vec<(&'static str, String)>,
    generated: Vec<Generated>,
}

impl Site {
    /// An origin serving `root`, which must be canonical (the containment
    /// check compares canonical paths).
    pub(super) fn new(role: Role, root: PathBuf) -> Result<Self, ServeError> {
        let (headers, generated) = match &role {
            Role::Kms(policy) => (
                policy.headers(),
                vec![Generated {
                    path: KMS_CONFIG_PATH,
                    content_type: "application/json",
                    body: policy.config_json()?,
                }],
            ),
            Role::Host | Role::Site => {
                (vec![("X-Content-Type-Options", "nosniff".into()), ("Cache-Control", "no-cache".into())], Vec::new())
            }
        };
        Ok(Self { role, root, headers, generated })
    }

    pub(super) fn role(&self) -> &Role {
        &self.role
    }

    pub(super) fn root(&self) -> &PathBuf {
        &self.root
    }

    /// The response to `method target`, with the origin's headers.
    pub(super) fn handle(&self, method: &str, target: &str) -> Reply {
        let mut reply = self.route(method, target);
        reply.headers.extend(self.headers.iter().cloned());
        reply
    }

    fn route(&self, method: &str, target: &str) -> Reply {
        if method != "GET" && method != "HEAD" {
            let mut reply = Reply::error(405, "method not allowed");
            reply.headers.push(("Allow", "GET, HEAD".into()));
            return reply;
        }
        let path = match RequestPath::parse(target) {
            Ok(path) => path,
            Err(refusal) => return Reply::refused(refusal),
        };
        // Generated routes come first: a kms-config.json left in the KMS
        // directory never replaces the one made from the command line.
        if let Some(generated) = self.generated.iter().find(|g| path.is(g.path)) {
            return Reply::ok(generated.content_type, Body::Bytes(generated.body.clone()));
        }
        match static_files::resolve(&self.root, &path) {
            Ok(Found::File { file, len, content_type }) => Reply::ok(content_type, Body::File { file, len }),
            Ok(Found::Directory) => Reply {
                status: 301,
                headers: vec![("Location", path.with_slash())],
                body: Body::Empty,
                note: Some("directory: add a slash"),
            },
            Err(refusal) => Reply::refused(refusal),
        }
    }
}
