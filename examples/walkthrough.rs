//! A walkthrough of the KMS from a Rust program, on embedded defaults:
//! a temporary durable store, one user, a passphrase, a VAPID key, a JWT for
//! a push service, and the refusals a careful user expects.
//!
//! Run: `cargo run -p kms-examples --example walkthrough`

use std::time::{SystemTime, UNIX_EPOCH};

use kms_client::client::Session;
use kms_client::native::SystemClock;
use kms_client::{InProcess, KmsClient};
use kms_core::ids::UserId;
use kms_core::secret::Passphrase;
use kms_core::vapid::JwtRequest;
use kms_storage::SqliteStore;
use kms_worker::{Kms, KmsConfig, Platform};
use rand_core::OsRng;

const PASSPHRASE: &str = "correct horse battery staple";
const PUSH_SERVICE: &str = "https://fcm.googleapis.com";

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    futures::executor::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kms.sqlite");
    println!("KMS walkthrough; store: {} (deleted at exit)", path.display());

    let engine =
        Kms::new(Box::new(SqliteStore::open(&path)?), Platform::native(SystemClock, OsRng), KmsConfig::default())?;
    let kms = KmsClient::new(InProcess::new(engine));
    let alice = UserId::parse("alice@example.com")?;

    step(1, "set up a user with a passphrase (PBKDF2-HMAC-SHA256, 600,000 iterations)");
    let started = std::time::Instant::now();
    let setup = kms.setup_passphrase(&alice, Passphrase::new(PASSPHRASE)).await?;
    println!("    user {} enrolled: {} ({} ms)", setup.user, setup.enrollment.id, started.elapsed().as_millis());
    let session = Session::from(&setup);

    step(2, "generate the user's VAPID key (P-256, sealed under the master secret)");
    let key = kms.vapid_generate(&session).await?;
    println!("    kid (RFC 7638 thumbprint): {}", key.kid);
    println!("    applicationServerKey:      {}", key.public_key);

    step(3, "sign a VAPID JWT for a push service (RFC 8292)");
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 12 * 3600;
    let signed = kms
        .sign_jwt(
            &session,
            JwtRequest { aud: PUSH_SERVICE.into(), sub: "mailto:ops@example.com".into(), exp, jti: None },
        )
        .await?;
    println!("    Authorization: {}...", signed.authorization.get(..60).unwrap_or_default());

    step(4, "verify it with an independent implementation (jsonwebtoken)");
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(&key.jwk.x, &key.jwk.y)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[PUSH_SERVICE]);
    #[derive(serde::Deserialize)]
    struct Claims {
        aud: String,
        sub: String,
        exp: u64,
    }
    let claims = jsonwebtoken::decode::<Claims>(&signed.jwt, &decoding, &validation)?.claims;
    println!("    valid: aud={} sub={} exp={}", claims.aud, claims.sub, claims.exp);

    step(5, "refusals: each is a typed error with a stable code");
    let full_url = JwtRequest {
        aud: format!("{PUSH_SERVICE}/fcm/send/abc"),
        sub: "mailto:ops@example.com".into(),
        exp,
        jti: None,
    };
    show(kms.sign_jwt(&session, full_url).await);
    let too_long =
        JwtRequest { aud: PUSH_SERVICE.into(), sub: "mailto:ops@example.com".into(), exp: exp + 13 * 3600, jti: None };
    show(kms.sign_jwt(&session, too_long).await);
    show(kms.setup_passphrase(&alice, Passphrase::new(PASSPHRASE)).await);
    kms.lock(&session).await?;
    let later = JwtRequest { aud: PUSH_SERVICE.into(), sub: "mailto:ops@example.com".into(), exp, jti: None };
    show(kms.sign_jwt(&session, later).await);
    show(kms.unlock_passphrase(&alice, Passphrase::new("not the passphrase")).await);

    step(6, "unlock again and rotate the key; the old public key stays, retired");
    let session = Session::from(&kms.unlock_passphrase(&alice, Passphrase::new(PASSPHRASE)).await?);
    let rotated = kms.vapid_rotate(&session).await?;
    println!("    current kid {} (version {})", rotated.current.kid, rotated.current.version);
    println!("    retired kid {} (version {})", rotated.retired.kid, rotated.retired.version);
    println!("    note: {}", rotated.note);
    kms.lock(&session).await?;

    println!("\nDone. The same calls are available from the `kms` command line (`cargo run -p kms-client -- --help`).");
    Ok(())
}

fn show<T>(r: Result<T, kms_client::ClientError>) {
    match r {
        Ok(_) => println!("    unexpected success"),
        Err(e) => println!("    refused: {e}"),
    }
}
