//! Shared helpers of the engine's integration tests: an engine over an
//! inspectable in-memory store with a manual clock and a seeded RNG, a
//! PBKDF2 provider that logs every run, call helpers for both entry points
//! (`call(Call)` and `handle_json`), snapshot diffs, direct store edits (to
//! play the attacker who can write the store), and a software WebAuthn
//! authenticator for gate mode.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::executor::block_on;
use kms_core::env::ManualClock;
use kms_core::ids::{CeremonyId, EnrollmentId, UserId};
use kms_core::rpc::{
    AddEnrollmentParams, Call, NewEnrollment, PrfBeginResult, RpcError, SessionParams, SessionResult, SetupParams,
    UnlockCredential, UnlockParams, UserParams,
};
use kms_core::secret::{Passphrase, PrfOutput};
use kms_core::session::SessionToken;
use kms_core::ErrorCode;
use kms_storage::{MemoryStore, Store, StoreKey, WriteBatch};
use kms_worker::error::EngineResult;
use kms_worker::{Kms, KmsConfig, NativePbkdf2, Pbkdf2Provider};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The engine type every test drives.
pub type Engine = Kms<ManualClock, ChaCha20Rng>;
/// What `MemoryStore::snapshot` returns.
pub type Snapshot = BTreeMap<String, Vec<u8>>;

/// Default session lifetime (5 minutes), restated so a changed default
/// fails the tests instead of silently moving with them.
pub const SESSION_TTL_MS: u64 = 5 * 60 * 1000;
/// The PBKDF2 floor.
pub const FLOOR_ITERATIONS: u32 = 600_000;
/// The origin and RP ID of the default configuration.
pub const ORIGIN: &str = "http://localhost:8081";
pub const RP_ID: &str = "localhost";

/// Passphrases used across the tests (all at least 12 characters).
pub const PASS_A: &str = "correct horse battery staple";
pub const PASS_B: &str = "tr0ub4dor&3-but-longer";
pub const PASS_WRONG: &str = "definitely not the passphrase";

/// Now, in milliseconds, rounded down to a whole second. The clock starts
/// at the real time because jsonwebtoken checks `exp` against the system
/// clock; whole seconds keep JWT `exp` arithmetic exact.
pub fn real_now_ms() -> u64 {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    ms - ms % 1000
}

// ------------------------------------------------------------------ PBKDF2

/// A PBKDF2 provider that runs the real (native) PBKDF2 and logs the
/// iteration count of every run, so a test can prove that the KDF did, or
/// did not, run.
#[derive(Debug, Clone, Default)]
pub struct LoggingPbkdf2 {
    pub runs: Rc<RefCell<Vec<u32>>>,
}

#[async_trait(?Send)]
impl Pbkdf2Provider for LoggingPbkdf2 {
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> EngineResult<Zeroizing<[u8; 32]>> {
        self.runs.borrow_mut().push(iterations);
        NativePbkdf2.pbkdf2_sha256(password, salt, iterations).await
    }
}

/// NOT PBKDF2: a single SHA-256 of (iterations, salt, password), for the
/// fuzz test only, where thousands of requests must not each cost 600,000
/// HMAC rounds. Deterministic, so a passphrase still unlocks what it set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeFastPbkdf2;

#[async_trait(?Send)]
impl Pbkdf2Provider for FakeFastPbkdf2 {
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> EngineResult<Zeroizing<[u8; 32]>> {
        let mut h = Sha256::new();
        h.update(iterations.to_be_bytes());
        h.update((salt.len() as u64).to_be_bytes());
        h.update(salt);
        h.update(password);
        Ok(Zeroizing::new(h.finalize().into()))
    }
}

// ------------------------------------------------------------------ harness

/// An engine plus everything a test needs to look behind it.
pub struct Harness {
    /// The records, shared with the engine (directly, or under a wrapper).
    pub store: Rc<MemoryStore>,
    /// What the engine holds as its store; kept to restart over it.
    engine_store: Rc<dyn Store>,
    pub clock: ManualClock,
    pub kdf: LoggingPbkdf2,
    pub kms: Engine,
    next_seed: u64,
    next_id: u64,
}

impl Harness {
    /// Default configuration, empty store.
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, KmsConfig::default())
    }

    /// `config`, empty store.
    pub fn with_config(seed: u64, config: KmsConfig) -> Self {
        let store = Rc::new(MemoryStore::new());
        Self::over(seed, config, store.clone(), store)
    }

    /// An engine over `engine_store` (for example a `FailingStore` wrapping
    /// `store`), where `store` holds the records the test inspects.
    pub fn over(seed: u64, config: KmsConfig, engine_store: Rc<dyn Store>, store: Rc<MemoryStore>) -> Self {
        let clock = ManualClock::new(real_now_ms());
        let kdf = LoggingPbkdf2::default();
        let kms = Kms::with_pbkdf2(
            Box::new(engine_store.clone()),
            clock.clone(),
            ChaCha20Rng::seed_from_u64(seed),
            config,
            Box::new(kdf.clone()),
        )
        .expect("engine");
        Self { store, engine_store, clock, kdf, kms, next_seed: seed.wrapping_add(1_000_003), next_id: 1 }
    }

    /// An engine with the fast fake KDF (fuzzing only).
    pub fn with_fake_kdf(seed: u64) -> Self {
        let mut h = Self::new(seed);
        h.kms = Kms::with_pbkdf2(
            Box::new(h.engine_store.clone()),
            h.clock.clone(),
            ChaCha20Rng::seed_from_u64(seed),
            KmsConfig::default(),
            Box::new(FakeFastPbkdf2),
        )
        .expect("engine");
        h
    }

    /// Replaces the engine by a new one over the same store and clock (a
    /// page reload): sessions and ceremonies are gone, records stay. The new
    /// engine draws from a different RNG stream than the old one.
    pub fn restart(&mut self, config: KmsConfig) {
        let seed = self.next_seed;
        self.next_seed = self.next_seed.wrapping_add(1_000_003);
        self.kms = Kms::with_pbkdf2(
            Box::new(self.engine_store.clone()),
            self.clock.clone(),
            ChaCha20Rng::seed_from_u64(seed),
            config,
            Box::new(self.kdf.clone()),
        )
        .expect("engine");
    }

    // ---- driving the engine

    /// Runs one call through `Kms::call`.
    pub fn call(&mut self, call: Call) -> Result<Value, RpcError> {
        block_on(self.kms.call(call))
    }

    /// Runs a call that must succeed and decodes its result.
    pub fn ok<T: DeserializeOwned>(&mut self, call: Call) -> T {
        let name = call.name();
        match self.call(call) {
            Ok(v) => serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: undecodable result: {e}")),
            Err(e) => panic!("{name}: expected success, got {e}"),
        }
    }

    /// Runs a call that must fail and returns its error.
    pub fn err(&mut self, call: Call) -> RpcError {
        let name = call.name();
        match self.call(call) {
            Ok(v) => panic!("{name}: expected an error, got {v}"),
            Err(e) => e,
        }
    }

    /// Sends raw bytes through `handle_json` and returns the parsed
    /// response, after checking the envelope every response must have.
    pub fn raw(&mut self, bytes: &[u8]) -> Value {
        let out = block_on(self.kms.handle_json(bytes));
        check_envelope(&out)
    }

    /// Sends `{"v":1,"id":<n>,"method":..,"params":..}` through
    /// `handle_json`; checks the id is echoed and returns the outcome.
    pub fn rpc(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"v": 1, "id": id, "method": method, "params": params});
        let resp = self.raw(req.to_string().as_bytes());
        assert_eq!(resp["id"], json!(id), "{method}: id not echoed: {resp}");
        match (resp.get("result"), resp.get("error")) {
            (Some(r), None) => Ok(r.clone()),
            (None, Some(e)) => Err(e.clone()),
            _ => panic!("{method}: response has neither or both of result and error: {resp}"),
        }
    }

    /// `rpc` that must succeed.
    pub fn rpc_ok(&mut self, method: &str, params: Value) -> Value {
        self.rpc(method, params.clone()).unwrap_or_else(|e| panic!("{method} {params}: expected success, got {e}"))
    }

    /// `rpc` that must fail; returns the `error` object.
    pub fn rpc_err(&mut self, method: &str, params: Value) -> Value {
        match self.rpc(method, params.clone()) {
            Ok(r) => panic!("{method} {params}: expected an error, got {r}"),
            Err(e) => e,
        }
    }

    // ---- common flows

    /// Creates `user` with a passphrase enrollment (one PBKDF2 run).
    pub fn setup_passphrase(&mut self, user: &str, pass: &str) -> SessionResult {
        self.ok(Call::Setup(SetupParams {
            user: uid(user),
            enrollment: NewEnrollment::Passphrase { passphrase: Passphrase::new(pass) },
            label: None,
        }))
    }

    /// Unlocks `user` with a passphrase (the only passphrase enrollment).
    pub fn unlock_passphrase(&mut self, user: &str, pass: &str) -> Result<Value, RpcError> {
        self.unlock_passphrase_of(user, None, pass)
    }

    /// Unlocks `user` with a passphrase, naming the enrollment.
    pub fn unlock_passphrase_of(
        &mut self,
        user: &str,
        eid: Option<&EnrollmentId>,
        pass: &str,
    ) -> Result<Value, RpcError> {
        self.call(Call::Unlock(UnlockParams {
            user: uid(user),
            enrollment_id: eid.cloned(),
            credential: UnlockCredential::Passphrase { passphrase: Passphrase::new(pass) },
        }))
    }

    /// A PRF salt offer for `user`.
    pub fn prf_begin(&mut self, user: &str) -> PrfBeginResult {
        self.ok(Call::PrfBegin(UserParams { user: uid(user) }))
    }

    /// Creates `user` with a passkey PRF enrollment (no PBKDF2): a cheap way
    /// to a user with a session.
    pub fn setup_prf(&mut self, user: &str, credential: &[u8], prf_output: &[u8; 32]) -> SessionResult {
        let offer = self.prf_begin(user);
        self.ok(Call::Setup(SetupParams {
            user: uid(user),
            enrollment: NewEnrollment::PasskeyPrf {
                ceremony_id: offer.ceremony_id,
                credential_id: b64(credential),
                prf_output: PrfOutput::from_bytes(prf_output),
            },
            label: None,
        }))
    }

    /// Unlocks `user` with a PRF output for `credential`.
    pub fn unlock_prf(&mut self, user: &str, credential: &[u8], prf_output: &[u8]) -> Result<Value, RpcError> {
        self.call(Call::Unlock(UnlockParams {
            user: uid(user),
            enrollment_id: None,
            credential: UnlockCredential::PasskeyPrf {
                credential_id: b64(credential),
                prf_output: PrfOutput::from_bytes(prf_output),
            },
        }))
    }

    /// Adds a PRF enrollment (with a fresh offer) under `session`.
    pub fn add_prf(
        &mut self,
        user: &str,
        session: &SessionToken,
        credential: &[u8],
        prf_output: &[u8; 32],
    ) -> Result<Value, RpcError> {
        let offer = self.prf_begin(user);
        self.call(Call::AddEnrollment(AddEnrollmentParams {
            user: uid(user),
            session: session.clone(),
            enrollment: NewEnrollment::PasskeyPrf {
                ceremony_id: offer.ceremony_id,
                credential_id: b64(credential),
                prf_output: PrfOutput::from_bytes(prf_output),
            },
            label: None,
        }))
    }

    /// `{user, session}` parameters.
    pub fn session_params(user: &str, session: &SessionToken) -> SessionParams {
        SessionParams { user: uid(user), session: session.clone() }
    }

    // ---- the store, directly

    /// Every record except the audit log's, by key. The audit log is the
    /// one thing every operation writes, failed ones included (see
    /// `audit_snapshot` and the audit tests); "a failed operation changes
    /// nothing" is about everything else.
    pub fn snapshot(&self) -> Snapshot {
        self.store.snapshot().into_iter().filter(|(k, _)| !is_audit_key(k)).collect()
    }

    /// The audit log's records only.
    pub fn audit_snapshot(&self) -> Snapshot {
        self.store.snapshot().into_iter().filter(|(k, _)| is_audit_key(k)).collect()
    }

    /// The raw bytes under `key`.
    pub fn get_raw(&self, key: &str) -> Option<Vec<u8>> {
        self.store.snapshot().remove(key)
    }

    /// The record under `key`, parsed as JSON (panics if absent).
    pub fn record(&self, key: &str) -> Value {
        let bytes = self.get_raw(key).unwrap_or_else(|| panic!("no record under {key}"));
        serde_json::from_slice(&bytes).expect("record is JSON")
    }

    /// Writes `bytes` under `key` behind the engine's back.
    pub fn put_raw(&self, key: &str, bytes: Vec<u8>) {
        let mut b = WriteBatch::new();
        b.put(&StoreKey::new(key).expect("key"), bytes).expect("put");
        block_on(self.store.commit(b)).expect("commit");
    }

    /// Writes a JSON record under `key` behind the engine's back.
    pub fn put_record(&self, key: &str, value: &Value) {
        self.put_raw(key, serde_json::to_vec(value).expect("json"));
    }

    /// Deletes `key` behind the engine's back.
    pub fn delete_raw(&self, key: &str) {
        let mut b = WriteBatch::new();
        b.delete(&StoreKey::new(key).expect("key")).expect("delete");
        block_on(self.store.commit(b)).expect("commit");
    }

    /// How many PBKDF2 runs happened so far.
    pub fn kdf_runs(&self) -> usize {
        self.kdf.runs.borrow().len()
    }

    /// The iteration counts of every PBKDF2 run so far.
    pub fn kdf_log(&self) -> Vec<u32> {
        self.kdf.runs.borrow().clone()
    }

    pub fn now(&self) -> u64 {
        use kms_core::env::Clock as _;
        self.clock.now_ms()
    }
}

/// Checks that `out` is a well-formed response envelope (a JSON object with
/// `v: 1`, an `id` that is null, a number or a string, and exactly one of
/// `result` and `error`, an error having a known code and a string
/// message), and returns it parsed.
pub fn check_envelope(out: &[u8]) -> Value {
    let resp: Value = serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", String::from_utf8_lossy(out)));
    let obj = resp.as_object().unwrap_or_else(|| panic!("response is not an object: {resp}"));
    assert_eq!(obj.get("v"), Some(&json!(1)), "{resp}");
    assert!(matches!(obj.get("id"), Some(Value::Null | Value::Number(_) | Value::String(_))), "bad id in {resp}");
    for k in obj.keys() {
        assert!(matches!(k.as_str(), "v" | "id" | "result" | "error"), "unexpected member {k} in {resp}");
    }
    match (obj.get("result"), obj.get("error")) {
        (Some(_), None) => {}
        (None, Some(e)) => {
            let code = e["code"].as_str().unwrap_or_else(|| panic!("error without code: {resp}"));
            assert!(KNOWN_CODES.contains(&code), "unknown error code {code}");
            assert!(e["message"].is_string(), "error without message: {resp}");
        }
        _ => panic!("response has neither or both of result and error: {resp}"),
    }
    resp
}

/// Every error code of the protocol.
pub const KNOWN_CODES: &[&str] = &[
    "invalid_input",
    "not_found",
    "already_exists",
    "locked",
    "unlock_failed",
    "throttled",
    "forbidden",
    "storage",
    "internal",
    "lease_expired",
    "lease_revoked",
    "lease_key_rotated",
    "user_deleted",
    "quota_exceeded",
];

// ------------------------------------------------------------------ values

pub fn uid(s: &str) -> UserId {
    UserId::parse(s).expect("user id")
}

pub fn eid(s: &str) -> EnrollmentId {
    EnrollmentId::parse(s).expect("enrollment id")
}

pub fn cid(s: &str) -> CeremonyId {
    CeremonyId::parse(s).expect("ceremony id")
}

pub fn token(s: &str) -> SessionToken {
    SessionToken::parse(s).expect("session token")
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    kms_core::b64::encode(bytes)
}

pub fn b64d(s: &str) -> Vec<u8> {
    kms_core::b64::decode(s, 1 << 16, "test").expect("base64url")
}

/// The session of a `setup`/`unlock` result given as JSON.
pub fn session_of(v: &Value) -> SessionToken {
    token(v["session"].as_str().expect("session in result"))
}

/// Asserts `r` is an error with `code`, and returns the error.
#[track_caller]
pub fn expect_code(r: Result<Value, RpcError>, code: ErrorCode) -> RpcError {
    match r {
        Ok(v) => panic!("expected {code}, got success {v}"),
        Err(e) => {
            assert_eq!(e.code, code, "expected {code}, got {e}");
            e
        }
    }
}

/// Keys that were added, removed or changed between two snapshots.
pub fn changed_keys(before: &Snapshot, after: &Snapshot) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).cloned().collect()
}

/// The store keys of one user's records.
pub fn user_key(user: &str) -> String {
    format!("users/{user}/meta")
}
pub fn enrollment_key(user: &str, eid: &str) -> String {
    format!("users/{user}/enrollments/{eid}")
}
pub fn throttle_key(user: &str, eid: &str) -> String {
    format!("users/{user}/throttle/{eid}")
}
pub fn vapid_key(user: &str, kid: &str) -> String {
    format!("users/{user}/vapid/{kid}")
}

/// A deterministic, non-zero 32-byte "PRF output" for tests.
pub fn prf_bytes(tag: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    ChaCha20Rng::seed_from_u64(u64::from(tag) + 0x5052_4600).fill_bytes(&mut out);
    out
}

// ------------------------------------------------------------------ WebAuthn

/// Authenticator data flags (WebAuthn L3 §6.1).
pub const UP: u8 = 1 << 0;
pub const UV: u8 = 1 << 2;

/// `clientDataJSON` as a browser serializes it for `navigator.credentials.get`.
pub fn client_data_json(type_: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    format!(r#"{{"type":"{type_}","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#, b64(challenge))
        .into_bytes()
}

/// `SHA-256(rp_id) || flags || signCount (u32 BE)`, no extensions.
pub fn authenticator_data(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
    let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
    data.push(flags);
    data.extend_from_slice(&sign_count.to_be_bytes());
    data
}

/// A software WebAuthn authenticator holding one ES256 credential.
#[derive(Debug, Clone)]
pub struct SoftAuthenticator {
    key: SigningKey,
    pub credential_id: Vec<u8>,
}

impl SoftAuthenticator {
    /// A P-256 key and a 16-byte credential id from a ChaCha20 RNG seeded
    /// with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let key = SigningKey::random(&mut rng);
        let mut credential_id = vec![0u8; 16];
        rng.fill_bytes(&mut credential_id);
        Self { key, credential_id }
    }

    /// base64url of the credential id.
    pub fn credential_id_b64(&self) -> String {
        b64(&self.credential_id)
    }

    /// The 65-byte uncompressed SEC1 point.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.key.verifying_key().to_encoded_point(false).as_bytes().to_vec()
    }

    /// The `NewEnrollment` registering this credential in gate mode.
    pub fn gate_enrollment(&self) -> NewEnrollment {
        NewEnrollment::PasskeyGate { credential_id: self.credential_id_b64(), public_key: b64(self.public_key_sec1()) }
    }

    /// A valid assertion over `challenge` (UP and UV set) with `sign_count`,
    /// as the browser's `PublicKeyCredential.toJSON()`.
    pub fn assert(&self, challenge: &[u8], sign_count: u32) -> Value {
        self.assert_with(
            client_data_json("webauthn.get", challenge, ORIGIN),
            authenticator_data(RP_ID, UP | UV, sign_count),
        )
    }

    /// An assertion over the given parts, signed with this key, claiming
    /// this credential.
    pub fn assert_with(&self, client_data_json: Vec<u8>, authenticator_data: Vec<u8>) -> Value {
        let mut msg = authenticator_data.clone();
        msg.extend_from_slice(&Sha256::digest(&client_data_json));
        let sig: Signature = self.key.sign(&msg);
        assertion_json(&self.credential_id, &client_data_json, &authenticator_data, sig.to_der().as_bytes())
    }
}

/// `PublicKeyCredential.toJSON()` of an assertion (WebAuthn L3 §5.1.8,
/// `AuthenticationResponseJSON`).
pub fn assertion_json(
    credential_id: &[u8],
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
) -> Value {
    json!({
        "id": b64(credential_id),
        "rawId": b64(credential_id),
        "response": {
            "clientDataJSON": b64(client_data_json),
            "authenticatorData": b64(authenticator_data),
            "signature": b64(signature),
            "userHandle": b64(b"user-handle-1"),
        },
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "type": "public-key",
    })
}

/// The assertion JSON as the typed value `Call::Unlock` carries.
pub fn assertion_credential(v: &Value) -> Box<kms_core::rpc::PublicKeyCredential> {
    Box::new(serde_json::from_value(v.clone()).expect("PublicKeyCredential JSON"))
}

// ------------------------------------------------------------------ JWT

/// RFC 7638 thumbprint of a P-256 JWK, computed here independently of the
/// engine: SHA-256 over the required members in lexicographic order.
pub fn rfc7638_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64(Sha256::digest(canonical.as_bytes()))
}

/// The claims of a VAPID JWT, as jsonwebtoken decodes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VapidClaims {
    pub aud: String,
    pub exp: u64,
    pub sub: String,
    #[serde(default)]
    pub jti: Option<String>,
}

/// Verifies `jwt` with jsonwebtoken (an independent implementation) against
/// the P-256 key `(x, y)` (JWK coordinates), requiring ES256, `aud`, `exp`
/// (not expired, no leeway) and `sub`.
pub fn verify_jwt(jwt: &str, x: &str, y: &str, aud: &str) -> Result<VapidClaims, jsonwebtoken::errors::Error> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let key = DecodingKey::from_ec_components(x, y)?;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v.leeway = 0;
    jsonwebtoken::decode::<VapidClaims>(jwt, &key, &v).map(|d| d.claims)
}

// ------------------------------------------------------------------ races

/// A store that lets a test play a concurrent writer: a batch armed with
/// [`RacingStore::before_next_commit`] is committed to the shared records
/// just before the engine's next commit, i.e. after the engine read what it
/// read and before it writes. The engine's preconditions must then refuse
/// to overwrite the interloper's change.
#[derive(Debug)]
pub struct RacingStore {
    inner: Rc<MemoryStore>,
    interloper: RefCell<Option<WriteBatch>>,
}

impl RacingStore {
    pub fn new(inner: Rc<MemoryStore>) -> Self {
        Self { inner, interloper: RefCell::new(None) }
    }

    /// Commits `batch` right before the engine's next commit.
    pub fn before_next_commit(&self, batch: WriteBatch) {
        *self.interloper.borrow_mut() = Some(batch);
    }

    /// Whether the armed batch is still waiting (the engine never committed).
    pub fn armed(&self) -> bool {
        self.interloper.borrow().is_some()
    }
}

#[async_trait(?Send)]
impl Store for RacingStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, kms_storage::StoreError> {
        self.inner.get(key).await
    }

    async fn list(
        &self,
        prefix: &kms_storage::KeyPrefix,
        limit: usize,
    ) -> Result<Vec<(StoreKey, Vec<u8>)>, kms_storage::StoreError> {
        self.inner.list(prefix, limit).await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), kms_storage::StoreError> {
        let interloper = self.interloper.borrow_mut().take();
        if let Some(first) = interloper {
            self.inner.commit(first).await.expect("the interloper's commit");
        }
        self.inner.commit(batch).await
    }
}

/// A batch putting `value` under `key`.
pub fn put_batch(key: &str, value: Vec<u8>) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(&StoreKey::new(key).expect("key"), value).expect("put");
    b
}

/// A batch deleting `key`.
pub fn delete_batch(key: &str) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.delete(&StoreKey::new(key).expect("key")).expect("delete");
    b
}

/// Asserts that `user`'s record differs between the snapshots only by one
/// more enrollment change (its `enrollment_epoch`, the counter that makes
/// concurrent enrollment changes conflict).
#[track_caller]
pub fn assert_epoch_bumped(before: &Snapshot, after: &Snapshot, user: &str) {
    let key = user_key(user);
    let parse = |s: &Snapshot| -> Value { serde_json::from_slice(&s[&key]).expect("user record") };
    let (mut b, a) = (parse(before), parse(after));
    let epoch = b["enrollment_epoch"].as_u64().unwrap_or(0);
    b["enrollment_epoch"] = json!(epoch + 1);
    assert_eq!(a, b, "the user record changes by its enrollment epoch only");
}

/// Whether a store key belongs to an audit chain.
pub fn is_audit_key(key: &str) -> bool {
    key.starts_with("instance/audit/") || (key.starts_with("users/") && key.split('/').nth(2) == Some("audit"))
}
