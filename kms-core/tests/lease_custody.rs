//! Custody of the VAPID key under a lease: the store's copy alone cannot
//! sign, the credential opens only its own lease's record, the AAD binds
//! the user, the lease id and the kid, and revocation deletes the key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::lease::{self, LeaseCredential, LeaseRecord, LeaseStatus};
use kms_core::rpc::RpcError;
use kms_core::{CoreError, ErrorCode};
use serde_json::json;
use support::lease::*;

/// The one refusal for every credential that does not open the lease.
fn assert_invalid_credential(record: &LeaseRecord, credential: &LeaseCredential) {
    let err = issue(record, credential, &req(FCM, 1, None), NOW_MS, &mut rng(99)).unwrap_err();
    assert_eq!(err, CoreError::Forbidden("invalid lease credential".into()));
    assert_eq!(RpcError::from(err).message, "invalid lease credential");
}

/// `text` with the secret part replaced, keeping the lease id.
fn with_secret(text: &str, secret_b64: &str) -> LeaseCredential {
    let (head, _) = text.rsplit_once('.').unwrap();
    LeaseCredential::parse(&format!("{head}.{secret_b64}")).unwrap()
}

#[test]
fn the_genuine_credential_opens_its_lease() {
    let l = lease(1);
    let (tokens, _) = issue(&l.record, &l.credential, &req(FCM, 1, None), NOW_MS, &mut rng(2)).unwrap();
    verify(&tokens[0], &l.key, FCM, false);
    // A credential parsed back from its text works the same.
    let again = LeaseCredential::parse(&text(&l.credential)).unwrap();
    assert!(issue(&l.record, &again, &req(FCM, 1, None), NOW_MS, &mut rng(2)).is_ok());
}

#[test]
fn another_leases_credential_is_refused() {
    let a = lease(3);
    let b = lease(4);
    assert_invalid_credential(&a.record, &b.credential);
    // Even with the lease id rewritten to a's: b's secret does not open a.
    let b_secret = text(&b.credential).rsplit_once('.').unwrap().1.to_owned();
    assert_invalid_credential(&a.record, &with_secret(&text(&a.credential), &b_secret));
}

#[test]
fn every_single_character_change_of_the_secret_is_refused() {
    let l = lease(5);
    let t = text(&l.credential);
    let (head, secret) = t.rsplit_once('.').unwrap();
    let mut tried = 0;
    for i in 0..secret.len() {
        for c in ['A', 'g', '_'] {
            let mut s: Vec<char> = secret.chars().collect();
            if s[i] == c {
                continue;
            }
            s[i] = c;
            let s: String = s.into_iter().collect();
            // The last character carries 2 padding bits that must be zero;
            // some replacements do not parse at all, which is a refusal too.
            match LeaseCredential::parse(&format!("{head}.{s}")) {
                Ok(cred) => {
                    assert_invalid_credential(&l.record, &cred);
                    tried += 1;
                }
                Err(e) => assert_eq!(e.code(), ErrorCode::InvalidInput),
            }
        }
    }
    assert!(tried > 100, "{tried}");
}

#[test]
fn another_users_record_and_credential_do_not_open_under_this_user() {
    // bob's record, stored under alice (its user field rewritten), with
    // bob's genuine credential.
    let bob = lease_with("bob", &params(&[FCM]), NOW_MS, 6);
    let moved = edited(&bob.record, |v| v["user"] = json!("alice"));
    assert_eq!(moved.user().as_str(), "alice");
    assert_invalid_credential(&moved, &bob.credential);
    // alice's lease from the same seeds has the same key, lease id, secret
    // and nonce as bob's: only the user differs. bob's sealed key spliced
    // into it opens with neither (identical) credential.
    let alice = lease_with("alice", &params(&[FCM]), NOW_MS, 6);
    let spliced =
        edited(&alice.record, |v| v["sealed_key"] = serde_json::to_value(&bob.record).unwrap()["sealed_key"].clone());
    assert_invalid_credential(&spliced, &alice.credential);
    assert_invalid_credential(&spliced, &bob.credential);
}

#[test]
fn a_record_copied_to_another_lease_id_does_not_open() {
    let l = lease(7);
    let other_id = lease(8).record.id().clone();
    let copied = edited(&l.record, |v| v["id"] = json!(other_id.as_str()));
    // The genuine credential names the original id: refused before any key.
    assert_invalid_credential(&copied, &l.credential);
    // A credential forged for the new id with the genuine secret: the salt,
    // info and AAD all change, so the key does not open.
    let secret = text(&l.credential).rsplit_once('.').unwrap().1.to_owned();
    let forged = LeaseCredential::parse(&format!("kmsl1.{other_id}.{secret}")).unwrap();
    assert_eq!(forged.lease_id(), copied.id());
    assert_invalid_credential(&copied, &forged);
}

#[test]
fn a_record_rebound_to_another_kid_does_not_open() {
    let l = lease(9);
    let (_, other_kid) = vapid(10);
    let rebound = edited(&l.record, |v| v["kid"] = json!(other_kid.as_str()));
    assert_invalid_credential(&rebound, &l.credential);
}

#[test]
fn a_flipped_bit_in_the_sealed_key_is_refused() {
    let l = lease(11);
    let sealed = serde_json::to_value(&l.record).unwrap()["sealed_key"].as_str().unwrap().to_owned();
    let mut bytes = kms_core::b64::decode(&sealed, 4096, "sealed").unwrap();
    for i in [0, 12, bytes.len() - 1] {
        bytes[i] ^= 1;
        let damaged = edited(&l.record, |v| v["sealed_key"] = json!(kms_core::b64::encode(&bytes)));
        assert_invalid_credential(&damaged, &l.credential);
        bytes[i] ^= 1;
    }
}

#[test]
fn the_record_holds_nothing_of_the_secret() {
    let l = lease(12);
    let t = text(&l.credential);
    let secret_b64 = t.rsplit_once('.').unwrap().1;
    let secret = kms_core::b64::decode(secret_b64, 32, "secret").unwrap();
    let json = serde_json::to_string(&l.record).unwrap();
    assert!(!json.contains(secret_b64), "{json}");
    // Exactly these fields, and the only opaque one is the AEAD blob.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "audiences",
            "created_ms",
            "credential_check",
            "expires_ms",
            "extended",
            "id",
            "issued",
            "kid",
            "max_batch",
            "relay",
            "sealed_format",
            "sealed_key",
            "status",
            "tokens_per_hour",
            "user",
            "v"
        ]
    );
    let sealed = kms_core::b64::decode(v["sealed_key"].as_str().unwrap(), 4096, "sealed").unwrap();
    // nonce (12) + PKCS#8 (138) + tag (16), and the secret is not inside.
    assert_eq!(sealed.len(), 166);
    assert!(!sealed.windows(8).any(|w| secret.windows(8).any(|s| s == w)));
    assert_eq!(v["v"], 1);
    assert_eq!(v["sealed_format"], 2, "PKCS#8");
}

#[test]
fn revocation_deletes_the_key_and_answers_revoked() {
    let l = lease(13);
    let revoked = lease::revoke(&l.record, NOW_MS + 5);
    assert_eq!(revoked.status(), LeaseStatus::Revoked { at_ms: NOW_MS + 5 });
    assert!(!revoked.has_sealed_key());
    assert_eq!(serde_json::to_value(&revoked).unwrap()["sealed_key"], serde_json::Value::Null);
    // The genuine credential gets "revoked", not a token.
    let err = issue(&revoked, &l.credential, &req(FCM, 1, None), NOW_MS + 10, &mut rng(14)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LeaseRevoked);
    // Un-revoking by editing the status alone gives an active lease
    // without its key (the form of an ended lease whose key was erased):
    // it reads, and issues nothing.
    let mut v = serde_json::to_value(&revoked).unwrap();
    v["status"] = json!({"state": "active"});
    let edited = serde_json::from_value::<LeaseRecord>(v).unwrap();
    let err = issue(&edited, &l.credential, &req(FCM, 1, None), NOW_MS + 10, &mut rng(14)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "an active record without its key issues nothing");
}

#[test]
fn damaged_records_are_refused_when_read() {
    let l = lease(15);
    let good = serde_json::to_value(&l.record).unwrap();
    assert_eq!(serde_json::from_value::<LeaseRecord>(good.clone()).unwrap(), l.record);
    // (field, new value or None to remove it)
    let cases = [
        ("v", Some(json!(2))),
        ("secret", Some(json!("x"))),
        ("kid", None),
        ("audiences", Some(json!([MOZ, FCM]))),
        ("audiences", Some(json!([FCM, FCM]))),
        ("audiences", Some(json!([]))),
        ("audiences", Some(json!([format!("{FCM}/x")]))),
        ("tokens_per_hour", Some(json!(0))),
        ("max_batch", Some(json!(61))),
        ("expires_ms", Some(json!(0))),
        ("status", Some(json!({"state": "revoked", "at_ms": 1}))),
        ("status", Some(json!({"state": "paused"}))),
        ("issued", Some(json!(vec![NOW_MS; 61]))),
        ("relay", Some(json!("a\u{202e}b"))),
        ("id", Some(json!("short"))),
    ];
    for (field, value) in cases {
        let mut v = good.clone();
        let name = format!("{field} = {value:?}");
        match value {
            Some(x) => v[field] = x,
            None => drop(v.as_object_mut().unwrap().remove(field)),
        }
        assert!(serde_json::from_value::<LeaseRecord>(v).is_err(), "{name}");
    }
}
