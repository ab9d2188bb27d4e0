//! The audit chain: append (sequence numbers, links, MACs checked against an
//! independent HMAC/SHA-256 computation of the documented definitions),
//! caps, forward key evolution, per-user separation, stored state, audit
//! keys and checkpoints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeMap;

use hmac::{Hmac, Mac as _};
use kms_core::audit::{
    self, audit_sealing_key, entry_hash, genesis_hash, AuditError, AuditKeyRecord, AuditRecord, AuditScope,
    AuditSigningKey, ChainState, Checkpoint, EventKind, InstanceAuditKeyRecord, Outcome, MAX_IDS,
};
use kms_core::ids::UserId;
use kms_core::secret::{Key256, MasterSecret};
use kms_core::testing::encoding::{b64, unb64};
use kms_core::{CoreError, ErrorCode};
use sha2::{Digest as _, Sha256};
use support::audit::{rng, Log};

/// The MAC key a serialized state holds: what a thief of the store gets.
fn stolen_key(state: &ChainState) -> [u8; 32] {
    let v = serde_json::to_value(state).unwrap();
    unb64(v["mac_key"].as_str().unwrap()).try_into().unwrap()
}

/// `K_{i+1} = SHA-256("kms-audit/v1/evolve" || K_i)`, written out here
/// independently of the module.
fn evolve(k: &[u8; 32]) -> [u8; 32] {
    Sha256::digest([b"kms-audit/v1/evolve".as_slice(), k].concat()).into()
}

fn hmac(k: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// The MAC input written out by hand: the canonical JSON with `"mac":""`.
fn mac_input_by_hand(e: &audit::AuditEntry) -> Vec<u8> {
    let mut v = e.clone();
    v.mac = String::new();
    serde_json::to_vec(&v).unwrap()
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

#[test]
fn append_numbers_links_and_macs_every_entry() {
    let mut log = Log::user("alice", 1);
    let k0 = stolen_key(&log.state);
    assert_eq!(log.state.next_seq(), 0);
    assert_eq!(log.state.head(), genesis_hash(&log.scope));
    for i in 0..6u64 {
        log.append(AuditRecord::new(EventKind::JwtSign, Outcome::Ok).with_id("jti", format!("j{i}")), 1000 + i);
    }
    assert_eq!(log.state.next_seq(), 6);
    assert_eq!(log.state.head(), entry_hash(&log.entries[5]).unwrap());
    assert_eq!(log.state.head_b64(), b64(entry_hash(&log.entries[5]).unwrap()));

    let mut k = k0;
    for (i, e) in log.entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
        assert_eq!(e.ts_ms, 1000 + i as u64);
        assert_eq!(e.scope, log.scope);
        let expected_prev = if i == 0 { genesis_hash(&log.scope) } else { entry_hash(&log.entries[i - 1]).unwrap() };
        assert_eq!(e.prev, b64(expected_prev), "prev of {i}");
        assert_eq!(e.mac, b64(hmac(&k, &mac_input_by_hand(e))), "mac of {i}");
        // entry_hash is SHA-256 of the canonical bytes, mac included.
        assert_eq!(entry_hash(e).unwrap(), <[u8; 32]>::from(Sha256::digest(serde_json::to_vec(e).unwrap())));
        k = evolve(&k);
    }
    // The state now holds K_6 and nothing older.
    assert_eq!(stolen_key(&log.state), k);
}

#[test]
fn genesis_and_canonical_bytes_are_as_documented() {
    let scope = AuditScope::User(alice());
    assert_eq!(genesis_hash(&scope), <[u8; 32]>::from(Sha256::digest(b"kms-audit/v1/genesis\nuser:alice")));
    assert_eq!(
        genesis_hash(&AuditScope::Instance),
        <[u8; 32]>::from(Sha256::digest(b"kms-audit/v1/genesis\ninstance"))
    );

    let mut log = Log::user("alice", 2);
    let e = log
        .append(
            AuditRecord::new(EventKind::Unlock, Outcome::Refused)
                .with_method("passphrase")
                .with_reason("throttled")
                .with_id("enrollment_id", "e1"),
            42,
        )
        .clone();
    let text = String::from_utf8(e.canonical_bytes().unwrap()).unwrap();
    let expected = format!(
        r#"{{"seq":0,"ts_ms":42,"scope":"user:alice","event":"unlock","outcome":"refused","method":"passphrase","ids":{{"enrollment_id":"e1"}},"reason":"throttled","prev":"{}","mac":"{}"}}"#,
        e.prev, e.mac
    );
    assert_eq!(text, expected);
    let e2 = log.append(AuditRecord::new(EventKind::Lock, Outcome::Ok), 43).clone();
    assert!(String::from_utf8(e2.canonical_bytes().unwrap())
        .unwrap()
        .contains(r#""method":null,"ids":{},"reason":null"#));
}

#[test]
fn caps_are_enforced_and_a_refusal_leaves_the_state_untouched() {
    let mut log = Log::user("alice", 3);
    log.append(AuditRecord::new(EventKind::Setup, Outcome::Ok), 1);
    let before = serde_json::to_string(&log.state).unwrap();
    let base = || AuditRecord::new(EventKind::JwtSign, Outcome::Ok);

    let mut too_many = base();
    for i in 0..=MAX_IDS {
        too_many = too_many.with_id(format!("id{i}"), "v");
    }
    let mut sixteen = base();
    for i in 0..MAX_IDS {
        sixteen = sixteen.with_id(format!("id{i}"), "v".repeat(256));
    }
    let bad: Vec<(&str, AuditRecord)> = vec![
        ("17 ids", too_many),
        ("id name 33 bytes", base().with_id("a".repeat(33), "v")),
        ("id name uppercase", base().with_id("Kid", "v")),
        ("id name numeric", base().with_id("123", "v")),
        ("id name empty", base().with_id("", "v")),
        // Values put in `ids` directly: `with_id` would have made them fit.
        ("id value 257 bytes", raw_id("v".repeat(257))),
        ("id value empty", raw_id(String::new())),
        ("id value newline", raw_id("a\nb".into())),
        ("id value NUL", raw_id("a\0b".into())),
        ("id value bidi override", raw_id("abc\u{202e}fed".into())),
        ("reason 65 bytes", base().with_reason("r".repeat(65))),
        ("reason with space", base().with_reason("unlock failed")),
        ("reason empty", base().with_reason("")),
        ("method uppercase", base().with_method("Passphrase")),
        ("method starts with digit", base().with_method("2fa")),
    ];
    for (what, rec) in bad {
        let err = audit::append(&log.state, &log.scope, rec, 2).unwrap_err();
        assert!(matches!(err, AuditError::InvalidRecord(_)), "{what}: {err:?}");
        assert_eq!(CoreError::from(err).code(), ErrorCode::InvalidInput, "{what}");
        assert_eq!(serde_json::to_string(&log.state).unwrap(), before, "{what}: state changed");
    }
    // At the limits exactly: accepted.
    let ok = [
        sixteen,
        base().with_id("a".repeat(32), "v"),
        base().with_id("kid", "é".repeat(128)),
        base().with_reason("r".repeat(64)),
        base().with_method("passkey_prf"),
    ];
    for rec in ok {
        audit::append(&log.state, &log.scope, rec, 2).unwrap();
    }
    // Still untouched: append borrows the state.
    assert_eq!(serde_json::to_string(&log.state).unwrap(), before);
    assert_eq!(log.state.next_seq(), 1);
}

/// A record whose id `kid` is `value` as given, past `with_id`'s fitting.
fn raw_id(value: String) -> AuditRecord {
    let mut rec = AuditRecord::new(EventKind::Unlock, Outcome::Ok);
    rec.ids.insert("kid".into(), value);
    rec
}

/// `with_id` records what a caller sent, made fit: escapes for control and
/// bidi characters, a cut with a mark past 256 bytes, a mark for nothing.
#[test]
fn with_id_makes_any_value_fit_and_visible() {
    let id = |v: &str| AuditRecord::new(EventKind::Unlock, Outcome::Ok).with_id("kid", v).ids["kid"].clone();
    assert_eq!(id("kid-1"), "kid-1", "a fit value is unchanged");
    assert_eq!(id("a\nb"), "a\\u{a}b");
    assert_eq!(id("a\0b"), "a\\u{0}b");
    assert_eq!(id("abc\u{202e}fed"), "abc\\u{202e}fed");
    assert_eq!(id(""), "(empty)");
    let long = id(&"v".repeat(10_000));
    assert_eq!(long.len(), 256);
    assert!(long.ends_with('\u{2026}'));
    let wide = id(&"\u{e9}".repeat(300));
    assert!(wide.len() <= 256 && wide.ends_with('\u{2026}'));
    let escapes = id(&"\u{2066}".repeat(100));
    assert!(escapes.len() <= 256 && escapes.starts_with("\\u{2066}"));
    for v in ["a\nb", "", &"v".repeat(10_000), &"\u{2066}".repeat(100)] {
        let rec = AuditRecord::new(EventKind::Unlock, Outcome::Ok).with_id("kid", v);
        let log = Log::user("alice", 9);
        audit::append(&log.state, &log.scope, rec, 2).unwrap();
    }
}

#[test]
fn an_entry_at_every_cap_fits_in_an_export_line() {
    let mut log = Log::user("a".repeat(64).as_str(), 4);
    let mut rec = AuditRecord::new(EventKind::SubscriptionRemove, Outcome::Refused)
        .with_method("m".repeat(64))
        .with_reason("r".repeat(64));
    for i in 0..MAX_IDS {
        // '"' doubles when escaped: the longest serialization of 256 bytes.
        rec = rec.with_id(format!("{}{i:02}", "k".repeat(30)), "\"".repeat(256));
    }
    log.append(rec, u64::MAX);
    let line_len = support::audit::entry_line(&log.entries[0]).len();
    assert!(line_len < audit::MAX_LINE_BYTES, "{line_len}");
    let text = log.export(u64::MAX);
    assert!(audit::verify_export(&text, &log.full_opts()).valid);
}

#[test]
fn append_refuses_a_state_of_another_scope() {
    let log = Log::user("alice", 5);
    let bob = AuditScope::User(UserId::parse("bob").unwrap());
    let err = audit::append(&log.state, &bob, AuditRecord::new(EventKind::Lock, Outcome::Ok), 1).unwrap_err();
    assert_eq!(err, AuditError::ScopeMismatch { state: "user:alice".into(), requested: "user:bob".into() });
    assert_eq!(CoreError::from(err).code(), ErrorCode::Internal);
    let err = audit::append(&log.state, &AuditScope::Instance, AuditRecord::new(EventKind::Lock, Outcome::Ok), 1);
    assert!(matches!(err, Err(AuditError::ScopeMismatch { .. })));
}

/// A thief of the stored state after n entries holds K_n. With it, they can
/// MAC new entries but reproduce no earlier MAC, neither directly nor by
/// evolving the key further.
#[test]
fn a_stolen_state_cannot_forge_earlier_entries() {
    let mut log = Log::user("alice", 6);
    let k0 = stolen_key(&log.state);
    for i in 0..8u64 {
        log.append(AuditRecord::new(EventKind::Unlock, Outcome::Failed).with_reason("unlock_failed"), i);
    }
    let kn = stolen_key(&log.state);
    let last = &log.entries[7];
    assert_ne!(b64(hmac(&kn, &mac_input_by_hand(last))), last.mac);
    let mut forward = kn;
    for _ in 0..64 {
        for e in &log.entries {
            assert_ne!(b64(hmac(&forward, &mac_input_by_hand(e))), e.mac, "seq {}", e.seq);
        }
        forward = evolve(&forward);
    }
    // The same check through the verifier: K_n offered as K_0 fails at seq 0,
    // the real K_0 passes.
    let text = log.export(100);
    let fake_k0 = serde_json::from_value::<ChainState>(serde_json::json!({
        "v": 1, "scope": "user:alice", "next_seq": 0, "head": b64([0u8; 32]), "mac_key": b64(kn)
    }))
    .unwrap();
    // A state made from the stolen key, then a one-entry chain: its MAC is
    // not entry 0's.
    let (forged, _) = audit::append(
        &fake_k0,
        &log.scope,
        AuditRecord::new(EventKind::Unlock, Outcome::Failed).with_reason("unlock_failed"),
        0,
    )
    .unwrap();
    assert_ne!(forged.mac, log.entries[0].mac);
    assert_eq!(
        hmac(&k0, &mac_input_by_hand(&log.entries[0])),
        <[u8; 32]>::try_from(unb64(&log.entries[0].mac)).unwrap()
    );
    let report = audit::verify_export(&text, &log.full_opts());
    assert!(report.valid, "{report}");
    assert!(report.macs_checked);
}

#[test]
fn every_append_replaces_the_key() {
    let mut log = Log::user("alice", 7);
    let mut seen = vec![stolen_key(&log.state)];
    for i in 0..5 {
        log.append(AuditRecord::new(EventKind::Lock, Outcome::Ok), i);
        let k = stolen_key(&log.state);
        assert!(!seen.contains(&k));
        assert_eq!(k, evolve(seen.last().unwrap()));
        seen.push(k);
    }
}

#[test]
fn two_users_chains_differ() {
    // Same master secret, same records, same times: only the user differs.
    let master = MasterSecret::generate(&mut rng(8));
    let chain = |name: &str| {
        let user = UserId::parse(name).unwrap();
        let scope = AuditScope::User(user.clone());
        let mut state = ChainState::genesis(scope.clone(), audit::audit_mac_key0(&master, &user).unwrap());
        let k0 = stolen_key(&state);
        let mut entries = Vec::new();
        for i in 0..3 {
            let (e, next) =
                audit::append(&state, &scope, AuditRecord::new(EventKind::JwtSign, Outcome::Ok), i).unwrap();
            entries.push(e);
            state = next;
        }
        (k0, entries)
    };
    let (ka, a) = chain("alice");
    let (kb, b) = chain("bob");
    assert_ne!(ka, kb, "K_0 is bound to the user");
    for (x, y) in a.iter().zip(&b) {
        assert_ne!(x.prev, y.prev);
        assert_ne!(x.mac, y.mac);
        assert_ne!(entry_hash(x).unwrap(), entry_hash(y).unwrap());
    }
    // Deterministic: the same inputs give the same chain.
    assert_eq!(chain("alice").1, a);
}

#[test]
fn chain_state_storage_round_trips_and_is_strict() {
    let mut log = Log::user("alice", 9);
    log.append(AuditRecord::new(EventKind::Setup, Outcome::Ok), 1);
    let stored = serde_json::to_value(&log.state).unwrap();
    assert_eq!(stored["v"], 1);
    assert_eq!(stored["scope"], "user:alice");
    assert_eq!(stored["next_seq"], 1);
    assert_eq!(stored["head"], log.state.head_b64());
    let keys: Vec<&String> = stored.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5);

    let restored: ChainState = serde_json::from_value(stored.clone()).unwrap();
    let rec = || AuditRecord::new(EventKind::Lock, Outcome::Ok);
    let (a, _) = audit::append(&log.state, &log.scope, rec(), 2).unwrap();
    let (b, _) = audit::append(&restored, &log.scope, rec(), 2).unwrap();
    assert_eq!(a, b);

    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = stored.clone();
        f(&mut v);
        serde_json::from_value::<ChainState>(v).is_err()
    };
    assert!(mutate(&|v| v["v"] = 2.into()));
    assert!(mutate(&|v| v["extra"] = 1.into()));
    assert!(mutate(&|v| v["head"] = b64([0u8; 31]).into()));
    assert!(mutate(&|v| v["mac_key"] = b64([0u8; 33]).into()));
    assert!(mutate(&|v| v["mac_key"] = "!!".into()));
    assert!(mutate(&|v| v["scope"] = "user:".into()));
    assert!(mutate(&|v| {
        v.as_object_mut().unwrap().remove("mac_key");
    }));

    let shown = format!("{:?}", log.state);
    assert!(shown.contains("<redacted>"));
    assert!(!shown.contains(stored["mac_key"].as_str().unwrap()));
    assert_eq!(format!("{:?}", log.mac_key0()), "AuditMacKey(<redacted>)");
}

#[test]
fn entries_deserialize_strictly() {
    let mut log = Log::user("alice", 10);
    log.append(AuditRecord::new(EventKind::Setup, Outcome::Ok).with_id("enrollment_id", "e1"), 1);
    let good = serde_json::to_string(&log.entries[0]).unwrap();
    assert_eq!(serde_json::from_str::<audit::AuditEntry>(&good).unwrap(), log.entries[0]);
    let refused = [
        good.replace("\"seq\":0,", "\"seq\":0,\"extra\":1,"),
        good.replace("\"method\":null,", ""),
        good.replace("\"reason\":null,", ""),
        good.replace(r#""ids":{"enrollment_id":"e1"}"#, r#""ids":{"enrollment_id":"e1","enrollment_id":"e2"}"#),
        good.replace(r#""ids":{"enrollment_id":"e1"}"#, r#""ids":{"Enrollment":"e1"}"#),
        good.replace(r#""ids":{"enrollment_id":"e1"}"#, r#""ids":{"k":5}"#),
        good.replace("\"event\":\"setup\"", "\"event\":\"launch\""),
        good.replace("\"outcome\":\"ok\"", "\"outcome\":\"maybe\""),
        good.replace("\"scope\":\"user:alice\"", "\"scope\":\"alice\""),
        good.replace("\"method\":null", "\"method\":\"Pass phrase\""),
        good.replace(&log.entries[0].prev, &log.entries[0].prev[..42]),
        good.replace(&log.entries[0].mac, &format!("{}=", log.entries[0].mac)),
    ];
    for (i, bad) in refused.iter().enumerate() {
        assert_ne!(bad, &good, "case {i} did not change anything");
        assert!(serde_json::from_str::<audit::AuditEntry>(bad).is_err(), "case {i}: {bad}");
    }
    let mut ids = BTreeMap::new();
    for i in 0..=MAX_IDS {
        ids.insert(format!("k{i}"), "v".to_owned());
    }
    let mut too_many = log.entries[0].clone();
    too_many.ids = ids;
    assert!(serde_json::from_str::<audit::AuditEntry>(&serde_json::to_string(&too_many).unwrap()).is_err());
}

#[test]
fn audit_key_record_seals_per_user_and_refuses_tampering() {
    let mut r = rng(11);
    let master = MasterSecret::generate(&mut r);
    let user = alice();
    let bob = UserId::parse("bob").unwrap();
    let key = AuditSigningKey::generate(&mut r).unwrap();
    let sealing = audit_sealing_key(&master, &user).unwrap();
    let record = AuditKeyRecord::create(&key, &sealing, &user, 5, &mut r).unwrap();

    let opened = record.open(&sealing, &user).unwrap();
    assert_eq!(opened.public(), key.public());
    assert_eq!(opened.kid(), key.kid());
    assert_eq!(record.kid(), key.kid());
    assert_eq!(record.public_key().unwrap(), key.public());
    assert_eq!(*key.kid(), key.public().kid());
    assert_eq!(record.created_ms(), 5);

    // Stored as JSON and read back.
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["v"], 2, "sealed as PKCS#8 (format 2)");
    let back: AuditKeyRecord = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.open(&sealing, &user).unwrap().kid(), key.kid());

    // Another user, another master, another purpose's key: all Integrity.
    assert_eq!(record.open(&sealing, &bob).unwrap_err(), AuditError::Integrity);
    assert_eq!(record.open(&audit_sealing_key(&master, &bob).unwrap(), &bob).unwrap_err(), AuditError::Integrity);
    let other_master = MasterSecret::generate(&mut r);
    assert_eq!(
        record.open(&audit_sealing_key(&other_master, &user).unwrap(), &user).unwrap_err(),
        AuditError::Integrity
    );
    assert_eq!(
        record.open(&kms_core::vapid::vapid_sealing_key(&master, &user).unwrap(), &user).unwrap_err(),
        AuditError::Integrity
    );
    assert_eq!(record.open(&Key256::generate(&mut r), &user).unwrap_err(), AuditError::Integrity);

    // A swapped public key (with its own kid) does not open; a kid that is not
    // the public key's thumbprint is refused even for display.
    let other = AuditSigningKey::generate(&mut r).unwrap();
    let mut swapped = json.clone();
    swapped["public_key"] = other.public().to_sec1_b64().into();
    let swapped: AuditKeyRecord = serde_json::from_value(swapped).unwrap();
    assert_eq!(swapped.open(&sealing, &user).unwrap_err(), AuditError::Integrity);
    assert_eq!(swapped.public_key().unwrap_err(), AuditError::Integrity);
    let mut rekid = json.clone();
    rekid["kid"] = other.kid().as_str().into();
    rekid["public_key"] = other.public().to_sec1_b64().into();
    let rekid: AuditKeyRecord = serde_json::from_value(rekid).unwrap();
    assert_eq!(rekid.open(&sealing, &user).unwrap_err(), AuditError::Integrity);
    let mut v3 = json.clone();
    v3["v"] = 3.into();
    assert!(serde_json::from_value::<AuditKeyRecord>(v3).is_err());
    let mut extra = json;
    extra["note"] = "x".into();
    assert!(serde_json::from_value::<AuditKeyRecord>(extra).is_err());

    assert_eq!(format!("{key:?}"), "AuditSigningKey(<redacted>)");
    assert_eq!(CoreError::from(AuditError::Integrity), CoreError::Integrity);
}

#[test]
fn instance_key_record_is_stored_in_the_clear_and_checked() {
    let mut r = rng(12);
    let key = AuditSigningKey::generate(&mut r).unwrap();
    let record = InstanceAuditKeyRecord::create(&key, 7);
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["kid"], key.kid().as_str());
    assert_eq!(unb64(json["secret_scalar"].as_str().unwrap()).len(), 32);
    let back: InstanceAuditKeyRecord = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.open().unwrap().public(), key.public());
    assert_eq!(back.public_key().unwrap(), key.public());
    let shown = format!("{record:?}");
    assert!(shown.contains("<redacted>") && !shown.contains(json["secret_scalar"].as_str().unwrap()));

    let other = AuditSigningKey::generate(&mut r).unwrap();
    let mut swapped = json.clone();
    swapped["public_key"] = other.public().to_sec1_b64().into();
    assert_eq!(
        serde_json::from_value::<InstanceAuditKeyRecord>(swapped).unwrap().open().unwrap_err(),
        AuditError::Integrity
    );
    let mut zero = json;
    zero["secret_scalar"] = b64([0u8; 32]).into();
    assert_eq!(
        serde_json::from_value::<InstanceAuditKeyRecord>(zero).unwrap().open().unwrap_err(),
        AuditError::Integrity
    );
}

#[test]
fn checkpoints_sign_the_documented_text() {
    let mut log = Log::user("alice", 13);
    let empty = log.checkpoint(5);
    assert_eq!(empty.size, 0);
    assert_eq!(empty.head, b64(genesis_hash(&log.scope)));
    assert!(empty.verify(log.key.public()));
    log.append(AuditRecord::new(EventKind::Setup, Outcome::Ok), 6);
    let cp = log.checkpoint(1_700_000_000_123);
    assert_eq!(cp.size, 1);
    assert_eq!(cp.head, log.state.head_b64());
    assert_eq!(cp.kid, *log.key.kid());
    assert_eq!(
        cp.signed_text(),
        format!("kms-audit-checkpoint/v1\nuser:alice\n1\n{}\n1700000000123\n", log.state.head_b64())
    );
    // An independent ES256 check of the raw r||s signature over that text.
    {
        use p256::ecdsa::signature::Verifier as _;
        let jwk = log.key.public().jwk();
        let point = [vec![4u8], unb64(&jwk.x), unb64(&jwk.y)].concat();
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&unb64(&cp.sig)).unwrap();
        vk.verify(cp.signed_text().as_bytes(), &sig).unwrap();
    }
    assert!(cp.verify(log.key.public()));
    let other = AuditSigningKey::generate(&mut rng(99)).unwrap();
    assert!(!cp.verify(other.public()));
    let altered: Vec<Checkpoint> = vec![
        Checkpoint { size: 2, ..cp.clone() },
        Checkpoint { ts_ms: cp.ts_ms + 1, ..cp.clone() },
        Checkpoint { head: empty.head.clone(), ..cp.clone() },
        Checkpoint { scope: AuditScope::Instance, ..cp.clone() },
        Checkpoint { kid: other.kid().clone(), ..cp.clone() },
        Checkpoint { sig: empty.sig.clone(), ..cp.clone() },
    ];
    for (i, c) in altered.iter().enumerate() {
        assert!(!c.verify(log.key.public()), "alteration {i}");
    }
    // What a person passes to a verifier: the object, or a line of an export.
    assert_eq!(Checkpoint::parse(&serde_json::to_string(&cp).unwrap()).unwrap(), cp);
    let text = log.export(1_700_000_000_200);
    let line = support::audit::lines(&text).into_iter().rev().nth(1).unwrap();
    assert_eq!(Checkpoint::parse(&format!("  {line}\n")).unwrap(), cp);
    for bad in ["", "{}", "null", &line.replacen("\"size\":1", "\"size\":-1", 1), &" ".repeat(3000)] {
        let err = Checkpoint::parse(bad).unwrap_err();
        assert_eq!(CoreError::from(err).code(), ErrorCode::InvalidInput, "{bad:?}");
    }
}

#[test]
fn the_instance_chain_works_without_a_master_secret() {
    let mut log = Log::instance(14);
    log.append(AuditRecord::new(EventKind::UserDelete, Outcome::Ok).with_id("user", "bob"), 1);
    log.append(AuditRecord::new(EventKind::Setup, Outcome::Ok).with_id("user", "carol"), 2);
    assert_eq!(log.entries[0].scope, AuditScope::Instance);
    assert_eq!(log.entries[0].prev, b64(genesis_hash(&AuditScope::Instance)));
    let text = log.export(3);
    let opts = audit::VerifyOptions { expected_public_key: Some(log.key.public().clone()), ..Default::default() };
    let report = audit::verify_export(&text, &opts);
    assert!(report.valid, "{report}");
    assert!(!report.macs_checked);
    assert!(report.warnings.iter().any(|w| w.contains("instance chain")), "{:?}", report.warnings);
}

#[test]
fn audit_public_key_parses_jwk_and_sec1() {
    let key = AuditSigningKey::generate(&mut rng(15)).unwrap();
    let public = key.public();
    let jwk_text = serde_json::to_string(&public.jwk()).unwrap();
    assert_eq!(&audit::AuditPublicKey::parse(&jwk_text).unwrap(), public);
    assert_eq!(&audit::AuditPublicKey::parse(&format!("  {}\n", public.to_sec1_b64())).unwrap(), public);
    assert_eq!(&audit::AuditPublicKey::from_jwk(&public.jwk()).unwrap(), public);
    for bad in ["", "{}", "{\"kty\":\"EC\"}", "AAAA", &public.to_sec1_b64()[1..], &"{".repeat(5000)] {
        let err = audit::AuditPublicKey::parse(bad).unwrap_err();
        assert_eq!(CoreError::from(err).code(), ErrorCode::InvalidInput, "{bad:?}");
    }
}
