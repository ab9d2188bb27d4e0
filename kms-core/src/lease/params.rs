//! What `lease_create` asks for, and its checks.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::id::RelayLabel;
use super::{
    DEFAULT_LIFETIME_S, DEFAULT_MAX_BATCH, DEFAULT_TOKENS_PER_HOUR, MAX_AUDIENCES, MAX_BATCH_LIMIT, MAX_LIFETIME_S,
    MAX_TOKENS_PER_HOUR, MIN_LIFETIME_S,
};
use crate::error::{CoreError, Result};
use crate::vapid::PushOrigin;

/// The parameters of a new lease, as the caller sends them. Nothing here is
/// trusted; [`super::create`] checks it:
///
/// - `relay`: a [`RelayLabel`] (1 to 64 printable ASCII characters);
/// - `audiences`: 1 to [`MAX_AUDIENCES`] push-service origins, each a
///   [`PushOrigin`] (`https://fcm.googleapis.com`, not an endpoint URL);
///   duplicates are merged and the set is kept sorted;
/// - `lifetime_s`: [`MIN_LIFETIME_S`] to [`MAX_LIFETIME_S`] (30 days),
///   default [`DEFAULT_LIFETIME_S`] (24 h);
/// - `tokens_per_hour`: 1 to [`MAX_TOKENS_PER_HOUR`], default
///   [`DEFAULT_TOKENS_PER_HOUR`];
/// - `max_batch`: 1 to [`MAX_BATCH_LIMIT`] and at most `tokens_per_hour`,
///   default [`DEFAULT_MAX_BATCH`] or `tokens_per_hour` if smaller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LeaseParams {
    /// The relay's id or label.
    pub relay: String,
    /// The push-service origins the relay may address.
    pub audiences: Vec<String>,
    /// The lease's lifetime from now, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_s: Option<u64>,
    /// The sliding-window quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_hour: Option<u32>,
    /// The most tokens one issue call may return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
}

/// Parameters that passed [`LeaseParams::check`].
#[derive(Debug)]
pub(super) struct Terms {
    pub relay: RelayLabel,
    /// Sorted, without duplicates, 1 to [`MAX_AUDIENCES`].
    pub audiences: Vec<PushOrigin>,
    pub lifetime_s: u64,
    pub tokens_per_hour: u32,
    pub max_batch: u32,
}

/// Checks a lifetime in seconds (creation and extension share the rule).
pub(super) fn check_lifetime(lifetime_s: u64) -> Result<u64> {
    if !(MIN_LIFETIME_S..=MAX_LIFETIME_S).contains(&lifetime_s) {
        return Err(CoreError::invalid(format!(
            "lifetime_s must be {MIN_LIFETIME_S} to {MAX_LIFETIME_S} (30 days) from now"
        )));
    }
    Ok(lifetime_s)
}

/// Checks `lifetime_s` (of a new lease, or of an extension) against the
/// engine's configured longest lifetime `max_s` (at most
/// [`MAX_LIFETIME_S`]); `invalid_input` naming the limit if over it.
pub fn check_lifetime_within(lifetime_s: u64, max_s: u64) -> Result<()> {
    if lifetime_s > max_s {
        return Err(CoreError::invalid(format!(
            "lifetime_s: at most {max_s} s ({} days) on this KMS; extend the lease before it ends for more",
            max_s / 86_400
        )));
    }
    Ok(())
}

impl LeaseParams {
    /// The lifetime asked for, or the default ([`DEFAULT_LIFETIME_S`]).
    pub fn lifetime_or_default(&self) -> u64 {
        self.lifetime_s.unwrap_or(DEFAULT_LIFETIME_S)
    }
}

/// Sorted, deduplicated audiences, 1 to [`MAX_AUDIENCES`].
pub(super) fn check_audiences(origins: impl IntoIterator<Item = PushOrigin>) -> Result<Vec<PushOrigin>> {
    let set: BTreeSet<String> = origins.into_iter().map(|o| o.as_str().to_owned()).collect();
    if set.is_empty() || set.len() > MAX_AUDIENCES {
        return Err(CoreError::invalid(format!("audiences: must name 1 to {MAX_AUDIENCES} push-service origins")));
    }
    // Re-parsing keeps `PushOrigin` the only way in; these already parsed.
    set.iter().map(|s| PushOrigin::parse(s)).collect()
}

impl LeaseParams {
    pub(super) fn check(&self) -> Result<Terms> {
        let relay = RelayLabel::parse(&self.relay)?;
        // Bound the work before parsing: at most MAX_AUDIENCES given.
        if self.audiences.len() > MAX_AUDIENCES {
            return Err(CoreError::invalid(format!("audiences: must name 1 to {MAX_AUDIENCES} push-service origins")));
        }
        let parsed = self
            .audiences
            .iter()
            .map(|a| PushOrigin::parse(a).map_err(|e| CoreError::invalid(format!("audiences: {}", message(&e)))))
            .collect::<Result<Vec<_>>>()?;
        let audiences = check_audiences(parsed)?;
        let lifetime_s = check_lifetime(self.lifetime_s.unwrap_or(DEFAULT_LIFETIME_S))?;
        let tokens_per_hour = self.tokens_per_hour.unwrap_or(DEFAULT_TOKENS_PER_HOUR);
        if !(1..=MAX_TOKENS_PER_HOUR).contains(&tokens_per_hour) {
            return Err(CoreError::invalid(format!("tokens_per_hour must be 1 to {MAX_TOKENS_PER_HOUR}")));
        }
        let max_batch = self.max_batch.unwrap_or(DEFAULT_MAX_BATCH.min(tokens_per_hour));
        if !(1..=MAX_BATCH_LIMIT).contains(&max_batch) {
            return Err(CoreError::invalid(format!("max_batch must be 1 to {MAX_BATCH_LIMIT}")));
        }
        if max_batch > tokens_per_hour {
            return Err(CoreError::invalid(format!(
                "max_batch ({max_batch}) must not exceed tokens_per_hour ({tokens_per_hour}): such a batch could \
                 never be issued"
            )));
        }
        Ok(Terms { relay, audiences, lifetime_s, tokens_per_hour, max_batch })
    }
}

/// The message of an `invalid_input` error without its "invalid input: "
/// prefix, to nest it under a field name.
fn message(e: &CoreError) -> String {
    match e {
        CoreError::InvalidInput(m) => m.clone(),
        other => other.to_string(),
    }
}
