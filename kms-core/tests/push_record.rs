//! Stored push subscriptions (`SubscriptionRecord`): the format round-trips
//! and refuses anything altered or inconsistent, ids are the endpoint's
//! hash, the public view and `Debug` carry no secret, and the helpers the
//! engine uses for rotation and lease audiences.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_core::ids::KeyId;
use kms_core::push::{
    affected_by_rotation, origins, AuthSecret, PushServicePolicy, SubscriptionId, SubscriptionInfo, SubscriptionRecord,
    ValidatedSubscription, SUBSCRIPTION_RECORD_FORMAT,
};
use kms_core::vapid::{PushOrigin, VapidSigningKey};
use kms_core::ErrorCode;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const NOW: u64 = 1_700_000_000_000;
const FCM: &str = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bHk3-abc_123";
const MOZILLA: &str = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk-abc_123";
const AUTH: [u8; 16] = [0xa5; 16];

fn kid(seed: u64) -> KeyId {
    VapidSigningKey::generate(&mut ChaCha20Rng::seed_from_u64(seed)).public().thumbprint()
}

fn p256dh(seed: u64) -> String {
    let key = p256::SecretKey::random(&mut ChaCha20Rng::seed_from_u64(seed));
    kms_core::b64::encode(key.public_key().to_encoded_point(false))
}

fn validated(endpoint: &str, expiration: Option<u64>, policy: &PushServicePolicy) -> ValidatedSubscription {
    let j = json!({
        "endpoint": endpoint,
        "expirationTime": expiration,
        "keys": {"p256dh": p256dh(3), "auth": kms_core::b64::encode(AUTH)},
    });
    ValidatedSubscription::from_json(&j.to_string(), policy).unwrap()
}

fn record(endpoint: &str, kid: KeyId) -> SubscriptionRecord {
    SubscriptionRecord::new(&validated(endpoint, None, &PushServicePolicy::default()), kid, NOW).unwrap()
}

fn stored(r: &SubscriptionRecord) -> Value {
    serde_json::to_value(r).unwrap()
}

fn decode(v: &Value) -> Result<SubscriptionRecord, String> {
    serde_json::from_value::<SubscriptionRecord>(v.clone()).map_err(|e| e.to_string())
}

#[test]
fn stored_format_v1_exactly() {
    let k = kid(1);
    let r = SubscriptionRecord::new(&validated(FCM, Some(NOW + 1000), &PushServicePolicy::default()), k.clone(), NOW)
        .unwrap();
    let v = stored(&r);
    assert_eq!(
        v,
        json!({
            "v": 1,
            "id": kms_core::b64::encode(Sha256::digest(FCM.as_bytes())),
            "endpoint": FCM,
            "p256dh": p256dh(3),
            "auth": kms_core::b64::encode(AUTH),
            "expiration_time_ms": NOW + 1000,
            "kid": k.as_str(),
            "origin": "https://fcm.googleapis.com",
            "created_ms": NOW,
        })
    );
    assert_eq!(SUBSCRIPTION_RECORD_FORMAT, 1);
}

#[test]
fn round_trip() {
    let r = record(FCM, kid(1));
    let back = decode(&stored(&r)).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.endpoint(), FCM);
    assert_eq!(back.origin().as_str(), "https://fcm.googleapis.com");
    assert_eq!(back.kid(), &kid(1));
    assert_eq!(back.created_ms(), NOW);
    assert_eq!(back.expiration_time_ms(), None);
    assert_eq!(back.auth(), &AuthSecret::from_bytes(AUTH));
    assert_eq!(kms_core::b64::encode(back.p256dh_bytes()), p256dh(3));
    // And from text, as storage returns it.
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<SubscriptionRecord>(&text).unwrap(), r);
}

#[test]
fn validate_gives_back_the_subscription_under_the_policy_in_force() {
    let sub = validated(FCM, None, &PushServicePolicy::default());
    let r = SubscriptionRecord::new(&sub, kid(1), NOW).unwrap();
    let again = decode(&stored(&r)).unwrap().validate(&PushServicePolicy::default()).unwrap();
    assert!(again == sub);
    // The deployment has since narrowed its allowlist.
    let narrowed = PushServicePolicy::new(["*.push.apple.com"]).unwrap();
    let err = r.validate(&narrowed).unwrap_err();
    assert!(err.to_string().contains("fcm.googleapis.com is not an allowed push service"), "{err}");
    // A record made for a local test push service needs loopback allowed.
    let local = PushServicePolicy::default().with_loopback(true);
    let r = SubscriptionRecord::new(&validated("http://127.0.0.1:8090/push/abc", None, &local), kid(1), NOW).unwrap();
    let r = decode(&stored(&r)).unwrap();
    assert!(r.validate(&local).is_ok());
    let err = r.validate(&PushServicePolicy::default()).unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn subscription_id_is_the_endpoints_sha256_and_stable() {
    let id = SubscriptionId::for_endpoint(FCM);
    assert_eq!(id.as_str(), kms_core::b64::encode(Sha256::digest(FCM.as_bytes())));
    assert_eq!(id.as_str().len(), 43);
    // Same endpoint, other keys, other key id, other time: same id.
    let a = record(FCM, kid(1));
    let j = json!({"endpoint": FCM, "keys": {"p256dh": p256dh(4), "auth": kms_core::b64::encode([1u8; 16])}});
    let other = ValidatedSubscription::from_json(&j.to_string(), &PushServicePolicy::default()).unwrap();
    let b = SubscriptionRecord::new(&other, kid(2), NOW + 5).unwrap();
    assert_eq!(a.id(), b.id());
    assert_eq!(a.id(), &id);
    // A spelling that normalizes to the same endpoint: same id.
    let c = record("HTTPS://FCM.googleapis.com:443/fcm/send/dGVzdA:APA91bHk3-abc_123", kid(1));
    assert_eq!(c.id(), &id);
    // Another endpoint: another id.
    assert_ne!(record(MOZILLA, kid(1)).id(), &id);
    // Parsing and serde.
    assert_eq!(SubscriptionId::parse(id.as_str()).unwrap(), id);
    assert_eq!(serde_json::to_value(&id).unwrap(), json!(id.as_str()));
    assert_eq!(serde_json::from_value::<SubscriptionId>(json!(id.as_str())).unwrap(), id);
    assert_eq!(id.to_string(), id.as_str());
}

#[test]
fn subscription_id_parse_refuses_anything_else() {
    let good = SubscriptionId::for_endpoint(FCM).as_str().to_owned();
    let mut last_bits = good.clone();
    last_bits.pop();
    last_bits.push('B'); // non-zero trailing bits: not a canonical encoding
    for bad in [
        String::new(),
        good[..42].to_owned(),
        format!("{good}A"),
        format!("{}=", &good[..42]),
        good.replace(|c: char| c.is_ascii_alphanumeric(), "+"),
        "a".repeat(43).replace('a', "!"),
        last_bits,
    ] {
        let err = SubscriptionId::parse(&bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}");
        assert!(serde_json::from_value::<SubscriptionId>(json!(bad)).is_err(), "{bad}");
    }
}

#[test]
fn decoding_refuses_altered_or_inconsistent_records() {
    let r = record(FCM, kid(1));
    let good = stored(&r);
    let other_id = SubscriptionId::for_endpoint(MOZILLA).as_str().to_owned();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("version 2", json!(2), "unsupported format version 2"),
        ("version 0", json!(0), "unsupported format version 0"),
    ]
    .into_iter()
    .map(|(n, v, why)| {
        let mut x = good.clone();
        x["v"] = v;
        (n, x, why)
    })
    .chain(
        [
            ("id of another endpoint", "id", json!(other_id), "id is not the SHA-256 of the endpoint"),
            ("endpoint changed, id kept", "endpoint", json!(MOZILLA), "origin is not the endpoint's origin"),
            ("endpoint not normalized", "endpoint", json!(FCM.replace("fcm.", "FCM.")), "normalized form"),
            ("endpoint over http", "endpoint", json!(FCM.replace("https", "http")), "origin"),
            ("endpoint with userinfo", "endpoint", json!(FCM.replace("//", "//u:p@")), "userinfo"),
            ("origin of another service", "origin", json!("https://updates.push.services.mozilla.com"), "origin"),
            ("origin not an origin", "origin", json!("https://fcm.googleapis.com/"), "aud must be an origin"),
            ("compressed p256dh", "p256dh", json!(kms_core::b64::encode([2u8; 33])), "p256dh"),
            ("15-byte auth", "auth", json!(kms_core::b64::encode([1u8; 15])), "auth"),
            ("auth not a string", "auth", json!(12), "invalid type"),
            ("kid with a slash", "kid", json!("a/b"), "kid"),
            ("negative time", "created_ms", json!(-1), "invalid"),
            ("fractional expiry", "expiration_time_ms", json!(1.5), "invalid type"),
        ]
        .into_iter()
        .map(|(n, field, v, why)| {
            let mut x = good.clone();
            x[field] = v;
            (n, x, why)
        }),
    )
    .collect();
    for (name, value, why) in cases {
        let err = decode(&value).unwrap_err();
        assert!(err.contains(why), "{name}: {err}");
        assert!(!err.contains(&kms_core::b64::encode(AUTH)), "{name}: the auth secret is not echoed: {err}");
    }
    // Missing and unknown fields.
    for field in ["v", "id", "endpoint", "p256dh", "auth", "expiration_time_ms", "kid", "origin", "created_ms"] {
        let mut x = good.clone();
        x.as_object_mut().unwrap().remove(field);
        let err = decode(&x).unwrap_err();
        assert!(err.contains(&format!("missing field `{field}`")), "{field}: {err}");
    }
    let mut x = good.clone();
    x["extra"] = json!(true);
    assert!(decode(&x).unwrap_err().contains("unknown field `extra`"));
    // Control: the unaltered record decodes.
    assert_eq!(decode(&good).unwrap(), r);
}

#[test]
fn expired_subscriptions_are_refused_and_reported() {
    let policy = PushServicePolicy::default();
    let err = SubscriptionRecord::new(&validated(FCM, Some(NOW), &policy), kid(1), NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(SubscriptionRecord::new(&validated(FCM, Some(NOW - 1), &policy), kid(1), NOW).is_err());
    let r = SubscriptionRecord::new(&validated(FCM, Some(NOW + 1), &policy), kid(1), NOW).unwrap();
    assert!(!r.is_expired(NOW));
    assert!(r.is_expired(NOW + 1));
    assert!(!record(FCM, kid(1)).is_expired(u64::MAX));
}

#[test]
fn info_and_debug_carry_no_secret() {
    let r = record(FCM, kid(1));
    let auth_b64 = kms_core::b64::encode(AUTH);
    let info = r.info();
    assert_eq!(
        info,
        SubscriptionInfo {
            id: SubscriptionId::for_endpoint(FCM),
            endpoint: FCM.to_owned(),
            origin: PushOrigin::parse("https://fcm.googleapis.com").unwrap(),
            kid: kid(1),
            expiration_time_ms: None,
            created_ms: NOW,
        }
    );
    let info_json = serde_json::to_string(&info).unwrap();
    assert!(!info_json.contains(&auth_b64), "{info_json}");
    assert!(!info_json.contains("auth"), "{info_json}");
    assert_eq!(serde_json::from_str::<SubscriptionInfo>(&info_json).unwrap(), info);
    for dbg in [format!("{r:?}"), format!("{info:?}")] {
        assert!(!dbg.contains(&auth_b64), "{dbg}");
        assert!(!dbg.contains("APA91b"), "the endpoint's path stays out of Debug: {dbg}");
        assert!(dbg.contains(r.id().as_str()), "{dbg}");
        assert!(dbg.contains("https://fcm.googleapis.com"), "{dbg}");
    }
    // The stored form does carry it: that is the documented decision.
    assert_eq!(stored(&r)["auth"], json!(auth_b64));
}

#[test]
fn affected_by_rotation_lists_the_subscriptions_of_the_retired_key() {
    let (old, new) = (kid(1), kid(2));
    let subs = vec![
        record(FCM, old.clone()),
        record(MOZILLA, new.clone()),
        record("https://web.push.apple.com/abc", old.clone()),
        record("https://db5p.notify.windows.com/w/?token=x", new.clone()),
    ];
    assert_eq!(affected_by_rotation(&subs, &old), vec![subs[0].id().clone(), subs[2].id().clone()]);
    assert_eq!(affected_by_rotation(&subs, &new), vec![subs[1].id().clone(), subs[3].id().clone()]);
    assert!(affected_by_rotation(&subs, &kid(3)).is_empty());
    assert!(affected_by_rotation(&[], &old).is_empty());
}

#[test]
fn origins_are_the_distinct_push_services() {
    let k = kid(1);
    let subs = vec![
        record(MOZILLA, k.clone()),
        record(FCM, k.clone()),
        record("https://fcm.googleapis.com/fcm/send/second", k.clone()),
        record("https://web.push.apple.com/abc", k.clone()),
    ];
    let all = origins(&subs);
    let got: Vec<&str> = all.iter().map(PushOrigin::as_str).collect();
    assert_eq!(
        got,
        ["https://fcm.googleapis.com", "https://updates.push.services.mozilla.com", "https://web.push.apple.com"]
    );
    assert!(origins(&[]).is_empty());
    // The caller can leave out expired ones.
    let policy = PushServicePolicy::default();
    let expiring = SubscriptionRecord::new(&validated(MOZILLA, Some(NOW + 10), &policy), k, NOW).unwrap();
    let live = [expiring, record(FCM, kid(1))];
    let later: Vec<PushOrigin> = origins(live.iter().filter(|s| !s.is_expired(NOW + 10)));
    assert_eq!(later, [PushOrigin::parse("https://fcm.googleapis.com").unwrap()]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any JSON text: a result, never a panic.
    #[test]
    fn decoding_never_panics(text in ".{0,400}") {
        let _ = serde_json::from_str::<SubscriptionRecord>(&text);
    }

    /// A valid record with one field replaced by any JSON scalar: a result,
    /// never a panic; and if it decodes, it is consistent.
    #[test]
    fn decoding_a_mutated_record_never_panics(
        field in prop::sample::select(vec![
            "v", "id", "endpoint", "p256dh", "auth", "expiration_time_ms", "kid", "origin", "created_ms",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            ".{0,80}".prop_map(|s| json!(s)),
            Just(Value::Null),
        ],
    ) {
        let mut x = stored(&record(FCM, kid(1)));
        x[field] = value;
        if let Ok(r) = decode(&x) {
            prop_assert_eq!(r.id(), &SubscriptionId::for_endpoint(r.endpoint()));
            prop_assert_eq!(r.origin(), &PushOrigin::from_endpoint(r.endpoint()).unwrap());
        }
    }

    /// Records round-trip whatever their times and key.
    #[test]
    fn round_trip_any_times(created in any::<u64>(), ahead in proptest::option::of(1u64..=u64::MAX / 2), seed in 0u64..4) {
        let created = created / 2;
        let exp = ahead.map(|a| created + a);
        let sub = validated(MOZILLA, exp, &PushServicePolicy::default());
        let r = SubscriptionRecord::new(&sub, kid(seed), created).unwrap();
        prop_assert_eq!(decode(&stored(&r)).unwrap(), r);
    }
}
