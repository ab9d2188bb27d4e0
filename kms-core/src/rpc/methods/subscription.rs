//! Web Push subscriptions: `subscription_add`, `subscription_list`,
//! `subscription_remove`, as `kms-worker`'s engine runs them (its
//! subscription module).

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::session::SessionToken;

/// `subscription_add` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionAddParams {
    pub user: UserId,
    pub session: SessionToken,
    /// The browser's `PushSubscription.toJSON()`.
    pub subscription: crate::push::PushSubscription,
}

/// `subscription_list` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SubscriptionList {
    pub subscriptions: Vec<crate::push::SubscriptionInfo>,
}

/// `subscription_remove` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRemoveParams {
    pub user: UserId,
    pub session: SessionToken,
    pub id: crate::push::SubscriptionId,
}

/// `subscription_remove` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SubscriptionRemoveResult {
    pub removed: crate::push::SubscriptionId,
    /// Active leases that named this subscription's push service and have no
    /// other subscription there now.
    pub affected_leases: Vec<crate::lease::LeaseId>,
}
