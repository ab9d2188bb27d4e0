//! The typed client: one async method per RPC method.

use std::cell::Cell;

use kms_core::ids::{CeremonyId, EnrollmentId, UserId};
use kms_core::rpc::*;
use kms_core::secret::{Passphrase, PrfOutput};
use kms_core::session::SessionToken;
use kms_core::unlock::EnrollmentInfo;
use kms_core::vapid::{JwtRequest, SignedJwt, VapidPublicInfo};
use serde::de::DeserializeOwned;

use crate::error::ClientError;
use crate::transport::Transport;

/// A typed KMS client over a transport.
#[derive(Debug)]
pub struct KmsClient<T: Transport> {
    transport: T,
    next_id: Cell<u64>,
}

/// A user's open session, as returned by `setup` and `unlock`.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: UserId,
    pub token: SessionToken,
    pub expires_ms: u64,
}

impl From<&SessionResult> for Session {
    fn from(r: &SessionResult) -> Self {
        Self { user: r.user.clone(), token: r.session.clone(), expires_ms: r.expires_ms }
    }
}

impl Session {
    fn params(&self) -> SessionParams {
        SessionParams { user: self.user.clone(), session: self.token.clone() }
    }
}

impl<T: Transport> KmsClient<T> {
    /// A client over `transport`.
    pub fn new(transport: T) -> Self {
        Self { transport, next_id: Cell::new(1) }
    }

    /// Sends any call and returns its raw JSON result.
    pub async fn call_raw(&self, call: Call) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let request = Request::new(RequestId::Num(id), call).encode()?;
        let bytes = self.transport.round_trip(request).await?;
        let response = Response::decode(&bytes)?;
        match (&response.id, &response.outcome) {
            (Some(RequestId::Num(n)), _) if *n == id => {}
            // A request the KMS could not read far enough to find its id
            // (not JSON, over the size cap) is answered with `id: null`:
            // the client has one request in flight, so the error is its own.
            (None, Err(_)) => {}
            _ => return Err(ClientError::Protocol("response id does not match the request".into())),
        }
        Ok(response.outcome?)
    }

    async fn call<R: DeserializeOwned>(&self, call: Call) -> Result<R, ClientError> {
        let value = self.call_raw(call).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(sanitize(&e)))
    }

    /// Public facts about the KMS.
    pub async fn info(&self) -> Result<InfoResult, ClientError> {
        self.call(Call::Info(Empty {})).await
    }

    /// Sets up `user` with a first enrollment; returns an open session.
    pub async fn setup(
        &self,
        user: &UserId,
        enrollment: NewEnrollment,
        label: Option<String>,
    ) -> Result<SessionResult, ClientError> {
        self.call(Call::Setup(SetupParams { user: user.clone(), enrollment, label })).await
    }

    /// Sets up `user` with a passphrase.
    pub async fn setup_passphrase(&self, user: &UserId, passphrase: Passphrase) -> Result<SessionResult, ClientError> {
        self.setup(user, NewEnrollment::Passphrase { passphrase }, None).await
    }

    /// Unlocks with any credential.
    pub async fn unlock(
        &self,
        user: &UserId,
        enrollment_id: Option<EnrollmentId>,
        credential: UnlockCredential,
    ) -> Result<SessionResult, ClientError> {
        self.call(Call::Unlock(UnlockParams { user: user.clone(), enrollment_id, credential })).await
    }

    /// Unlocks with a passphrase.
    pub async fn unlock_passphrase(&self, user: &UserId, passphrase: Passphrase) -> Result<SessionResult, ClientError> {
        self.unlock(user, None, UnlockCredential::Passphrase { passphrase }).await
    }

    /// Unlocks with a passkey's PRF output.
    pub async fn unlock_prf(
        &self,
        user: &UserId,
        credential_id: &str,
        prf_output: PrfOutput,
    ) -> Result<SessionResult, ClientError> {
        self.unlock(user, None, UnlockCredential::PasskeyPrf { credential_id: credential_id.into(), prf_output }).await
    }

    /// Ends a session.
    pub async fn lock(&self, session: &Session) -> Result<(), ClientError> {
        let _: serde_json::Value = self.call(Call::Lock(session.params())).await?;
        Ok(())
    }

    /// A live session's expiry.
    pub async fn session_status(&self, session: &Session) -> Result<SessionStatus, ClientError> {
        self.call(Call::SessionStatus(session.params())).await
    }

    /// The user's enrollments, and the ids of damaged ones (records that no
    /// longer parse: they cannot unlock and should be removed).
    pub async fn list_enrollments(&self, user: &UserId) -> Result<EnrollmentList, ClientError> {
        self.call(Call::ListEnrollments(UserParams { user: user.clone() })).await
    }

    /// Whether `user` exists and the methods it unlocks with.
    pub async fn status(&self, user: &UserId) -> Result<StatusResult, ClientError> {
        self.call(Call::Status(UserParams { user: user.clone() })).await
    }

    /// Starts a PRF enrollment: the salt for `prf.eval.first`.
    pub async fn prf_begin(&self, user: &UserId) -> Result<PrfBeginResult, ClientError> {
        self.call(Call::PrfBegin(UserParams { user: user.clone() })).await
    }

    /// Starts a gate-mode unlock: the challenge to sign.
    pub async fn gate_begin(
        &self,
        user: &UserId,
        enrollment_id: Option<EnrollmentId>,
    ) -> Result<GateBeginResult, ClientError> {
        self.call(Call::GateBegin(GateBeginParams { user: user.clone(), enrollment_id })).await
    }

    /// Unlocks with a gate-mode assertion for the challenge `ceremony_id`.
    pub async fn unlock_gate(
        &self,
        user: &UserId,
        ceremony_id: CeremonyId,
        assertion: PublicKeyCredential,
    ) -> Result<SessionResult, ClientError> {
        self.unlock(user, None, UnlockCredential::PasskeyGate { ceremony_id, assertion: Box::new(assertion) }).await
    }

    /// Adds an enrollment.
    pub async fn add_enrollment(
        &self,
        session: &Session,
        enrollment: NewEnrollment,
        label: Option<String>,
    ) -> Result<EnrollmentInfo, ClientError> {
        self.call(Call::AddEnrollment(AddEnrollmentParams {
            user: session.user.clone(),
            session: session.token.clone(),
            enrollment,
            label,
        }))
        .await
    }

    /// Removes an enrollment (never the last one).
    pub async fn remove_enrollment(
        &self,
        session: &Session,
        enrollment_id: EnrollmentId,
    ) -> Result<RemoveResult, ClientError> {
        self.call(Call::RemoveEnrollment(RemoveEnrollmentParams {
            user: session.user.clone(),
            session: session.token.clone(),
            enrollment_id,
        }))
        .await
    }

    /// Re-wraps under a new passphrase.
    pub async fn change_passphrase(
        &self,
        session: &Session,
        enrollment_id: Option<EnrollmentId>,
        new_passphrase: Passphrase,
    ) -> Result<EnrollmentInfo, ClientError> {
        self.call(Call::ChangePassphrase(ChangePassphraseParams {
            user: session.user.clone(),
            session: session.token.clone(),
            enrollment_id,
            new_passphrase,
        }))
        .await
    }

    /// Replaces the user's master secret (after a compromise): the
    /// enrollments in `rewrap` wrap the new one, those in `remove` go, and
    /// gate-mode passkeys are wrapped again by the engine. `session` ends,
    /// with every other session of the user; the result carries the new one.
    pub async fn rekey(
        &self,
        session: &Session,
        rewrap: Vec<RekeyRewrap>,
        remove: Vec<EnrollmentId>,
    ) -> Result<RekeyResult, ClientError> {
        self.call(Call::Rekey(RekeyParams {
            user: session.user.clone(),
            session: session.token.clone(),
            rewrap,
            remove,
        }))
        .await
    }

    /// Generates the user's first VAPID key.
    pub async fn vapid_generate(&self, session: &Session) -> Result<VapidPublicInfo, ClientError> {
        self.call(Call::VapidGenerate(session.params())).await
    }

    /// Rotates the user's VAPID key.
    pub async fn vapid_rotate(&self, session: &Session) -> Result<RotateResult, ClientError> {
        self.call(Call::VapidRotate(session.params())).await
    }

    /// The user's VAPID public keys (no session needed).
    pub async fn vapid_public(&self, user: &UserId) -> Result<VapidKeys, ClientError> {
        self.call(Call::VapidPublic(UserParams { user: user.clone() })).await
    }

    /// Exports the user's audit log (ends with a freshly signed checkpoint;
    /// with `nonce`, a value the verifier chose, which that checkpoint signs:
    /// see `kms_core::audit::VerifyOptions::expected_nonce`).
    pub async fn audit_export(&self, session: &Session, nonce: Option<&str>) -> Result<AuditExportResult, ClientError> {
        let SessionParams { user, session } = session.params();
        self.call(Call::AuditExport(AuditExportParams { user, session, nonce: nonce.map(str::to_owned) })).await
    }

    /// Verifies an audit export inside the KMS (the same verifier as
    /// `kms_core::audit::verify_export`, which callers can also run locally).
    pub async fn audit_verify(&self, params: AuditVerifyParams) -> Result<kms_core::audit::VerifyReport, ClientError> {
        self.call(Call::AuditVerify(params)).await
    }

    /// Signs a VAPID JWT with the current key.
    pub async fn sign_jwt(&self, session: &Session, claims: JwtRequest) -> Result<SignedJwt, ClientError> {
        self.call(Call::SignJwt(SignJwtParams { user: session.user.clone(), session: session.token.clone(), claims }))
            .await
    }

    /// Deletes the session's user for good (every secret, lease and
    /// subscription; the id is never reused). Export the audit log first:
    /// afterwards no session can be opened to export it.
    pub async fn user_delete(&self, session: &Session) -> Result<UserDeleteResult, ClientError> {
        self.call(Call::UserDelete(UserDeleteParams {
            user: session.user.clone(),
            session: session.token.clone(),
            confirm: session.user.as_str().to_owned(),
        }))
        .await
    }
}

fn sanitize(e: &serde_json::Error) -> String {
    kms_core::rpc::error::sanitize_serde_error(e)
}
