//! The lease credential and lease id: redacted, strict and total parsing,
//! round trips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::lease::{LeaseCredential, LeaseId, CREDENTIAL_LEN, CREDENTIAL_PREFIX};
use kms_core::ErrorCode;
use proptest::prelude::*;
use support::lease::*;

#[test]
fn debug_shows_the_lease_id_and_never_the_secret() {
    let l = lease(1);
    let t = text(&l.credential);
    let secret = t.rsplit_once('.').unwrap().1;
    let shown = format!("{:?}", l.credential);
    assert_eq!(shown, format!("LeaseCredential {{ lease_id: {:?}, secret: <redacted> }}", l.record.id().as_str()));
    assert!(!shown.contains(secret));
    let pretty = format!("{:#?}", l.credential);
    assert!(!pretty.contains(secret) && pretty.contains("<redacted>"), "{pretty}");
}

#[test]
fn text_form_round_trips() {
    let l = lease(2);
    let t = text(&l.credential);
    assert_eq!(t.len(), CREDENTIAL_LEN);
    assert!(t.starts_with(&format!("{CREDENTIAL_PREFIX}{}.", l.record.id())), "{t}");
    assert_eq!(t, *l.credential.dangerous_to_text());
    let parsed = LeaseCredential::parse(&t).unwrap();
    assert_eq!(text(&parsed), t);
    assert_eq!(parsed.lease_id(), l.record.id());
    let from_json: LeaseCredential = serde_json::from_value(serde_json::json!(t)).unwrap();
    assert_eq!(text(&from_json), t);
    assert_eq!(t.parse::<LeaseCredential>().map(|c| text(&c)).unwrap(), t);
}

#[test]
fn malformed_credentials_are_refused_without_echo() {
    let l = lease(3);
    let t = text(&l.credential);
    let secret = t.rsplit_once('.').unwrap().1.to_owned();
    let bad = [
        String::new(),
        "kmsl1.".into(),
        t.replacen("kmsl1.", "kmsl2.", 1),
        t.replacen("kmsl1.", "KMSL1.", 1),
        format!("{t}A"),
        t[..t.len() - 1].to_owned(),
        t.replacen('.', "_", 2),
        format!("kmsl1.{secret}.{}", l.record.id()),
        format!(" {}", &t[1..]),
        // Non-zero padding bits in the last character of the secret.
        format!("{}{}", &t[..t.len() - 1], if t.ends_with('B') { "C" } else { "B" }),
        "é".repeat(CREDENTIAL_LEN / 2),
    ];
    for s in &bad {
        let err = LeaseCredential::parse(s).map(|_| ()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{s:?}");
        assert!(!err.to_string().contains(&secret), "{err}");
        assert!(err.to_string().contains("lease credential"), "{err}");
    }
    // Deserializing says the same, without the value.
    let err = serde_json::from_value::<LeaseCredential>(serde_json::json!(format!("{t}x"))).unwrap_err();
    assert!(!err.to_string().contains(&secret), "{err}");
}

#[test]
fn lease_ids_have_one_spelling() {
    let id = lease(4).record.id().clone();
    assert_eq!(LeaseId::parse(id.as_str()).unwrap(), id);
    for s in [
        "",
        "short",
        "AAAAAAAAAAAAAAAAAAAAAB",
        "AAAAAAAAAAAAAAAAAAAAA.",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "AAAAAAAAAAAAAAAAAAAA+/",
    ] {
        assert_eq!(LeaseId::parse(s).unwrap_err().code(), ErrorCode::InvalidInput, "{s:?}");
    }
    assert!(LeaseId::parse("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
    assert!(serde_json::from_str::<LeaseId>("\"AAAAAAAAAAAAAAAAAAAAAB\"").is_err());
    assert!(serde_json::from_str::<LeaseId>("\"AAAAAAAAAAAAAAAAAAAAAQ\"").is_ok());
    let mut r = rng(5);
    let a = LeaseId::generate(&mut r);
    let b = LeaseId::generate(&mut r);
    assert_ne!(a, b);
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,200}") {
        let _ = LeaseCredential::parse(&s);
        let _ = LeaseId::parse(&s);
    }

    /// Near-credentials: whatever parses prints back exactly as given, and
    /// its Debug never shows the secret.
    #[test]
    fn accepted_credentials_round_trip(
        id in "[A-Za-z0-9_-]{21,23}",
        sep in "[.]{1,2}",
        secret in "[A-Za-z0-9_-]{42,44}",
    ) {
        let s = format!("kmsl1.{id}{sep}{secret}");
        if let Ok(c) = LeaseCredential::parse(&s) {
            prop_assert_eq!(text(&c), s.clone());
            prop_assert_eq!(c.lease_id().as_str(), id.as_str());
            let shown = format!("{c:?}");
            prop_assert!(!shown.contains(&secret));
        }
    }

    /// Every 32-byte secret with every id round-trips through the text.
    #[test]
    fn every_secret_round_trips(id in proptest::array::uniform16(any::<u8>()), secret in proptest::array::uniform32(any::<u8>())) {
        let s = format!("kmsl1.{}.{}", kms_core::b64::encode(id), kms_core::b64::encode(secret));
        let c = LeaseCredential::parse(&s).unwrap();
        prop_assert_eq!(text(&c), s);
    }
}
