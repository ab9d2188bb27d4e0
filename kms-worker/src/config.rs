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

/// The host name of a serialized origin (`scheme://host[:port]`): what
/// `location.hostname` says in a page of that origin. The engine's worker
/// runs from a `blob:` URL, whose location has no host name of its own but
/// whose origin is the KMS origin (`web::config`).
pub fn host_of_origin(origin: &str) -> Option<String> {
    let rest = origin.split_once("://")?.1;
    let host = match rest.rsplit_once(':') {
        // A port follows the last colon, unless that colon is inside an
        // IPv6 literal (which then ends the string with `]`).
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => rest,
    };
    (!host.is_empty() && !host.contains(['/', '@'])).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::host_of_origin;

    #[test]
    fn the_host_of_an_origin_is_what_location_hostname_says() {
        for (origin, host) in [
            ("https://kms.example.com", Some("kms.example.com")),
            ("http://localhost:8081", Some("localhost")),
            ("https://kms.example.com:443", Some("kms.example.com")),
            ("http://[::1]:8443", Some("[::1]")),
            ("http://[::1]", Some("[::1]")),
            ("https://xn--kms-fla.example", Some("xn--kms-fla.example")),
            ("null", None),
            ("blob:", None),
            ("https://", None),
            ("https://user@host", None),
        ] {
            assert_eq!(host_of_origin(origin).as_deref(), host, "{origin}");
        }
    }
}
