//! The end of a user: `user_delete`, as `kms-worker`'s `engine/delete.rs`
//! runs it.

use serde::{Deserialize, Serialize};

use crate::env::UnixMillis;
use crate::ids::UserId;
use crate::session::SessionToken;

/// `user_delete` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UserDeleteParams {
    pub user: UserId,
    pub session: SessionToken,
    /// The user id again: deletion cannot be undone, so a caller must say
    /// which user it means twice.
    pub confirm: String,
}

/// `user_delete` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserDeleteResult {
    pub user: UserId,
    pub deleted_ms: UnixMillis,
    /// Leases that were active and are now gone (their relays get
    /// `user_deleted`).
    pub leases_revoked: Vec<crate::lease::LeaseId>,
    /// How many push subscriptions were erased.
    pub subscriptions_removed: u64,
    /// The signed checkpoint over the user's audit chain, ending with the
    /// `user_delete` entry.
    pub final_checkpoint: crate::audit::Checkpoint,
    /// The user's whole audit log as an export (`docs/audit-format.md`)
    /// that ends with the deletion and `final_checkpoint`: the last one
    /// anybody can make, since no session can be opened any more.
    pub export: String,
}
