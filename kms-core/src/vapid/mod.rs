//! Per-user VAPID keys and the JWTs they sign (RFC 8292, "Voluntary
//! Application Server Identification for Web Push").
//!
//! An application server proves to a push service that it is the one a
//! subscription was created for by sending, with each push,
//! `Authorization: vapid t=<JWT>, k=<public key>`. The browser bound the
//! subscription to that public key (`applicationServerKey`) when the page
//! subscribed, so whoever holds the private key can push to the user. That
//! key is what this module guards.
//!
//! # What RFC 8292 requires, and the check that enforces it
//!
//! - **ES256** (section 2): ECDSA on P-256 with SHA-256, signature as the raw
//!   64-byte `r || s` of JWS (RFC 7518 section 3.4), not DER. Nonces are
//!   deterministic (RFC 6979), so signing needs no randomness and a weak RNG
//!   at signing time cannot leak the key. [`VapidSigningKey::sign`] is tested
//!   against the RFC 6979 A.2.5 vector.
//! - **`aud` is the origin of the push resource** (section 2), i.e.
//!   `scheme://host[:port]` of the subscription endpoint. Libraries often
//!   put the full endpoint URL there and the push service rejects the
//!   token; [`PushOrigin`] accepts only an exact origin serialization and
//!   says which origin to use instead. It also requires `https` (`http` only
//!   for loopback test services), so a token is never addressed to a remote
//!   service in clear.
//! - **`exp` is required and at most 24 hours ahead** (section 2). We refuse
//!   an `exp` in the past or equal to now (the push service would refuse the
//!   token anyway, and a caller with a wrong clock should learn it here) and
//!   one beyond now + 24 h ([`MAX_JWT_LIFETIME_S`]), which also bounds how
//!   long a leaked token stays useful. The check uses the caller's clock,
//!   passed in as `now_ms`; callers should ask for less than 24 h (12 h is
//!   the common default) to absorb the push service's clock skew.
//! - **`sub` is a contact URI** (section 2.1, a SHOULD that we make a MUST):
//!   `mailto:` with an address, or an `https:` URL with a host. Push services
//!   use it to reach the operator before blocking them.
//! - **`k` is the 65-byte uncompressed P-256 point** (section 3.2), base64url:
//!   [`VapidPublicKey::to_sec1_b64`]; [`VapidPublicKey::from_sec1_b64`]
//!   refuses compressed points, the identity and off-curve points.
//! - **Key ids** are RFC 7638 JWK thumbprints ([`VapidPublicKey::thumbprint`]).
//!
//! # Storage
//!
//! Private keys are stored only sealed ([`VapidKeyRecord`]): AES-256-GCM
//! under [`vapid_sealing_key`] (an HKDF subkey of the user's master secret),
//! with associated data binding user, key id and version, recomputed on read.
//! Opening a record also checks that the unsealed key's thumbprint is the
//! record's kid and that the stored public key is the unsealed key's, so a
//! record with a swapped public half is refused. Storage is untrusted at
//! rest: the public fields of a record are authenticated only by opening it.
//!
//! Rotating a key orphans every push subscription made with the old one
//! (push services answer 401/403): retired keys stay listed so that the
//! application can tell which subscriptions to renew.
//!
//! # Example
//!
//! ```
//! use kms_core::ids::UserId;
//! use kms_core::secret::MasterSecret;
//! use kms_core::vapid::{self, JwtRequest, PushOrigin, VapidKeyRecord, VapidSigningKey};
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0); // the platform's CSPRNG
//! # let master = MasterSecret::generate(&mut rng);
//! let now_ms = 1_700_000_000_000; // from the caller's clock
//! let user = UserId::parse("alice")?;
//! let sealing = vapid::vapid_sealing_key(&master, &user)?;
//!
//! // Create a key and the record to store.
//! let key = VapidSigningKey::generate(&mut rng);
//! let record = VapidKeyRecord::create(&key, &sealing, &user, 1, now_ms, &mut rng)?;
//! let application_server_key = record.info()?.public_key; // for pushManager.subscribe()
//!
//! // Later: open the record and sign a token for a subscription's endpoint.
//! let key = record.open(&sealing, &user)?;
//! let aud = PushOrigin::from_endpoint("https://fcm.googleapis.com/fcm/send/abc")?;
//! let request = JwtRequest {
//!     aud: aud.to_string(),
//!     sub: "mailto:ops@example.com".into(),
//!     exp: now_ms / 1000 + 12 * 3600,
//!     jti: None,
//! };
//! let claims = vapid::validate(&request, now_ms)?;
//! let jwt = vapid::sign(&key, &claims)?;
//! let header = vapid::authorization_header(&jwt, &key.public());
//! assert!(header.ends_with(&format!(", k={application_server_key}")));
//! # Ok::<(), kms_core::CoreError>(())
//! ```

pub mod jwt;
pub mod key;
pub mod origin;

pub use jwt::{
    authorization_header, sign, validate, JwtRequest, SignedJwt, ValidatedClaims, MAX_JTI_LEN, MAX_JWT_LIFETIME_S,
    MAX_SUB_LEN,
};
pub use key::{
    vapid_sealing_key, Jwk, KeyStatus, VapidKeyRecord, VapidPublicInfo, VapidPublicKey, VapidSigningKey,
    SEC1_UNCOMPRESSED_LEN,
};
pub use origin::{PushOrigin, MAX_ENDPOINT_LEN, MAX_ORIGIN_LEN};
