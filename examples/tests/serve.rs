#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! `kms-serve` end to end: servers started in-process on port 0, spoken to
//! in raw HTTP/1.1, plus the binary's command line.

mod common;

use common::{spawn_announcing, Reply};
use std::{fs, net::SocketAddr, path::Path, process::Command};

use kms_examples::serve::{
    self, AllowedOrigin, HostGroup, KmsPolicy, Options, OriginConfig, Role, Running, ServeError, SiteSpec,
};
use tempfile::TempDir;

const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; \
                   connect-src 'self'; style-src 'self'; img-src 'self'; \
                   frame-ancestors http://localhost:8080 https://pwa.example; base-uri 'none'; form-action 'none'";
const CONFIG: &str = r#"{"v":1,"allowed_hosts":["http://localhost:8080","https://pwa.example"],"allow_loopback_push":false,"allow_passkey_gate":true}"#;
const SECRET: &str = "secret outside the site";
const WASM: &[u8] = b"\0asm\x01\0\0\0";

struct Fixture {
    // Held for its Drop: the servers stop before the directory goes.
    running: Running,
    dir: TempDir,
}

impl Fixture {
    fn kms(&self) -> SocketAddr {
        self.running.origins()[0].addr()
    }

    fn host(&self) -> SocketAddr {
        self.running.origins()[1].addr()
    }
}

fn write(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A KMS directory, a host directory, and a secret beside them.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let kms = dir.path().join("kms");
    let host = dir.path().join("host");
    write(&kms.join("index.html"), b"<!doctype html><title>kms</title>");
    write(&kms.join("worker.js"), b"self.onmessage = () => {};");
    write(&kms.join("pkg/kms_bg.wasm"), WASM);
    write(&kms.join("pkg/kms.d.ts"), b"export {};");
    write(&kms.join("docs/index.html"), b"docs index");
    write(&kms.join("empty/readme.txt"), b"no index here");
    write(&kms.join("data.bin"), b"\x01\x02");
    write(&kms.join(".env"), b"HIDDEN=1");
    // A decoy: the generated kms-config.json must win over this one.
    write(&kms.join("kms-config.json"), br#"{"v":1,"allowed_hosts":["https://evil.example"]}"#);
    write(&host.join("index.html"), b"host page");
    write(&dir.path().join("secret.txt"), SECRET.as_bytes());
    write(&dir.path().join("outside/secret.txt"), SECRET.as_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(dir.path().join("secret.txt"), kms.join("link-out.txt")).unwrap();
        symlink(dir.path().join("outside"), kms.join("dir-out")).unwrap();
        symlink(kms.join("worker.js"), kms.join("link-in.js")).unwrap();
    }

    let policy = KmsPolicy::new(
        vec![
            AllowedOrigin::parse("http://localhost:8080").unwrap(),
            AllowedOrigin::parse("https://pwa.example").unwrap(),
            AllowedOrigin::parse("http://localhost:8080").unwrap(),
        ],
        false,
    )
    .unwrap();
    let origins = vec![
        OriginConfig {
            role: Role::Kms(policy),
            spec: SiteSpec::parse(&format!("127.0.0.1:0={}", kms.display())).unwrap(),
        },
        OriginConfig { role: Role::Host, spec: SiteSpec::parse(&format!("127.0.0.1:0={}", host.display())).unwrap() },
    ];
    let running = serve::start(origins, Options::default()).unwrap();
    Fixture { running, dir }
}

/// One request on a fresh connection (a POST carries `{}`).
fn request(addr: SocketAddr, method: &str, target: &str) -> Reply {
    common::http(addr, method, target, &[], if method == "POST" { b"{}" } else { b"" })
}

fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target)
}

fn assert_kms_headers(reply: &Reply) {
    assert_eq!(reply.header("Content-Security-Policy"), Some(CSP), "{reply:?}");
    assert_eq!(reply.header("Cross-Origin-Resource-Policy"), Some("same-origin"));
    assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(reply.header("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(reply.header("Cache-Control"), Some("no-cache"));
}

#[test]
fn kms_headers_on_a_file_a_404_an_error_and_the_config() {
    let f = fixture();
    let file = get(f.kms(), "/worker.js");
    assert_eq!(file.status, 200);
    assert_kms_headers(&file);
    assert_eq!(file.header("Content-Type"), Some("text/javascript; charset=utf-8"));

    let missing = get(f.kms(), "/nope.js");
    assert_eq!(missing.status, 404);
    assert_kms_headers(&missing);

    let refused = request(f.kms(), "POST", "/worker.js");
    assert_eq!(refused.status, 405);
    assert_kms_headers(&refused);

    let config = get(f.kms(), "/kms-config.json");
    assert_eq!(config.status, 200);
    assert_kms_headers(&config);
}

/// The header list a deployer is given (docs/integration.md section 2,
/// under `<!-- kms-origin headers -->`) is what kms-serve sends, line for
/// line, once its placeholders are filled with the bundle's hashes and the
/// allowed hosts.
#[test]
fn kms_serve_sends_the_documented_header_list() {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/integration.md")).unwrap();
    let at =
        doc.find("<!-- kms-origin headers -->").expect("docs/integration.md: no <!-- kms-origin headers --> block");
    let documented: Vec<&str> =
        doc[at..].lines().skip(2).map(str::trim).take_while(|l| *l != "```").filter(|l| !l.is_empty()).collect();
    assert_eq!(documented.len(), 5, "{documented:?}");

    let dir = tempfile::tempdir().unwrap();
    let hashes = [
        "'sha256-HlDVfpznAURciX0mR8XI7bDO8gy+B7PUnOQ9t9rbpvY='",
        "'sha256-VY2ggl+gqG1SGKaD9blhCpNLYtKeJJ1DaXewt8jMEOE='",
    ];
    write(
        &dir.path().join("manifest.json"),
        format!(r#"{{"csp_script_hashes":["{}","{}"]}}"#, hashes[0], hashes[1]).as_bytes(),
    );
    let policy = KmsPolicy::new(
        vec![
            AllowedOrigin::parse("http://localhost:8080").unwrap(),
            AllowedOrigin::parse("https://pwa.example").unwrap(),
        ],
        false,
    )
    .unwrap()
    .with_bundle_manifest(dir.path())
    .unwrap();
    let origins = vec![OriginConfig {
        role: Role::Kms(policy),
        spec: SiteSpec::parse(&format!("127.0.0.1:0={}", dir.path().display())).unwrap(),
    }];
    let running = serve::start(origins, Options::default()).unwrap();
    for target in ["/manifest.json", "/missing.js"] {
        let reply = get(running.origins()[0].addr(), target);
        for line in &documented {
            let (name, value) = line.split_once(": ").unwrap();
            let expected = value
                .replace("<hash 1> <hash 2>", &hashes.join(" "))
                .replace("<app origins>", "http://localhost:8080 https://pwa.example");
            assert_eq!(reply.header(name), Some(expected.as_str()), "{target}: {name}");
        }
    }
}

#[test]
fn kms_config_is_generated_from_the_flags_and_wins_over_a_file() {
    let f = fixture();
    let config = get(f.kms(), "/kms-config.json?v=2");
    assert_eq!(config.status, 200);
    assert_eq!(config.header("Content-Type"), Some("application/json"));
    assert_eq!(config.text(), CONFIG);

    let policy = KmsPolicy::new(vec![AllowedOrigin::parse("http://localhost:8080").unwrap()], true).unwrap();
    assert_eq!(
        String::from_utf8(policy.config_json().unwrap()).unwrap(),
        r#"{"v":1,"allowed_hosts":["http://localhost:8080"],"allow_loopback_push":true,"allow_passkey_gate":true}"#
    );
    assert_eq!(
        String::from_utf8(policy.forbid_passkey_gate().config_json().unwrap()).unwrap(),
        r#"{"v":1,"allowed_hosts":["http://localhost:8080"],"allow_loopback_push":true,"allow_passkey_gate":false}"#
    );
    // The host origin has no generated route.
    assert_eq!(get(f.host(), "/kms-config.json").status, 404);
}

#[test]
fn the_bundle_manifest_s_inline_script_hashes_go_into_the_csp() {
    let dir = TempDir::new().unwrap();
    let policy = KmsPolicy::new(vec![AllowedOrigin::parse("http://localhost:8080").unwrap()], false).unwrap();
    // No manifest: refused (the page would start without its checks).
    assert!(matches!(policy.clone().with_bundle_manifest(dir.path()), Err(ServeError::Manifest(_))));
    let hash = format!("'sha256-{}='", "A".repeat(43));
    std::fs::write(dir.path().join("manifest.json"), format!(r#"{{"v":1,"csp_script_hashes":["{hash}"]}}"#)).unwrap();
    let csp = policy.clone().with_bundle_manifest(dir.path()).unwrap().content_security_policy();
    assert!(csp.contains(&format!("script-src 'self' 'wasm-unsafe-eval' {hash};")), "{csp}");
    for bad in [
        r#"{"csp_script_hashes":["'unsafe-inline'"]}"#,
        r#"{"csp_script_hashes":["'sha256-x'; script-src *"]}"#,
        "not json",
    ] {
        std::fs::write(dir.path().join("manifest.json"), bad).unwrap();
        assert!(matches!(policy.clone().with_bundle_manifest(dir.path()), Err(ServeError::Manifest(_))), "{bad}");
    }
}

#[test]
fn host_groups_go_into_the_config_and_name_allowed_hosts_only() {
    let a = AllowedOrigin::parse("http://localhost:8080").unwrap();
    let b = AllowedOrigin::parse("http://localhost:8082").unwrap();
    let policy = KmsPolicy::new(vec![a, b], false).unwrap();
    let grouped = policy
        .clone()
        .with_host_groups(vec![HostGroup::parse("shop=http://localhost:8080,http://localhost:8082").unwrap()]);
    assert_eq!(
        String::from_utf8(grouped.unwrap().config_json().unwrap()).unwrap(),
        r#"{"v":1,"allowed_hosts":["http://localhost:8080","http://localhost:8082"],"host_groups":{"shop":["http://localhost:8080","http://localhost:8082"]},"allow_loopback_push":false,"allow_passkey_gate":true}"#
    );
    for (groups, why) in [
        (vec!["shop=http://localhost:9999"], "not an --allow-host origin"),
        (vec!["one=http://localhost:8080", "two=http://localhost:8080"], "in two groups"),
        (vec!["one=http://localhost:8080", "one=http://localhost:8082"], "given twice"),
    ] {
        let groups = groups.into_iter().map(|g| HostGroup::parse(g).unwrap()).collect();
        let e = policy.clone().with_host_groups(groups).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
    assert!(HostGroup::parse("Shop=http://localhost:8080").is_err());
    assert!(HostGroup::parse("shop").is_err());
}

#[test]
fn content_types() {
    let f = fixture();
    let wasm = get(f.kms(), "/pkg/kms_bg.wasm");
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("Content-Type"), Some("application/wasm"));
    assert_eq!(wasm.body, WASM);
    assert_eq!(get(f.kms(), "/pkg/kms.d.ts").header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(get(f.kms(), "/data.bin").header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(get(f.kms(), "/").header("Content-Type"), Some("text/html; charset=utf-8"));
}

#[test]
fn index_html_for_the_root_and_directories() {
    let f = fixture();
    let root = get(f.kms(), "/");
    assert_eq!((root.status, root.text()), (200, "<!doctype html><title>kms</title>"));
    assert_eq!(get(f.kms(), "/?from=pwa").text(), "<!doctype html><title>kms</title>");
    let docs = get(f.kms(), "/docs/");
    assert_eq!((docs.status, docs.text()), (200, "docs index"));

    let redirect = get(f.kms(), "/docs?x=1");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("Location"), Some("/docs/"));
    assert_kms_headers(&redirect);

    // No listings.
    assert_eq!(get(f.kms(), "/empty/").status, 404);
    assert_eq!(get(f.kms(), "/empty").status, 404);
}

#[test]
fn head_gives_the_length_without_the_body() {
    let f = fixture();
    let head = request(f.kms(), "HEAD", "/pkg/kms_bg.wasm");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some(WASM.len().to_string().as_str()));
    assert_eq!(head.header("Content-Type"), Some("application/wasm"));
    assert_kms_headers(&head);
}

#[test]
fn traversal_is_refused() {
    let f = fixture();
    for target in [
        "/../Cargo.toml",
        "/../secret.txt",
        "/%2e%2e/x",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/a/..%2fb",
        "/docs/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/docs\\..\\..\\secret.txt",
        "/./index.html",
        "//secret.txt",
        "/worker.js%00.html",
        "/%zz",
        "/%c0%ae%c0%ae/secret.txt",
        "http://localhost/../secret.txt",
        "*",
    ] {
        let reply = get(f.kms(), target);
        assert!(matches!(reply.status, 400 | 404), "{target}: {}", reply.status);
        assert!(!reply.text().contains(SECRET), "{target}");
        assert_kms_headers(&reply);
    }
    assert_eq!(get(f.kms(), "/.env").status, 404);
    assert_eq!(get(f.kms(), &format!("/{}", "a".repeat(2000))).status, 414);
    // The check is on decoded segments, not on the spelling.
    assert_eq!(get(f.kms(), "/%77orker.js").status, 200);
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_directory_are_refused() {
    let f = fixture();
    for target in ["/link-out.txt", "/dir-out/secret.txt"] {
        let reply = get(f.kms(), target);
        assert_eq!(reply.status, 404, "{target}");
        assert!(!reply.text().contains(SECRET), "{target}");
    }
    // A symlink that stays inside is followed; its type follows its own name.
    let inside = get(f.kms(), "/link-in.js");
    assert_eq!((inside.status, inside.text()), (200, "self.onmessage = () => {};"));
    // The secret really is readable through the file system: only the server refuses it.
    assert_eq!(fs::read_to_string(f.dir.path().join("kms/link-out.txt")).unwrap(), SECRET);
}

#[test]
fn only_get_and_head() {
    let f = fixture();
    for (addr, method) in [(f.kms(), "POST"), (f.host(), "POST"), (f.kms(), "PUT"), (f.kms(), "OPTIONS")] {
        let reply = request(addr, method, "/index.html");
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
    }
}

#[test]
fn host_origin_is_plain() {
    let f = fixture();
    for target in ["/", "/missing"] {
        let reply = get(f.host(), target);
        assert_eq!(reply.header("Content-Security-Policy"), None);
        assert_eq!(reply.header("Cross-Origin-Resource-Policy"), None);
        assert_eq!(reply.header("Referrer-Policy"), None);
        assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(reply.header("Cache-Control"), Some("no-cache"));
    }
    assert_eq!(get(f.host(), "/").text(), "host page");
}

#[test]
fn announce_lines() {
    let f = fixture();
    let mut out = Vec::new();
    f.running.announce(&mut out).unwrap();
    let kms = fs::canonicalize(f.dir.path().join("kms")).unwrap();
    let host = fs::canonicalize(f.dir.path().join("host")).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "kms-serve: kms http://localhost:{} {}\nkms-serve: host http://localhost:{} {}\nkms-serve: ready\n",
            f.kms().port(),
            kms.display(),
            f.host().port(),
            host.display()
        )
    );
    assert_ne!(f.kms().port(), 0);
}

#[test]
fn allowed_origins_are_checked() {
    for good in
        ["http://localhost:8080", "https://pwa.example", "http://127.0.0.1:5173", "https://xn--bcher-kva.example"]
    {
        assert_eq!(AllowedOrigin::parse(good).unwrap().as_str(), good);
    }
    for (bad, why) in [
        ("http://localhost:8080/", "write it as http://localhost:8080"),
        ("http://localhost:8080/app", "path"),
        ("http://localhost:8080?x=1", "query"),
        ("http://localhost:8080#x", "fragment"),
        ("http://user@localhost:8080", "userinfo"),
        ("http://user:pw@localhost:8080", "userinfo"),
        ("ftp://localhost", "scheme"),
        ("file:///tmp", "scheme"),
        ("localhost:8080", "scheme"),
        ("localhost", "not a valid URL"),
        ("", "not a valid URL"),
        ("http://LOCALHOST:8080", "write it as http://localhost:8080"),
        ("http://localhost:80", "write it as http://localhost"),
        ("https://pwa.example:443", "write it as https://pwa.example"),
        (" http://localhost:8080", "write it as http://localhost:8080"),
        ("http://*.example.com", "DNS name"),
        ("http://a_b.example", "DNS name"),
        ("http://[::1]:8080", "IPv6"),
        ("http://localhost:8080 'unsafe-inline'", "not a valid URL"),
        ("http://localhost:8080;script-src", "not a valid URL"),
        ("null", "not a valid URL"),
    ] {
        let err = AllowedOrigin::parse(bad).unwrap_err();
        assert!(matches!(err, ServeError::InvalidOrigin { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains(why), "{bad}: {err}");
    }
    assert!(matches!(KmsPolicy::new(Vec::new(), false), Err(ServeError::NoAllowedHosts)));
}

#[test]
fn site_specs_are_checked() {
    let spec = SiteSpec::parse("127.0.0.1:8081=dist/kms=x").unwrap();
    assert_eq!((spec.addr().port(), spec.dir()), (8081, Path::new("dist/kms=x")));
    assert!(SiteSpec::parse("[::1]:0=d").is_ok());
    for bad in ["127.0.0.1:8081", "localhost:8081=d", "0.0.0.0:8081=d", "192.168.1.2:80=d", "127.0.0.1:1=", "=d"] {
        assert!(matches!(SiteSpec::parse(bad), Err(ServeError::InvalidSiteSpec { .. })), "{bad}");
    }
    let missing = serve::start(
        vec![OriginConfig { role: Role::Host, spec: SiteSpec::parse("127.0.0.1:0=/nonexistent/kms-serve").unwrap() }],
        Options::default(),
    );
    assert!(matches!(missing, Err(ServeError::Root { .. })));
    assert!(matches!(serve::start(Vec::new(), Options::default()), Err(ServeError::NoOrigins)));
}

#[test]
fn binary_refuses_a_bad_allow_host_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("127.0.0.1:0={}", dir.path().display());
    for args in [
        vec!["--kms", &spec, "--allow-host", "http://localhost:8080/"],
        vec!["--kms", &spec, "--allow-host", "javascript:alert(1)"],
        vec!["--kms", &spec],
        vec!["--allow-host", "http://localhost:8080"],
        vec![],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kms-serve")).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn binary_announces_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("kms/index.html"), b"kms");
    // kms-serve refuses a KMS bundle without its manifest.
    write(&dir.path().join("kms/manifest.json"), br#"{"v":1,"csp_script_hashes":[]}"#);
    write(&dir.path().join("pwa/index.html"), b"pwa");
    let (mut child, mut lines) = spawn_announcing(
        env!("CARGO_BIN_EXE_kms-serve"),
        [
            "--kms".to_owned(),
            format!("127.0.0.1:0={}", dir.path().join("kms").display()),
            "--host".to_owned(),
            format!("127.0.0.1:0={}", dir.path().join("pwa").display()),
            "--allow-host".to_owned(),
            "http://localhost:8080".to_owned(),
            "--allow-loopback-push".to_owned(),
        ],
    );
    let mut ports = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "kms-serve: ready" {
            break;
        }
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        assert_eq!(fields[0], "kms-serve:");
        let port: u16 = fields[2].strip_prefix("http://localhost:").unwrap().parse().unwrap();
        ports.push((fields[1].to_owned(), port));
    }
    let roles: Vec<&str> = ports.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["kms", "host"]);
    let kms: SocketAddr = ([127, 0, 0, 1], ports[0].1).into();
    let config = get(kms, "/kms-config.json");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        config.text(),
        r#"{"v":1,"allowed_hosts":["http://localhost:8080"],"allow_loopback_push":true,"allow_passkey_gate":true}"#
    );
}
