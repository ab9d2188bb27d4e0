//! The token protocol: what the relay is given (a subscription, a lease
//! credential), the token requests it hands to the user's page, and the
//! rules for the page's answers.
//!
//! The page is a courier, not an authority, so an answer is accepted only
//! if it fits what was asked for: the id of the request handed out; 1 to
//! `batch` tokens, each valid for more than a minute and for no longer than
//! the lifetime asked for (plus a minute of clock skew), each for the
//! subscription's push service (`aud`), all signed by one key, the key of
//! the lease's first accepted batch; and each consistent with itself
//! ([`TokenHolder::insert`]: signature under `k`, `kid`, `exp`). An
//! accepted batch replaces the tokens held, so a relay never holds more
//! than one batch. Tokens from anyone but the KMS can still pass these
//! checks if they are signed with the pinned key, which only the KMS
//! holds; a forger's own key fails the pin, and the push service refuses
//! it in any case.

use kms_client::relay::courier;
use kms_client::relay::{subscription_from_json, TokenHolder};
use kms_core::ids::{KeyId, UserId};
use kms_core::lease::{IssueRequest, LeaseCredential, LeaseId};
use kms_core::rpc::LeaseIssueResult;
use kms_core::vapid::SignedJwt;
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use serde_json::{json, value::RawValue};
use zeroize::Zeroizing;

use super::state::{Lease, Pending};
use super::{known_user, user_entry, Refusal, Relay, MAX_QUOTA_WAIT_MS, PENDING_TIMEOUT_MS, RETRY_AFTER_ERROR_MS};
use crate::http::Response;

/// A token must be valid for more than this at acceptance, in seconds.
const MIN_TOKEN_LIFE_S: u64 = 60;

/// Clock skew allowed between the relay and the KMS, in seconds.
const CLOCK_SKEW_S: u64 = 60;

/// The KMS error codes after which a lease never issues again. `not_found`
/// is not among them: it is also what a KMS that does not hold this user
/// (the user's other device) answers.
const FINAL_CODES: [&str; 5] = ["lease_revoked", "lease_expired", "lease_key_rotated", "user_deleted", "forbidden"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscriptionBody {
    user: UserId,
    subscription: Box<RawValue>,
}

/// A lease as the page hands it over: sealed to this relay (the
/// `lease_create` answer to a call with this relay's key: `lease_id` and
/// `sealed_credential`, which holds the lease's courier key too, so the
/// page cannot name one of its own), or the credential in the clear (a
/// lease made without the relay's key, by the CLI say). The credential
/// parses straight into its type, which wipes it on drop.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LeaseBody {
    user: UserId,
    #[serde(default)]
    credential: Option<LeaseCredential>,
    #[serde(default)]
    lease_id: Option<LeaseId>,
    #[serde(default)]
    sealed_credential: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokensBody {
    id: String,
    user: UserId,
    #[serde(default)]
    tokens: Option<Vec<SignedJwt>>,
    /// The `lease_courier` answer to a sealed request.
    #[serde(default)]
    sealed: Option<String>,
    #[serde(default)]
    error: Option<KmsErrorBody>,
}

/// The error of `lease_issue`, as the page's client reported it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KmsErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// One token request as handed to the page. Serialized straight into a
/// wiped buffer: it carries the credential.
#[derive(Serialize)]
struct TokenRequestOut<'a> {
    id: &'a str,
    user: &'a UserId,
    credential: &'a str,
    request: &'a IssueRequest,
}

/// A token request sealed to the lease's courier key: the page passes
/// `lease_id` and `sealed` to `lease_courier` and reads nothing else.
#[derive(Serialize)]
struct SealedRequestOut<'a> {
    id: &'a str,
    user: &'a UserId,
    lease_id: &'a str,
    sealed: &'a str,
}

#[derive(Serialize)]
struct TokenRequestsOut<T> {
    requests: [T; 1],
}

/// Printable ASCII only, at most `max` characters: text from the page that
/// goes into the relay's log.
fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(max).collect()
}

impl Relay {
    pub(super) fn subscription(&self, body: SubscriptionBody, now_ms: u64) -> Result<Response, Refusal> {
        let sub = subscription_from_json(body.subscription.get(), &self.config.policy).map_err(Refusal::bad)?;
        let origin = sub.origin().to_string();
        let mut users = self.lock();
        let state = user_entry(&mut users, body.user)?;
        state.log(now_ms, "subscription", format!("subscription received: push service {origin}"));
        state.subscription = Some(sub);
        Ok(Response::json(200, &json!({ "origin": origin })))
    }

    pub(super) fn lease(&self, body: LeaseBody, now_ms: u64) -> Result<Response, Refusal> {
        let (credential, courier_key, how) = match body {
            LeaseBody { credential: Some(c), lease_id: None, sealed_credential: None, .. } => (c, None, "in the clear"),
            LeaseBody { credential: None, lease_id: Some(id), sealed_credential: Some(s), .. } => {
                let (c, k) = courier::open_credential(&self.courier, &body.user, &id, &s).map_err(Refusal::bad)?;
                (c, Some(k), "sealed to this relay")
            }
            _ => return Err(Refusal::bad("give either credential, or lease_id and sealed_credential")),
        };
        let lease_id = credential.lease_id().as_str().to_owned();
        let mut users = self.lock();
        let state = user_entry(&mut users, body.user)?;
        state.lease = Lease::Active(credential);
        state.courier_key = courier_key;
        state.tokens = TokenHolder::new();
        state.lease_kid = None;
        state.short_batch = false;
        state.pending = None;
        state.refresh_now = true;
        state.not_before_ms = 0;
        state.log(now_ms, "lease", format!("lease {lease_id} received ({how}): asking for tokens"));
        Ok(Response::json(200, &json!({ "lease_id": lease_id })))
    }

    pub(super) fn token_requests(&self, user: &UserId, now_ms: u64) -> Result<Response, Refusal> {
        let c = &self.config;
        let none = || Ok(Response::json(200, &json!({ "requests": [] })));
        let mut users = self.lock();
        // A user the relay does not know has nothing to ask for.
        let Some(state) = users.get_mut(user) else {
            return none();
        };
        let (Some(sub), Lease::Active(credential)) = (&state.subscription, &state.lease) else {
            return none();
        };
        let now_s = now_ms / 1000;
        // A batch that ends before the margin (the lease ends soon) is used
        // up before asking again, or every poll would ask.
        let margin = if state.short_batch { MIN_TOKEN_LIFE_S } else { c.refresh_margin_s };
        let due = state.refresh_now || state.tokens.needs_refresh(sub.origin(), now_s, margin);
        let waiting = state.pending.as_ref().is_some_and(|p| now_ms < p.offered_ms.saturating_add(PENDING_TIMEOUT_MS));
        if !due || waiting || now_ms < state.not_before_ms {
            return none();
        }
        let request = IssueRequest {
            aud: sub.origin().to_string(),
            sub: c.contact.clone(),
            count: c.batch,
            ttl_s: Some(c.token_ttl_s),
        };
        let id = random_id();
        let internal = |e: String| Refusal::new(500, "internal", e);
        let (mut body, response_key) = match &state.courier_key {
            // Sealed: the page sees the lease id and an opaque blob.
            Some(courier_key) => {
                let (sealed, key) = courier::seal_request(courier_key, user, credential, &request, now_ms, &mut OsRng)
                    .map_err(|e| internal(e.to_string()))?;
                let lease_id = credential.lease_id().as_str();
                let out =
                    TokenRequestsOut { requests: [SealedRequestOut { id: &id, user, lease_id, sealed: &sealed }] };
                (Zeroizing::new(serde_json::to_vec(&out).map_err(|e| internal(e.to_string()))?), Some(key))
            }
            None => {
                let credential_text = credential.dangerous_to_text();
                let out = TokenRequestsOut {
                    requests: [TokenRequestOut {
                        id: &id,
                        user,
                        credential: credential_text.as_str(),
                        request: &request,
                    }],
                };
                (Zeroizing::new(serde_json::to_vec(&out).map_err(|e| internal(e.to_string()))?), None)
            }
        };
        let why = if state.refresh_now { "asked for" } else { "no token valid long enough" };
        state.log(
            now_ms,
            "refresh",
            format!("token request handed to the page ({why}): {} for {}", c.batch, request.aud),
        );
        // `refresh_now` stays set until an answer settles it: a request not
        // answered in time is handed out again even while tokens are good.
        state.pending = Some(Pending { id, offered_ms: now_ms, response_key });
        // Moved, not copied: no second copy is left behind here.
        Ok(Response::json_bytes(200, std::mem::take(&mut *body)))
    }

    pub(super) fn tokens(&self, body: TokensBody, now_ms: u64) -> Result<Response, Refusal> {
        let mut users = self.lock();
        let state = known_user(&mut users, &body.user)?;
        if state.pending.as_ref().is_none_or(|p| p.id != body.id) {
            return Err(Refusal::new(
                409,
                "unknown_token_request",
                "no such token request: already answered, or handed out again",
            ));
        }
        let pending = state.pending.take();
        let response_key = pending.and_then(|p| p.response_key);
        let tokens = match (body.tokens, body.sealed, &response_key) {
            // A sealed request is answered sealed, and only so.
            (None, Some(sealed), Some(key)) => {
                let opened = key.open(&sealed).map_err(Refusal::bad)?;
                let result: LeaseIssueResult = serde_json::from_slice(&opened)
                    .map_err(|e| Refusal::bad(format!("the sealed answer is not a lease_issue result: {e}")))?;
                Some(result.tokens)
            }
            (Some(_), None, Some(_)) => return Err(Refusal::bad("this request was sealed: answer with sealed")),
            (None, Some(_), None) => return Err(Refusal::bad("this request was not sealed: answer with tokens")),
            (tokens, None, _) => tokens,
            (Some(_), Some(_), _) => return Err(Refusal::bad("give either tokens or sealed")),
        };
        match (tokens, body.error) {
            (Some(tokens), None) => match self.accept(state, tokens, now_ms) {
                Ok(n) => Ok(Response::json(200, &json!({ "accepted": n }))),
                Err(e) => {
                    state.not_before_ms = now_ms.saturating_add(RETRY_AFTER_ERROR_MS);
                    state.log(now_ms, "error", format!("tokens refused: {}", e.error));
                    Err(e)
                }
            },
            (None, Some(error)) => {
                let code = clean(&error.code, 40);
                if FINAL_CODES.contains(&code.as_str()) {
                    let reason = match code.as_str() {
                        "lease_revoked" => "the user revoked the lease",
                        "lease_expired" => "the lease has ended",
                        "lease_key_rotated" => "the user rotated the VAPID key: this lease is bound to the old key",
                        "user_deleted" => "the user was deleted",
                        _ => "the KMS refused the credential, or the push service is not one of the lease's audiences",
                    };
                    // The KMS's message stays out of this line (it carries raw
                    // timestamps): the code says which refusal it was.
                    state.stop(
                        now_ms,
                        &code,
                        format!("{reason} (the KMS answered {code}): credential wiped, tokens discarded, no more pushes under this lease"),
                    );
                } else {
                    let wait = if code == "quota_exceeded" {
                        error.retry_after_ms.unwrap_or(RETRY_AFTER_ERROR_MS).min(MAX_QUOTA_WAIT_MS)
                    } else {
                        RETRY_AFTER_ERROR_MS
                    };
                    state.not_before_ms = now_ms.saturating_add(wait);
                    let message = clean(&error.message, 300);
                    state.log(
                        now_ms,
                        "error",
                        format!("the KMS answered {code} ({message}); asking again in {} s", wait / 1000),
                    );
                }
                Ok(Response::json(200, &json!({ "accepted": 0 })))
            }
            _ => Err(Refusal::bad("give either tokens or error")),
        }
    }

    /// The acceptance rules of the module's docs; on success the batch
    /// replaces the tokens held.
    fn accept(
        &self,
        state: &mut super::state::UserState,
        tokens: Vec<SignedJwt>,
        now_ms: u64,
    ) -> Result<usize, Refusal> {
        let c = &self.config;
        let now_s = now_ms / 1000;
        let n = tokens.len();
        if n == 0 || n > c.batch as usize {
            return Err(Refusal::bad(format!("a batch has 1 to {} tokens, not {n}", c.batch)));
        }
        let Some(origin) = state.subscription.as_ref().map(|s| s.origin().clone()) else {
            return Err(Refusal::new(409, "no_subscription", "no subscription to use tokens for"));
        };
        let latest_allowed = now_s.saturating_add(c.token_ttl_s).saturating_add(CLOCK_SKEW_S);
        let mut kid: Option<KeyId> = state.lease_kid.clone();
        let mut held = TokenHolder::new();
        let mut latest = 0;
        for token in tokens {
            let refuse = |why: String| Refusal::bad(format!("a token was refused, and its batch with it: {why}"));
            if token.exp <= now_s.saturating_add(MIN_TOKEN_LIFE_S) || token.exp > latest_allowed {
                return Err(refuse(format!(
                    "exp must be within ({MIN_TOKEN_LIFE_S} s, {} s] from now",
                    c.token_ttl_s + CLOCK_SKEW_S
                )));
            }
            match &kid {
                Some(k) if *k != token.kid => return Err(refuse("signed by another key than the lease's".into())),
                Some(_) => {}
                None => kid = Some(token.kid.clone()),
            }
            latest = latest.max(token.exp);
            held.insert(token).map_err(|e| refuse(e.to_string()))?;
        }
        if held.expiries().iter().any(|(aud, _, _)| **aud != origin) {
            return Err(Refusal::bad(format!("a token was refused, and its batch with it: aud is not {origin}")));
        }
        state.tokens = held;
        state.lease_kid = kid;
        state.short_batch = latest < now_s.saturating_add(c.refresh_margin_s);
        state.refresh_now = false;
        state.tokens_received += n as u64;
        let left = latest.saturating_sub(now_s);
        state.log(now_ms, "tokens", format!("{n} token(s) received; the last expires in {left} s"));
        Ok(n)
    }

    pub(super) fn refresh(&self, user: &UserId, now_ms: u64) -> Result<Response, Refusal> {
        let mut users = self.lock();
        let state = known_user(&mut users, user)?;
        if !matches!(state.lease, Lease::Active(_)) {
            return Err(Refusal::new(409, "no_active_lease", "no active lease to refresh"));
        }
        state.refresh_now = true;
        state.not_before_ms = 0;
        state.log(now_ms, "refresh", "refresh asked for");
        Ok(Response::json(200, &json!({ "refresh": true })))
    }
}

/// 16 random bytes, base64url: a token request id.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    kms_core::b64::encode(bytes)
}
