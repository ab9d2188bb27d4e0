//! Push subscriptions, as the relay receives them. The types and their
//! checks live in [`kms_core::push`], so that the KMS (which stores a user's
//! subscriptions) and the relay (which encrypts to them) apply the same
//! rules, including the deployment's allowlist of push services.

pub use kms_core::push::{
    AuthSecret, HostPattern, PushServicePolicy, PushSubscription, PushSubscriptionKeys, ValidatedSubscription,
    AUTH_SECRET_LEN, DEFAULT_PUSH_SERVICES, MAX_SUBSCRIPTION_JSON_LEN, UNCOMPRESSED_POINT_LEN,
};

use super::error::RelayError;

/// [`ValidatedSubscription::from_json`] with the relay's error type: checks
/// the JSON of `PushSubscription.toJSON()` under `policy` (a relay in
/// production passes the deployment's policy, by default
/// [`PushServicePolicy::major_push_services`]). Every failure is
/// [`RelayError::InvalidSubscription`].
pub fn subscription_from_json(json: &str, policy: &PushServicePolicy) -> Result<ValidatedSubscription, RelayError> {
    ValidatedSubscription::from_json(json, policy).map_err(RelayError::InvalidSubscription)
}
