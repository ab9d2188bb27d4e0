//! Web Push subscriptions (W3C Push API, RFC 8030, RFC 8291): how the KMS
//! checks, stores and reasons about a user's subscriptions, and the
//! validated type the relay encrypts to.
//!
//! - [`PushSubscription`] is what the browser's `PushSubscription.toJSON()`
//!   gives; nothing in it is trusted.
//! - [`ValidatedSubscription`] is one that passed every check under a
//!   [`PushServicePolicy`]: an `https` endpoint at an allowed push service
//!   (loopback only when the policy allows it), a valid P-256 `p256dh`, a
//!   16-byte `auth` secret. Holding one is the proof.
//! - [`PushServicePolicy`] is the deployment's allowlist of push-service
//!   hosts; by default the major browsers' push services
//!   ([`DEFAULT_PUSH_SERVICES`]).
//! - [`SubscriptionRecord`] is what the engine stores: the subscription, the
//!   VAPID key it was made with, its origin, its id ([`SubscriptionId`],
//!   SHA-256 of the endpoint) and when it was added. The auth secret is
//!   stored in the clear (below: why). [`SubscriptionInfo`] is its public
//!   view.
//! - [`affected_by_rotation`] and [`origins`] answer the engine's questions:
//!   which subscriptions a key rotation orphans, and which push services a
//!   lease addresses by default.
//!
//! Like the rest of the core, this module does no I/O and reads no clock:
//! times come in as arguments.
//!
//! # The auth secret is stored in the clear
//!
//! A record holds the subscription's `keys.auth` as base64url, unsealed,
//! next to the endpoint and `p256dh`, as every push server stores
//! subscriptions. Deliberately:
//!
//! - **What it protects.** The auth secret is the HKDF salt of every
//!   message's key schedule (RFC 8291 section 3.3): whoever has it, the
//!   endpoint and `p256dh` can encrypt a message that the user agent accepts
//!   as coming from the application server. It does not decrypt anything:
//!   that needs the user agent's ECDH private key, which never leaves the
//!   browser. And a message reaches the user agent only with a VAPID token
//!   for the subscription's key: the subscription was made with an
//!   `applicationServerKey`, and the push services refuse a push to it
//!   without a token signed by that key.
//! - **Why not sealed.** Sealing would use a key derived from the user's
//!   master secret, which the engine does not have while the user is
//!   locked; but a relay pushes under a lease exactly then, without the
//!   user, and needs the subscriptions whole to encrypt.
//!   A copy of the storage at rest yields the auth secrets, endpoints and
//!   `p256dh` keys, not the VAPID private keys (sealed) nor tokens: by
//!   itself it cannot get a message delivered. Someone who also holds
//!   tokens (a relay under a lease) can push to these subscriptions anyway,
//!   as the lease allows.
//! - **What is not protected.** Records are not authenticated at rest.
//!   Someone who can write the storage can replace an endpoint and keys with
//!   those of a subscription of their own (at an allowed push service, made
//!   with the user's public VAPID key), and so receive the pushes meant for
//!   the user. Decoding a record checks that it is well-formed and
//!   consistent (id and origin recomputed from the endpoint, never trusted);
//!   [`SubscriptionRecord::validate`] applies the policy in force. Storage
//!   that must resist tampering needs integrity from the backend.
//!
//! The auth secret never leaves through [`SubscriptionInfo`], `Debug` or an
//! error message; only through the record's serialization (for storage) and
//! [`SubscriptionRecord::auth`] / [`SubscriptionRecord::validate`] (for
//! encryption).
//!
//! # Example
//!
//! ```
//! use kms_core::push::{origins, PushServicePolicy, SubscriptionRecord, ValidatedSubscription};
//! # use kms_core::vapid::VapidSigningKey;
//! # use p256::elliptic_curve::sec1::ToEncodedPoint as _;
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
//! # let ua_key = p256::SecretKey::random(&mut rng);
//! # let p256dh = kms_core::b64::encode(ua_key.public_key().to_encoded_point(false));
//! # let kid = VapidSigningKey::generate(&mut rng).public().thumbprint();
//! let now_ms = 1_700_000_000_000; // from the caller's clock
//! let policy = PushServicePolicy::default(); // the major push services
//!
//! // What the page sent (PushSubscription.toJSON()).
//! let json = format!(
//!     r#"{{"endpoint":"https://fcm.googleapis.com/fcm/send/abc","expirationTime":null,
//!         "keys":{{"p256dh":"{p256dh}","auth":"BTBZMqHH6r4Tts7J_aSIgg"}}}}"#
//! );
//! let sub = ValidatedSubscription::from_json(&json, &policy)?;
//! let record = SubscriptionRecord::new(&sub, kid, now_ms)?;
//! let stored = serde_json::to_string(&record)?;
//!
//! let back: SubscriptionRecord = serde_json::from_str(&stored)?;
//! assert_eq!(back.id(), &sub.id());
//! assert_eq!(origins([&back]), [sub.origin().clone()]);
//!
//! // Elsewhere: a push service not on the allowlist is refused.
//! let evil = json.replace("fcm.googleapis.com", "push.evil.example");
//! assert!(ValidatedSubscription::from_json(&evil, &policy).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod policy;
mod record;
mod subscription;

pub use policy::{HostPattern, PushServicePolicy, DEFAULT_PUSH_SERVICES};
pub use record::{
    affected_by_rotation, origins, SubscriptionId, SubscriptionInfo, SubscriptionRecord, SUBSCRIPTION_RECORD_FORMAT,
};
pub use subscription::{
    AuthSecret, PushSubscription, PushSubscriptionKeys, ValidatedSubscription, AUTH_SECRET_LEN,
    MAX_SUBSCRIPTION_JSON_LEN, UNCOMPRESSED_POINT_LEN,
};
