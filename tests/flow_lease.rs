//! The whole lease flow across crates: a user stores a push subscription,
//! grants a relay a lease and locks; the relay obtains a batch of tokens
//! without the user (each verified by `jsonwebtoken`), encrypts a payload for
//! the subscription (RFC 8291) that a test-side user agent decrypts, and
//! builds the push request; then rotation and revocation stop it, each with
//! its own code, and the audit export records it all and verifies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use futures::executor::block_on;
use kms_client::client::Session;
use kms_client::relay::{self, PushOptions, TokenHolder, Ttl};
use kms_client::{InProcess, KmsClient};
use kms_core::env::{Clock, ManualClock};
use kms_core::ids::UserId;
use kms_core::lease::{IssueRequest, LeaseParams};
use kms_core::push::{PushServicePolicy, PushSubscription, PushSubscriptionKeys};
use kms_core::rpc::{Call, LeaseCreateResult, LeaseIssueResult};
use kms_core::secret::Passphrase;
use kms_core::vapid::PushOrigin;
use kms_core::ErrorCode;
use kms_storage::SqliteStore;
use kms_worker::{Kms, KmsConfig, Platform};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

const PASS: &str = "correct horse battery staple";
const ENDPOINT: &str = "https://fcm.googleapis.com/fcm/send/abc123";

type Client = KmsClient<InProcess<ManualClock, ChaCha20Rng>>;

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

async fn call(kms: &Client, method: &str, params: Value) -> Result<Value, kms_client::ClientError> {
    let call = Call::from_parts(method, &params.to_string()).unwrap();
    kms.call_raw(call).await
}

#[test]
fn lease_flow_end_to_end() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(now_ms());
        let store = SqliteStore::open(&dir.path().join("kms.sqlite")).unwrap();
        let engine = Kms::new(
            Box::new(store),
            Platform::native(clock.clone(), ChaCha20Rng::seed_from_u64(3)),
            KmsConfig::default(),
        )
        .unwrap();
        let kms: Client = KmsClient::new(InProcess::new(engine));
        let alice = UserId::parse("alice").unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(4);

        let s = Session::from(&kms.setup_passphrase(&alice, Passphrase::new(PASS)).await.unwrap());
        let key = kms.vapid_generate(&s).await.unwrap();

        // A test-side user agent: its own P-256 key and auth secret.
        let ua = p256::SecretKey::random(&mut rng);
        let ua_public = ua.public_key().to_encoded_point(false);
        let auth = [7u8; 16];
        let sub = PushSubscription {
            endpoint: ENDPOINT.into(),
            expiration_time: None,
            keys: PushSubscriptionKeys {
                p256dh: kms_core::b64::encode(ua_public.as_bytes()),
                auth: kms_core::b64::encode(auth),
            },
        };
        let info = call(&kms, "subscription_add", json!({"user": "alice", "session": s.token, "subscription": sub}))
            .await
            .unwrap();
        assert_eq!(info["kid"], json!(key.kid), "the subscription records the key it was made with");

        // The lease: audiences default to the subscriptions' origins.
        let params = LeaseParams {
            relay: "relay-1".into(),
            audiences: vec![],
            lifetime_s: None,
            tokens_per_hour: None,
            max_batch: None,
        };
        let created: LeaseCreateResult = serde_json::from_value(
            call(&kms, "lease_create", json!({"user": "alice", "session": s.token, "lease": params})).await.unwrap(),
        )
        .unwrap();
        assert_eq!(created.lease.audiences.len(), 1);
        assert_eq!(created.lease.audiences[0].as_str(), "https://fcm.googleapis.com");
        let credential = created.credential.as_ref().unwrap().dangerous_to_text().to_string();

        // The user leaves.
        kms.lock(&s).await.unwrap();

        // The relay gets a batch of 10 without the user.
        let req = IssueRequest {
            aud: "https://fcm.googleapis.com".into(),
            sub: "mailto:ops@example.com".into(),
            count: 10,
            ttl_s: Some(6 * 3600),
        };
        let issued: LeaseIssueResult = serde_json::from_value(
            call(&kms, "lease_issue", json!({"user": "alice", "credential": credential, "request": req}))
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(issued.tokens.len(), 10);
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(&key.jwk.x, &key.jwk.y).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&["https://fcm.googleapis.com"]);
        let mut jtis = std::collections::BTreeSet::new();
        let mut last_exp = 0;
        for t in &issued.tokens {
            let claims = jsonwebtoken::decode::<Value>(&t.jwt, &decoding, &v).expect("jsonwebtoken verifies").claims;
            assert!(jtis.insert(claims["jti"].as_str().unwrap().to_owned()), "jti unique");
            let exp = claims["exp"].as_u64().unwrap();
            assert!(exp > last_exp, "staggered expiries");
            assert!(exp * 1000 <= clock.now_ms() + 24 * 3600 * 1000);
            last_exp = exp;
        }

        // The relay holds them, encrypts a payload and builds the request.
        let mut holder = TokenHolder::new();
        for t in issued.tokens.clone() {
            holder.insert(t).unwrap();
        }
        let validated =
            relay::subscription_from_json(&serde_json::to_string(&sub).unwrap(), &PushServicePolicy::default())
                .unwrap();
        let opts = PushOptions::new(Ttl::from_secs(3600).unwrap());
        let request =
            relay::build_push_request(&validated, b"hello, alice", &holder, &opts, clock.now_ms() / 1000, &mut rng)
                .unwrap();
        assert_eq!(request.url, ENDPOINT);
        assert_eq!(request.header("Content-Encoding"), Some("aes128gcm"));
        assert!(request.header("Authorization").unwrap().starts_with("vapid t="));
        // The user agent decrypts it.
        let plain = relay::decrypt(&ua, &relay::AuthSecret::from_bytes(auth), &request.body).unwrap();
        assert_eq!(plain.as_slice(), b"hello, alice");
        // The token it carries is one the relay holds for that origin.
        let origin = PushOrigin::parse("https://fcm.googleapis.com").unwrap();
        assert!(holder.pick(&origin, clock.now_ms() / 1000, 60).is_ok());

        // Revocation stops issuance, and says so.
        let s = Session::from(&kms.unlock_passphrase(&alice, Passphrase::new(PASS)).await.unwrap());
        call(&kms, "lease_revoke", json!({"user": "alice", "session": s.token, "lease_id": created.lease.id}))
            .await
            .unwrap();
        let one = IssueRequest {
            aud: "https://fcm.googleapis.com".into(),
            sub: "mailto:ops@example.com".into(),
            count: 1,
            ttl_s: None,
        };
        let e = call(&kms, "lease_issue", json!({"user": "alice", "credential": credential, "request": one}))
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::LeaseRevoked);

        // A second lease, then a rotation: refused as key_rotated, and the
        // rotation reports the subscription and the lease it affects.
        let params = LeaseParams {
            relay: "relay-2".into(),
            audiences: vec!["https://fcm.googleapis.com".into()],
            lifetime_s: Some(4 * 3600),
            tokens_per_hour: Some(5),
            max_batch: Some(5),
        };
        let second: LeaseCreateResult = serde_json::from_value(
            call(&kms, "lease_create", json!({"user": "alice", "session": s.token, "lease": params})).await.unwrap(),
        )
        .unwrap();
        let cred2 = second.credential.as_ref().unwrap().dangerous_to_text().to_string();
        // Quota: 5 per hour.
        let five = IssueRequest {
            aud: "https://fcm.googleapis.com".into(),
            sub: "mailto:ops@example.com".into(),
            count: 5,
            ttl_s: None,
        };
        call(&kms, "lease_issue", json!({"user": "alice", "credential": cred2, "request": five})).await.unwrap();
        let e =
            call(&kms, "lease_issue", json!({"user": "alice", "credential": cred2, "request": one})).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::QuotaExceeded);
        let rotated = kms.vapid_rotate(&s).await.unwrap();
        assert_eq!(rotated.affected_subscriptions.len(), 1);
        assert_eq!(rotated.affected_leases, vec![second.lease.id.clone()]);
        clock.advance(3600 * 1000 + 1);
        let e =
            call(&kms, "lease_issue", json!({"user": "alice", "credential": cred2, "request": one})).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::LeaseKeyRotated);

        // The audit log has it all, never a token or the credential, and verifies.
        let s = Session::from(&kms.unlock_passphrase(&alice, Passphrase::new(PASS)).await.unwrap());
        let export = kms.audit_export(&s, None).await.unwrap();
        for secret in [credential.as_str(), cred2.as_str(), issued.tokens[0].jwt.as_str()] {
            assert!(!export.export.contains(secret), "the audit log holds a secret");
        }
        let events: Vec<(String, String)> = export
            .export
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["type"] == "entry")
            .map(|v| (v["event"].as_str().unwrap().to_owned(), v["outcome"].as_str().unwrap().to_owned()))
            .collect();
        let count = |e: &str, o: &str| events.iter().filter(|(a, b)| a == e && b == o).count();
        assert_eq!(count("lease_token", "ok"), 15);
        assert_eq!(count("lease_token", "refused"), 3, "revoked, quota, rotated");
        assert_eq!(count("lease_create", "ok"), 2);
        assert_eq!(count("lease_revoke", "ok"), 1);
        assert_eq!(count("subscription_add", "ok"), 1);
        let report = kms_core::audit::verify_export(&export.export, &Default::default());
        assert!(report.valid, "{report}");
    });
}
