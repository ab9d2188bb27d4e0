//! `PushOrigin`: the JWT `aud` must be the push service's origin
//! (RFC 8292 section 2), https except for loopback test services.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

// Test code: a panic here is a failed test (as `clippy.toml` allows inside
// `#[test]` functions, extended to this file's helpers).

use kms_core::vapid::PushOrigin;
use kms_core::ErrorCode;
use proptest::prelude::*;

fn refused(s: &str) -> String {
    let err = PushOrigin::parse(s).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{s:?}: {err}");
    err.to_string()
}

#[test]
fn accepts_push_service_and_loopback_origins() {
    for s in [
        "https://fcm.googleapis.com",
        "https://updates.push.services.mozilla.com",
        "https://web.push.apple.com",
        "https://push.example.com:8443",
        "http://localhost:8080",
        "http://localhost",
        "http://127.0.0.1:9000",
        "http://127.255.0.1",
        "http://[::1]:8080",
        "https://[2001:db8::1]",
        "https://192.0.2.1",
    ] {
        let o = PushOrigin::parse(s).unwrap();
        assert_eq!(o.as_str(), s);
        assert_eq!(o.to_string(), s);
        assert_eq!(s.parse::<PushOrigin>().unwrap(), o);
    }
}

#[test]
fn full_url_is_refused_with_the_origin_to_use() {
    let msg = refused("https://fcm.googleapis.com/fcm/send/abc");
    assert!(
        msg.contains(
            r#"aud must be an origin (scheme://host[:port]), not a full URL: use "https://fcm.googleapis.com""#
        ),
        "{msg}"
    );
    for (input, origin) in [
        ("https://fcm.googleapis.com/", "https://fcm.googleapis.com"),
        ("https://fcm.googleapis.com?x=1", "https://fcm.googleapis.com"),
        ("https://fcm.googleapis.com#frag", "https://fcm.googleapis.com"),
        ("https://push.example.com:8443/wpush/v2/x", "https://push.example.com:8443"),
        ("http://localhost:8080/push", "http://localhost:8080"),
    ] {
        let msg = refused(input);
        assert!(msg.contains("not a full URL"), "{input}: {msg}");
        assert!(msg.contains(&format!("use \"{origin}\"")), "{input}: {msg}");
    }
}

#[test]
fn non_canonical_forms_are_refused_with_the_canonical_one() {
    for (input, origin) in [
        ("https://user:pw@fcm.googleapis.com", "https://fcm.googleapis.com"),
        ("https://user@fcm.googleapis.com", "https://fcm.googleapis.com"),
        ("https://FCM.googleapis.com", "https://fcm.googleapis.com"),
        ("HTTPS://fcm.googleapis.com", "https://fcm.googleapis.com"),
        ("https://fcm.googleapis.com:443", "https://fcm.googleapis.com"),
        (" https://fcm.googleapis.com", "https://fcm.googleapis.com"),
        ("https:fcm.googleapis.com", "https://fcm.googleapis.com"),
    ] {
        let msg = refused(input);
        assert!(msg.contains(&format!("use \"{origin}\"")), "{input}: {msg}");
    }
    assert!(refused("https://user@fcm.googleapis.com").contains("without userinfo"));
    // An internationalized name is asked for in its xn-- form, which the
    // KMS does not compute (its builds carry no Unicode tables).
    assert!(refused("https://bücher.example").contains("xn-- form"));
    // A host in percent-escapes is refused, not decoded.
    assert!(refused("https://%41pple.com").contains("percent-escapes"));
    assert!(PushOrigin::parse("https://xn--bcher-kva.example").is_ok());
}

#[test]
fn scheme_rules() {
    for s in [
        "http://example.com",
        "http://fcm.googleapis.com",
        "http://10.0.0.1",
        "http://[::2]",
        "http://localhost.example.com",
    ] {
        let msg = refused(s);
        assert!(msg.contains("https"), "{s}: {msg}");
    }
    for s in [
        "ftp://x",
        "ws://localhost",
        "wss://push.example.com",
        "file:///etc/passwd",
        "data:text/plain,x",
        "javascript:alert(1)",
    ] {
        let msg = refused(s);
        assert!(msg.contains("scheme must be https"), "{s}: {msg}");
    }
}

#[test]
fn garbage_empty_and_huge_inputs() {
    assert!(refused("").contains("empty"));
    for s in [
        "garbage",
        "fcm.googleapis.com",
        "//fcm.googleapis.com",
        "https://",
        "https://[::1",
        "\0",
        "https://exa mple.com",
    ] {
        refused(s);
    }
    let huge = format!("https://{}", "a".repeat(10 * 1024));
    assert!(refused(&huge).contains("longer than 2048 bytes"));
}

#[test]
fn serde_as_string_and_parse_on_read() {
    let o = PushOrigin::parse("https://web.push.apple.com").unwrap();
    assert_eq!(serde_json::to_string(&o).unwrap(), r#""https://web.push.apple.com""#);
    assert_eq!(serde_json::from_str::<PushOrigin>(r#""https://web.push.apple.com""#).unwrap(), o);
    let err = serde_json::from_str::<PushOrigin>(r#""https://web.push.apple.com/x""#).unwrap_err();
    assert!(err.to_string().contains("not a full URL"), "{err}");
    assert!(serde_json::from_str::<PushOrigin>("42").is_err());
}

#[test]
fn origin_of_an_endpoint() {
    for (endpoint, origin) in [
        ("https://fcm.googleapis.com/fcm/send/dR3x:APA91b", "https://fcm.googleapis.com"),
        (
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA?x=1#y",
            "https://updates.push.services.mozilla.com",
        ),
        ("https://web.push.apple.com/QGp4", "https://web.push.apple.com"),
        ("http://localhost:8080/push/1", "http://localhost:8080"),
        ("https://FCM.googleapis.com:443/x", "https://fcm.googleapis.com"),
    ] {
        assert_eq!(PushOrigin::from_endpoint(endpoint).unwrap().as_str(), origin, "{endpoint}");
    }
    for bad in ["", "http://example.com/push", "ftp://x/y", "not a url", "https://u:p@fcm.googleapis.com/x"] {
        assert_eq!(PushOrigin::from_endpoint(bad).unwrap_err().code(), ErrorCode::InvalidInput, "{bad}");
    }
    assert!(PushOrigin::from_endpoint(&format!("https://a.example/{}", "x".repeat(5000))).is_err());
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,300}") {
        let _ = PushOrigin::parse(&s);
        let _ = PushOrigin::from_endpoint(&s);
    }

    /// Near-URLs hit the interesting paths. Whatever is accepted is exactly
    /// its own origin, and parsing it again gives the same value.
    #[test]
    fn accepted_values_are_their_own_origin(
        s in "(https?|ftp|HTTPS)://[a-zA-Z0-9.:@/?#\\[\\]%-]{0,40}"
    ) {
        if let Ok(o) = PushOrigin::parse(&s) {
            prop_assert_eq!(o.as_str(), s.as_str());
            prop_assert_eq!(PushOrigin::parse(o.as_str()).unwrap(), o.clone());
            prop_assert_eq!(PushOrigin::from_endpoint(&format!("{s}/path")).unwrap(), o);
        }
        if let Ok(o) = PushOrigin::from_endpoint(&s) {
            prop_assert!(PushOrigin::parse(o.as_str()).is_ok());
        }
    }
}
