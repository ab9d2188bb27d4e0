//! `kms release manifest DIR`: what a built KMS-origin bundle is, file by
//! file, and the integrity values its page carries.
//!
//! `scripts/build-web.sh` runs it on `target/web/kms/` after copying the
//! files. It
//!
//! 1. hashes every file but `kms.html` and `manifest.json` (SHA-256, and
//!    SHA-384 in Subresource Integrity form);
//! 2. renders `kms.html` from its template: `{{sri:PATH}}` becomes the SRI
//!    value of PATH, `{{build-json}}` the JSON the frame and the worker
//!    check their code against (the build id and every file's SRI value);
//! 3. writes `manifest.json`: the build id, the commit, the toolchain, the
//!    profile, every file served (`kms.html` included) with its size and
//!    hashes, and the CSP hashes of the page's inline scripts (the import
//!    map and the boot script), which the origin's `script-src` must list.
//!
//! The build id ([`build_id`]) is SHA-256 over the line `kms.html template
//! <sha256 of the template>` and the sorted `path sha256` lines of every
//! other file: the page carries the id, so the id covers the page's
//! template, not the page; `manifest.json` lists the page's own hashes and
//! the template's, and whoever reads a manifest recomputes the id from them
//! ([`Manifest::parse`]). File names are `[A-Za-z0-9._-]` only, so each
//! line reads one way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha384};

use kms_core::crypto::p256_key::{Jwk, KeyFormat, P256PublicKey, P256SigningKey};

use super::commands::{out, CliError};

/// The page rendered from its template.
const PAGE: &str = "kms.html";
/// The manifest written.
const MANIFEST: &str = "manifest.json";
/// Most files a bundle may hold.
const MAX_FILES: usize = 256;
/// Largest file hashed (the WASM is about 1.3 MB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The manifest's format.
const MANIFEST_FORMAT: u32 = 1;

fn usage(what: impl std::fmt::Display) -> CliError {
    CliError::Usage(what.to_string())
}

/// One file as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the origin's root, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// `sha384-<base64>`, the form of an `integrity` attribute.
    pub sri: String,
}

/// `manifest.json`: what a built bundle is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub v: u32,
    /// The build id (64 hex digits): [`build_id`] of `page_template_sha256`
    /// and the other files, checked by [`Manifest::parse`].
    pub build: String,
    /// SHA-256 (hex) of the page's template, which the build id covers in
    /// place of the page (the page carries the id).
    pub page_template_sha256: String,
    pub commit: String,
    pub profile: String,
    pub toolchain: BTreeMap<String, String>,
    /// `'sha256-…'` sources for the CSP `script-src` of the KMS origin.
    pub csp_script_hashes: Vec<String>,
    /// Sorted by path.
    pub files: Vec<FileEntry>,
}

/// Most bytes of a manifest read back.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

impl Manifest {
    /// Parses a manifest of this format.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(format!("larger than {MAX_MANIFEST_BYTES} bytes"));
        }
        let m: Self = serde_json::from_slice(bytes).map_err(|e| format!("not a manifest: {e}"))?;
        if m.v != MANIFEST_FORMAT {
            return Err(format!("format {} (this kms reads {MANIFEST_FORMAT})", m.v));
        }
        if m.build.len() != 64 || !m.build.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("build is not 64 hex digits".into());
        }
        if m.files.len() > MAX_FILES {
            return Err(format!("more than {MAX_FILES} files"));
        }
        let is_hex64 = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_hex64(&m.page_template_sha256) {
            return Err("page_template_sha256 is not 64 lowercase hex digits".into());
        }
        // Paths become URLs and report lines, hashes are shown cut short:
        // both must be what the build writes.
        for f in &m.files {
            if f.path.split('/').any(|seg| !is_plain_name(seg)) || !is_hex64(&f.sha256) {
                return Err("a file entry has a path or sha256 the build never writes".into());
            }
        }
        // The id must be the one its own list gives: a manifest cannot
        // claim a build it does not describe.
        if build_id(&m.page_template_sha256, m.files.iter().filter(|f| f.path != PAGE)) != m.build {
            return Err("build is not the id of the files it lists".into());
        }
        Ok(m)
    }
}

/// What the page carries for the frame and the worker.
#[derive(Serialize)]
struct PageBuild<'a> {
    build: &'a str,
    files: BTreeMap<&'a str, &'a str>,
}

/// The build id: SHA-256 (hex) over the line `kms.html template <sha256>`
/// and one line `<path> <sha256>` per other file, sorted by path.
pub fn build_id<'a>(template_sha256: &str, files: impl Iterator<Item = &'a FileEntry>) -> String {
    let mut lines: Vec<String> = files.map(|e| format!("{} {}\n", e.path, e.sha256)).collect();
    lines.sort();
    let listing: String = std::iter::once(format!("{PAGE} template {template_sha256}\n")).chain(lines).collect();
    hex(&Sha256::digest(listing.as_bytes()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entry(path: String, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path,
        size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        sha256: hex(&Sha256::digest(bytes)),
        sri: format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))),
    }
}

/// Every file under `dir` (relative, `/`-separated, sorted), without the
/// manifest.
fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, CliError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| usage(format!("cannot read {}: {e}", d.display())))?;
        for e in entries {
            let e = e.map_err(|e| usage(format!("cannot read {}: {e}", d.display())))?;
            let path = e.path();
            let kind = e.file_type().map_err(|err| usage(format!("{}: {err}", path.display())))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).map_err(|_| usage("a file outside the bundle"))?;
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_str().filter(|n| is_plain_name(n)).map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| {
                        usage(format!("{}: file names in a bundle are [A-Za-z0-9._-] only", path.display()))
                    })?
                    .join("/");
                if rel != MANIFEST {
                    found.push((rel, path));
                }
            } else {
                return Err(usage(format!("{}: only files and directories may be in a bundle", path.display())));
            }
            if found.len() > MAX_FILES {
                return Err(usage(format!("more than {MAX_FILES} files under {}", dir.display())));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A file or directory name a manifest line and a URL carry as is.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(usage(format!("{}: larger than {MAX_FILE_BYTES} bytes", path.display())));
    }
    std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// The page with its placeholders filled; an unknown or leftover one is an
/// error, so a page never ships half-rendered.
fn render(template: &str, sri: &BTreeMap<String, String>, build_json: &str) -> Result<String, CliError> {
    let mut out = String::with_capacity(template.len() + 4096);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| usage(format!("{PAGE}: an unclosed {{{{")))?;
        let name = &after[..end];
        match name.strip_prefix("sri:") {
            Some(path) => out.push_str(sri.get(path).ok_or_else(|| usage(format!("{PAGE}: no file {path} to hash")))?),
            None if name == "build-json" => out.push_str(build_json),
            None => return Err(usage(format!("{PAGE}: unknown placeholder {name}"))),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if out == template {
        // A page rendered already: its values would be stale.
        return Err(usage(format!(
            "{PAGE} has no placeholders: render it from its template (kms-worker/web/kms.html)"
        )));
    }
    Ok(out)
}

/// The `'sha256-…'` CSP source of each inline script of `page` (a script
/// element without `src`), data blocks (`type="application/json"`) aside.
fn inline_script_hashes(page: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = page;
    while let Some(open) = rest.find("<script") {
        let Some(tag_end) = rest[open..].find('>').map(|i| open + i) else { break };
        let tag = &rest[open..tag_end];
        let Some(close) = rest[tag_end..].find("</script>").map(|i| tag_end + i) else { break };
        let body = &rest[tag_end + 1..close];
        if !tag.contains(" src=") && !tag.contains("application/json") {
            // Browsers hash the text the HTML parser made, in which CR LF
            // and a lone CR are LF.
            let text = body.replace("\r\n", "\n").replace('\r', "\n");
            hashes.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
            ));
        }
        rest = &rest[close + "</script>".len()..];
    }
    hashes
}

/// `kms release manifest`.
pub(super) fn manifest(j: bool, dir: &Path, commit: &str, tools: &[String], profile: &str) -> Result<(), CliError> {
    let toolchain: BTreeMap<String, String> = tools
        .iter()
        .map(|t| {
            t.split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .ok_or_else(|| usage(format!("--tool {t}: expected NAME=VERSION")))
        })
        .collect::<Result<_, _>>()?;
    let manifest = write_manifest(dir, commit, toolchain, profile)?;
    let path = dir.join(MANIFEST);
    out(j, serde_json::json!({"build": manifest.build, "manifest": path}), || {
        format!("build {} ({} files); manifest in {}", &manifest.build[..12], manifest.files.len(), path.display())
    });
    Ok(())
}

/// Renders `dir/kms.html` from its template and writes `dir/manifest.json`
/// (module docs); returns the manifest.
pub fn write_manifest(
    dir: &Path,
    commit: &str,
    toolchain: BTreeMap<String, String>,
    profile: &str,
) -> Result<Manifest, CliError> {
    let files = files_under(dir)?;
    let template_path = dir.join(PAGE);
    let template = String::from_utf8(read(&template_path)?).map_err(|_| usage(format!("{PAGE}: not UTF-8")))?;

    let mut entries: Vec<FileEntry> = Vec::with_capacity(files.len());
    for (rel, path) in files.iter().filter(|(rel, _)| rel != PAGE) {
        entries.push(entry(rel.clone(), &read(path)?));
    }
    let template_sha256 = hex(&Sha256::digest(template.as_bytes()));
    let build = build_id(&template_sha256, entries.iter());
    let sri: BTreeMap<String, String> = entries.iter().map(|e| (e.path.clone(), e.sri.clone())).collect();
    let page_build = PageBuild { build: &build, files: sri.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect() };
    // `</` never appears in this JSON (paths and base64), so the data block
    // cannot end early.
    let build_json = serde_json::to_string(&page_build).map_err(|e| usage(format!("build json: {e}")))?;
    let page = render(&template, &sri, &build_json)?;
    std::fs::write(&template_path, &page).map_err(|e| usage(format!("{}: {e}", template_path.display())))?;
    entries.push(entry(PAGE.to_owned(), page.as_bytes()));
    entries.sort_by(|a, b| a.path.cmp(&b.path));

    let manifest = Manifest {
        v: MANIFEST_FORMAT,
        build: build.clone(),
        page_template_sha256: template_sha256,
        commit: commit.to_owned(),
        profile: profile.to_owned(),
        toolchain,
        csp_script_hashes: inline_script_hashes(&page),
        files: entries,
    };
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|e| usage(format!("manifest: {e}")))?;
    text.push('\n');
    let manifest_path = dir.join(MANIFEST);
    std::fs::write(&manifest_path, text).map_err(|e| usage(format!("{}: {e}", manifest_path.display())))?;
    Ok(manifest)
}

/// What `MANIFEST.sig` holds: ES256 (ECDSA P-256, SHA-256, low `s`) over
/// the manifest file's exact bytes, by the key whose RFC 7638 thumbprint is
/// `kid`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    pub v: u32,
    pub alg: String,
    pub kid: String,
    /// base64url of `r || s`.
    pub sig: String,
}

/// The signature format.
const SIGNATURE_FORMAT: u32 = 1;
/// Largest key, public key or signature file read.
const MAX_SMALL_FILE: u64 = 4096;

fn signature_path(manifest: &Path) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// `kms release keygen --out FILE`.
pub(super) fn keygen(j: bool, out_path: &Path) -> Result<(), CliError> {
    let key = P256SigningKey::generate(&mut rand_core::OsRng);
    let pkcs8 = key.to_pkcs8();
    let encoded = zeroize::Zeroizing::new(kms_core::b64::encode(&pkcs8));
    let text = zeroize::Zeroizing::new(format!("{}\n", encoded.as_str()));
    let file = super::files::OutputFile::create_new(out_path, true, "no key was made")?;
    file.write(text.as_bytes())?;
    let public = key.public();
    let jwk = serde_json::to_value(public.jwk()).map_err(|e| usage(format!("jwk: {e}")))?;
    out(j, serde_json::json!({"kid": public.thumbprint().as_str(), "public_key": jwk}), || {
        format!(
            "private key in {} (keep it offline)\npublic key (publish it; kid {}):\n{}",
            out_path.display(),
            public.thumbprint().as_str(),
            jwk
        )
    });
    Ok(())
}

/// `kms release sign MANIFEST --key FILE`.
pub(super) fn sign(j: bool, manifest: &Path, key_path: &Path) -> Result<(), CliError> {
    let bytes = super::files::read_capped(manifest, u64::try_from(MAX_MANIFEST_BYTES).unwrap_or(0))?;
    Manifest::parse(&bytes).map_err(|e| usage(format!("{}: {e}", manifest.display())))?;
    let text = zeroize::Zeroizing::new(super::files::read_capped(key_path, MAX_SMALL_FILE)?);
    let der = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| kms_core::b64::decode(t.trim(), 512, "key").ok())
        .map(zeroize::Zeroizing::new)
        .ok_or_else(|| usage(format!("{}: not a key of kms release keygen", key_path.display())))?;
    let key = P256SigningKey::from_plaintext(KeyFormat::Pkcs8, &der)
        .map_err(|_| usage(format!("{}: not a key of kms release keygen", key_path.display())))?;
    let sig = key.sign_low_s(&bytes).map_err(|e| usage(format!("signing failed: {e}")))?;
    let signature = ManifestSignature {
        v: SIGNATURE_FORMAT,
        alg: "ES256".into(),
        kid: key.public().thumbprint().as_str().to_owned(),
        sig: kms_core::b64::encode(sig),
    };
    let path = signature_path(manifest);
    let mut body = serde_json::to_string(&signature).map_err(|e| usage(format!("signature: {e}")))?;
    body.push('\n');
    super::files::OutputFile::create_or_replace(&path, "nothing was signed")?.write(body.as_bytes())?;
    out(j, serde_json::json!({"signature": path, "kid": signature.kid}), || {
        format!("signed {} with kid {}: {}", manifest.display(), signature.kid, path.display())
    });
    Ok(())
}

/// `kms release verify MANIFEST --public-key FILE [--signature FILE]`.
pub(super) fn verify_signature(
    j: bool,
    manifest: &Path,
    public_key: &Path,
    signature: Option<&Path>,
) -> Result<(), CliError> {
    let bytes = super::files::read_capped(manifest, u64::try_from(MAX_MANIFEST_BYTES).unwrap_or(0))?;
    let parsed = Manifest::parse(&bytes).map_err(|e| usage(format!("{}: {e}", manifest.display())))?;
    let jwk: Jwk = serde_json::from_slice(&super::files::read_capped(public_key, MAX_SMALL_FILE)?)
        .map_err(|_| usage(format!("{}: not a P-256 public JWK", public_key.display())))?;
    let key = P256PublicKey::from_jwk(&jwk)
        .map_err(|_| usage(format!("{}: not a P-256 public JWK", public_key.display())))?;
    let sig_path = signature.map_or_else(|| signature_path(manifest), Path::to_owned);
    let sig: ManifestSignature = serde_json::from_slice(&super::files::read_capped(&sig_path, MAX_SMALL_FILE)?)
        .map_err(|e| CliError::Signature(format!("{}: not a manifest signature: {e}", sig_path.display())))?;
    if sig.v != SIGNATURE_FORMAT || sig.alg != "ES256" {
        return Err(CliError::Signature(format!(
            "{}: format {} {} (this kms reads 1 ES256)",
            sig_path.display(),
            sig.v,
            sig.alg
        )));
    }
    if sig.kid != key.thumbprint().as_str() {
        return Err(CliError::Signature(format!(
            "{} was signed by kid {}, not by the given key ({})",
            manifest.display(),
            sig.kid,
            key.thumbprint().as_str()
        )));
    }
    let raw: [u8; 64] = kms_core::b64::decode_array(&sig.sig, "sig")
        .map_err(|_| CliError::Signature(format!("{}: sig is not 64 bytes of base64url", sig_path.display())))?;
    if !key.verify_low_s(&bytes, &raw) {
        return Err(CliError::Signature(format!(
            "the signature of {} does not verify under kid {}: the manifest or the signature was changed",
            manifest.display(),
            sig.kid
        )));
    }
    out(j, serde_json::json!({"verified": true, "kid": sig.kid, "build": parsed.build}), || {
        format!("verified: {} (build {}) is signed by kid {}", manifest.display(), &parsed.build[..12], sig.kid)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_or_refused() {
        let sri = BTreeMap::from([("a.js".to_owned(), "sha384-AAAA".to_owned())]);
        assert_eq!(
            render("<x integrity=\"{{sri:a.js}}\">{{build-json}}", &sri, "{}").unwrap(),
            "<x integrity=\"sha384-AAAA\">{}"
        );
        for bad in ["{{sri:b.js}}", "{{other}}", "{{sri:a.js"] {
            assert!(render(bad, &sri, "{}").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_manifest_reads_only_as_the_build_writes_it() {
        let file =
            |path: &str, sha: &str| FileEntry { path: path.into(), size: 1, sha256: sha.into(), sri: "x".into() };
        let good = "a".repeat(64);
        let manifest = |files: Vec<FileEntry>| {
            let build = build_id(&good, files.iter());
            let m = Manifest {
                v: MANIFEST_FORMAT,
                build,
                page_template_sha256: good.clone(),
                commit: "c".into(),
                profile: "p".into(),
                toolchain: BTreeMap::new(),
                csp_script_hashes: vec![],
                files,
            };
            Manifest::parse(&serde_json::to_vec(&m).unwrap())
        };
        assert!(manifest(vec![file("pkg/a.wasm", &good)]).is_ok());
        for bad in [file("../a.js", &good), file("a b.js", &good), file("a.js", &"é".repeat(32)), file("a.js", "ab")] {
            assert!(manifest(vec![bad]).is_err());
        }
    }

    #[test]
    fn inline_scripts_are_hashed_and_data_blocks_and_external_ones_are_not() {
        let page = r#"<script type="importmap">{"a":1}</script><script type="application/json" id="b">{}</script><script type="module" src="x.js" integrity="y"></script><script type="module">go()</script>"#;
        let hashes = inline_script_hashes(page);
        assert_eq!(hashes.len(), 2);
        let expected =
            format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"go()")));
        assert_eq!(hashes[1], expected);
    }
}
