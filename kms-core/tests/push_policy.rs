//! The allowlist of push services (`PushServicePolicy`): the defaults admit
//! the endpoints the major browsers hand out and nothing else, hosts match
//! on whole labels after URL normalization, loopback only when allowed, and
//! a deployment can configure its own list.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_core::push::{HostPattern, PushServicePolicy, ValidatedSubscription, DEFAULT_PUSH_SERVICES};
use kms_core::CoreError;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_chacha::rand_core::SeedableRng as _;

/// Endpoints in the shapes the push services hand out (tokens shortened).
const FCM: &str = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bHk3-abc_123";
const MOZILLA: &str = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk-abc_123";
const APPLE: &str = "https://web.push.apple.com/QGx0Y2hhbmdlZA-abc_123";
const WNS: &str = "https://db5p.notify.windows.com/w/?token=BQYAAAD%2bX1abc";

fn sub_json(endpoint: &str) -> String {
    let key = p256::SecretKey::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
    serde_json::json!({
        "endpoint": endpoint,
        "expirationTime": null,
        "keys": {
            "p256dh": kms_core::b64::encode(key.public_key().to_encoded_point(false)),
            "auth": kms_core::b64::encode([9u8; 16]),
        },
    })
    .to_string()
}

fn check(endpoint: &str, policy: &PushServicePolicy) -> Result<ValidatedSubscription, CoreError> {
    ValidatedSubscription::from_json(&sub_json(endpoint), policy)
}

fn refused(endpoint: &str, policy: &PushServicePolicy) -> String {
    match check(endpoint, policy) {
        Err(CoreError::InvalidInput(msg)) => msg,
        other => panic!("{endpoint}: expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn defaults_are_the_major_push_services() {
    assert_eq!(
        DEFAULT_PUSH_SERVICES,
        ["fcm.googleapis.com", "*.push.services.mozilla.com", "*.notify.windows.com", "*.push.apple.com"]
    );
    let policy = PushServicePolicy::default();
    assert_eq!(policy, PushServicePolicy::major_push_services());
    assert!(!policy.allows_loopback());
    let hosts: Vec<&str> = policy.hosts().iter().map(HostPattern::as_str).collect();
    assert_eq!(hosts, DEFAULT_PUSH_SERVICES);
}

#[test]
fn defaults_accept_real_endpoint_shapes() {
    let policy = PushServicePolicy::default();
    for (endpoint, origin) in [
        (FCM, "https://fcm.googleapis.com"),
        (MOZILLA, "https://updates.push.services.mozilla.com"),
        (
            "https://updates.push.services.mozilla.com/wpush/v1/gAAAAABk-abc",
            "https://updates.push.services.mozilla.com",
        ),
        (APPLE, "https://web.push.apple.com"),
        (WNS, "https://db5p.notify.windows.com"),
        ("https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD", "https://wns2-par02p.notify.windows.com"),
    ] {
        let sub = check(endpoint, &policy).unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        assert_eq!(sub.endpoint(), endpoint);
        assert_eq!(sub.origin().as_str(), origin);
    }
}

#[test]
fn defaults_refuse_other_hosts_naming_the_host_and_the_fix() {
    let policy = PushServicePolicy::default();
    for (endpoint, host) in [
        ("https://evil.example/", "evil.example"),
        ("https://fcm.googleapis.com.evil.example/fcm/send/x", "fcm.googleapis.com.evil.example"),
        ("https://notfcm.googleapis.com/fcm/send/x", "notfcm.googleapis.com"),
        ("https://googleapis.com/fcm/send/x", "googleapis.com"),
        ("https://push.services.mozilla.com/wpush/v2/x", "push.services.mozilla.com"),
        ("https://notify.windows.com/w/?token=x", "notify.windows.com"),
        ("https://push.apple.com/x", "push.apple.com"),
        ("https://evilpush.apple.com/x", "evilpush.apple.com"),
        ("https://push.apple.com.evil.example/x", "push.apple.com.evil.example"),
        ("https://android.googleapis.com/gcm/send/x", "android.googleapis.com"),
        ("https://permanently-removed.invalid/fcm/send/x", "permanently-removed.invalid"),
    ] {
        let msg = refused(endpoint, &policy);
        assert!(msg.contains(&format!("host {host} is not an allowed push service")), "{endpoint}: {msg}");
        assert!(msg.contains("allowlist"), "says how to allow it: {msg}");
        assert!(msg.contains("fcm.googleapis.com, *.push.services.mozilla.com"), "lists what is allowed: {msg}");
    }
}

#[test]
fn defaults_refuse_http_and_ip_addresses() {
    let policy = PushServicePolicy::default();
    for endpoint in [
        "http://fcm.googleapis.com/fcm/send/x",
        "http://updates.push.services.mozilla.com/wpush/v2/x",
        "http://evil.example/",
    ] {
        let msg = refused(endpoint, &policy);
        assert!(msg.contains("must use https"), "{endpoint}: {msg}");
    }
    for endpoint in ["https://10.0.0.1/x", "https://169.254.169.254/latest/meta-data", "https://[2001:db8::1]/x"] {
        let msg = refused(endpoint, &policy);
        assert!(msg.contains("IP address"), "{endpoint}: {msg}");
        assert!(msg.contains("allowlist"), "{endpoint}: {msg}");
    }
}

#[test]
fn hosts_are_compared_after_url_normalization() {
    let policy = PushServicePolicy::default();
    // Case and default port name the same host once parsed, and the
    // normalized form is what is kept.
    for endpoint in ["HTTPS://FCM.GoogleAPIs.COM/fcm/send/x", "https://fcm.googleapis.com:443/fcm/send/x"] {
        let sub = check(endpoint, &policy).unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        assert_eq!(sub.endpoint(), "https://fcm.googleapis.com/fcm/send/x", "{endpoint}");
    }
    // Lookalikes and spellings that are another host are refused: a Greek
    // omicron (punycode), a trailing dot, an empty label, a `*` label.
    for endpoint in [
        "https://fcm.googleapis.c\u{3bf}m/fcm/send/x",
        "https://fcm.googleapis.com./fcm/send/x",
        "https://a..push.apple.com/x",
        "https://*.push.apple.com/x",
        "https://a_b.push.apple.com/x",
    ] {
        let msg = refused(endpoint, &policy);
        assert!(
            ["not an allowed push service", "not a valid URL", "not ASCII"].iter().any(|m| msg.contains(m)),
            "{endpoint}: {msg}"
        );
    }
    // A host in percent-escapes or in full-width letters is refused, with
    // the form to write, rather than normalized: a browser's subscription
    // never has one (its endpoint is serialized), and the KMS carries no
    // Unicode tables to map them (kms_core::weburl).
    for (endpoint, why) in [
        ("https://fcm%2Egoogleapis.com/fcm/send/x", "percent-escapes"),
        ("https://\u{ff46}\u{ff43}\u{ff4d}.googleapis.com/fcm/send/x", "xn-- form"),
    ] {
        let msg = refused(endpoint, &policy);
        assert!(msg.contains(why), "{endpoint}: {msg}");
    }
}

#[test]
fn loopback_only_when_allowed_and_then_http_too() {
    let strict = PushServicePolicy::default();
    let local = PushServicePolicy::default().with_loopback(true);
    assert!(local.allows_loopback());
    for endpoint in [
        "http://127.0.0.1:8090/push/abc",
        "http://localhost:8090/push/abc",
        "http://[::1]:8090/push/abc",
        "https://localhost:8090/push/abc",
    ] {
        let msg = refused(endpoint, &strict);
        assert!(msg.contains("loopback"), "{endpoint}: {msg}");
        assert!(msg.contains("allow_loopback"), "says how to allow it: {msg}");
        let sub = check(endpoint, &local).unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        assert_eq!(sub.endpoint(), endpoint);
    }
    assert_eq!(check("http://127.0.0.1:8090/push/abc", &local).unwrap().origin().as_str(), "http://127.0.0.1:8090");
    // Loopback allowed does not open http, or anything, for remote hosts.
    refused("http://fcm.googleapis.com/fcm/send/x", &local);
    refused("https://evil.example/", &local);
    refused("https://10.0.0.1/", &local);
    // And still works with an empty allowlist (a test-only deployment).
    let only_local = PushServicePolicy::new(Vec::<String>::new()).unwrap().with_loopback(true);
    assert!(check("http://localhost:8090/push/abc", &only_local).is_ok());
    let msg = refused(FCM, &only_local);
    assert!(msg.contains("the allowlist is empty"), "{msg}");
}

#[test]
fn a_custom_allowlist_replaces_the_defaults() {
    let policy = PushServicePolicy::new(["push.example.net", "*.push.example.org"]).unwrap();
    assert!(!policy.allows_loopback());
    assert!(check("https://push.example.net/x", &policy).is_ok());
    assert!(check("https://eu.push.example.org/x", &policy).is_ok());
    assert!(check("https://a.b.push.example.org/x", &policy).is_ok());
    for endpoint in [FCM, MOZILLA, "https://push.example.org/x", "https://other.example.net/x"] {
        let msg = refused(endpoint, &policy);
        assert!(msg.contains("(allowed: push.example.net, *.push.example.org)"), "{endpoint}: {msg}");
    }
    // Defaults plus one.
    let extended = PushServicePolicy::new(DEFAULT_PUSH_SERVICES.iter().copied().chain(["push.example.net"])).unwrap();
    assert!(check(FCM, &extended).is_ok());
    assert!(check("https://push.example.net/x", &extended).is_ok());
    refused("https://evil.example/", &extended);
}

#[test]
fn patterns_match_on_whole_labels_case_insensitively() {
    let exact = HostPattern::parse("FCM.googleapis.com").unwrap();
    assert_eq!(exact.as_str(), "fcm.googleapis.com");
    assert!(exact.matches("fcm.googleapis.com"));
    assert!(exact.matches("FCM.GOOGLEAPIS.COM"));
    for host in ["x.fcm.googleapis.com", "fcm.googleapis.co", "fcm.googleapis.com.", "notfcm.googleapis.com", ""] {
        assert!(!exact.matches(host), "{host}");
    }
    let wild = HostPattern::parse("*.notify.windows.com").unwrap();
    for host in ["db5p.notify.windows.com", "WNS2-PAR02P.notify.windows.com", "a.b.notify.windows.com"] {
        assert!(wild.matches(host), "{host}");
    }
    for host in [
        "notify.windows.com",
        ".notify.windows.com",
        "evilnotify.windows.com",
        "notify.windows.com.evil.example",
        "a..notify.windows.com",
        "*.notify.windows.com",
        "-a.notify.windows.com",
        "db5p.notify.windows.com.",
        "127.0.0.1",
    ] {
        assert!(!wild.matches(host), "{host}");
    }
}

#[test]
fn invalid_patterns_are_refused_with_the_reason() {
    for (pattern, why) in [
        ("", "host name"),
        ("*", "bare *"),
        ("*.com", "too broad"),
        ("**.example.com", "first label"),
        ("a.*.example.com", "first label"),
        ("*foo.example.com", "first label"),
        ("https://fcm.googleapis.com", "host name"),
        ("fcm.googleapis.com/fcm", "host name"),
        ("fcm.googleapis.com:443", "host name"),
        ("fcm.googleapis.com.", "host name"),
        (" fcm.googleapis.com", "host name"),
        ("a..b.example", "host name"),
        ("-a.example.com", "host name"),
        ("under_score.example.com", "host name"),
        ("127.0.0.1", "IP address"),
        ("[::1]", "host name"),
        ("localhost", "allow_loopback"),
        ("*.localhost", "allow_loopback"),
        ("b\u{fc}cher.example", "punycode"),
    ] {
        let err = HostPattern::parse(pattern).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(why), "{pattern:?}: {msg}");
        assert!(msg.contains(&format!("{pattern:?}")), "names the entry: {msg}");
        // The same error through the policy constructor.
        assert_eq!(PushServicePolicy::new(["fcm.googleapis.com", pattern]).unwrap_err(), err);
    }
    // The longest name and label are fine, one more is not.
    let label = "a".repeat(63);
    assert!(HostPattern::parse(&format!("{label}.example")).is_ok());
    assert!(HostPattern::parse(&format!("a{label}.example")).is_err());
    let long = format!("{label}.{label}.{label}.{}", "a".repeat(61));
    assert_eq!(long.len(), 253);
    assert!(HostPattern::parse(&long).is_ok());
    assert!(HostPattern::parse(&format!("a{long}")).is_err());
    assert!(HostPattern::parse("xn--bcher-kva.example").is_ok());
}

#[test]
fn policy_is_configurable_as_json() {
    let policy: PushServicePolicy =
        serde_json::from_str(r#"{"hosts":["push.example.net","*.push.apple.com"],"allow_loopback":true}"#).unwrap();
    assert_eq!(policy, PushServicePolicy::new(["push.example.net", "*.push.apple.com"]).unwrap().with_loopback(true));
    let defaults: PushServicePolicy =
        serde_json::from_str(&serde_json::to_string(&PushServicePolicy::default()).unwrap()).unwrap();
    assert_eq!(defaults, PushServicePolicy::default());
    let no_switch: PushServicePolicy = serde_json::from_str(r#"{"hosts":[]}"#).unwrap();
    assert!(!no_switch.allows_loopback());
    assert!(no_switch.hosts().is_empty());
    for bad in [
        r#"{"hosts":["*"]}"#,
        r#"{"hosts":["localhost"]}"#,
        r#"{"hosts":[],"allow_any":true}"#,
        r#"{"allow_loopback":true}"#,
        r#"{"hosts":"fcm.googleapis.com"}"#,
    ] {
        assert!(serde_json::from_str::<PushServicePolicy>(bad).is_err(), "{bad}");
    }
}

#[test]
fn duplicate_patterns_collapse() {
    let policy = PushServicePolicy::new(["push.example.net", "PUSH.example.net", "push.example.net"]).unwrap();
    assert_eq!(policy.hosts().len(), 1);
    assert!(policy.allows_host("push.example.net"));
    assert!(!policy.allows_host("example.net"));
}
