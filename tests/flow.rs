//! The whole native flow across crates: the typed client, the engine and the
//! durable SQLite store, with the process "restarting" (a new engine over
//! the same file) between steps, as the CLI does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use futures::executor::block_on;
use kms_client::client::Session;
use kms_client::{InProcess, KmsClient};
use kms_core::env::ManualClock;
use kms_core::ids::UserId;
use kms_core::secret::Passphrase;
use kms_core::vapid::JwtRequest;
use kms_core::ErrorCode;
use kms_storage::SqliteStore;
use kms_worker::{Kms, KmsConfig, Platform};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const PASS: &str = "correct horse battery staple";

type Client = KmsClient<InProcess<ManualClock, ChaCha20Rng>>;

fn open(path: &std::path::Path, clock: &ManualClock, seed: u64) -> Client {
    let store = SqliteStore::open(path).unwrap();
    let engine = Kms::new(
        Box::new(store),
        Platform::native(clock.clone(), ChaCha20Rng::seed_from_u64(seed)),
        KmsConfig::default(),
    )
    .unwrap();
    KmsClient::new(InProcess::new(engine))
}

fn claims(exp_s: u64) -> JwtRequest {
    JwtRequest {
        aud: "https://updates.push.services.mozilla.com".into(),
        sub: "https://example.com/contact".into(),
        exp: exp_s,
        jti: Some("t-1".into()),
    }
}

#[test]
fn setup_sign_restart_throttle_and_isolation() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.sqlite");
        // jsonwebtoken checks `exp` against the real clock, so the test clock
        // starts at the real time and only moves forward.
        let now_ms =
            u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis())
                .unwrap();
        let clock = ManualClock::new(now_ms);
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();

        // Process 1: set up two users and their keys.
        let kms = open(&path, &clock, 1);
        let a = Session::from(&kms.setup_passphrase(&alice, Passphrase::new(PASS)).await.unwrap());
        let b = Session::from(&kms.setup_passphrase(&bob, Passphrase::new("bob's own long passphrase")).await.unwrap());
        let ka = kms.vapid_generate(&a).await.unwrap();
        let kb = kms.vapid_generate(&b).await.unwrap();
        assert_ne!(ka.kid, kb.kid);
        drop(kms);

        // Process 2: sessions did not survive (they live in memory only).
        let kms = open(&path, &clock, 2);
        let e = kms.sign_jwt(&a, claims(now_ms / 1000 + 3600)).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Locked);
        // Keys did.
        assert_eq!(kms.vapid_public(&alice).await.unwrap().current.unwrap().kid, ka.kid);

        let a = Session::from(&kms.unlock_passphrase(&alice, Passphrase::new(PASS)).await.unwrap());
        let signed = kms.sign_jwt(&a, claims(now_ms / 1000 + 3600)).await.unwrap();
        let key = jsonwebtoken::DecodingKey::from_ec_components(&ka.jwk.x, &ka.jwk.y).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&["https://updates.push.services.mozilla.com"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&signed.jwt, &key, &v).unwrap();
        assert_eq!(data.claims["jti"], "t-1");
        // Bob's key does not verify Alice's token.
        let bob_key = jsonwebtoken::DecodingKey::from_ec_components(&kb.jwk.x, &kb.jwk.y).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&signed.jwt, &bob_key, &v).is_err());
        // Alice's session cannot act for Bob.
        let cross = Session { user: bob.clone(), token: a.token.clone(), expires_ms: a.expires_ms };
        assert_eq!(kms.sign_jwt(&cross, claims(now_ms / 1000 + 3600)).await.unwrap_err().code(), ErrorCode::Forbidden);

        // Four wrong passphrases: the fourth starts the back-off.
        for _ in 0..4 {
            let e = kms.unlock_passphrase(&bob, Passphrase::new("not bob's passphrase")).await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnlockFailed);
        }
        drop(kms);

        // Process 3: the back-off survived the restart, even for the right
        // passphrase, and lifts after the wait.
        let kms = open(&path, &clock, 3);
        let e = kms.unlock_passphrase(&bob, Passphrase::new("bob's own long passphrase")).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Throttled);
        let ClientError::Rpc(rpc) = &e else { panic!("{e:?}") };
        assert_eq!(rpc.retry_after_ms, Some(1000));
        clock.advance(1000);
        kms.unlock_passphrase(&bob, Passphrase::new("bob's own long passphrase")).await.unwrap();
    });
}

use kms_client::ClientError;
