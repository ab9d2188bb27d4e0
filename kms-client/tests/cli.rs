//! The `kms` binary, driven as a user or a script would: passphrases on
//! stdin, a store in a temporary directory, JSON output parsed and checked,
//! and the JWT verified by an independent implementation (`jsonwebtoken`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const PASS: &str = "correct horse battery staple";

fn kms(store: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kms");
    // A command that needs no passphrase (or fails early) may exit before
    // reading stdin: a broken pipe here is not a test failure.
    let _ = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
    child.wait_with_output().expect("kms output")
}

fn ok_json(store: &Path, args: &[&str], stdin: &str) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = kms(store, &full, stdin);
    assert!(out.status.success(), "kms {args:?} failed: {}", String::from_utf8_lossy(&out.stdout));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("kms {args:?}: no JSON output ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr))
    })
}

fn err_json(store: &Path, args: &[&str], stdin: &str) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = kms(store, &full, stdin);
    assert!(!out.status.success(), "kms {args:?} should have failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("kms {args:?}: no JSON error ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    v["error"].clone()
}

/// `lease issue` for `user` with the lease credential in `cred_file` (no
/// passphrase: the credential is the authority), for `aud`, as
/// mailto:ops@example.com.
fn lease_issue_args<'a>(user: &'a str, cred_file: &'a str, aud: &'a str) -> Vec<&'a str> {
    vec![
        "lease",
        "issue",
        "--user",
        user,
        "--credential-file",
        cred_file,
        "--aud",
        aud,
        "--sub",
        "mailto:ops@example.com",
    ]
}

fn setup(store: &Path, user: &str) {
    let v = ok_json(store, &["setup", "--user", user], &format!("{PASS}\n"));
    assert_eq!(v["user"], user);
    assert_eq!(v["enrollment"]["method"], "passphrase");
    assert_eq!(v["enrollment"]["iterations"], 600_000);
}

#[test]
fn setup_generate_sign_and_verify_with_jsonwebtoken() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "alice");

    let key = ok_json(&store, &["vapid", "generate", "--user", "alice"], &format!("{PASS}\n"));
    let shown = ok_json(&store, &["vapid", "show", "--user", "alice"], "");
    assert_eq!(shown["current"]["kid"], key["kid"]);
    let raw = shown["current"]["public_key"].as_str().unwrap();
    assert_eq!(raw.len(), 87, "65 bytes as unpadded base64url");

    let signed = ok_json(
        &store,
        &[
            "jwt",
            "sign",
            "--user",
            "alice",
            "--aud",
            "https://fcm.googleapis.com",
            "--sub",
            "mailto:ops@example.com",
            "--ttl",
            "1h",
        ],
        &format!("{PASS}\n"),
    );
    let jwt = signed["jwt"].as_str().unwrap();
    let jwk = &shown["current"]["jwk"];
    let key =
        jsonwebtoken::DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["https://fcm.googleapis.com"]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("jsonwebtoken verifies our JWT");
    assert_eq!(data.claims["sub"], "mailto:ops@example.com");
    assert_eq!(signed["authorization"].as_str().unwrap(), format!("vapid t={jwt}, k={raw}"));

    // The text mode with --header prints the header value alone.
    let out = kms(
        &store,
        &[
            "jwt",
            "sign",
            "--user",
            "alice",
            "--aud",
            "https://fcm.googleapis.com",
            "--sub",
            "mailto:ops@example.com",
            "--header",
        ],
        &format!("{PASS}\n"),
    );
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("vapid t=") && line.trim_end().ends_with(&format!(", k={raw}")), "{line}");
}

#[test]
fn errors_are_one_clear_line_and_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "bob");

    // Set up twice.
    assert_eq!(err_json(&store, &["setup", "--user", "bob"], &format!("{PASS}\n"))["code"], "already_exists");
    // Wrong passphrase.
    assert_eq!(
        err_json(&store, &["vapid", "generate", "--user", "bob"], "not the passphrase\n")["code"],
        "unlock_failed"
    );
    // A full endpoint as aud.
    ok_json(&store, &["vapid", "generate", "--user", "bob"], &format!("{PASS}\n"));
    let e = err_json(
        &store,
        &[
            "jwt",
            "sign",
            "--user",
            "bob",
            "--aud",
            "https://fcm.googleapis.com/fcm/send/abc",
            "--sub",
            "mailto:a@b.example",
        ],
        &format!("{PASS}\n"),
    );
    assert_eq!(e["code"], "invalid_input");
    assert!(e["message"].as_str().unwrap().contains("https://fcm.googleapis.com\""), "{e}");
    // More than 24 h.
    let e = err_json(
        &store,
        &[
            "jwt",
            "sign",
            "--user",
            "bob",
            "--aud",
            "https://fcm.googleapis.com",
            "--sub",
            "mailto:a@b.example",
            "--ttl",
            "25h",
        ],
        &format!("{PASS}\n"),
    );
    assert_eq!(e["code"], "invalid_input");
    // No passphrase on stdin at all.
    assert_eq!(err_json(&store, &["vapid", "rotate", "--user", "bob"], "")["code"], "invalid_input");
    // Unknown user.
    assert_eq!(err_json(&store, &["vapid", "show", "--user", "nobody"], "")["code"], "not_found");

    // Text mode: one line on stderr, prefixed, exit status 1.
    let out = kms(&store, &["vapid", "show", "--user", "nobody"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("kms: error: not_found: "), "{err}");
}

#[test]
fn enrollments_add_change_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "carol");
    ok_json(&store, &["vapid", "generate", "--user", "carol"], &format!("{PASS}\n"));
    let kid = ok_json(&store, &["vapid", "show", "--user", "carol"], "")["current"]["kid"].clone();

    let second = "a second passphrase, also long";
    let added = ok_json(
        &store,
        &["enrollments", "add-passphrase", "--user", "carol", "--label", "backup"],
        &format!("{PASS}\n{second}\n"),
    );
    let list = ok_json(&store, &["enrollments", "list", "--user", "carol"], "");
    let list = list["enrollments"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|e| e.get("wrapped").is_none() && e.get("salt").is_none()));

    // With two passphrases, unlocking needs to know which.
    let first_id = list.iter().find(|e| e["id"] != added["id"]).unwrap()["id"].as_str().unwrap().to_owned();
    let added_id = added["id"].as_str().unwrap().to_owned();
    let e = err_json(&store, &["vapid", "rotate", "--user", "carol"], &format!("{PASS}\n"));
    assert_eq!(e["code"], "invalid_input", "{e}");
    assert!(e["message"].as_str().unwrap().contains("--unlock-with"), "{e}");

    // The backup passphrase unlocks through its own enrollment only.
    let e =
        err_json(&store, &["vapid", "rotate", "--user", "carol", "--unlock-with", &first_id], &format!("{second}\n"));
    assert_eq!(e["code"], "unlock_failed");

    // Change the first passphrase (keys stay), then remove the backup.
    let third = "the third passphrase, changed";
    ok_json(
        &store,
        &["enrollments", "change-passphrase", "--user", "carol", "--id", &first_id, "--unlock-with", &first_id],
        &format!("{PASS}\n{third}\n"),
    );
    assert_eq!(ok_json(&store, &["vapid", "show", "--user", "carol"], "")["current"]["kid"], kid);
    let r = ok_json(
        &store,
        &["enrollments", "remove", "--user", "carol", "--id", &added_id, "--unlock-with", &added_id],
        &format!("{second}\n"),
    );
    assert_eq!(r["remaining"], 1);

    // Now the old passphrase fails, the new one works, and the last
    // enrollment cannot be removed.
    assert_eq!(
        err_json(&store, &["vapid", "rotate", "--user", "carol"], &format!("{PASS}\n"))["code"],
        "unlock_failed"
    );
    let e = err_json(&store, &["enrollments", "remove", "--user", "carol", "--id", &first_id], &format!("{third}\n"));
    assert_eq!(e["code"], "forbidden");
    assert_eq!(
        ok_json(&store, &["enrollments", "list", "--user", "carol"], "")["enrollments"].as_array().unwrap().len(),
        1
    );
    let rotated = ok_json(&store, &["vapid", "rotate", "--user", "carol"], &format!("{third}\n"));
    assert_eq!(rotated["retired"]["kid"], kid);
    assert_eq!(rotated["resubscribe_required"], true);
}

#[test]
fn calibrate_and_iterations() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    // A target far below what 600,000 iterations take still gives the floor.
    let v = ok_json(&store, &["calibrate", "--target-ms", "1"], "");
    assert_eq!(v["iterations"], 600_000);
    // A higher target gives more (100k iterations take well under 2 s here).
    let v = ok_json(&store, &["calibrate", "--target-ms", "20000"], "");
    assert!(v["iterations"].as_u64().unwrap() > 600_000, "{v}");

    // Below the floor is refused; above is used for new wraps.
    let e = err_json(&store, &["--iterations", "100000", "setup", "--user", "dave"], &format!("{PASS}\n"));
    assert_eq!(e["code"], "invalid_input");
    let v = ok_json(&store, &["--iterations", "650000", "setup", "--user", "dave"], &format!("{PASS}\n"));
    assert_eq!(v["enrollment"]["iterations"], 650_000);
    // Unlocking with the default policy keeps the stronger record as it is.
    ok_json(&store, &["vapid", "generate", "--user", "dave"], &format!("{PASS}\n"));
    let list = ok_json(&store, &["enrollments", "list", "--user", "dave"], "");
    assert_eq!(list["enrollments"][0]["iterations"], 650_000);
}

/// Rewrites an export's lines with `f` (lines as JSON values).
fn tamper(text: &str, f: impl FnOnce(&mut Vec<Value>)) -> String {
    let mut lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    f(&mut lines);
    lines.iter().map(|v| format!("{v}\n")).collect()
}

fn verify_file(store: &Path, text: &str, extra: &[&str]) -> (bool, Value) {
    let dir = store.parent().unwrap();
    let path = dir.join("check.jsonl");
    std::fs::write(&path, text).unwrap();
    let mut args = vec!["--json", "audit", "verify", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = kms(store, &args, "");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.success(), report["valid"] == true, "exit status must follow validity");
    (out.status.success(), report)
}

#[test]
fn enrollments_rekey_replaces_the_master_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "dave");
    ok_json(&store, &["vapid", "generate", "--user", "dave"], &format!("{PASS}\n"));
    let kid = ok_json(&store, &["vapid", "show", "--user", "dave"], "")["current"]["kid"].clone();
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&store, &copy).unwrap();

    // An unknown enrollment to remove: refused before any passphrase.
    let e = err_json(&store, &["enrollments", "rekey", "--user", "dave", "--remove", "AAAAAAAAAAAAAAAAAAAAAA"], "");
    assert_eq!(e["code"], "not_found", "{e}");

    // The old passphrase is refused: whoever took the copy may know it.
    let e = err_json(&store, &["enrollments", "rekey", "--user", "dave"], &format!("{PASS}\n{PASS}\n"));
    assert_eq!(e["code"], "invalid_input", "{e}");
    assert!(e["message"].as_str().unwrap().contains("new passphrase"), "{e}");

    let new = "a new passphrase after the theft";
    let r = ok_json(&store, &["enrollments", "rekey", "--user", "dave"], &format!("{PASS}\n{new}\n"));
    assert_eq!(r["enrollments"].as_array().unwrap().len(), 1, "{r}");
    assert!(r.get("session").is_none(), "a locked session is not printed: {r}");
    assert_eq!(r["resealed_keys"], 2, "the VAPID key and the audit key: {r}");
    // Same key, new master secret: the old passphrase is refused, the new
    // one signs with the same kid.
    assert_eq!(ok_json(&store, &["vapid", "show", "--user", "dave"], "")["current"]["kid"], kid);
    let e = err_json(&store, &["vapid", "rotate", "--user", "dave"], &format!("{PASS}\n"));
    assert_eq!(e["code"], "unlock_failed", "{e}");
    let file = dir.path().join("dave.jsonl");
    ok_json(&store, &["audit", "export", "--user", "dave", "-o", file.to_str().unwrap()], &format!("{new}\n"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"event\":\"rekey\""), "{text}");
    // The log verifies, its MACs checked in the new epoch.
    let out =
        kms(&store, &["--json", "audit", "verify", file.to_str().unwrap(), "--user", "dave"], &format!("{new}\n"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["macs_checked"], true, "{report}");
    // The copy from before still opens with the old passphrase: it is a
    // copy. What matters is what it does not open (kms-worker's
    // engine_rekey tests).
    ok_json(&copy, &["vapid", "rotate", "--user", "dave"], &format!("{PASS}\n"));
}

#[test]
fn audit_export_verify_and_every_tampering_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "erin");
    setup(&store, "frank");
    ok_json(&store, &["vapid", "generate", "--user", "erin"], &format!("{PASS}\n"));
    let _ = err_json(&store, &["vapid", "rotate", "--user", "erin"], "wrong passphrase here\n");
    let file = dir.path().join("erin.jsonl");
    let first =
        ok_json(&store, &["audit", "export", "--user", "erin", "-o", file.to_str().unwrap()], &format!("{PASS}\n"));
    let kept = first["checkpoint"].to_string();
    ok_json(&store, &["vapid", "rotate", "--user", "erin"], &format!("{PASS}\n"));
    let file2 = dir.path().join("erin2.jsonl");
    let second =
        ok_json(&store, &["audit", "export", "--user", "erin", "-o", file2.to_str().unwrap()], &format!("{PASS}\n"));
    let newer = second["checkpoint"].to_string();
    let text = std::fs::read_to_string(&file2).unwrap();
    let old_text = std::fs::read_to_string(&file).unwrap();
    let frank_file = dir.path().join("frank.jsonl");
    ok_json(&store, &["audit", "export", "--user", "frank", "-o", frank_file.to_str().unwrap()], &format!("{PASS}\n"));
    let frank = std::fs::read_to_string(&frank_file).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let key = header["audit_public_key"].to_string();

    // Valid, with the pinned key and the kept checkpoint; the human report too.
    let (ok, report) = verify_file(&store, &text, &["--expect-key", &key, "--expect-checkpoint", &kept]);
    assert!(ok, "{report}");
    assert!(report["entries"].as_u64().unwrap() >= 6);
    let human = kms(&store, &["audit", "verify", file2.to_str().unwrap()], "");
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).to_lowercase().contains("valid"));

    // At most 1,024 expected checkpoints (each costs a signature check),
    // counted over `--expect-checkpoint` and the file together, before any
    // of them is parsed or the export is verified.
    let cps = dir.path().join("kept.jsonl");
    std::fs::write(&cps, format!("{kept}\n").repeat(1024)).unwrap();
    let (ok, report) = verify_file(&store, &text, &["--expect-checkpoints-file", cps.to_str().unwrap()]);
    assert!(ok, "{report}");
    assert_eq!(report["expected_checkpoints_verified"], 1024);
    let e = err_json(
        &store,
        &[
            "audit",
            "verify",
            file2.to_str().unwrap(),
            "--expect-checkpoint",
            &kept,
            "--expect-checkpoints-file",
            cps.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(e["code"], "invalid_input", "{e}");
    assert!(e["message"].as_str().unwrap().contains("at most 1024 expected checkpoints"), "{e}");

    let entry_idx =
        |lines: &Vec<Value>, seq: u64| lines.iter().position(|v| v["type"] == "entry" && v["seq"] == seq).unwrap();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "modified field",
            tamper(&text, |l| {
                let i = entry_idx(l, 1);
                l[i]["ts_ms"] = json!(1);
            }),
            vec![],
        ),
        (
            "deleted middle entry",
            tamper(&text, |l| {
                let i = entry_idx(l, 2);
                l.remove(i);
            }),
            vec![],
        ),
        (
            "deleted tail past a checkpoint",
            tamper(&text, |l| {
                let last = l.iter().rposition(|v| v["type"] == "entry").unwrap();
                l.remove(last);
            }),
            vec![],
        ),
        (
            "reordered entries",
            tamper(&text, |l| {
                let i = entry_idx(l, 1);
                l.swap(i, i + 1);
            }),
            vec![],
        ),
        (
            "inserted entry",
            tamper(&text, |l| {
                let i = entry_idx(l, 1);
                let dup = l[i].clone();
                l.insert(i + 1, dup);
            }),
            vec![],
        ),
        (
            "replaced audit key",
            tamper(&text, |l| {
                let other: Value = serde_json::from_str(frank.lines().next().unwrap()).unwrap();
                l[0]["audit_public_key"] = other["audit_public_key"].clone();
                l[0]["audit_kid"] = other["audit_kid"].clone();
            }),
            vec!["--expect-key", &key],
        ),
        (
            "forged checkpoint signature",
            tamper(&text, |l| {
                let last = l.len() - 1;
                let sig = l[last]["sig"].as_str().unwrap().to_owned();
                let flipped = match sig.strip_prefix('A') {
                    Some(rest) => format!("B{rest}"),
                    None => format!("A{}", &sig[1..]),
                };
                l[last]["sig"] = json!(flipped);
            }),
            vec![],
        ),
        (
            "entry moved from another user's log",
            tamper(&text, |l| {
                let theirs: Vec<Value> = frank.lines().map(|x| serde_json::from_str(x).unwrap()).collect();
                let i = entry_idx(l, 1);
                l[i] = theirs.iter().find(|v| v["type"] == "entry" && v["seq"] == 1).unwrap().clone();
            }),
            vec![],
        ),
        ("rollback to an older export", old_text.clone(), vec!["--expect-checkpoint", &newer]),
    ];
    for (name, bad, extra) in &cases {
        let (ok, report) = verify_file(&store, bad, extra);
        assert!(!ok, "{name}: verified but must not");
        assert!(report["first_failure"]["reason"].is_string(), "{name}: {report}");
    }
}

#[test]
fn subscription_lease_issue_and_push_request() {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use rand_chacha::rand_core::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "gina");
    ok_json(&store, &["vapid", "generate", "--user", "gina"], &format!("{PASS}\n"));

    let ua = p256::SecretKey::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(5));
    let sub = json!({
        "endpoint": "https://fcm.googleapis.com/fcm/send/xyz",
        "expirationTime": null,
        "keys": {"p256dh": kms_core::b64::encode(ua.public_key().to_encoded_point(false).as_bytes()), "auth": kms_core::b64::encode([3u8; 16])}
    });
    let sub_file = dir.path().join("sub.json");
    std::fs::write(&sub_file, sub.to_string()).unwrap();
    let added = ok_json(
        &store,
        &["subscription", "add", "--user", "gina", "--file", sub_file.to_str().unwrap()],
        &format!("{PASS}\n"),
    );
    assert_eq!(added["origin"], "https://fcm.googleapis.com");

    let cred = dir.path().join("lease.cred");
    let lease = ok_json(
        &store,
        &[
            "lease",
            "create",
            "--user",
            "gina",
            "--relay",
            "relay-a",
            "--lifetime",
            "2h",
            "--credential-file",
            cred.to_str().unwrap(),
        ],
        &format!("{PASS}\n"),
    );
    assert_eq!(lease["lease"]["audiences"], json!(["https://fcm.googleapis.com"]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cred).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Issued without the passphrase: the credential is the authority.
    let cred_file = cred.to_str().unwrap();
    let issued = ok_json(
        &store,
        &[lease_issue_args("gina", cred_file, "https://fcm.googleapis.com"), vec!["--count", "3"]].concat(),
        "",
    );
    assert_eq!(issued["tokens"].as_array().unwrap().len(), 3);
    let tokens_file = dir.path().join("tokens.json");
    std::fs::write(&tokens_file, issued.to_string()).unwrap();
    let payload = dir.path().join("payload.txt");
    std::fs::write(&payload, "hi gina").unwrap();
    let req = ok_json(
        &store,
        &[
            "push",
            "request",
            "--subscription",
            sub_file.to_str().unwrap(),
            "--payload",
            payload.to_str().unwrap(),
            "--tokens",
            tokens_file.to_str().unwrap(),
            "--urgency",
            "high",
        ],
        "",
    );
    assert_eq!(req["url"], "https://fcm.googleapis.com/fcm/send/xyz");
    assert_eq!(req["headers"]["Urgency"], "high");
    assert_eq!(req["headers"]["Content-Encoding"], "aes128gcm");
    assert!(req["headers"]["Authorization"].as_str().unwrap().starts_with("vapid t="));
    let body = kms_core::b64::decode(req["body_b64"].as_str().unwrap(), 4096, "body").unwrap();
    let plain = kms_client::relay::decrypt(&ua, &kms_client::relay::AuthSecret::from_bytes([3u8; 16]), &body).unwrap();
    assert_eq!(plain.as_slice(), b"hi gina");

    // A full endpoint as aud is refused; after revocation, issuance is refused with its code.
    let e = err_json(&store, &lease_issue_args("gina", cred_file, "https://fcm.googleapis.com/fcm/send/xyz"), "");
    assert_eq!(e["code"], "invalid_input");
    let id = lease["lease"]["id"].as_str().unwrap();
    ok_json(&store, &["lease", "revoke", "--user", "gina", "--id", id], &format!("{PASS}\n"));
    let e = err_json(&store, &lease_issue_args("gina", cred_file, "https://fcm.googleapis.com"), "");
    assert_eq!(e["code"], "lease_revoked");
    let list = ok_json(&store, &["lease", "list", "--user", "gina"], &format!("{PASS}\n"));
    assert_eq!(list["leases"][0]["state"], "revoked");
}

#[test]
fn user_delete_asks_for_yes_keeps_the_log_and_then_refuses_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "gina");
    ok_json(&store, &["vapid", "generate", "--user", "gina"], &format!("{PASS}\n"));
    let file = dir.path().join("gina-final.jsonl");
    let f = file.to_str().unwrap();

    // Without --yes, or into an existing file, nothing happens.
    let e = err_json(&store, &["user", "delete", "--user", "gina", "--export", f], &format!("{PASS}\n"));
    assert!(e["message"].as_str().unwrap().contains("--yes"), "{e}");
    std::fs::write(&file, "keep me").unwrap();
    let e = err_json(&store, &["user", "delete", "--user", "gina", "--export", f, "--yes"], &format!("{PASS}\n"));
    assert!(e["message"].as_str().unwrap().contains("nothing was deleted"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    std::fs::remove_file(&file).unwrap();
    // A wrong passphrase deletes nothing and leaves no file.
    let e = err_json(&store, &["user", "delete", "--user", "gina", "--export", f, "--yes"], "not the passphrase\n");
    assert_eq!(e["code"], "unlock_failed", "{e}");
    assert!(!file.exists());

    let v = ok_json(&store, &["user", "delete", "--user", "gina", "--export", f, "--yes"], &format!("{PASS}\n"));
    assert_eq!(v["user"], "gina");
    let checkpoint = v["final_checkpoint"].to_string();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().last().unwrap().contains("checkpoint"), "the export ends with the final checkpoint");
    let (ok, report) = verify_file(&store, &text, &["--expect-checkpoint", &checkpoint]);
    assert!(ok, "{report}");

    // Gina is gone, and says so.
    let e = err_json(&store, &["vapid", "generate", "--user", "gina"], &format!("{PASS}\n"));
    assert_eq!(e["code"], "user_deleted", "{e}");
    let e = err_json(&store, &["setup", "--user", "gina"], &format!("{PASS}\n"));
    assert_eq!(e["code"], "user_deleted", "{e}");
}

#[test]
fn ids_that_start_with_a_hyphen_are_values_not_flags() {
    // Ids are base64url, so one in 64 starts with `-`: a lease id once did,
    // and `--id -yFum...` was taken for an unknown flag.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    setup(&store, "hana");
    let id = "-AAAAAAAAAAAAAAAAAAAAA";
    for args in [
        vec!["lease", "revoke", "--user", "hana", "--id", id],
        vec!["enrollments", "remove", "--user", "hana", "--id", id],
    ] {
        // The engine answers (the id is unknown), not the argument parser.
        let e = err_json(&store, &args, &format!("{PASS}\n"));
        assert_eq!(e["code"], "not_found", "{args:?}: {e}");
    }
}

#[cfg(unix)]
#[test]
fn a_store_path_that_is_not_a_store_is_refused_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "private notes\n").unwrap();
    std::fs::set_permissions(&text, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = err_json(&text, &["info"], "");
    assert_eq!(e["code"], "storage", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("not a SQLite database"), "{message}");
    assert!(!message.contains("private notes"), "{message}");
    assert_eq!(std::fs::metadata(&text).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "private notes\n");
}

/// An output file that cannot be created stops the command before any
/// state change: `lease create` into an existing file creates no lease
/// (nothing to orphan, no credential lost) and audits nothing.
#[test]
fn output_files_are_checked_before_any_state_change() {
    fn lease_create_into(file: &Path) -> [&str; 10] {
        let file = file.to_str().unwrap();
        [
            "lease",
            "create",
            "--user",
            "hana",
            "--relay",
            "relay-a",
            "--aud",
            "https://fcm.googleapis.com",
            "--credential-file",
            file,
        ]
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "hana");
    ok_json(&store, &["vapid", "generate", "--user", "hana"], &format!("{PASS}\n"));
    let existing = dir.path().join("exists.cred");
    std::fs::write(&existing, "keep me").unwrap();
    let e = err_json(&store, &lease_create_into(&existing), &format!("{PASS}\n"));
    assert_eq!(e["code"], "invalid_input", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("cannot create") && m.contains("no lease was created"), "{e}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    let list = ok_json(&store, &["lease", "list", "--user", "hana"], &format!("{PASS}\n"));
    assert_eq!(list["leases"], json!([]), "{list}");

    // `audit export -o` where no file can be made: refused before the
    // export (which signs a checkpoint), asking for no passphrase.
    let nowhere = dir.path().join("no-such-dir").join("log.jsonl");
    let e = err_json(&store, &["audit", "export", "--user", "hana", "-o", nowhere.to_str().unwrap()], "");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("cannot create") && m.contains("nothing was exported"), "{e}");
    // `push encrypt -o` likewise, before reading its inputs.
    let e = err_json(
        &store,
        &["push", "encrypt", "--subscription", "/nonexistent", "--payload", "-", "-o", nowhere.to_str().unwrap()],
        "",
    );
    assert!(e["message"].as_str().unwrap().contains("cannot create"), "{e}");

    // A wrong passphrase leaves no empty credential file behind.
    let fresh = dir.path().join("fresh.cred");
    let e = err_json(&store, &lease_create_into(&fresh), "not the passphrase\n");
    assert_eq!(e["code"], "unlock_failed", "{e}");
    assert!(!fresh.exists());

    let log = dir.path().join("hana.jsonl");
    ok_json(&store, &["audit", "export", "--user", "hana", "-o", log.to_str().unwrap()], &format!("{PASS}\n"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("lease_create"), "no lease_create in the audit log:\n{text}");
}

/// Runs `kms --json args` with nothing on stdin and gives it `secs` to
/// finish (killed after: a hang is a test failure, not a stuck suite).
fn err_json_within(store: &Path, args: &[&str], secs: u64) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kms");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() >= secs {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("kms {args:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "kms {args:?} should have failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("kms {args:?}: no JSON error ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    v["error"].clone()
}

/// Every file the CLI reads goes through a cap: a file one byte over it,
/// or `/dev/zero`, is refused at once with the cap in the message.
#[test]
fn input_files_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    let over = |name: &str, len: usize| {
        let p = dir.path().join(name);
        std::fs::write(&p, vec![b'a'; len]).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let small = over("small.jsonl", 10);
    let cases: Vec<(Vec<String>, u64)> = vec![
        (vec!["audit".into(), "verify".into(), over("big.jsonl", 10 * 1024 * 1024 + 1)], 10 * 1024 * 1024),
        (
            vec![
                "audit".into(),
                "verify".into(),
                small.clone(),
                "--expect-checkpoints-file".into(),
                over("cps.txt", 1024 * 1024 + 1),
            ],
            1024 * 1024,
        ),
        (
            vec!["audit".into(), "verify".into(), small, "--expect-checkpoints-file".into(), "/dev/zero".into()],
            1024 * 1024,
        ),
        (
            vec![
                "subscription".into(),
                "add".into(),
                "--user".into(),
                "ida".into(),
                "--file".into(),
                "/dev/zero".into(),
            ],
            64 * 1024,
        ),
        (
            vec![
                "push".into(),
                "encrypt".into(),
                "--subscription".into(),
                over("sub.json", 64 * 1024 + 1),
                "--payload".into(),
                "/dev/zero".into(),
            ],
            64 * 1024,
        ),
        (
            vec![
                "lease".into(),
                "issue".into(),
                "--user".into(),
                "ida".into(),
                "--credential-file".into(),
                over("cred", 64 * 1024 + 1),
                "--aud".into(),
                "https://fcm.googleapis.com".into(),
                "--sub".into(),
                "mailto:ops@example.com".into(),
            ],
            64 * 1024,
        ),
    ];
    for (args, cap) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = err_json_within(&store, &args, 20);
        assert_eq!(e["code"], "invalid_input", "{args:?}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(&format!("larger than the limit of {cap} bytes")),
            "{args:?}: {e}"
        );
    }
}

/// A passphrase no enrollment can have is refused as `invalid_input` and
/// never counts as a failed attempt: one over 1,024 bytes by the CLI
/// itself (a 200 KB one would not even fit in a request), an empty one by
/// the engine.
#[test]
fn over_long_or_empty_passphrases_are_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "ivan");
    for len in [200 * 1024, 1025] {
        let e = err_json(&store, &["vapid", "generate", "--user", "ivan"], &format!("{}\n", "a".repeat(len)));
        assert_eq!(e["code"], "invalid_input", "{e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("longer than 1024 bytes") && !m.contains("aaaa"), "{e}");
    }
    let e = err_json(&store, &["vapid", "generate", "--user", "ivan"], "\n");
    assert_eq!(e["code"], "invalid_input", "{e}");
    assert!(e["message"].as_str().unwrap().contains("passphrase: empty"), "{e}");
    let e = err_json(&store, &["setup", "--user", "ivy"], &format!("{}\n", "a".repeat(200 * 1024)));
    assert_eq!(e["code"], "invalid_input", "{e}");
    // None of them counted: the audit log has no failed unlock.
    let log = dir.path().join("ivan.jsonl");
    ok_json(&store, &["audit", "export", "--user", "ivan", "-o", log.to_str().unwrap()], &format!("{PASS}\n"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("\"failures\""), "no failed attempt was counted:\n{text}");
}

/// `--nonce` and `--expect-nonce`: an export asked for with a nonce
/// verifies for that nonce only; an older export presented for a new
/// request is `nonce_mismatch`; a malformed nonce is a usage error before
/// anything is read or unlocked.
#[test]
fn audit_export_nonce_tells_a_fresh_export_from_a_replayed_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "nina");
    let old = dir.path().join("old.jsonl");
    ok_json(&store, &["audit", "export", "--user", "nina", "-o", old.to_str().unwrap()], &format!("{PASS}\n"));
    let fresh = dir.path().join("fresh.jsonl");
    let out = ok_json(
        &store,
        &["audit", "export", "--user", "nina", "-o", fresh.to_str().unwrap(), "--nonce", "req-42"],
        &format!("{PASS}\n"),
    );
    assert_eq!(out["checkpoint"]["nonce"], "req-42");
    let fresh = std::fs::read_to_string(&fresh).unwrap();
    let old = std::fs::read_to_string(&old).unwrap();
    let (ok, report) = verify_file(&store, &fresh, &["--expect-nonce", "req-42"]);
    assert!(ok, "{report}");
    for (text, nonce) in [(&old, "req-42"), (&fresh, "req-43")] {
        let (ok, report) = verify_file(&store, text, &["--expect-nonce", nonce]);
        assert!(!ok);
        assert_eq!(report["first_failure"]["reason"], "nonce_mismatch", "{report}");
    }
    let e = err_json(&store, &["audit", "export", "--user", "nina", "--nonce", "no spaces"], "");
    assert_eq!(e["code"], "invalid_input", "{e}");
    let check = dir.path().join("check.jsonl");
    let e = err_json(&store, &["audit", "verify", check.to_str().unwrap(), "--expect-nonce", "a.b"], "");
    assert_eq!(e["code"], "invalid_input", "{e}");
}

/// `kms audit verify --user U FILE` asks for the passphrase and has the KMS
/// check every MAC too; without `--user` the report says the MACs were not
/// checked and names that command.
#[test]
fn audit_verify_with_user_checks_the_macs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "olga");
    let file = dir.path().join("olga.jsonl");
    ok_json(&store, &["audit", "export", "--user", "olga", "-o", file.to_str().unwrap()], &format!("{PASS}\n"));
    let path = file.to_str().unwrap();
    let plain = ok_json(&store, &["audit", "verify", path], "");
    assert_eq!(plain["macs_checked"], false);
    let warnings = plain["warnings"].to_string();
    assert!(warnings.contains("kms audit verify --user olga"), "{warnings}");
    let checked = ok_json(&store, &["audit", "verify", "--user", "olga", path], &format!("{PASS}\n"));
    assert_eq!((checked["valid"].clone(), checked["macs_checked"].clone()), (json!(true), json!(true)), "{checked}");
}

/// The store, the unlock, the keys and the audit chain of `user` after
/// whatever happened: an export (unlock, the engine's chain check, a signed
/// checkpoint), that export verified with its MACs, and a JWT signed.
fn assert_whole(store: &Path, user: &str, tag: &str) {
    let file = store.parent().unwrap().join(format!("whole-{tag}.jsonl"));
    ok_json(store, &["audit", "export", "--user", user, "-o", file.to_str().unwrap()], &format!("{PASS}\n"));
    let out = kms(store, &["--json", "audit", "verify", file.to_str().unwrap(), "--user", user], &format!("{PASS}\n"));
    assert!(out.status.success(), "{tag}: the export does not verify: {}", String::from_utf8_lossy(&out.stdout));
    let jwt = ok_json(
        store,
        &["jwt", "sign", "--user", user, "--aud", "https://fcm.googleapis.com", "--sub", "mailto:ops@example.com"],
        &format!("{PASS}\n"),
    );
    assert!(jwt["jwt"].is_string(), "{tag}: {jwt}");
}

/// Crash consistency: 200 state-changing commands (key rotations, tokens,
/// leases, audit exports with their checkpoints) each killed with SIGKILL at a random moment (a
/// fixed seed), with the store checked whole every 20 kills and at the end.
#[cfg(unix)]
#[test]
fn kill_9_at_random_moments_of_state_changing_commands_leaves_the_store_whole() {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.sqlite");
    setup(&store, "kate");
    ok_json(&store, &["vapid", "generate", "--user", "kate"], &format!("{PASS}\n"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x6b69_6c6c);
    let mut killed_before_exit = 0;
    for i in 0..200u32 {
        let cred = dir.path().join(format!("cred-{i}"));
        let (args, stdin): (Vec<String>, String) = match i % 4 {
            0 => (vec!["vapid".into(), "rotate".into(), "--user".into(), "kate".into()], format!("{PASS}\n")),
            1 => (
                [
                    "jwt",
                    "sign",
                    "--user",
                    "kate",
                    "--aud",
                    "https://fcm.googleapis.com",
                    "--sub",
                    "mailto:ops@example.com",
                ]
                .map(String::from)
                .to_vec(),
                format!("{PASS}\n"),
            ),
            2 => (
                ["lease", "create", "--user", "kate", "--relay", "relay-k", "--aud", "https://fcm.googleapis.com"]
                    .map(String::from)
                    .into_iter()
                    .chain(["--credential-file".to_owned(), cred.to_str().unwrap().to_owned()])
                    .collect(),
                format!("{PASS}\n"),
            ),
            _ => (
                vec![
                    "audit".into(),
                    "export".into(),
                    "--user".into(),
                    "kate".into(),
                    "-o".into(),
                    dir.path().join(format!("x-{i}")).to_str().unwrap().to_owned(),
                ],
                format!("{PASS}\n"),
            ),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
            .arg("--store")
            .arg(&store)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kms");
        let _ = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
        // A moment within the command's run (about 100 ms here): before,
        // during or after its one write.
        std::thread::sleep(std::time::Duration::from_millis(rng.next_u64() % 150));
        if child.try_wait().unwrap().is_none() {
            killed_before_exit += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        if i % 20 == 19 {
            assert_whole(&store, "kate", &format!("after-{i}"));
        }
    }
    assert_whole(&store, "kate", "end");
    eprintln!("{killed_before_exit} of 200 commands killed before they ended");
    // The seed is fixed; most kills land while the command runs.
    assert!(killed_before_exit >= 100, "only {killed_before_exit} of 200 kills landed before the command ended");
}

#[test]
fn a_release_manifest_is_signed_and_verified_and_a_change_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("unused.sqlite");
    // A bundle: a page template and one file.
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(
        bundle.join("kms.html"),
        r#"<script type="application/json" id="kms-build">{{build-json}}</script>"#,
    )
    .unwrap();
    std::fs::write(bundle.join("kms.css"), "body{}").unwrap();
    let b = bundle.to_str().unwrap();
    let made = ok_json(&store, &["release", "manifest", b, "--commit", "c0ffee", "--profile", "wasm-release"], "");
    assert_eq!(made["build"].as_str().unwrap().len(), 64);
    let manifest = bundle.join("manifest.json");
    let m = manifest.to_str().unwrap();

    let key = dir.path().join("release.key");
    let k = key.to_str().unwrap();
    let made_key = ok_json(&store, &["release", "keygen", "--out", k], "");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A second keygen never overwrites a key.
    assert_eq!(err_json(&store, &["release", "keygen", "--out", k], "")["code"], "invalid_input");
    let public = dir.path().join("release.jwk");
    std::fs::write(&public, made_key["public_key"].to_string()).unwrap();
    let p = public.to_str().unwrap();

    let signed = ok_json(&store, &["release", "sign", m, "--key", k], "");
    assert_eq!(signed["kid"], made_key["kid"]);
    let verified = ok_json(&store, &["release", "verify", m, "--public-key", p], "");
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["build"], made["build"]);

    // One changed byte of the manifest: refused with `integrity`.
    let good = std::fs::read(&manifest).unwrap();
    let bad = String::from_utf8(good.clone()).unwrap().replace("\"c0ffee\"", "\"c0ffef\"");
    assert_ne!(bad.as_bytes(), &good[..]);
    std::fs::write(&manifest, &bad).unwrap();
    let e = err_json(&store, &["release", "verify", m, "--public-key", p], "");
    assert_eq!(e["code"], "integrity", "{e}");
    std::fs::write(&manifest, &good).unwrap();
    // Another key: refused, naming both key ids.
    let other = dir.path().join("other.key");
    let other_key = ok_json(&store, &["release", "keygen", "--out", other.to_str().unwrap()], "");
    let other_public = dir.path().join("other.jwk");
    std::fs::write(&other_public, other_key["public_key"].to_string()).unwrap();
    let e = err_json(&store, &["release", "verify", m, "--public-key", other_public.to_str().unwrap()], "");
    assert_eq!(e["code"], "integrity");
    assert!(e["message"].as_str().unwrap().contains(made_key["kid"].as_str().unwrap()), "{e}");
}
