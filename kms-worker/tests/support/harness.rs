//! The harness: an engine over an inspectable in-memory store with a manual
//! clock, a seeded RNG and a logging PBKDF2; call helpers for both entry
//! points (`call(Call)` and `handle_json`), the common flows, and direct
//! store reads and edits (to play the attacker who can write the store).

use std::rc::Rc;

use futures::executor::block_on;
use kms_core::env::ManualClock;
use kms_core::ids::EnrollmentId;
use kms_core::rpc::{
    AddEnrollmentParams, Call, NewEnrollment, PrfBeginResult, RpcError, SessionParams, SessionResult, SetupParams,
    UnlockCredential, UnlockParams, UserParams,
};
use kms_core::secret::{Passphrase, PrfOutput};
use kms_core::session::SessionToken;
use kms_core::ErrorCode;
use kms_storage::{MemoryStore, Store, StoreKey, WriteBatch};
use kms_worker::{Kms, KmsConfig, Platform};
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{b64, is_audit_key, real_now_ms, uid, Engine, FakeFastPbkdf2, LoggingPbkdf2, Snapshot};

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
        let kms = Kms::new(
            Box::new(engine_store.clone()),
            Platform::native(clock.clone(), ChaCha20Rng::seed_from_u64(seed)).with_pbkdf2(Box::new(kdf.clone())),
            config,
        )
        .expect("engine");
        Self { store, engine_store, clock, kdf, kms, next_seed: seed.wrapping_add(1_000_003), next_id: 1 }
    }

    /// An engine with the fast fake KDF (fuzzing only).
    pub fn with_fake_kdf(seed: u64) -> Self {
        let mut h = Self::new(seed);
        h.kms = Kms::new(
            Box::new(h.engine_store.clone()),
            Platform::native(h.clock.clone(), ChaCha20Rng::seed_from_u64(seed)).with_pbkdf2(Box::new(FakeFastPbkdf2)),
            KmsConfig::default(),
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
        self.kms = Kms::new(
            Box::new(self.engine_store.clone()),
            Platform::native(self.clock.clone(), ChaCha20Rng::seed_from_u64(seed))
                .with_pbkdf2(Box::new(self.kdf.clone())),
            config,
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
            assert!(serde_json::from_value::<ErrorCode>(json!(code)).is_ok(), "unknown error code {code}");
            assert!(e["message"].is_string(), "error without message: {resp}");
        }
        _ => panic!("response has neither or both of result and error: {resp}"),
    }
    resp
}
