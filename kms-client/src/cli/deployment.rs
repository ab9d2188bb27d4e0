//! `kms verify-deployment URL`: does a running KMS origin serve the build
//! it should, with the headers it must send?
//!
//! It fetches the origin's `/manifest.json` and every file the expected
//! manifest lists (a local one given with `--manifest`, or the served one
//! when `--expect` gives the build id to trust), compares each file's
//! SHA-256 and size, checks that the served manifest lists no file the
//! expected one does not (and the reverse), that `kms.html` carries the
//! expected build id, and that every response carries the KMS origin's
//! headers (docs/browser.md section 6.1): a CSP with `default-src 'none'`,
//! `frame-ancestors`, and the page's two inline-script hashes in
//! `script-src` without `'unsafe-inline'`; `Cross-Origin-Resource-Policy:
//! same-origin`; `X-Content-Type-Options: nosniff`; `Cache-Control` with
//! `no-cache` (or `no-store`). One line per check and a verdict; any
//! difference is a failure.
//!
//! What it cannot see: a server that answers this client and a browser
//! differently, or changes its files between two checks. Run it often,
//! from more than one place.

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::commands::CliError;
use super::release::{hex, Manifest, MAX_MANIFEST_BYTES};

/// Largest file fetched (the WASM is about 1.4 MB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest `kms-config.json` read (the frame and the engine accept at most
/// 64 KiB of configuration).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Where the deployment's configuration is served.
const CONFIG_PATH: &str = "kms-config.json";
/// Most hosts the frame accepts in `allowed_hosts` (`frame-config.js`, the
/// engine's cap).
const MAX_ALLOWED_HOSTS: usize = 64;

/// What the deployment is checked against.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A manifest of a build made or checked elsewhere (a local
    /// reproducible build, a signed release).
    Manifest(Manifest),
    /// The build id (its first 12 or more hex digits) the served manifest
    /// must have; the files are then checked against that manifest.
    Build(String),
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Served, but not as expected (the detail says how).
    Differs,
    /// Expected, not served.
    Missing,
    /// Served (listed by the served manifest), not expected.
    Extra,
    /// A required response header is absent or wrong.
    Header,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub outcome: Outcome,
    /// A path of the origin, or what was checked.
    pub subject: String,
    pub detail: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub origin: String,
    /// The build id checked against.
    pub build: String,
    pub checks: Vec<Check>,
    /// Every check passed.
    pub ok: bool,
}

fn check(outcome: Outcome, subject: impl Into<String>, detail: impl Into<String>) -> Check {
    Check { outcome, subject: subject.into(), detail: detail.into() }
}

/// `scheme://host[:port]` of `url`, refusing anything with a path, query
/// or fragment beyond `/`.
fn origin_of(url: &str) -> Result<String, CliError> {
    let trimmed = url.strip_suffix('/').unwrap_or(url);
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| CliError::Usage(format!("{url}: not an origin like https://kms.example")))?;
    if !matches!(scheme, "https" | "http") || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(CliError::Usage(format!("{url}: not an origin like https://kms.example (no path)")));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// One fetched response.
struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        // What the origin serves at that URL, not elsewhere.
        .max_redirects(0)
        .proxy(None)
        .build()
        .into()
}

fn fetch(agent: &ureq::Agent, url: &str, cap: u64) -> Result<Fetched, String> {
    let mut response = agent.get(url).header("Cache-Control", "no-cache").call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = response.body_mut().with_config().limit(cap).read_to_vec().map_err(|e| e.to_string())?;
    Ok(Fetched { status, headers, body })
}

/// The headers every response of a KMS origin carries; `None` when they
/// are all there.
fn header_problem(f: &Fetched, script_hashes: &[String]) -> Option<String> {
    let csp = f.header("Content-Security-Policy").unwrap_or_default();
    let directive = |name: &str| {
        csp.split(';').map(str::trim).find(|d| d.split_whitespace().next() == Some(name)).map(str::to_owned)
    };
    if directive("default-src").as_deref() != Some("default-src 'none'") {
        return Some("the CSP has no default-src 'none'".into());
    }
    let Some(scripts) = directive("script-src") else { return Some("the CSP has no script-src".into()) };
    if scripts.contains("'unsafe-inline'") || scripts.contains('*') {
        return Some("the CSP's script-src allows inline or any script".into());
    }
    if let Some(h) = script_hashes.iter().find(|h| !scripts.split_whitespace().any(|s| s == h.as_str())) {
        return Some(format!("the CSP's script-src lacks {h}: the page's inline scripts are blocked"));
    }
    match directive("frame-ancestors") {
        Some(d) if d.split_whitespace().count() > 1 && !d.contains('*') => {}
        _ => return Some("the CSP has no frame-ancestors naming the hosts".into()),
    }
    if !f.header("Cross-Origin-Resource-Policy").is_some_and(|v| v.trim().eq_ignore_ascii_case("same-origin")) {
        return Some("no Cross-Origin-Resource-Policy: same-origin".into());
    }
    if !f.header("X-Content-Type-Options").is_some_and(|v| v.trim().eq_ignore_ascii_case("nosniff")) {
        return Some("no X-Content-Type-Options: nosniff".into());
    }
    // The frame fetches the engine's files in the browser's default cache
    // mode (that of kms.html's preloads): only the origin's header makes
    // the browser revalidate them, so that after an upgrade it does not
    // offer a cached file of the earlier build to the new integrity check.
    let revalidated =
        |v: &str| v.split(',').any(|d| matches!(d.trim().to_ascii_lowercase().as_str(), "no-cache" | "no-store"));
    if !f.header("Cache-Control").is_some_and(revalidated) {
        return Some("no Cache-Control: no-cache (a browser could keep a file of an earlier build)".into());
    }
    None
}

/// The build id in a served `kms.html` (its `#kms-build` data block).
fn page_build(page: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(page).ok()?;
    let start = text.find(r#"id="kms-build">"#)? + r#"id="kms-build">"#.len();
    let end = start + text.get(start..)?.find("</script>")?;
    let v: serde_json::Value = serde_json::from_str(text.get(start..end)?).ok()?;
    v.get("build")?.as_str().map(str::to_owned)
}

/// Checks the KMS origin at `url` against `expected`.
pub fn verify(url: &str, expected: &Expected) -> Result<Report, CliError> {
    verify_with_config(url, expected, None)
}

/// [`verify`], and the deployment's `/kms-config.json` (not part of any
/// build: the allowlist and groups are the deployer's): compared with
/// `config` as JSON when given, else reported with the hosts it allows so
/// that a watchdog sees them.
pub fn verify_with_config(
    url: &str,
    expected: &Expected,
    config: Option<&serde_json::Value>,
) -> Result<Report, CliError> {
    let origin = origin_of(url)?;
    let agent = agent();
    let mut checks = Vec::new();
    let served = fetch(&agent, &format!("{origin}/manifest.json"), u64::try_from(MAX_MANIFEST_BYTES).unwrap_or(0) + 1)
        .map_err(|e| CliError::Usage(format!("{origin}/manifest.json: {e}")))?;
    let served_manifest = if served.status == 200 {
        Manifest::parse(&served.body).map_err(|e| CliError::Usage(format!("{origin}/manifest.json: {e}")))?
    } else {
        return Err(CliError::Usage(format!("{origin}/manifest.json: HTTP {}", served.status)));
    };
    let manifest = match expected {
        Expected::Manifest(m) => m.clone(),
        Expected::Build(id) => {
            if !served_manifest.build.starts_with(id.as_str()) {
                checks.push(check(
                    Outcome::Differs,
                    "manifest.json",
                    format!("build {} is not the expected {id}", &served_manifest.build[..12]),
                ));
            }
            served_manifest.clone()
        }
    };
    if served_manifest.build != manifest.build {
        checks.push(check(
            Outcome::Differs,
            "manifest.json",
            format!("build {} is not {}", &served_manifest.build[..12], &manifest.build[..12]),
        ));
    }
    for extra in served_manifest.files.iter().filter(|f| !manifest.files.iter().any(|e| e.path == f.path)) {
        checks.push(check(Outcome::Extra, &extra.path, "listed by the served manifest, not by the expected one"));
    }
    if let Some(p) = header_problem(&served, &manifest.csp_script_hashes) {
        checks.push(check(Outcome::Header, "manifest.json", p));
    }
    for file in &manifest.files {
        let url = format!("{origin}/{}", file.path);
        let got = match fetch(&agent, &url, MAX_FILE_BYTES + 1) {
            Ok(f) => f,
            Err(e) => {
                checks.push(check(Outcome::Missing, &file.path, e));
                continue;
            }
        };
        if got.status != 200 {
            checks.push(check(Outcome::Missing, &file.path, format!("HTTP {}", got.status)));
            continue;
        }
        let sha = hex(&Sha256::digest(&got.body));
        if sha != file.sha256 || u64::try_from(got.body.len()).ok() != Some(file.size) {
            checks.push(check(
                Outcome::Differs,
                &file.path,
                format!(
                    "served sha256 {} ({} bytes), expected {} ({} bytes)",
                    &sha[..16],
                    got.body.len(),
                    &file.sha256[..16],
                    file.size
                ),
            ));
        } else if file.path == "kms.html" && page_build(&got.body).as_deref() != Some(manifest.build.as_str()) {
            checks.push(check(Outcome::Differs, &file.path, "the page does not carry the expected build id"));
        } else {
            checks.push(check(Outcome::Ok, &file.path, format!("sha256 {}", &sha[..16])));
        }
        if let Some(p) = header_problem(&got, &manifest.csp_script_hashes) {
            checks.push(check(Outcome::Header, &file.path, p));
        }
    }
    checks.extend(check_config(&agent, &origin, &manifest, config));
    let ok = checks.iter().all(|c| c.outcome == Outcome::Ok);
    Ok(Report { origin, build: manifest.build, checks, ok })
}

/// The served `/kms-config.json`: present, a JSON object, with the
/// origin's headers, and equal to `expected` when given.
fn check_config(
    agent: &ureq::Agent,
    origin: &str,
    manifest: &Manifest,
    expected: Option<&serde_json::Value>,
) -> Vec<Check> {
    let got = match fetch(agent, &format!("{origin}/{CONFIG_PATH}"), MAX_CONFIG_BYTES + 1) {
        Ok(f) if f.status == 200 => f,
        Ok(f) => return vec![check(Outcome::Missing, CONFIG_PATH, format!("HTTP {}", f.status))],
        Err(e) => return vec![check(Outcome::Missing, CONFIG_PATH, e)],
    };
    let mut out = Vec::new();
    if let Some(p) = header_problem(&got, &manifest.csp_script_hashes) {
        out.push(check(Outcome::Header, CONFIG_PATH, p));
    }
    let served: serde_json::Value = match serde_json::from_slice(&got.body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return [out, vec![check(Outcome::Differs, CONFIG_PATH, "not a JSON object")]].concat(),
    };
    let hosts: Vec<&str> = served
        .get("allowed_hosts")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    out.extend(host_problems(&served, &hosts, &got));
    let allowed = hosts.join(", ");
    let sha = hex(&Sha256::digest(&got.body));
    out.push(match expected {
        Some(e) if *e == served => check(Outcome::Ok, CONFIG_PATH, format!("as expected; allows {allowed}")),
        Some(e) => {
            let keys = |v: &serde_json::Value| {
                v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()
            };
            let mut names: Vec<String> = keys(e).into_iter().chain(keys(&served)).collect();
            names.sort();
            names.dedup();
            let differ: Vec<String> = names.into_iter().filter(|k| e.get(k) != served.get(k)).collect();
            check(
                Outcome::Differs,
                CONFIG_PATH,
                format!("differs from the expected in {}; allows {allowed}", differ.join(", ")),
            )
        }
        None => check(
            Outcome::Ok,
            CONFIG_PATH,
            format!(
                "sha256 {}; not part of the build: allows {allowed} (compare with --expect-config FILE)",
                &sha[..16]
            ),
        ),
    });
    out
}

/// What the frame would refuse or never match in the served allowlist, and
/// any difference between it and the CSP `frame-ancestors` the origin
/// sends: a host only in the list cannot embed the frame (the browser does
/// not load it, the page gets `timeout`), a host only in `frame-ancestors`
/// embeds it and is answered `origin_not_allowed`.
fn host_problems(served: &serde_json::Value, hosts: &[&str], got: &Fetched) -> Vec<Check> {
    let differs = |detail: String| check(Outcome::Differs, CONFIG_PATH, detail);
    let mut out = Vec::new();
    let listed = served.get("allowed_hosts").and_then(serde_json::Value::as_array);
    if listed.is_none_or(|a| a.is_empty() || a.len() != hosts.len()) {
        out.push(differs(
            "allowed_hosts is not a non-empty list of origins: the frame refuses the configuration".into(),
        ));
    }
    if hosts.len() > MAX_ALLOWED_HOSTS {
        out.push(differs(format!(
            "allowed_hosts names {} hosts, more than {MAX_ALLOWED_HOSTS}: the frame refuses the configuration",
            hosts.len()
        )));
    }
    for (i, host) in hosts.iter().enumerate() {
        if let Err(reason) = kms_core::origin::check_app_origin(host) {
            out.push(differs(format!("allowed_hosts[{i}] {host:.80}: {reason}: the frame refuses the configuration")));
        } else if hosts.get(..i).is_some_and(|before| before.contains(host)) {
            out.push(differs(format!("allowed_hosts[{i}] {host}: listed twice: the frame refuses the configuration")));
        }
    }
    // Directive names are case-insensitive and their values separated by
    // any whitespace (CSP3 section 2.2.1).
    let csp = got.header("Content-Security-Policy").unwrap_or_default();
    let ancestors: Vec<&str> = csp
        .split(';')
        .map(|d| d.split_ascii_whitespace())
        .find_map(|mut d| d.next().filter(|n| n.eq_ignore_ascii_case("frame-ancestors")).map(|_| d.collect()))
        .unwrap_or_default();
    let only_listed: Vec<&str> = hosts.iter().copied().filter(|h| !ancestors.contains(h)).collect();
    let only_framed: Vec<&str> = ancestors.iter().copied().filter(|a| !hosts.contains(a)).collect();
    if !only_listed.is_empty() {
        out.push(differs(format!(
            "allowed_hosts names {} which frame-ancestors does not: the browser will not load the frame there",
            only_listed.join(", ")
        )));
    }
    if !only_framed.is_empty() {
        out.push(differs(format!(
            "frame-ancestors names {} which allowed_hosts does not: the frame will answer origin_not_allowed",
            only_framed.join(", ")
        )));
    }
    out
}

/// `kms verify-deployment`: prints the report; a failed check is an error.
pub(super) fn run(
    j: bool,
    url: &str,
    manifest: Option<&std::path::Path>,
    expect: Option<&str>,
    expect_config: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let config = match expect_config {
        Some(path) => {
            let bytes = super::files::read_capped(path, MAX_CONFIG_BYTES)?;
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", path.display())))?;
            Some(v)
        }
        None => None,
    };
    let expected = match (manifest, expect) {
        (Some(path), None) => {
            let bytes = super::files::read_capped(path, u64::try_from(MAX_MANIFEST_BYTES).unwrap_or(0))?;
            Expected::Manifest(
                Manifest::parse(&bytes).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?,
            )
        }
        (None, Some(id))
            if (12..=64).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Expected::Build(id.to_owned())
        }
        (None, Some(_)) => return Err(CliError::Usage("--expect: a build id, 12 to 64 lowercase hex digits".into())),
        _ => return Err(CliError::Usage("give --manifest FILE or --expect BUILD".into())),
    };
    let report = verify_with_config(url, &expected, config.as_ref())?;
    if j {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        for c in &report.checks {
            let tag = match c.outcome {
                Outcome::Ok => "ok",
                Outcome::Differs => "DIFFERS",
                Outcome::Missing => "MISSING",
                Outcome::Extra => "EXTRA",
                Outcome::Header => "HEADER",
            };
            println!("{tag:<8} {:<28} {}", c.subject, c.detail);
        }
        let bad = report.checks.iter().filter(|c| c.outcome != Outcome::Ok).count();
        println!(
            "{}: {} serves build {} {}",
            if report.ok { "verified" } else { "NOT VERIFIED" },
            report.origin,
            &report.build[..12],
            if report.ok { "as expected".to_owned() } else { format!("with {bad} difference(s)") }
        );
    }
    if report.ok {
        Ok(())
    } else {
        Err(CliError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::{host_problems, Fetched};

    fn problems(config: &str, csp: &str) -> Vec<String> {
        let served: serde_json::Value = serde_json::from_str(config).unwrap_or_default();
        let hosts: Vec<&str> = served["allowed_hosts"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let got =
            Fetched { status: 200, headers: vec![("content-security-policy".into(), csp.into())], body: Vec::new() };
        host_problems(&served, &hosts, &got).into_iter().map(|c| c.detail).collect()
    }

    #[test]
    fn a_matching_allowlist_has_no_problem_however_the_csp_is_spelled() {
        let config = r#"{"allowed_hosts":["https://a.example","https://b.example"]}"#;
        assert!(problems(config, "default-src 'none'; frame-ancestors https://a.example https://b.example").is_empty());
        assert!(
            problems(config, "default-src 'none';FRAME-ANCESTORS\thttps://b.example  https://a.example ;").is_empty()
        );
    }

    #[test]
    fn hosts_on_one_list_only_are_named_with_what_follows() {
        let config = r#"{"allowed_hosts":["https://a.example","https://b.example"]}"#;
        let p = problems(config, "frame-ancestors https://a.example https://c.example");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("allowed_hosts names https://b.example which frame-ancestors does not"), "{p:?}");
        assert!(p[1].contains("frame-ancestors names https://c.example which allowed_hosts does not"), "{p:?}");
    }

    #[test]
    fn what_the_frame_refuses_is_named() {
        let twice = r#"{"allowed_hosts":["https://a.example","https://a.example"]}"#;
        let p = problems(twice, "frame-ancestors https://a.example");
        assert_eq!(p, ["allowed_hosts[1] https://a.example: listed twice: the frame refuses the configuration"]);

        let hosts: Vec<String> = (0..65).map(|i| format!("\"https://h{i}.example\"")).collect();
        let many = format!(r#"{{"allowed_hosts":[{}]}}"#, hosts.join(","));
        let csp = format!(
            "frame-ancestors {}",
            (0..65).map(|i| format!("https://h{i}.example")).collect::<Vec<_>>().join(" ")
        );
        let p = problems(&many, &csp);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("65 hosts, more than 64"), "{p:?}");

        for config in [r#"{"allowed_hosts":[]}"#, r#"{"allowed_hosts":["https://a.example",7]}"#, r#"{}"#] {
            let p = problems(config, "frame-ancestors https://a.example");
            assert!(p[0].contains("not a non-empty list of origins"), "{config}: {p:?}");
        }
    }
}
