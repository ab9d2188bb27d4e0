//! VAPID keys and tokens: `vapid_generate`, `vapid_rotate`, `vapid_public`,
//! `sign_jwt`, as `kms-worker`'s `engine/vapid.rs` runs them.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::session::SessionToken;
use crate::vapid::{JwtRequest, SignedJwt, VapidPublicInfo};

/// `vapid_public` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VapidKeys {
    pub current: Option<VapidPublicInfo>,
    pub retired: Vec<VapidPublicInfo>,
}

/// `vapid_rotate` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RotateResult {
    pub current: VapidPublicInfo,
    pub retired: VapidPublicInfo,
    /// Push subscriptions are bound to the key they were made with: every
    /// subscription made with `retired` must be made again with `current`.
    pub resubscribe_required: bool,
    pub note: String,
    /// The stored subscriptions made with the retired key.
    #[serde(default)]
    pub affected_subscriptions: Vec<crate::push::SubscriptionId>,
    /// The active leases bound to the retired key: refused from now on
    /// (`lease_key_rotated`); grant new ones.
    #[serde(default)]
    pub affected_leases: Vec<crate::lease::LeaseId>,
}

/// `sign_jwt` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SignJwtParams {
    pub user: UserId,
    pub session: SessionToken,
    pub claims: JwtRequest,
}

/// `sign_jwt` result.
pub type SignJwtResult = SignedJwt;
