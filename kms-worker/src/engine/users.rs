//! `info` and `setup`, and building a new enrollment (shared with
//! `add_enrollment`).

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::env::Clock;
use kms_core::ids::{EnrollmentId, UserId};
use kms_core::rpc::{InfoResult, NewEnrollment, SessionResult, SetupParams, METHOD_NAMES, PROTOCOL_VERSION};
use kms_core::unlock::ceremony::CeremonyKind;
use kms_core::unlock::gate::GateCredential;
use kms_core::unlock::{gate_wrap, passphrase, prf, EnrollmentRecord, MethodParams};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout;
use crate::records::UserRecord;

/// A new enrollment before its record exists: its id, its parameters and
/// the key that is to wrap the master secret.
pub(super) struct NewWrap<K> {
    pub id: EnrollmentId,
    pub params: MethodParams,
    pub wrap: K,
}

impl<K> NewWrap<K> {
    /// The AAD the master secret is wrapped with for `user`.
    pub fn aad(&self, user: &UserId) -> Vec<u8> {
        kms_core::crypto::aad::master_wrap(user, &self.id, self.params.method())
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) fn info(&self) -> EngineResult<InfoResult> {
        Ok(InfoResult {
            protocol_version: PROTOCOL_VERSION,
            kms_version: env!("CARGO_PKG_VERSION").into(),
            pbkdf2_iterations: self.config.passphrase.iterations(),
            min_passphrase_chars: self.config.passphrase.min_chars(),
            session_ttl_ms: self.config.session_ttl_ms,
            rp_id: self.config.rp_id.clone(),
            methods: METHOD_NAMES.iter().map(|m| (*m).to_owned()).collect(),
            build: None,
        })
    }

    /// `status`: whether `p.user` exists (in this app) and the methods its
    /// intact enrollments offer. No session: it says no more than
    /// `list_enrollments`, which needs none either.
    pub(super) async fn status(&self, p: kms_core::rpc::UserParams) -> EngineResult<kms_core::rpc::StatusResult> {
        use kms_core::rpc::{StatusResult, UserState};
        let state = match self.load_user(&p.user).await {
            Ok(_) => UserState::SetUp,
            Err(EngineError::Core(CoreError::NotFound(_))) => UserState::Unknown,
            Err(EngineError::Core(CoreError::UserDeleted(_))) => UserState::Deleted,
            Err(e) => return Err(e),
        };
        let mut methods = Vec::new();
        if state == UserState::SetUp {
            methods = self.load_enrollments(&p.user).await?.ok.iter().map(|l| l.value.params.method()).collect();
            methods.sort_by_key(|m| m.as_str());
            methods.dedup();
        }
        Ok(StatusResult { user: p.user, state, methods, session: None })
    }

    /// Creates a user: a fresh master secret, wrapped by its first
    /// enrollment, written atomically with the user record on the condition
    /// that the user does not exist. A user is never set up twice: there is
    /// no silent replacement of a master secret.
    pub(super) async fn setup(&mut self, cx: &mut CallContext, p: SetupParams) -> EngineResult<SessionResult> {
        let now = self.clock.now_ms();
        let user_key = layout::user(&p.user)?;
        if let Some(bytes) = self.get(&user_key).await? {
            if UserRecord::decode(&bytes, &p.user)?.deleted_ms.is_some() {
                return Err(CoreError::UserDeleted(format!("user {} was deleted; its id is not reused", p.user)).into());
            }
            return Err(CoreError::AlreadyExists(format!("user {}", p.user)).into());
        }
        let new = self.new_enrollment(&p.user, p.enrollment, &[]).await?;
        let (master, wrapped) = self.crypto.new_master(&new.wrap, &new.aad(&p.user), &mut self.rng).await?;
        let record = EnrollmentRecord::from_wrapped(new.id, p.label, new.params, wrapped, now)?;
        let user = UserRecord::new(p.user.clone(), now);

        let chain = self.new_user_chain(&master, &p.user).await?;
        let scope = AuditScope::User(p.user.clone());

        let mut batch = WriteBatch::new();
        batch.expect_absent(&user_key)?;
        batch.put(&user_key, user.encode()?)?;
        batch.put(&layout::enrollment(&p.user, &record.id)?, record.encode()?)?;
        let audit_key = layout::audit_signing_key(&scope)?;
        batch.expect_absent(&audit_key)?;
        batch.put(
            &audit_key,
            serde_json::to_vec(&chain.key_record).map_err(|_| EngineError::internal("encode audit key"))?,
        )?;
        let entry = AuditRecord::new(EventKind::Setup, Outcome::Ok)
            .with_method(record.params.method().as_str())
            .with_id("enrollment_id", record.id.as_str());
        self.audit_into(cx, &mut batch, &scope, vec![entry], Some(&chain.signing), Some(chain.state)).await?;
        self.store.commit(batch).await.map_err(|e| match e {
            kms_storage::StoreError::Conflict { .. } => {
                EngineError::from(CoreError::AlreadyExists(format!("user {}", p.user)))
            }
            other => other.into(),
        })?;
        self.promote_tails(cx);
        cx.audited = true;

        let (session, expires_ms) = self.sessions.open(&p.user, master, now, &mut self.rng);
        Ok(SessionResult { user: p.user, session, expires_ms, enrollment: record.info(), rewrapped: false })
    }

    /// The parameters and wrapping key of a new enrollment (the caller
    /// wraps the master secret under it). `existing` are the user's current
    /// enrollments, to refuse duplicates.
    pub(super) async fn new_enrollment(
        &mut self,
        user: &UserId,
        new: NewEnrollment,
        existing: &[EnrollmentRecord],
    ) -> EngineResult<NewWrap<P::WrapKey>> {
        let now = self.clock.now_ms();
        let id = EnrollmentId::generate(&mut self.rng);
        let same_credential = |cred: &str| existing.iter().any(|r| r.info().credential_id.as_deref() == Some(cred));
        let (params, ikm) = match new {
            NewEnrollment::Passphrase { passphrase } => {
                self.config.passphrase.check(&passphrase)?;
                let params = self.config.passphrase.new_params(&mut self.rng);
                let out = self.run_pbkdf2(&passphrase, &params).await?;
                (MethodParams::Passphrase(params), out)
            }
            NewEnrollment::PasskeyPrf { ceremony_id, credential_id, prf_output } => {
                // The salt must be one this KMS offered to this user, once.
                let salt = match self.ceremonies.take(user, &ceremony_id, now)? {
                    CeremonyKind::PrfSalt { salt } => salt,
                    CeremonyKind::GateChallenge { .. } => {
                        return Err(CoreError::invalid("ceremony_id: not a PRF enrollment ceremony").into())
                    }
                };
                if same_credential(&credential_id) {
                    return Err(CoreError::AlreadyExists("an enrollment of this credential".into()).into());
                }
                let params = prf::new_params(&credential_id, &salt, &mut self.rng)?;
                (MethodParams::PasskeyPrf(params), prf_output.bytes()?)
            }
            NewEnrollment::PasskeyGate { credential_id, public_key } => {
                let cred = GateCredential::new(&credential_id, &public_key, &self.config.rp_id)?;
                if same_credential(&credential_id) {
                    return Err(CoreError::AlreadyExists("an enrollment of this credential".into()).into());
                }
                let params = gate_wrap::new_params(cred, &mut self.rng);
                let gate_key = params.gate_key()?;
                (MethodParams::PasskeyGate(params), gate_key)
            }
        };
        let wrap = self.enrollment_wrap_key(&params, ikm, user, &id).await?;
        Ok(NewWrap { id, params, wrap })
    }

    /// The wrapping key of enrollment `id` with `params`, from the method's
    /// secret `ikm` (wiped by the provider).
    pub(super) async fn enrollment_wrap_key(
        &self,
        params: &MethodParams,
        ikm: zeroize::Zeroizing<[u8; 32]>,
        user: &UserId,
        id: &EnrollmentId,
    ) -> EngineResult<P::WrapKey> {
        let (salt, info) = params.wrap_kdf(user, id)?;
        self.crypto.wrap_key(ikm, &salt, &info).await
    }

    /// PBKDF2 through the platform provider, with the record's parameters.
    pub(super) async fn run_pbkdf2(
        &self,
        passphrase: &kms_core::secret::Passphrase,
        params: &passphrase::PassphraseParams,
    ) -> EngineResult<zeroize::Zeroizing<[u8; 32]>> {
        let salt = params.checked_salt()?;
        self.pbkdf2.pbkdf2_sha256(passphrase.as_bytes(), &salt, params.iterations).await
    }
}
