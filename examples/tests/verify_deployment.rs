//! `kms verify-deployment` against kms-serve: a good bundle verifies; a
//! changed byte in each kind of file, a missing file, an extra file, a
//! missing header and another build each fail, naming what differs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use kms_client::cli::deployment::{verify, verify_with_config, Expected, Outcome, Report};
use kms_client::cli::release::write_manifest;
use kms_examples::serve::{self, AllowedOrigin, KmsPolicy, Options, OriginConfig, Role, Running, SiteSpec};

const PAGE: &str = r#"<!doctype html><title>kms</title>
<script type="importmap">{"integrity": {"./frame-guard.js": "{{sri:frame-guard.js}}"}}</script>
<script type="application/json" id="kms-build">{{build-json}}</script>
<script>window.boot = 1;</script>
<link rel="stylesheet" href="kms.css" integrity="{{sri:kms.css}}">
<script type="module" src="kms-frame.js" integrity="{{sri:kms-frame.js}}"></script>
"#;

fn write(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A small bundle of every kind of file, with its manifest.
fn bundle(dir: &Path) -> kms_client::cli::release::Manifest {
    write(&dir.join("kms.html"), PAGE.as_bytes());
    write(&dir.join("kms.css"), b"body { margin: 0 }");
    write(&dir.join("kms-frame.js"), b"import './frame-guard.js';");
    write(&dir.join("frame-guard.js"), b"export const g = 1;");
    write(&dir.join("kms-worker.js"), b"self.onmessage = () => {};");
    write(&dir.join("pkg/kms_worker.js"), b"export default async function init() {}");
    write(&dir.join("pkg/kms_worker_bg.wasm"), b"\0asm\x01\0\0\0");
    write_manifest(dir, "0123abcd", BTreeMap::from([("cargo".into(), "1.0.0".into())]), "wasm-release").unwrap()
}

/// kms-serve serving `dir` as the KMS origin (with the manifest's script
/// hashes in its CSP, as `kms-serve --kms` does), or as a plain site.
fn start(dir: &Path, as_kms: bool) -> (Running, String) {
    let role = if as_kms {
        let policy = KmsPolicy::new(vec![AllowedOrigin::parse("http://localhost:8080").unwrap()], false)
            .unwrap()
            .with_bundle_manifest(dir)
            .unwrap();
        Role::Kms(policy)
    } else {
        Role::Site
    };
    let spec = SiteSpec::parse(&format!("127.0.0.1:0={}", dir.display())).unwrap();
    let running = serve::start(vec![OriginConfig { role, spec }], Options::default()).unwrap();
    let origin = format!("http://{}", running.origins()[0].addr());
    (running, origin)
}

fn failed(report: &Report, outcome: Outcome) -> Vec<&str> {
    assert!(!report.ok, "{report:?}");
    report.checks.iter().filter(|c| c.outcome == outcome).map(|c| c.subject.as_str()).collect()
}

#[test]
fn a_good_bundle_verifies_against_its_manifest_and_its_build_id() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle(dir.path());
    let (_running, origin) = start(dir.path(), true);
    let report = verify(&origin, &Expected::Manifest(manifest.clone())).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checks.len(), manifest.files.len() + 1, "every file and kms-config.json");
    let by_id = verify(&origin, &Expected::Build(manifest.build[..12].to_owned())).unwrap();
    assert!(by_id.ok, "{by_id:?}");
    // Another build id: refused.
    let other = verify(&origin, &Expected::Build("0".repeat(12))).unwrap();
    assert_eq!(failed(&other, Outcome::Differs), ["manifest.json"]);
}

#[test]
fn one_changed_byte_in_each_kind_of_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle(dir.path());
    let (_running, origin) = start(dir.path(), true);
    for path in [
        "kms.html",
        "kms.css",
        "kms-frame.js",
        "frame-guard.js",
        "kms-worker.js",
        "pkg/kms_worker.js",
        "pkg/kms_worker_bg.wasm",
    ] {
        let file = dir.path().join(path);
        let good = fs::read(&file).unwrap();
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 0x01;
        fs::write(&file, &bad).unwrap();
        let report = verify(&origin, &Expected::Manifest(manifest.clone())).unwrap();
        assert_eq!(failed(&report, Outcome::Differs), [path], "{report:?}");
        fs::write(&file, &good).unwrap();
    }
    assert!(verify(&origin, &Expected::Manifest(manifest)).unwrap().ok);
}

#[test]
fn a_missing_file_an_extra_file_and_missing_headers_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle(dir.path());
    let (_kms, origin) = start(dir.path(), true);

    let worker = dir.path().join("kms-worker.js");
    let kept = fs::read(&worker).unwrap();
    fs::remove_file(&worker).unwrap();
    let report = verify(&origin, &Expected::Manifest(manifest.clone())).unwrap();
    assert_eq!(failed(&report, Outcome::Missing), ["kms-worker.js"]);
    fs::write(&worker, kept).unwrap();

    // A file added to what the origin serves, and to its manifest.
    write(&dir.path().join("extra.js"), b"steal()");
    write(&dir.path().join("kms.html"), PAGE.as_bytes());
    write_manifest(dir.path(), "0123abcd", BTreeMap::new(), "wasm-release").unwrap();
    let report = verify(&origin, &Expected::Manifest(manifest.clone())).unwrap();
    assert_eq!(failed(&report, Outcome::Extra), ["extra.js"]);

    // The same files from a server without the KMS origin's headers.
    let plain = tempfile::tempdir().unwrap();
    let manifest = bundle(plain.path());
    let (_site, site) = start(plain.path(), false);
    let report = verify(&site, &Expected::Manifest(manifest.clone())).unwrap();
    let headers = failed(&report, Outcome::Header);
    assert_eq!(headers.len(), manifest.files.len() + 1, "{report:?}");
    assert!(report.checks.iter().any(|c| c.detail.contains("default-src 'none'")), "{report:?}");
}

#[test]
fn a_served_manifest_cannot_claim_a_build_it_does_not_describe() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle(dir.path());
    let (_running, origin) = start(dir.path(), true);
    // The origin's manifest says it is the trusted build, but lists its own
    // files: the id does not follow from the list, so it is not believed.
    let claimed = "f".repeat(64);
    let text = fs::read_to_string(dir.path().join("manifest.json")).unwrap().replace(&manifest.build, &claimed);
    fs::write(dir.path().join("manifest.json"), text).unwrap();
    let e = verify(&origin, &Expected::Build(claimed[..12].to_owned())).unwrap_err();
    assert!(e.message().contains("not the id of the files it lists"), "{}", e.message());
}

#[test]
fn origins_only() {
    for bad in ["kms.example", "ftp://kms.example", "https://kms.example/path", "https://user@kms.example"] {
        assert!(verify(bad, &Expected::Build("0".repeat(12))).is_err(), "{bad}");
    }
}

#[test]
fn the_deployments_config_is_shown_and_compared() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle(dir.path());
    let (_kms, origin) = start(dir.path(), true);
    let expected = Expected::Manifest(manifest);

    // Not part of the build: shown, with the hosts it allows.
    let report = verify(&origin, &expected).unwrap();
    assert!(report.ok, "{report:?}");
    let shown = report.checks.iter().find(|c| c.subject == "kms-config.json").unwrap();
    assert!(shown.detail.contains("allows http://localhost:8080"), "{shown:?}");

    // Compared as JSON with the deployer's own copy: equal, then another
    // allowlist (a host added behind the deployer's back).
    let text = ureq::get(&format!("{origin}/kms-config.json")).call().unwrap().body_mut().read_to_string().unwrap();
    let served: serde_json::Value = serde_json::from_str(&text).unwrap();
    let report = verify_with_config(&origin, &expected, Some(&served)).unwrap();
    assert!(report.ok, "{report:?}");
    let mut other = served.clone();
    other["allowed_hosts"] = serde_json::json!(["http://localhost:8080", "https://evil.example"]);
    let report = verify_with_config(&origin, &expected, Some(&other)).unwrap();
    assert!(!report.ok);
    let differs = report.checks.iter().find(|c| c.outcome == Outcome::Differs).unwrap();
    assert_eq!(differs.subject, "kms-config.json");
    assert!(differs.detail.contains("differs from the expected in allowed_hosts"), "{differs:?}");

    // A site that serves none: missing.
    let plain = tempfile::tempdir().unwrap();
    let manifest = bundle(plain.path());
    let (_site, site) = start(plain.path(), false);
    let report = verify(&site, &Expected::Manifest(manifest)).unwrap();
    assert_eq!(failed(&report, Outcome::Missing), ["kms-config.json"]);
}

/// The served allowlist is held to the frame's origin rule and to the
/// CSP's `frame-ancestors`: an entry with a trailing slash (the frame
/// refuses the whole file) and hosts on one list only are named.
#[test]
fn an_allowlist_the_frame_would_refuse_or_the_csp_does_not_match_is_found() {
    // kms-serve's generated configuration always matches its CSP.
    let dir = tempfile::tempdir().unwrap();
    let manifest = bundle(dir.path());
    let (_kms, origin) = start(dir.path(), true);
    let report = verify(&origin, &Expected::Manifest(manifest)).unwrap();
    assert!(report.ok, "{report:?}");

    // A plain server with a hand-written file: no frame-ancestors at all,
    // and an entry no browser reports.
    let plain = tempfile::tempdir().unwrap();
    let manifest = bundle(plain.path());
    write(
        &plain.path().join("kms-config.json"),
        br#"{"v":1,"allowed_hosts":["https://app.example.com/","https://shop.example"]}"#,
    );
    let (_site, site) = start(plain.path(), false);
    let report = verify(&site, &Expected::Manifest(manifest)).unwrap();
    let details: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.subject == "kms-config.json" && c.outcome == Outcome::Differs)
        .map(|c| c.detail.as_str())
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details[0].starts_with("allowed_hosts[0] https://app.example.com/: write it as https://app.example.com"),
        "{details:?}"
    );
    assert!(
        details[1].contains(
            "allowed_hosts names https://app.example.com/, https://shop.example which frame-ancestors does not"
        ),
        "{details:?}"
    );
}
