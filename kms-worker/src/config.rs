//! The engine's configuration, with safe defaults.

use kms_core::push::PushServicePolicy;
use kms_core::throttle::ThrottlePolicy;
use kms_core::unlock::ceremony::DEFAULT_CEREMONY_TTL_MS;
use kms_core::unlock::passphrase::PassphrasePolicy;

/// How a KMS instance runs.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    /// The WebAuthn relying party id gate-mode passkeys are bound to (the KMS
    /// origin's host).
    pub rp_id: String,
    /// Origins a gate-mode assertion may come from (the KMS origin).
    pub allowed_origins: Vec<String>,
    /// Host pages the KMS frame may be embedded in when a gate-mode
    /// assertion is made inside it (`topOrigin` of the client data). Empty:
    /// assertions from a cross-origin iframe are refused.
    pub allowed_top_origins: Vec<String>,
    /// Session lifetime in milliseconds (default 5 minutes).
    pub session_ttl_ms: u64,
    /// Passphrase length and PBKDF2 cost.
    pub passphrase: PassphrasePolicy,
    /// Unlock back-off, per enrollment.
    pub throttle: ThrottlePolicy,
    /// Unlock back-off per user, over the failures of all its enrollments.
    pub user_throttle: ThrottlePolicy,
    /// Lifetime of a WebAuthn challenge or PRF salt offer.
    pub ceremony_ttl_ms: u64,
    /// Most enrollments one user may have.
    pub max_enrollments: usize,
    /// Which push services a stored subscription may point at (default: the
    /// major ones; loopback only when a test or the demo allows it).
    pub push_services: PushServicePolicy,
    /// Longest lifetime of a lease, from its creation or extension, in
    /// seconds: 60 s to 30 days, default 7 days.
    pub max_lease_lifetime_s: u64,
}

impl Default for KmsConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            allowed_origins: vec!["http://localhost:8081".into()],
            allowed_top_origins: Vec::new(),
            session_ttl_ms: kms_core::session::DEFAULT_TTL_MS,
            passphrase: PassphrasePolicy::default(),
            throttle: ThrottlePolicy::default(),
            user_throttle: ThrottlePolicy::per_user_default(),
            ceremony_ttl_ms: DEFAULT_CEREMONY_TTL_MS,
            max_enrollments: 16,
            push_services: PushServicePolicy::default(),
            max_lease_lifetime_s: kms_core::lease::DEFAULT_MAX_LIFETIME_S,
        }
    }
}
