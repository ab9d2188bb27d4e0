//! From a request target to a file under the site's directory, or a refusal.
//!
//! A path is percent-decoded once and then split into segments; a segment
//! that is empty, `.`, `..`, hidden (starts with `.`) or not a plain file
//! name is refused, as are NUL and backslashes. What is left is joined
//! under the root, resolved with `canonicalize` (which follows symlinks) and
//! served only if the result is still under the canonical root: a symlink
//! that leads out of the directory is a 404.
//!
//! The directories are trusted by whoever runs the server: the checks keep
//! URLs inside them, they do not defend against someone swapping files
//! between the check and the `open`.

use std::{
    fs::{self, File},
    path::{Component, Path, PathBuf},
};

/// Longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 1024;

/// Largest file served, in bytes.
pub const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;

/// A request refused, with the status to answer and why (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

const fn bad_request(reason: &'static str) -> Refusal {
    Refusal { status: 400, reason }
}

const fn not_found(reason: &'static str) -> Refusal {
    Refusal { status: 404, reason }
}

/// A request path that passed the checks: decoded, plain file names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestPath {
    segments: Vec<String>,
    /// `/` or `/dir/`: the path names a directory (its `index.html`).
    trailing_slash: bool,
}

impl RequestPath {
    /// Checks the path of a request target (`/a/b.js?x`); the query is
    /// ignored, an absolute-form or `*` target is refused.
    pub(super) fn parse(target: &str) -> Result<Self, Refusal> {
        if target.len() > MAX_TARGET_LEN {
            return Err(Refusal { status: 414, reason: "request target too long" });
        }
        let path = target.split(['?', '#']).next().unwrap_or_default();
        let decoded = percent_decode(path).ok_or(bad_request("bad percent-encoding"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad_request("path is not UTF-8"))?;
        if decoded.contains(['\0', '\\']) {
            return Err(bad_request("NUL or backslash in path"));
        }
        let rest = decoded.strip_prefix('/').ok_or(bad_request("path does not start with /"))?;
        let (rest, trailing_slash) = match rest.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (rest, rest.is_empty()),
        };
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for segment in rest.split('/') {
                check_segment(segment)?;
                segments.push(segment.to_owned());
            }
        }
        Ok(Self { segments, trailing_slash })
    }

    /// Whether this is exactly the route `route` (`/name`, no trailing slash).
    pub(super) fn is(&self, route: &str) -> bool {
        !self.trailing_slash && route.strip_prefix('/').is_some_and(|name| self.segments == [name])
    }

    /// The path again, percent-encoded, with a trailing slash: where a
    /// request for a directory without one is redirected.
    pub(super) fn with_slash(&self) -> String {
        let mut location = String::from("/");
        for segment in &self.segments {
            for byte in segment.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
                    location.push(char::from(byte));
                } else {
                    location.push_str(&format!("%{byte:02X}"));
                }
            }
            location.push('/');
        }
        location
    }
}

/// One segment: a plain, visible file name.
fn check_segment(segment: &str) -> Result<(), Refusal> {
    if segment.is_empty() {
        return Err(bad_request("empty path segment"));
    }
    if segment == "." || segment == ".." {
        return Err(bad_request("dot segment"));
    }
    // Dot files (.git, .env) in a build directory are not for browsers.
    if segment.starts_with('.') {
        return Err(not_found("hidden file"));
    }
    // No root, prefix (C:) or other special component, whatever the platform.
    let mut components = Path::new(segment).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(name)), None) if name == segment => Ok(()),
        _ => Err(bad_request("not a plain file name")),
    }
}

/// Percent-decodes a path (`+` stays `+`). `None` for a `%` not followed by
/// two hex digits.
fn percent_decode(path: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let high = hex_value(bytes.next()?)?;
            let low = hex_value(bytes.next()?)?;
            out.push(high << 4 | low);
        } else {
            out.push(byte);
        }
    }
    Some(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|v| u8::try_from(v).ok())
}

/// What a request path leads to.
#[derive(Debug)]
pub(super) enum Found {
    /// A regular file under the root, opened, with its length and type.
    File { file: File, len: u64, content_type: &'static str },
    /// A directory with an `index.html`, asked for without the trailing
    /// slash: redirect so that relative URLs in the page resolve.
    Directory,
}

/// Finds the file a checked request path names under `root` (canonical).
pub(super) fn resolve(root: &Path, path: &RequestPath) -> Result<Found, Refusal> {
    let mut wanted = root.to_path_buf();
    wanted.extend(&path.segments);
    if path.trailing_slash {
        wanted.push("index.html");
    }
    let real = inside(root, &wanted)?;
    let metadata = fs::metadata(&real).map_err(|_| not_found("not found"))?;
    if metadata.is_dir() {
        if path.trailing_slash {
            return Err(not_found("index.html is a directory"));
        }
        let index = inside(root, &real.join("index.html"))?;
        return match fs::metadata(index) {
            Ok(m) if m.is_file() => Ok(Found::Directory),
            _ => Err(not_found("directory without index.html (no listings)")),
        };
    }
    if !metadata.is_file() {
        return Err(not_found("not a regular file"));
    }
    let file = File::open(&real).map_err(|_| not_found("cannot open"))?;
    let len = file.metadata().map_err(|_| not_found("cannot stat"))?.len();
    if len > MAX_FILE_LEN {
        return Err(not_found("file larger than the cap"));
    }
    // The type follows the name asked for, not a symlink's target.
    Ok(Found::File { file, len, content_type: content_type(&wanted) })
}

/// `path` with every symlink followed, if that is still under `root`.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, Refusal> {
    let real = fs::canonicalize(path).map_err(|_| not_found("not found"))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(not_found("resolves outside the site directory"))
    }
}

/// The `Content-Type` for a file name, by extension (case-insensitive).
/// WASM must be `application/wasm` for `WebAssembly.instantiateStreaming`;
/// scripts must have a JavaScript type for module workers under `nosniff`.
pub fn content_type(path: &Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        // TypeScript sources and declarations (`.d.ts`) are for reading.
        Some("ts" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
