//! Leases: a user's delegation of VAPID token issuance to one relay.
//!
//! A lease lets a relay (the server half of a PWA) get short-lived VAPID
//! tokens (RFC 8292) for one user while that user's session is locked. It is
//! the idea of an AWS KMS grant or a Vault lease, for one relay: bound to one
//! user, one relay label, one VAPID key (by kid) and a set of push-service
//! origins, with an end, a sliding-window quota, a batch limit, revocation,
//! and no silent renewal.
//!
//! This module is pure. It builds and updates [`LeaseRecord`]s and signs
//! tokens; the engine stores the records (writing each returned record
//! atomically), requires a live session for [`create`], [`extend`] and
//! [`revoke`], supplies `now_ms` and the RNG, and writes the audit log.
//!
//! # Custody: what can sign while the user is locked
//!
//! Issuing while locked means some key material must be usable without the
//! master secret. The choices were:
//!
//! - keep the VAPID key sealed only under the master secret: no issuance
//!   while locked, which is the feature;
//! - seal a copy under a key the KMS keeps (in the store or the process): a
//!   copy of the store, or of that key, signs for every lease of every user,
//!   and keeps signing after the lease ends;
//! - give the relay the private key: no end, no quota, no revocation, no
//!   audit;
//! - **split custody (chosen)**: the store holds the key sealed under a key
//!   that only the lease holder can rebuild, so neither half signs alone.
//!
//! At [`create`] the user's session is live, so the caller unseals the
//! current VAPID signing key and passes it in. A random 32-byte **lease
//! secret** is drawn, and
//!
//! ```text
//! lease_key = HKDF-SHA256(ikm  = lease secret,
//!                         salt = the lease id's 16 bytes,
//!                         info = "kms/v1/lease-wrap\0" || user || "\0" || lease id)
//! sealed_key = AES-256-GCM(lease_key, VAPID private scalar,
//!                          AAD = ("kms-aad/v1", "lease-key", record format 1, user, lease id, kid))
//! ```
//!
//! The AAD uses the length-prefixed layout of [`crate::crypto::aad`] with its
//! own purpose label, so it can never equal the AAD of a master-secret wrap
//! or of a VAPID key sealed under the master secret. Besides `sealed_key`,
//! the [`LeaseRecord`] keeps one value derived from the secret, the
//! credential check `HKDF-SHA256(secret, salt = lease id bytes,
//! info = "kms/v1/lease-check\0" || user || "\0" || lease id)`: not the
//! lease key (another `info`), and no help in finding a 256-bit random
//! secret. It lets [`verify_credential`] check a credential before anything
//! about the lease is told (revoked, ended, rotated), even after the sealed
//! key is gone; records made before it existed are checked by opening the
//! key. The secret is returned once, to the creator, inside a
//! [`LeaseCredential`] (`kmsl1.<lease id>.<secret>`), who hands it to the
//! relay. To issue, the relay presents the credential; [`issue`] checks it,
//! then the lease's state, then rebuilds `lease_key` from it, recomputes the
//! AAD from the lease id the credential names and the user and kid of the
//! record, and opens the sealed key. A
//! failed open means a wrong credential (another lease's, a changed secret)
//! or a record moved to another user, lease id or kid; all of them are
//! `forbidden` with the one message `invalid lease credential`. After the
//! tag verified, the key's thumbprint must equal the kid.
//!
//! What each party can do, during a lease:
//!
//! - **A copy of the store** (a reader): the sealed key without the 256-bit
//!   lease secret. It cannot sign through any lease. (What it can do with the
//!   user's own enrollments is unchanged; see `docs/threat-model.md`.)
//! - **The relay alone** (the credential): it cannot sign; it can only ask
//!   the KMS, which enforces the audiences, the 24-hour token cap, the lease
//!   end, the quota, the batch size, revocation, key rotation and user
//!   deletion, and audits every token.
//! - **The relay with a copy of the store**: it opens the sealed key offline
//!   and holds the VAPID private key, with no limit, until the user rotates
//!   the key. This is inherent in signing without the user: whatever the
//!   KMS uses to sign is exactly what it stores plus what the relay presents.
//!   Rotation is the remedy (it orphans every subscription made with the old
//!   key, and [`check_usable`] refuses leases bound to it).
//! - **A writer of the store** without the credential cannot sign. It can
//!   delete records, or change a record's public fields (end, status, quota
//!   window, audiences, quotas), or restore an old copy of a revoked record
//!   with its sealed key. Only a credential holder gains from that, and a
//!   holder who can write the store can normally read it, which is the
//!   previous case. That is why the AEAD binds the identity of the sealed key
//!   (user, lease, kid) and not the terms: [`extend`] and [`revoke`] must
//!   change the terms with a session but without the lease secret, which the
//!   KMS never keeps, and binding them would stop no one who can exploit them.
//! - **The KMS process** holds the unsealed scalar for one batch inside
//!   [`issue`]; it is wiped when the batch is signed.
//!
//! Revocation ([`revoke`]) deletes the sealed key: from then on nothing,
//! including the genuine credential, opens anything. The record stays as a
//! tombstone so that a relay is told `lease_revoked`, not `not_found`.
//!
//! # Issuance rules ([`issue`])
//!
//! - `aud` must be one of the lease's audiences (`forbidden`, listing them).
//! - At most `max_batch` tokens per call; every token counts against the
//!   sliding-window quota of `tokens_per_hour` (the timestamps of the tokens
//!   issued in the last 3,600,000 ms are kept in the record). A refusal is
//!   `quota_exceeded` with `retry_after_ms`: when enough earlier tokens leave
//!   the window for the batch to fit.
//! - A token's `exp` is the requested `ttl_s` (default 12 h) after now,
//!   capped at 24 h ([`crate::vapid::MAX_JWT_LIFETIME_S`], RFC 8292) and at
//!   the lease's end. A caller may ask for less, never more; a request beyond
//!   the cap is served at the cap (never a token that outlives RFC 8292's day).
//!   Every token must stay valid for more than [`MIN_TOKEN_LIFETIME_S`]; a
//!   lease closer to its end than that refuses with `lease_expired`.
//! - A batch has staggered expiries, so the relay always holds a valid token
//!   while it refreshes: token `i` of `n` (0-based) expires at
//!   `latest - (n - 1 - i) * stagger` with `stagger = max(60 s, lifetime / n)`,
//!   where `latest` is the capped expiry and `lifetime = latest - now`. If
//!   that spread does not fit between the earliest allowed expiry and
//!   `latest`, the stagger shrinks until it fits: tokens are never dropped
//!   and never outlive the lease. (So the 60 s floor only shapes the rule:
//!   when `lifetime / n` is under a minute, the first token would otherwise
//!   live less than a minute, and the spread is squeezed instead.) Expiries strictly increase whenever there
//!   are at least `n - 1` seconds of room; in a lease's last minute or so,
//!   several tokens may share an `exp`.
//! - Every token has a fresh random `jti` (16 bytes, base64url).
//!
//! # Refusals ([`check_usable`])
//!
//! A lease is refused after its revocation (`lease_revoked`), its end
//! (`lease_expired`) and the rotation of its key (`lease_key_rotated`),
//! checked in that order, so that the most lasting reason is the one
//! reported; a deleted user is answered `user_deleted` before any lease is
//! read. [`check_usable`] returns a [`UsableLease`], the only argument
//! [`issue`] and [`extend`] accept: tokens cannot be issued, nor a lease
//! extended, without the check. A record alone does not compile:
//!
//! ```compile_fail,E0308
//! # use kms_core::lease::{self, IssueRequest, LeaseCredential, LeaseRecord};
//! fn unchecked(
//!     record: &LeaseRecord,
//!     credential: &LeaseCredential,
//!     req: &IssueRequest,
//!     rng: &mut impl rand_core::CryptoRngCore,
//! ) {
//!     let _ = lease::issue(record, credential, req, rng);
//! }
//! ```
//!
//! # Time
//!
//! All times are milliseconds since the Unix epoch from the caller's clock.
//! A clock that moves backwards keeps the quota conservative: issuance
//! timestamps in the future count as inside the window.

pub mod courier;
mod credential;
mod custody;
mod id;
mod issue;
mod lifecycle;
mod params;
mod record;
mod refusal;

pub use credential::{LeaseCredential, CREDENTIAL_LEN, CREDENTIAL_PREFIX};
pub use custody::{invalid_credential, INVALID_CREDENTIAL};
pub use id::{LeaseId, RelayLabel, LEASE_ID_LEN, MAX_RELAY_LEN};
pub use issue::{issue, opening, plan, verify_credential, IssueRequest, LeaseOpening};
pub use lifecycle::{create, draft, erase_if_ended, expired_cleanup_due, extend, is_expired, revoke, LeaseDraft};
pub use params::{check_lifetime_within, LeaseParams};
pub use record::{LeaseInfo, LeaseRecord, LeaseState, LeaseStatus};
pub use refusal::{check_usable, LeaseRefusal, UsableLease};

/// A lease's lifetime when `lifetime_s` is not given: 24 hours.
pub const DEFAULT_LIFETIME_S: u64 = 24 * 3600;
/// Shortest lifetime of a lease (and of an extension), in seconds.
pub const MIN_LIFETIME_S: u64 = 60;
/// Longest lifetime of a lease from now, at creation or extension, that
/// any configuration allows: 30 days.
pub const MAX_LIFETIME_S: u64 = 30 * 24 * 3600;
/// Longest lifetime of a lease from now unless the engine is configured
/// otherwise (up to [`MAX_LIFETIME_S`]): 7 days. A relay that needs more
/// asks the user to extend.
pub const DEFAULT_MAX_LIFETIME_S: u64 = 7 * 24 * 3600;

/// Tokens per hour when `tokens_per_hour` is not given.
pub const DEFAULT_TOKENS_PER_HOUR: u32 = 60;
/// Highest accepted `tokens_per_hour` (one a second).
pub const MAX_TOKENS_PER_HOUR: u32 = 3600;

/// Batch size limit when `max_batch` is not given (lowered to
/// `tokens_per_hour` if that is smaller).
pub const DEFAULT_MAX_BATCH: u32 = 10;
/// Highest accepted `max_batch`.
pub const MAX_BATCH_LIMIT: u32 = 100;

/// Most audiences (push-service origins) a lease may name.
pub const MAX_AUDIENCES: usize = 16;

/// The sliding window of the quota: one hour, in milliseconds.
pub const QUOTA_WINDOW_MS: u64 = 3_600_000;

/// A token's lifetime when `ttl_s` is not given: 12 hours, the common
/// default, which leaves room for the push service's clock skew.
pub const DEFAULT_TOKEN_TTL_S: u64 = 12 * 3600;
/// Every issued token stays valid for more than this many seconds.
pub const MIN_TOKEN_LIFETIME_S: u64 = 60;
/// The smallest gap between the expiries of a batch, when there is room.
pub const MIN_STAGGER_S: u64 = 60;

/// How long a lease's record is kept after its end (as an answer to "why
/// was I refused") before [`expired_cleanup_due`] lets the engine delete it:
/// 7 days, in milliseconds.
pub const CLEANUP_AFTER_MS: u64 = 7 * 24 * 3_600_000;

/// The version of [`LeaseRecord`]'s stored layout (`v`), also bound in the
/// sealed key's AAD.
const RECORD_FORMAT: u32 = 1;
