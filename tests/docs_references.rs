//! The documents name files and Rust items; this test fails when one of
//! those names no longer exists, so the docs cannot drift from the tree
//! unnoticed.
//!
//! Documents read: `README.md`, `SECURITY.md` and every `docs/*.md`. In
//! each, the inline code spans (text between matching backtick runs, which
//! may wrap onto the next line but not past a blank line) are collected;
//! fenced code blocks are skipped. Spans with whitespace are never checked
//! (signatures, shell commands, headers, messages).
//!
//! **Paths.** A span is a repository path when it contains `/` or ends in
//! one of [`PATH_EXTENSIONS`], and consists only of letters, digits and
//! `. _ - / *`. A span that contains `<` (a store key or URL template),
//! `:` (a URL, a MIME parameter), `=` or a space is therefore not a path,
//! and neither is a span without a letter (`127.0.0.0/8`). Not checked
//! either: absolute paths (`/kms-config.json` is a path the server answers,
//! `/usr/bin/chromium` a system file), `~/...`, the prefixes in
//! [`NOT_IN_THE_TREE`] (build outputs and installed tools) and
//! [`NOT_PATHS`] (media types, store keys), and the few spans of
//! [`NOT_PATH_SPANS`]. A path must name a file or directory of the tree (`target/`,
//! `.git/`, `node_modules/` and `.cache/` excluded) whose path from the
//! repository root is the span or ends with `/` followed by the span,
//! compared component by component. So `kms-core/src/lease/`,
//! `lease/refusal.rs` (relative to its crate's `src/`) and a bare file name
//! such as `cli.rs` all resolve, and a renamed or moved file does not. A
//! `*` in a component matches any run of characters within it.
//!
//! **Rust and JS names.** A span is checked as a name when it is a path of
//! identifiers separated by `::`, optionally followed by `()`, and it is
//! unambiguously a code name: it contains `::`, or ends in `()`, or is one
//! CamelCase identifier (an upper-case first letter, at least one
//! lower-case letter and no `_`, such as `KmsConfig` or `Kms`; `K_wrap` is
//! notation), or a SCREAMING_SNAKE
//! constant with at least one `_` (`RETRY_ON_CONFLICT`). A bare lower-case
//! word or snake_case name (`sign_jwt`, `invalid_input`, `info`) is not
//! checked: those are RPC methods, error codes, JSON fields and CLI words
//! far more often than Rust names. Each `::` segment must occur as a whole
//! word in the code (not the comments) of the `.rs`, `.js`, `.mjs`, `.ts`
//! or `.sh` files of the tree. This is a word match, not a search for the
//! defining position: a defining-position match would have to parse enum
//! variants, fields, methods, re-exports and JS classes, and the word
//! match already catches the drift that matters (a name removed or
//! renamed). Comment lines (starting with `//`, `/*` or `*`, or `#` in
//! shell scripts) are left out, so a name that survives only in a comment
//! does not count. The web platform names of [`WEB_PLATFORM_NAMES`] are
//! accepted as they are.
//!
//! The failure message lists every unresolved span as ``file:line: `span` ``.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// File name endings that mark a span as a path even without a `/`.
const PATH_EXTENSIONS: &[&str] =
    &[".rs", ".js", ".mjs", ".ts", ".md", ".sh", ".toml", ".json", ".html", ".css", ".lock", ".png", ".wasm"];

/// Path prefixes the docs name that are not in the tree. Keep this short:
/// each entry is a class of files made or installed at run time.
const NOT_IN_THE_TREE: &[&str] = &[
    // Build outputs: `target/web/kms/`, `target/release/kms`, screenshots
    // of a test run.
    "target/",
    // The wasm-bindgen output inside `target/web/kms/`.
    "pkg/",
    // The bundle's manifest, which `kms release manifest` writes beside it,
    // and the engine's worker file the build joins (glue and kms-worker.js).
    "manifest.json",
    "kms-engine.js",
    // Tools the scripts install (`.cache/tools`), npm packages.
    ".cache/",
    "node_modules/",
];

/// Prefixes of spans that contain a `/` but are no paths: media types
/// (`application/wasm`) and store keys (`users/<user>/meta`, `instance/audit/`;
/// the key layout of `kms-worker/src/layout.rs`).
const NOT_PATHS: &[&str] = &["application/", "text/", "image/", "users/", "instance/"];

/// Single spans that look like paths but name something else.
const NOT_PATH_SPANS: &[&str] = &[
    // The AAD layout label (`kms-core/src/crypto/aad.rs`).
    "kms-aad/v1",
    // Criterion benchmark ids (group/name) of `docs/benchmarks.md`.
    "unlock/engine_unlock_600k",
    "jwt/engine_sign_jwt",
    "lease/engine_issue_10",
    "audit/verify_export_10k",
    // The files a reader makes in the getting-started section of
    // `docs/integration.md` (in their own app's folder, not in this tree).
    "app.js",
    "kms-site/",
];

/// Web platform names the docs cite that our code never spells out.
const WEB_PLATFORM_NAMES: &[&str] = &["MessagePort", "PushSubscriptionJSON", "Referer"];

/// Directories never searched, for paths or for names.
const SKIPPED_DIRS: &[&str] = &["target", ".git", "node_modules", ".cache"];

/// Source files whose code defines or uses the names the docs cite.
const CODE_EXTENSIONS: &[&str] = &["rs", "js", "mjs", "ts", "sh"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every file and directory of the tree, as paths relative to the root.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(root.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = rel.join(&name);
            if entry.file_type().unwrap().is_dir() {
                if SKIPPED_DIRS.contains(&name.as_str()) {
                    continue;
                }
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// One inline code span of a document.
struct Span {
    file: String,
    line: usize,
    text: String,
}

/// The inline code spans of a Markdown text, fenced blocks skipped.
fn spans(file: &str, text: &str) -> Vec<Span> {
    // Blank out fenced blocks, keeping the line count.
    let mut fenced = false;
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("```") || t.starts_with("~~~") {
                fenced = !fenced;
                return "";
            }
            if fenced {
                ""
            } else {
                l
            }
        })
        .collect();
    let body = lines.join("\n");
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let start = i + run;
        // The closing run of the same length, before a blank line.
        let mut j = start;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '\n' && chars.get(j + 1) == Some(&'\n') {
                break;
            }
            if chars[j] == '`' {
                let n = chars[j..].iter().take_while(|c| **c == '`').count();
                if n == run {
                    close = Some(j);
                    break;
                }
                j += n;
                continue;
            }
            j += 1;
        }
        match close {
            Some(end) => {
                let inner: String = chars[start..end].iter().collect();
                let text = inner.replace('\n', " ");
                let text = text.trim();
                if !text.is_empty() {
                    out.push(Span { file: file.to_owned(), line, text: text.to_owned() });
                }
                line += inner.matches('\n').count();
                i = end + run;
            }
            None => i = start,
        }
    }
    out
}

/// Whether the span is a repository path to check (module docs).
fn is_repo_path(s: &str) -> bool {
    let path_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || "._-/*".contains(c));
    let looks_like_path = s.contains('/') || PATH_EXTENSIONS.iter().any(|e| s.ends_with(e) && s.len() > e.len());
    path_chars
        && looks_like_path
        && s.contains(|c: char| c.is_ascii_alphabetic())
        && !s.starts_with('/')
        && !NOT_IN_THE_TREE.iter().any(|p| s.starts_with(p))
        && !NOT_PATHS.iter().any(|p| s.starts_with(p))
        && !NOT_PATH_SPANS.contains(&s)
}

/// `*` matches any run of characters inside one component.
fn component_matches(pattern: &str, name: &str) -> bool {
    fn glob(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|k| glob(rest, &n[k..])),
            Some((c, rest)) => n.first() == Some(c) && glob(rest, &n[1..]),
        }
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

fn path_resolves(span: &str, tree: &[Vec<String>]) -> bool {
    let want: Vec<&str> = span.trim_end_matches('/').split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if want.is_empty() || want.contains(&"..") {
        return false;
    }
    tree.iter().any(|have| {
        have.len() >= want.len()
            && have[have.len() - want.len()..].iter().zip(&want).all(|(h, w)| component_matches(w, h))
    })
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `::` segments of a span that is unambiguously a code name, or
/// `None` (module docs).
fn code_name_segments(s: &str) -> Option<Vec<&str>> {
    let call = s.ends_with("()");
    let path = s.strip_suffix("()").unwrap_or(s);
    let segments: Vec<&str> = path.split("::").collect();
    if !segments.iter().all(|seg| is_ident(seg)) {
        return None;
    }
    let camel = segments.len() == 1
        && !path.contains('_')
        && path.starts_with(|c: char| c.is_ascii_uppercase())
        && path.chars().any(|c| c.is_ascii_lowercase());
    let screaming = segments.len() == 1
        && path.contains('_')
        && path.len() > 3
        && path.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    (segments.len() > 1 || call || camel || screaming).then_some(segments)
}

/// This test's own source: its examples of names must not count as the
/// names existing.
const THIS_FILE: &str = "tests/docs_references.rs";

/// Every identifier-like word in the code (comments excluded) of the tree,
/// this test's own file aside.
fn code_words(root: &Path, files: &[PathBuf]) -> HashSet<String> {
    let mut words = HashSet::new();
    for rel in files {
        let ext = rel.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !CODE_EXTENSIONS.contains(&ext) || rel == Path::new(THIS_FILE) {
            continue;
        }
        let Ok(text) = fs::read_to_string(root.join(rel)) else { continue };
        for line in text.lines() {
            let t = line.trim_start();
            let comment =
                t.starts_with("//") || t.starts_with("/*") || t.starts_with('*') || (ext == "sh" && t.starts_with('#'));
            if comment {
                continue;
            }
            for w in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !w.is_empty() {
                    words.insert(w.to_owned());
                }
            }
        }
    }
    words
}

/// Rust path segments that are keywords, not names to find.
const KEYWORDS: &[&str] = &["crate", "self", "super", "Self"];

#[test]
fn every_path_and_code_name_in_the_docs_exists() {
    let root = repo_root();
    let files = walk(&root);
    let tree: Vec<Vec<String>> =
        files.iter().map(|p| p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect()).collect();
    let words = code_words(&root, &files);

    let mut docs = vec!["README.md".to_owned(), "SECURITY.md".to_owned()];
    let mut in_docs: Vec<String> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);

    let (mut paths, mut names) = (0, 0);
    let mut unresolved = Vec::new();
    for doc in &docs {
        let text = fs::read_to_string(root.join(doc)).unwrap();
        for span in spans(doc, &text) {
            let s = span.text.as_str();
            if s.contains(char::is_whitespace) {
                continue;
            }
            let ok = if is_repo_path(s) {
                paths += 1;
                path_resolves(s, &tree)
            } else if let Some(segments) = code_name_segments(s) {
                names += 1;
                WEB_PLATFORM_NAMES.contains(&s)
                    || segments.iter().all(|seg| KEYWORDS.contains(seg) || words.contains(*seg))
            } else {
                true
            };
            if !ok {
                unresolved.push(format!("{}:{}: `{}`", span.file, span.line, span.text));
            }
        }
    }
    eprintln!("docs_references: {paths} paths and {names} code names checked in {} documents", docs.len());
    assert!(
        unresolved.is_empty(),
        "{} backticked paths or names in the docs do not resolve in the tree:\n{}",
        unresolved.len(),
        unresolved.join("\n")
    );
}

#[test]
fn the_rules_classify_spans_as_documented() {
    assert!(is_repo_path("kms-core/src/lease/"));
    assert!(is_repo_path("cli.rs"));
    assert!(is_repo_path("e2e/*.test.mjs"));
    assert!(!is_repo_path("users/<user>/meta"));
    assert!(!is_repo_path("/kms-config.json"));
    assert!(!is_repo_path("target/web/kms/"));
    assert!(!is_repo_path("application/wasm"));
    assert!(!is_repo_path("https://example.com/x.js"));
    assert!(!is_repo_path(".rs"));
    assert!(!is_repo_path("127.0.0.0/8"));
    assert!(!is_repo_path("instance/audit/"));
    assert!(!is_repo_path("kms-aad/v1"));

    assert_eq!(code_name_segments("kms_core::lease::issue"), Some(vec!["kms_core", "lease", "issue"]));
    assert_eq!(code_name_segments("check_usable()"), Some(vec!["check_usable"]));
    assert_eq!(code_name_segments("KmsConfig"), Some(vec!["KmsConfig"]));
    assert_eq!(code_name_segments("RETRY_ON_CONFLICT"), Some(vec!["RETRY_ON_CONFLICT"]));
    assert_eq!(code_name_segments("invalid_input"), None);
    assert_eq!(code_name_segments("info"), None);
    assert_eq!(code_name_segments("kms.call()"), None);
    assert_eq!(code_name_segments("UP"), None);
    assert_eq!(code_name_segments("K_wrap"), None);

    let tree = vec![
        vec!["kms-core".to_owned(), "src".to_owned(), "lease".to_owned(), "refusal.rs".to_owned()],
        vec!["tests".to_owned(), "browser".to_owned(), "e2e".to_owned(), "tabs.test.mjs".to_owned()],
    ];
    assert!(path_resolves("lease/refusal.rs", &tree));
    assert!(path_resolves("kms-core/src/lease/refusal.rs", &tree));
    assert!(path_resolves("e2e/*.test.mjs", &tree));
    assert!(!path_resolves("ease/refusal.rs", &tree));
    assert!(!path_resolves("lease/refusals.rs", &tree));
    assert!(!path_resolves("../elsewhere/x.md", &tree));

    let found = spans("x.md", "a `b` and ``c `d` e``\n```\n`not`\n```\n`f\ng` `open\n\n`h`");
    let got: Vec<(usize, &str)> = found.iter().map(|s| (s.line, s.text.as_str())).collect();
    assert_eq!(got, vec![(1, "b"), (1, "c `d` e"), (5, "f g"), (8, "h")]);
}
