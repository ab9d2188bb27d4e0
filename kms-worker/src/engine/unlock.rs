//! Unlock (passphrase, passkey PRF, passkey gate), lock, and the ceremonies
//! that precede a passkey operation.

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::crypto::aad;
use kms_core::env::{Clock, UnixMillis};
use kms_core::ids::{EnrollmentId, UserId};
use kms_core::rpc::{
    GateBeginParams, GateBeginResult, PrfBeginResult, SessionParams, SessionResult, SessionStatus, UnlockCredential,
    UnlockParams, UserParams,
};
use kms_core::unlock::ceremony::CeremonyKind;
use kms_core::unlock::enrollment::RECORD_VERSION;
use kms_core::unlock::gate::{verify_assertion, ExpectedAssertion};
use kms_core::unlock::{passphrase, EnrollmentRecord, Method, MethodParams};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::state::{Found, Loaded, Throttles};
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};

/// How often a failed unlock's write is tried when it keeps losing races.
const FAILURE_WRITE_ATTEMPTS: u32 = 4;

/// What a successful credential check yields: the secret, and the record to
/// write back when the enrollment changed (a re-wrap, a new sign counter).
struct Unlocked<M> {
    master: M,
    updated: Option<EnrollmentRecord>,
    rewrapped: bool,
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn unlock(&mut self, cx: &mut CallContext, p: UnlockParams) -> EngineResult<SessionResult> {
        let now = self.clock.now_ms();
        // A passphrase no enrollment can have (empty, over the cap) is a
        // malformed request: refused before anything is read or counted.
        if let UnlockCredential::Passphrase { passphrase } = &p.credential {
            passphrase::PassphrasePolicy::check_offered(passphrase)?;
        }
        // A gate challenge is consumed first, before anything can fail, so
        // it is answered at most once.
        let gate = match &p.credential {
            UnlockCredential::PasskeyGate { ceremony_id, .. } => {
                match self.ceremonies.take(&p.user, ceremony_id, now)? {
                    CeremonyKind::GateChallenge { enrollment_id, challenge } => Some((enrollment_id, challenge)),
                    CeremonyKind::PrfSalt { .. } => {
                        return Err(CoreError::invalid("ceremony_id: not a gate challenge").into())
                    }
                }
            }
            _ => None,
        };
        let epoch = self.load_user(&p.user).await?.value.master_epoch;

        // Which enrollment.
        let found = match (&p.credential, &gate) {
            (UnlockCredential::Passphrase { .. }, _) => {
                self.find_enrollment(&p.user, p.enrollment_id.as_ref(), Method::Passphrase, |_| true).await?
            }
            (UnlockCredential::PasskeyPrf { credential_id, .. }, _) => {
                let pick = |r: &EnrollmentRecord| r.info().credential_id.as_deref() == Some(credential_id.as_str());
                self.find_enrollment(&p.user, p.enrollment_id.as_ref(), Method::PasskeyPrf, pick).await?
            }
            (UnlockCredential::PasskeyGate { .. }, Some((eid, _))) => {
                if p.enrollment_id.as_ref().is_some_and(|id| id != eid) {
                    return Err(CoreError::invalid("enrollment_id: does not match the challenge").into());
                }
                self.find_enrollment(&p.user, Some(eid), Method::PasskeyGate, |_| true).await?
            }
            (UnlockCredential::PasskeyGate { .. }, None) => {
                return Err(EngineError::internal("gate unlock without a challenge"))
            }
        };
        // A damaged record fails like a wrong credential, and counts as one.
        let (loaded, eid) = match found {
            Found::Record(l) => {
                let eid = l.value.id.clone();
                (Some(l), eid)
            }
            Found::Damaged(Loaded { value: Some(eid), .. }) => (None, eid),
            // Unnamed and unnameable (a key no id parses from): nothing to
            // count the failure against.
            Found::Damaged(Loaded { value: None, .. }) => return Err(CoreError::UnlockFailed.into()),
        };

        let method = match &p.credential {
            UnlockCredential::Passphrase { .. } => Method::Passphrase,
            UnlockCredential::PasskeyPrf { .. } => Method::PasskeyPrf,
            UnlockCredential::PasskeyGate { .. } => Method::PasskeyGate,
        }
        .as_str();
        // Throttle before any KDF or signature check runs.
        let throttle = self.load_throttles(&p.user, &eid).await?;
        throttle.check(&self.config, now)?;

        let checked = match &loaded {
            Some(l) => self.check_credential(cx, &p.user, &eid, l, p.credential, gate.map(|(_, c)| c)).await,
            None => Err(CoreError::UnlockFailed.into()),
        };
        match (checked, loaded) {
            (Ok(unlocked), Some(loaded)) => {
                let mut batch = WriteBatch::new();
                // Every unlock signs a checkpoint: the key is sealed under the
                // master secret, which is in hand now.
                let audit_record = self.load_audit_key(&p.user).await?;
                let audit_key = self.open_audit_key(&unlocked.master, &p.user, &audit_record.value).await?;
                // Keys still in the old sealed format are re-sealed in this
                // same write.
                let resealed = self.reseal_legacy_keys(&mut batch, &unlocked.master, &p.user, audit_record).await?;
                let mut entry = AuditRecord::new(EventKind::Unlock, Outcome::Ok)
                    .with_method(method)
                    .with_id("enrollment_id", eid.as_str());
                if unlocked.rewrapped {
                    entry = entry.with_reason("rewrapped");
                }
                if resealed.done > 0 {
                    entry = entry.with_id("resealed_keys", resealed.done.to_string());
                }
                if resealed.skipped > 0 {
                    entry = entry.with_id("reseal_skipped", resealed.skipped.to_string());
                }
                // Leases that ended while the user was away lose their sealed
                // keys now. A lease record that does not read back does not
                // stop the unlock: it is left to the calls that read leases.
                let mut entries = vec![entry];
                if let Ok(leases) = self.load_leases(&p.user).await {
                    entries.extend(Self::erase_ended(&mut batch, &leases, now)?);
                }
                let scope = AuditScope::User(p.user.clone());
                self.audit_into(cx, &mut batch, &scope, entries, Some(&audit_key), None).await?;
                throttle.delete_stored(&mut batch)?;
                if let Some(updated) = &unlocked.updated {
                    loaded.expect_unchanged(&mut batch)?;
                    batch.put(&loaded.key, updated.encode()?)?;
                }
                self.commit_audited(cx, batch).await?;
                let info = unlocked.updated.as_ref().unwrap_or(&loaded.value).info();
                let (session, expires_ms) = self.sessions.open_at(&p.user, unlocked.master, epoch, now, &mut self.rng);
                Ok(SessionResult { user: p.user, session, expires_ms, enrollment: info, rewrapped: unlocked.rewrapped })
            }
            (Err(e @ EngineError::Core(CoreError::UnlockFailed)), _) => {
                self.count_failure(cx, &p.user, &eid, method, throttle, now).await?;
                Err(e)
            }
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(EngineError::internal("unlocked without a record")),
        }
    }

    /// The one write a failed unlock makes: the failure counts (so that the
    /// back-off survives a reload) and its audit entry. A write that lost a
    /// race (another failure of the same user committed in between, or
    /// another write to the user's chain) is made again from what is stored
    /// then, so that no failure goes uncounted; the KDF does not run again.
    async fn count_failure(
        &mut self,
        cx: &mut CallContext,
        user: &UserId,
        eid: &EnrollmentId,
        method: &'static str,
        mut throttle: Throttles,
        now: UnixMillis,
    ) -> EngineResult<()> {
        let reason = cx.failure_reason.take().unwrap_or("unlock_failed");
        let mut attempt = 1;
        loop {
            let mut batch = WriteBatch::new();
            let failures = throttle.put_failed(&mut batch, &self.config, now)?;
            let entry = AuditRecord::new(EventKind::Unlock, Outcome::Failed)
                .with_method(method)
                .with_id("enrollment_id", eid.as_str())
                .with_reason(reason)
                .with_id("failures", failures.to_string());
            let scope = self.scope_for(user).await?;
            self.audit_into(cx, &mut batch, &scope, vec![entry], None, None).await?;
            match self.commit_audited(cx, batch).await {
                Err(e) if e.is_conflict() && attempt < FAILURE_WRITE_ATTEMPTS => {
                    attempt += 1;
                    throttle = self.load_throttles(user, eid).await?;
                }
                other => return other,
            }
        }
    }

    async fn check_credential(
        &mut self,
        cx: &mut CallContext,
        user: &UserId,
        eid: &EnrollmentId,
        loaded: &Loaded<EnrollmentRecord>,
        credential: UnlockCredential,
        gate_challenge: Option<[u8; 32]>,
    ) -> EngineResult<Unlocked<P::Master>> {
        let record = &loaded.value;
        let method = record.params.method();
        // The method's secret: the input key material of the wrapping key.
        let (ikm, passphrase, sign_count) = match credential {
            UnlockCredential::Passphrase { passphrase } => {
                let MethodParams::Passphrase(params) = &record.params else {
                    return Err(CoreError::UnlockFailed.into());
                };
                (self.run_pbkdf2(&passphrase, params).await?, Some(passphrase), None)
            }
            UnlockCredential::PasskeyPrf { prf_output, .. } => {
                // A malformed output is the caller's error, found first.
                let out = prf_output.bytes()?;
                if !matches!(record.params, MethodParams::PasskeyPrf(_)) {
                    return Err(CoreError::UnlockFailed.into());
                }
                (out, None, None)
            }
            UnlockCredential::PasskeyGate { assertion, .. } => {
                let MethodParams::PasskeyGate(gate) = &record.params else {
                    return Err(CoreError::UnlockFailed.into());
                };
                let challenge = gate_challenge.ok_or_else(|| EngineError::internal("no challenge"))?;
                let expected = ExpectedAssertion {
                    challenge: &challenge,
                    allowed_origins: &self.config.allowed_origins,
                    allowed_top_origins: &self.config.allowed_top_origins,
                    // The deployment's RP ID, never the record's: the record
                    // is in the store, whose writer must not pick the
                    // relying party an assertion is accepted for.
                    rp_id: &self.config.rp_id,
                };
                let count = verify_assertion(&gate.credential, &assertion, &expected).map_err(|e| {
                    // Coarse outward; the precise reason goes to the audit log.
                    cx.failure_reason = Some(e.reason());
                    CoreError::from(e)
                })?;
                (gate.gate_key().map_err(|_| CoreError::UnlockFailed)?, None, Some(count))
            }
        };
        // A record of another version, or whose parameters do not give a
        // key, fails like a wrong credential.
        if record.v != RECORD_VERSION {
            return Err(CoreError::UnlockFailed.into());
        }
        let (salt, info) = record.params.wrap_kdf(user, eid).map_err(|_| CoreError::UnlockFailed)?;
        let wrap = self.crypto.wrap_key(ikm, &salt, &info).await?;
        // The AAD is rebuilt from what was asked for (user, enrollment,
        // method), never read from the record.
        let aad = aad::master_wrap(user, eid, method);
        let master =
            self.crypto.unwrap_master(&wrap, &aad, &record.wrapped).await?.map_err(|_| CoreError::UnlockFailed)?;

        match (&record.params, passphrase, sign_count) {
            // Raise the work factor of an old record now that we know the
            // passphrase: a fresh salt, the current cost, same master.
            (MethodParams::Passphrase(params), Some(passphrase), _)
                if params.iterations < self.config.passphrase.iterations() =>
            {
                let new_params = MethodParams::Passphrase(self.config.passphrase.new_params(&mut self.rng));
                let MethodParams::Passphrase(p) = &new_params else {
                    return Err(EngineError::internal("passphrase parameters"));
                };
                let out = self.run_pbkdf2(&passphrase, p).await?;
                let wrap = self.enrollment_wrap_key(&new_params, out, user, eid).await?;
                let wrapped = self.crypto.rewrap_master(&master, &wrap, &aad, &mut self.rng).await?;
                let now = self.clock.now_ms();
                let mut updated =
                    EnrollmentRecord::from_wrapped(eid.clone(), record.label.clone(), new_params, wrapped, now)?;
                updated.created_ms = record.created_ms;
                Ok(Unlocked { master, updated: Some(updated), rewrapped: true })
            }
            (MethodParams::PasskeyGate(_), _, Some(count)) => {
                let mut updated = record.clone();
                if let MethodParams::PasskeyGate(g) = &mut updated.params {
                    g.credential.sign_count = count;
                }
                updated.updated_ms = self.clock.now_ms();
                Ok(Unlocked { master, updated: Some(updated), rewrapped: false })
            }
            _ => Ok(Unlocked { master, updated: None, rewrapped: false }),
        }
    }

    /// Locks a session, after appending `lock` and a signed checkpoint (the
    /// last chance to sign before the master secret leaves memory).
    ///
    /// A log found rewritten (`integrity`) still ends the session: a lock is
    /// never refused for what someone else did to the store. A storage
    /// failure keeps it (no audit, no result; the caller retries).
    pub(super) async fn lock(&mut self, cx: &mut CallContext, p: SessionParams) -> EngineResult<()> {
        let master = self.session_master(&p.user, &p.session).await?;
        let key = self.user_audit_key(&master, &p.user).await?;
        drop(master);
        let mut batch = WriteBatch::new();
        let scope = AuditScope::User(p.user.clone());
        let lock = vec![AuditRecord::new(EventKind::Lock, Outcome::Ok)];
        let audited = match self.audit_into(cx, &mut batch, &scope, lock, Some(&key), None).await {
            Ok(_) => self.commit_audited(cx, batch).await,
            Err(e) => Err(e),
        };
        let now = self.clock.now_ms();
        match audited {
            Ok(()) => Ok(self.sessions.lock(&p.user, &p.session, now)?),
            Err(e @ EngineError::Core(CoreError::AuditRewritten { .. })) => {
                self.sessions.lock(&p.user, &p.session, now)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn session_status(&mut self, p: SessionParams) -> EngineResult<SessionStatus> {
        let now = self.clock.now_ms();
        Ok(SessionStatus { expires_ms: self.sessions.expiry(&p.user, &p.session, now)? })
    }

    /// Offers a PRF salt for a new passkey enrollment. The user need not
    /// exist yet (setup with a passkey).
    pub(super) async fn prf_begin(&mut self, p: UserParams) -> EngineResult<PrfBeginResult> {
        let now = self.clock.now_ms();
        // The user may not exist yet (a PRF setup starts here), but a
        // deleted one is never set up again.
        match self.load_user(&p.user).await {
            Ok(_) => {}
            Err(EngineError::Core(CoreError::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
        let (ceremony_id, salt, expires_ms) = self.ceremonies.issue_prf_salt(&p.user, now, &mut self.rng);
        Ok(PrfBeginResult { ceremony_id, prf_salt: kms_core::b64::encode(salt), expires_ms })
    }

    /// Issues a single-use challenge for a gate-mode unlock.
    pub(super) async fn gate_begin(&mut self, p: GateBeginParams) -> EngineResult<GateBeginResult> {
        let now = self.clock.now_ms();
        self.load_user(&p.user).await?;
        let loaded =
            self.find_enrollment(&p.user, p.enrollment_id.as_ref(), Method::PasskeyGate, |_| true).await?.record()?;
        let MethodParams::PasskeyGate(gate) = &loaded.value.params else {
            return Err(EngineError::internal("enrollment method mismatch"));
        };
        let (ceremony_id, challenge, expires_ms) =
            self.ceremonies.issue_challenge(&p.user, &loaded.value.id, now, &mut self.rng);
        Ok(GateBeginResult {
            ceremony_id,
            enrollment_id: loaded.value.id.clone(),
            challenge: kms_core::b64::encode(challenge),
            rp_id: self.config.rp_id.clone(),
            credential_id: gate.credential.credential_id.clone(),
            expires_ms,
        })
    }
}
