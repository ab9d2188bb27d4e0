//! The engine: decodes a request, runs it, encodes the response.

mod audit;
mod context;
mod delete;
mod enrollments;
mod lease;
mod migrate;
mod rekey;
mod repeats;
mod state;
mod subscription;
mod unlock;
mod users;
mod vapid;

use kms_core::audit::{AuditRecord, EventKind, Outcome};
use kms_core::env::Clock;
use kms_core::ids::UserId;
use kms_core::rpc::{Call, NewEnrollment, Request, Response, RpcError, UnlockCredential};
use kms_core::session::Sessions;
use kms_core::unlock::ceremony::CeremonyBook;
use kms_core::vapid::VapidPublicKey;
use kms_core::{CoreError, ErrorCode};
use kms_storage::Store;
use rand_core::CryptoRngCore;
use serde::Serialize;
use serde_json::Value;

use crate::config::KmsConfig;
use crate::crypto::{CryptoProvider, NativeCrypto};
use crate::error::{EngineError, EngineResult};
use crate::pbkdf2::Pbkdf2Provider;
use crate::platform::Platform;
use context::CallContext;

/// Runs of one request at most.
const MAX_ATTEMPTS: usize = 4;

/// The shortest pause before a request's second run; each later run waits
/// twice as long, plus up to as much again at random.
const RETRY_BASE_MS: u64 = 25;

/// A KMS instance: one store, its platform (clock, RNG, PBKDF2), the sessions
/// and pending ceremonies in memory.
pub struct Kms<C: Clock, R: CryptoRngCore, P: CryptoProvider = NativeCrypto> {
    store: Box<dyn Store>,
    clock: C,
    rng: R,
    pbkdf2: Box<dyn Pbkdf2Provider>,
    crypto: P,
    config: KmsConfig,
    /// Each session holds its master secret and, once used, its current
    /// VAPID key with that key's public half.
    sessions: Sessions<P::Master, (P::Signer, VapidPublicKey)>,
    ceremonies: CeremonyBook,
    /// The audit chains' last committed pages ([`audit::AuditTail`]), so an
    /// append does not re-read and re-parse a page it wrote itself.
    tails: Vec<audit::AuditTail>,
    /// VAPID public keys by user and kid, for lease batches (a kid is the
    /// thumbprint of its key, so an entry never goes stale).
    public_keys: std::cell::RefCell<Vec<(UserId, kms_core::ids::KeyId, VapidPublicKey)>>,
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> std::fmt::Debug for Kms<C, R, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("config", &self.config)
            .field("sessions", &self.sessions.len())
            .field("ceremonies", &self.ceremonies.len())
            .finish_non_exhaustive()
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// An engine over `store` on `platform` (clock, RNG, PBKDF2 provider).
    /// Fails only on a configuration out of range.
    pub fn new(store: Box<dyn Store>, platform: Platform<C, R, P>, config: KmsConfig) -> EngineResult<Self> {
        let sessions = Sessions::with_ttl(config.session_ttl_ms)?;
        let lease_range = kms_core::lease::MIN_LIFETIME_S..=kms_core::lease::MAX_LIFETIME_S;
        if !lease_range.contains(&config.max_lease_lifetime_s) {
            return Err(CoreError::invalid(format!(
                "max_lease_lifetime_s: must be {} to {} (30 days)",
                lease_range.start(),
                lease_range.end()
            ))
            .into());
        }
        let ceremonies = CeremonyBook::new(config.ceremony_ttl_ms);
        let Platform { clock, rng, pbkdf2, crypto } = platform;
        Ok(Self {
            store,
            clock,
            rng,
            pbkdf2,
            crypto,
            config,
            sessions,
            ceremonies,
            tails: Vec::new(),
            public_keys: std::cell::RefCell::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KmsConfig {
        &self.config
    }

    /// Handles one JSON request and returns the JSON response. Total: any
    /// bytes give a well-formed response.
    pub async fn handle_json(&mut self, bytes: &[u8]) -> Vec<u8> {
        let response = match Request::decode(bytes) {
            Ok(req) => {
                let retry = req.call.retries_on_conflict();
                let mut outcome = self.run(req.call).await;
                let mut attempts = 1;
                // A lost race wrote nothing: an operation whose every run
                // starts from what is stored now is simply run again.
                while retry && attempts < MAX_ATTEMPTS && outcome.as_ref().is_err_and(EngineError::is_conflict) {
                    attempts += 1;
                    // Apart in time, and not in step with the other writer:
                    // 25 to 50 ms, then 50 to 100, then 100 to 200.
                    let base = RETRY_BASE_MS << (attempts - 2);
                    let jitter = u64::from(self.rng.next_u32()) % base;
                    self.clock.pause(base + jitter).await;
                    outcome = match Request::decode(bytes) {
                        Ok(again) => self.run(again.call).await,
                        // The same bytes decoded once already; kept total all the same.
                        Err((_, e)) => return Response { v: req.v, id: Some(req.id), outcome: Err(e) }.encode(),
                    };
                }
                Response { v: req.v, id: Some(req.id), outcome: outcome.map_err(RpcError::from) }
            }
            Err((id, e)) => Response::err(id, e),
        };
        response.encode()
    }

    /// Runs one call and returns its result as JSON, or the error as the
    /// caller sees it.
    pub async fn call(&mut self, call: Call) -> Result<Value, RpcError> {
        self.run(call).await.map_err(RpcError::from)
    }

    /// Runs one call: the operation, then the audit of its failure (unless
    /// it audited itself), then the purge of expired sessions.
    async fn run(&mut self, call: Call) -> EngineResult<Value> {
        let hint = audit_hint(&call);
        let mut cx = CallContext::default();
        let mut outcome = self.dispatch(&mut cx, call).await;
        if let (Err(e), Some((user, event, record))) = (&outcome, hint) {
            if !cx.audited {
                // A refused or failed operation is audited too. If even that
                // write fails, the caller gets the failed write, not the
                // refusal: no answer leaves without its entry.
                let code = e.code();
                let kind = match code {
                    ErrorCode::UnlockFailed | ErrorCode::Storage | ErrorCode::Internal => Outcome::Failed,
                    _ => Outcome::Refused,
                };
                let mut rec = AuditRecord { event, outcome: kind, ..record };
                rec.reason = Some(code.as_str().to_owned());
                // Tails of a batch that never committed are dropped first.
                cx.pending_tails.clear();
                // A refusal that repeats the last one is counted, not
                // appended (anyone can repeat some of them at will).
                let audited = match self.scope_for(&user).await {
                    Ok(scope) => self.audit_refusal(&mut cx, &scope, rec).await,
                    Err(e) => Err(e),
                };
                if let Err(audit_error) = audited {
                    outcome = Err(audit_error);
                }
            }
        }
        // Expired secrets leave memory whenever the engine runs. (After the
        // call, so that the call itself can say "expired" rather than "no
        // session".)
        self.sessions.purge_expired(self.clock.now_ms());
        outcome
    }

    async fn dispatch(&mut self, cx: &mut CallContext, call: Call) -> EngineResult<Value> {
        match call {
            Call::Info(_) => json(self.info()),
            Call::Setup(p) => json(self.setup(cx, p).await),
            Call::Unlock(p) => json(self.unlock(cx, p).await),
            Call::Lock(p) => json(self.lock(cx, p).await.map(|()| serde_json::json!({}))),
            Call::SessionStatus(p) => json(self.session_status(p)),
            Call::ListEnrollments(p) => json(self.list_enrollments(p).await),
            Call::PrfBegin(p) => json(self.prf_begin(p).await),
            Call::GateBegin(p) => json(self.gate_begin(p).await),
            Call::AddEnrollment(p) => json(self.add_enrollment(cx, p).await),
            Call::RemoveEnrollment(p) => json(self.remove_enrollment(cx, p).await),
            Call::ChangePassphrase(p) => json(self.change_passphrase(cx, p).await),
            Call::VapidGenerate(p) => json(self.vapid_generate(cx, p).await),
            Call::VapidRotate(p) => json(self.vapid_rotate(cx, p).await),
            Call::VapidPublic(p) => json(self.vapid_public(p).await),
            Call::SignJwt(p) => json(self.sign_jwt(cx, p).await),
            Call::AuditExport(p) => json(self.audit_export(cx, p).await),
            Call::AuditVerify(p) => json(self.audit_verify(p).await),
            Call::SubscriptionAdd(p) => json(self.subscription_add(cx, p).await),
            Call::SubscriptionList(p) => json(self.subscription_list(p).await),
            Call::SubscriptionRemove(p) => json(self.subscription_remove(cx, p).await),
            Call::LeaseCreate(p) => json(self.lease_create(cx, p).await),
            Call::LeaseList(p) => json(self.lease_list(cx, p).await),
            Call::LeaseRevoke(p) => json(self.lease_revoke(cx, p).await),
            Call::LeaseExtend(p) => json(self.lease_extend(cx, p).await),
            Call::LeaseIssue(p) => json(self.lease_issue(cx, p).await),
            Call::LeaseCourier(p) => json(self.lease_courier(cx, p).await),
            Call::UserDelete(p) => json(self.user_delete(cx, p).await),
            Call::Rekey(p) => json(self.rekey(cx, p).await),
            Call::Status(p) => json(self.status(p).await),
        }
    }
}

fn json<T: Serialize>(r: EngineResult<T>) -> EngineResult<Value> {
    r.and_then(|v| serde_json::to_value(v).map_err(|_| EngineError::internal("could not encode result")))
}

/// For an audited method: the user, the event, and what the entry says
/// before the outcome is known. Public reads (info, lists, public keys,
/// ceremony starts) are not audited.
fn audit_hint(call: &Call) -> Option<(UserId, EventKind, AuditRecord)> {
    let blank = |e| AuditRecord::new(e, Outcome::Refused);
    Some(match call {
        Call::Setup(p) => {
            (p.user.clone(), EventKind::Setup, blank(EventKind::Setup).with_method(new_method(&p.enrollment)))
        }
        Call::Unlock(p) => {
            let mut r = blank(EventKind::Unlock).with_method(match &p.credential {
                UnlockCredential::Passphrase { .. } => "passphrase",
                UnlockCredential::PasskeyPrf { .. } => "passkey_prf",
                UnlockCredential::PasskeyGate { .. } => "passkey_gate",
            });
            if let Some(id) = &p.enrollment_id {
                r = r.with_id("enrollment_id", id.as_str());
            }
            (p.user.clone(), EventKind::Unlock, r)
        }
        Call::Lock(p) => (p.user.clone(), EventKind::Lock, blank(EventKind::Lock)),
        Call::AddEnrollment(p) => (
            p.user.clone(),
            EventKind::EnrollmentAdd,
            blank(EventKind::EnrollmentAdd).with_method(new_method(&p.enrollment)),
        ),
        Call::RemoveEnrollment(p) => (
            p.user.clone(),
            EventKind::EnrollmentRemove,
            blank(EventKind::EnrollmentRemove).with_id("enrollment_id", p.enrollment_id.as_str()),
        ),
        Call::ChangePassphrase(p) => (p.user.clone(), EventKind::PassphraseChange, blank(EventKind::PassphraseChange)),
        Call::VapidGenerate(p) => (p.user.clone(), EventKind::KeyGenerate, blank(EventKind::KeyGenerate)),
        Call::VapidRotate(p) => (p.user.clone(), EventKind::KeyRotate, blank(EventKind::KeyRotate)),
        Call::SignJwt(p) => (p.user.clone(), EventKind::JwtSign, blank(EventKind::JwtSign)),
        Call::AuditExport(p) => (p.user.clone(), EventKind::Export, blank(EventKind::Export)),
        Call::SubscriptionAdd(p) => (p.user.clone(), EventKind::SubscriptionAdd, blank(EventKind::SubscriptionAdd)),
        Call::SubscriptionRemove(p) => (
            p.user.clone(),
            EventKind::SubscriptionRemove,
            blank(EventKind::SubscriptionRemove).with_id("subscription_id", p.id.as_str()),
        ),
        Call::LeaseCreate(p) => (p.user.clone(), EventKind::LeaseCreate, blank(EventKind::LeaseCreate)),
        Call::LeaseRevoke(p) => (
            p.user.clone(),
            EventKind::LeaseRevoke,
            blank(EventKind::LeaseRevoke).with_id("lease_id", p.lease_id.as_str()),
        ),
        Call::LeaseExtend(p) => (
            p.user.clone(),
            EventKind::LeaseExtend,
            blank(EventKind::LeaseExtend).with_id("lease_id", p.lease_id.as_str()),
        ),
        Call::LeaseIssue(p) => (
            p.user.clone(),
            EventKind::LeaseToken,
            blank(EventKind::LeaseToken)
                .with_id("lease_id", p.credential.lease_id().as_str())
                .with_id("aud", &p.request.aud),
        ),
        Call::LeaseCourier(p) => (
            p.user.clone(),
            EventKind::LeaseToken,
            blank(EventKind::LeaseToken).with_id("lease_id", p.lease_id.as_str()).with_id("via", "courier"),
        ),
        Call::UserDelete(p) => (p.user.clone(), EventKind::UserDelete, blank(EventKind::UserDelete)),
        Call::Rekey(p) => (p.user.clone(), EventKind::Rekey, blank(EventKind::Rekey)),
        _ => return None,
    })
}

fn new_method(e: &NewEnrollment) -> &'static str {
    match e {
        NewEnrollment::Passphrase { .. } => "passphrase",
        NewEnrollment::PasskeyPrf { .. } => "passkey_prf",
        NewEnrollment::PasskeyGate { .. } => "passkey_gate",
    }
}
