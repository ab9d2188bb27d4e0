//! Sending: a message encrypted for the user's subscription, with a held
//! token, to the push service; and what its answer means, in words.

use kms_client::relay::{build_push_request, PushOptions, RelayError, Ttl};
use kms_core::ids::UserId;
use rand_core::OsRng;
use serde::Deserialize;
use serde_json::json;

use super::state::Lease;
use super::{known_user, Refusal, Relay};
use crate::http::Response;

/// Longest push message title and body, in bytes (the encrypted payload
/// must stay under 3,993 bytes).
pub const MAX_TITLE_LEN: usize = 100;
/// See [`MAX_TITLE_LEN`].
pub const MAX_MESSAGE_LEN: usize = 1000;

/// How long the push service keeps an undelivered message, in seconds.
const PUSH_TTL_S: u64 = 300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendBody {
    user: UserId,
    #[serde(default)]
    title: Option<String>,
    body: String,
}

impl Relay {
    pub(super) fn send(&self, body: SendBody, now_ms: u64) -> Result<Response, Refusal> {
        let title = body.title.unwrap_or_else(|| "kms demo".to_owned());
        if title.len() > MAX_TITLE_LEN || body.body.len() > MAX_MESSAGE_LEN {
            return Err(Refusal::bad(format!(
                "title at most {MAX_TITLE_LEN} bytes and body at most {MAX_MESSAGE_LEN} bytes"
            )));
        }
        let payload = json!({ "title": title, "body": body.body, "sent_ms": now_ms }).to_string();
        // Build under the lock, send without it: a slow push service must
        // not hold up the page's polls.
        let request = {
            let mut users = self.lock();
            let state = known_user(&mut users, &body.user)?;
            if let Lease::Stopped { reason, .. } = &state.lease {
                return Err(Refusal::new(409, "lease_stopped", format!("the relay stopped pushing: {reason}")));
            }
            let Some(sub) = &state.subscription else {
                return Err(Refusal::new(409, "no_subscription", "no subscription: subscribe first"));
            };
            state.tokens.prune(now_ms / 1000);
            let opts = PushOptions::new(Ttl::from_secs(PUSH_TTL_S).map_err(Refusal::bad)?);
            build_push_request(sub, payload.as_bytes(), &state.tokens, &opts, now_ms / 1000, &mut OsRng).map_err(
                |e| match e {
                    RelayError::PayloadTooLarge { .. } => Refusal::bad(format!("cannot send: {e}")),
                    _ => Refusal::new(409, "no_valid_token", format!("cannot send: {e}")),
                },
            )?
        };
        let answer = self.transport.send(&request);
        let mut users = self.lock();
        let state = known_user(&mut users, &body.user)?;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                state.log(now_ms, "error", e.clone());
                return Err(Refusal::new(502, "push_failed", e));
            }
        };
        let delivered = answer.status == 201;
        let explanation = explain(answer.status);
        match answer.status {
            201 => state.pushes_delivered += 1,
            // The tokens are not accepted: drop them and ask for new ones.
            401 => {
                state.tokens = kms_client::relay::TokenHolder::new();
                state.refresh_now = true;
            }
            // Forget the subscription sent to, not one that replaced it
            // meanwhile.
            404 | 410 if state.subscription.as_ref().is_some_and(|s| s.endpoint() == request.url) => {
                state.subscription = None;
            }
            _ => {}
        }
        state.log(now_ms, "push", format!("push service answered {}: {explanation}", answer.status));
        Ok(Response::json(
            200,
            &json!({
                "delivered": delivered, "push_service_status": answer.status,
                "push_service_error": answer.error, "explanation": explanation,
            }),
        ))
    }
}

/// What a push service's status means for the demo's user, in words.
pub fn explain(status: u16) -> &'static str {
    match status {
        201 => "accepted: the push service will deliver the message to the browser",
        400 => "the push service refused a malformed request (headers or encoding)",
        401 => {
            "the push service refused the VAPID token (invalid signature, wrong audience, expired, or no \
             contact): the relay dropped its tokens and asks for new ones"
        }
        403 => {
            "the token's key is not the key this subscription was made with: after a VAPID key rotation every \
             subscription must be made again with the new applicationServerKey"
        }
        404 | 410 => "the subscription is gone (unsubscribed or expired): the relay forgot it; subscribe again",
        413 => "the message is too large for the push service",
        429 => "the push service asks the relay to slow down",
        _ => "an unexpected answer from the push service",
    }
}
