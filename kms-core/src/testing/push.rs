//! Web Push subscriptions as a browser hands them over.

/// The JSON of a browser's `PushSubscription.toJSON()` (Push API) without
/// an expiration time: `endpoint`, `expirationTime: null`, and the keys
/// `p256dh` and `auth`, given already base64url-encoded (or not, to test
/// what is refused).
pub fn subscription_json(endpoint: &str, p256dh: &str, auth: &str) -> String {
    serde_json::json!({
        "endpoint": endpoint,
        "expirationTime": null,
        "keys": {"p256dh": p256dh, "auth": auth},
    })
    .to_string()
}
