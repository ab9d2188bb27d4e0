//! The relay side of Web Push: what a relay operator runs to deliver push
//! messages for a user who granted it a lease. It needs no browser and does
//! no I/O: it checks subscriptions, holds tokens, encrypts payloads and
//! builds requests as plain data; sending them is up to the caller.
//!
//! # What a relay holds
//!
//! - **VAPID tokens** ([`TokenHolder`]): signed JWTs (RFC 8292) that the KMS
//!   issued under a lease the user granted. Each is bound to one push
//!   service (`aud`, the origin of the subscription endpoints it may
//!   address) and expires within 24 hours, never after the lease. They are
//!   bearer credentials until then: keep them out of logs (`Debug` of the
//!   types here does not print them).
//! - **Push subscriptions** ([`ValidatedSubscription`], the type the KMS
//!   stores too, from [`kms_core::push`]): the endpoint and the user agent's
//!   public key `p256dh` and authentication secret `auth`, as the browser's
//!   `PushSubscription.toJSON()` gives them, checked against the
//!   deployment's [`PushServicePolicy`].
//!
//! It never holds a private key of the user: not the VAPID signing key (it
//! stays in the KMS) and not the user agent's ECDH key (it stays in the
//! browser). The only private keys made here are the ephemeral per-message
//! keys of RFC 8291, dropped (and wiped) after each message, and the relay's
//! own courier key (below).
//!
//! # Getting tokens through a page: the courier
//!
//! In the browser the KMS lives in the user's browser and the relay cannot
//! call it: the app page carries the relay's token requests to the KMS and
//! the tokens back. The [`courier`] keeps both opaque to that page:
//!
//! 1. The relay makes a [`courier::CourierSecret`] and publishes its public
//!    half; the page passes it to `lease_create` as `relay_key`.
//! 2. The page hands the relay the answer's `lease.id` and
//!    `sealed_credential`; the relay opens the credential and the lease's
//!    courier key with [`courier::open_credential`] (never a key the page
//!    names).
//! 3. For tokens, the relay seals a request with [`courier::seal_request`]
//!    (to that courier key) and keeps the [`courier::ResponseKey`]; the page
//!    passes the sealed request to `lease_courier` and the sealed answer
//!    back; the relay opens it with [`courier::ResponseKey::open`] (a
//!    `lease_issue` result) and checks the tokens as usual.
//!
//! # What a relay can do
//!
//! - Push to a user's subscriptions at the push services named in its lease,
//!   until its tokens expire: pick a valid token for the endpoint's origin
//!   ([`TokenHolder::pick`]), encrypt a payload of at most
//!   [`MAX_PLAINTEXT_LEN`] bytes ([`encrypt`]) and build the request
//!   ([`build_push_request`]).
//! - Tell when to fetch new tokens ([`TokenHolder::needs_refresh`]), and when
//!   none is valid any more ([`RelayError::NoValidToken`]).
//!
//! # What it cannot do
//!
//! - Sign a token, extend one, or address a push service outside its lease:
//!   that takes the VAPID private key, which only the KMS uses, under the
//!   lease's rules. When the lease expires or is revoked, no new tokens come
//!   and pushing stops once the held ones expire (at most 24 hours later; a
//!   revocation cannot recall a token already handed out).
//! - Read push messages: decryption needs the user agent's private key.
//!   ([`decrypt`] is here for tests and the demo, playing the user agent.)
//! - Push without a subscription: the endpoint, `p256dh` and `auth` come
//!   from the user's browser.
//!
//! # Caveats for operators
//!
//! - A relay sends an HTTP request to whatever endpoint a subscription
//!   names. Validation ([`ValidatedSubscription::parse`]) admits only
//!   `https` endpoints at the push services on the [`PushServicePolicy`]'s
//!   allowlist (by default the major browsers' push services), and hosts on
//!   the relay's own machine only when the policy allows loopback (tests).
//!   Configure the same policy as the KMS. The allowlist names hosts, not
//!   addresses: filter egress as well if DNS for those names is not
//!   trusted.
//! - `now_s` comes from the relay's clock. A clock that runs late makes the
//!   relay send tokens the push service already considers expired; keep a
//!   margin ([`PushOptions::min_token_remaining_s`]).
//!
//! # Example
//!
//! ```
//! use kms_client::relay::{
//!     build_push_request, decrypt, subscription_from_json, AuthSecret, PushOptions, PushServicePolicy, TokenHolder,
//!     Ttl,
//! };
//! use kms_core::vapid::{self, JwtRequest, SignedJwt, VapidSigningKey};
//! use p256::elliptic_curve::sec1::ToEncodedPoint as _;
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0); // the platform's CSPRNG
//! # let ua_key = p256::SecretKey::random(&mut rng);
//! # let p256dh = kms_core::b64::encode(ua_key.public_key().to_encoded_point(false));
//! # let auth = "BTBZMqHH6r4Tts7J_aSIgg";
//! let now_s = 1_700_000_000; // from the relay's clock
//!
//! // A subscription, as the page sent it (PushSubscription.toJSON()).
//! let json = format!(
//!     r#"{{"endpoint":"https://fcm.googleapis.com/fcm/send/abc","expirationTime":null,
//!         "keys":{{"p256dh":"{p256dh}","auth":"{auth}"}}}}"#
//! );
//! let policy = PushServicePolicy::default(); // the major push services; configure yours
//! let sub = subscription_from_json(&json, &policy)?;
//! assert_eq!(sub.origin().as_str(), "https://fcm.googleapis.com");
//!
//! // Tokens come from the KMS under a lease; here one is signed directly.
//! # let key = VapidSigningKey::generate(&mut rng);
//! # let request = JwtRequest { aud: sub.origin().to_string(), sub: "mailto:ops@example.com".into(), exp: now_s + 12 * 3600, jti: None };
//! # let token: SignedJwt = SignedJwt::issue(&key, &vapid::validate(&request, now_s * 1000)?)?;
//! let mut tokens = TokenHolder::new();
//! tokens.insert(token)?;
//!
//! let opts = PushOptions::new(Ttl::from_secs(3600)?);
//! let request = build_push_request(&sub, b"hello", &tokens, &opts, now_s, &mut rng)?;
//! assert_eq!(request.method, "POST");
//! assert_eq!(request.header("Content-Encoding"), Some("aes128gcm"));
//! assert!(request.header("Authorization").is_some_and(|v| v.starts_with("vapid t=")));
//!
//! // The user agent (here: its Rust twin) decrypts.
//! let plaintext = decrypt(&ua_key, &AuthSecret::from_b64(auth)?, &request.body)?;
//! assert_eq!(plaintext.as_slice(), b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod encrypt;
mod error;
mod request;
mod subscription;
mod tokens;

#[doc(hidden)]
pub use encrypt::dangerous_encrypt_deterministic;
pub use encrypt::{
    decrypt, encrypt, encrypt_padded, HEADER_LEN, MAX_BODY_LEN, MAX_PLAINTEXT_LEN, RECORD_SIZE, SALT_LEN, TAG_LEN,
};
pub use error::RelayError;
pub use request::{
    build_push_request, PushOptions, PushRequest, Topic, Ttl, Urgency, DEFAULT_MIN_TOKEN_REMAINING_S, MAX_TOPIC_LEN,
    MAX_TTL_S,
};
pub use subscription::{
    subscription_from_json, AuthSecret, HostPattern, PushServicePolicy, PushSubscription, PushSubscriptionKeys,
    ValidatedSubscription, AUTH_SECRET_LEN, DEFAULT_PUSH_SERVICES, MAX_SUBSCRIPTION_JSON_LEN, UNCOMPRESSED_POINT_LEN,
};
pub use tokens::{TokenHolder, MAX_JWT_LEN};

/// The lease courier, relay side: the same code the KMS runs on its side
/// ([`kms_core::lease::courier`]).
pub mod courier {
    pub use kms_core::lease::courier::{
        open_credential, seal_request, CourierPublic, CourierSecret, ResponseKey, MAX_SEALED_RESPONSE,
        REQUEST_WINDOW_MS,
    };
}
