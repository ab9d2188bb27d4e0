//! The tamper-evident audit log: hash-chained, forward-secure MACed entries,
//! signed checkpoints, a documented export format, and one verifier.
//!
//! Pure like the rest of the core: no I/O, no clock (times come in as
//! `ts_ms`), no randomness of its own (a `CryptoRngCore` comes in where one
//! is needed). The engine stores each chain's [`ChainState`] and entries and
//! calls [`append`] for every audited operation, success or failure.
//!
//! # Structure
//!
//! - **Scopes** ([`AuditScope`]): one chain per user, and one for the
//!   instance. A user's export shows only that user's history.
//! - **Entries** ([`AuditEntry`]): what happened, to whom, when, by which
//!   method, with which ids; never a secret. Each carries `prev`, the
//!   SHA-256 of the previous entry ([`entry_hash`]), so editing, inserting,
//!   reordering or deleting anywhere breaks a link, and a MAC under a key
//!   that evolves forward after each entry ([`chain`]), so that a thief of
//!   the stored state cannot forge the entries written before the theft.
//! - **Checkpoints** ([`Checkpoint`]): the chain's size and head signed with
//!   the scope's ECDSA P-256 audit key ([`AuditSigningKey`]; a user's key is
//!   sealed under the master secret, so the engine signs at unlock, lock and
//!   export). A third party checks them with the public key alone, and any
//!   checkpoint it kept exposes a cut-off tail or an old copy.
//! - **Export** ([`write_export`], [`parse_export`], format in [`export`]).
//! - **Verification** ([`verify_export`]): the one function behind the
//!   engine's `verify` RPC, the browser and the CLI.
//!
//! # What each party can do (threat model of the log)
//!
//! | attacker | can | cannot |
//! | --- | --- | --- |
//! | writes the store at rest (no session) | append entries after the current head (it holds `K_n`, like the engine); delete the unsigned tail (entries after the last checkpoint) | forge or rewrite any entry before `n` under the MACs (needs `K_0..K_{n-1}`); make a user-scope checkpoint (the key is sealed); make an export whose entries disagree with a checkpoint someone holds |
//! | holds an export only | cut it back to one of its inner checkpoints and present that prefix as a complete, older export (the report's signed `exported_ms` then shows the older time; a newer checkpoint the verifier holds shows the rollback) | edit, insert, delete or reorder entries, or splice in another user's, and still verify under the real key |
//! | holds a user's master secret (can unlock) | everything for that user, as the KMS itself | forge checkpoints another verifier already holds (a fork is reported) |
//! | copies the store (instance scope) | sign instance checkpoints: the instance key is stored unsealed | rewrite instance history unseen by a verifier that kept an earlier instance checkpoint (reported as fork or rollback) |
//!
//! Truncating the unsigned tail is visible once the engine appends again:
//! the engine's stored state still holds `K_n` and the next entry is MACed
//! with it at a lower `seq`, so a MAC check from `K_0` fails there. What a
//! hash chain can never show on its own is a whole log replaced by an
//! older, consistent copy; that needs a checkpoint the verifier kept
//! ([`VerifyOptions::expected_checkpoints`]).
//!
//! # Example
//!
//! ```
//! use kms_core::audit::{self, AuditRecord, AuditScope, ChainState, Checkpoint, EventKind, Outcome};
//! use kms_core::ids::UserId;
//! use kms_core::secret::MasterSecret;
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0); // the platform's CSPRNG
//! # let master = MasterSecret::generate(&mut rng);
//! let user = UserId::parse("alice")?;
//! let scope = AuditScope::User(user.clone());
//!
//! // At setup (session open): the chain and the sealed audit key.
//! let mut state = ChainState::genesis(scope.clone(), audit::audit_mac_key0(&master, &user)?);
//! let key = audit::AuditSigningKey::generate(&mut rng)?;
//! let sealing = audit::audit_sealing_key(&master, &user)?;
//! let record = audit::AuditKeyRecord::create(&key, &sealing, &user, 1_000, &mut rng)?;
//!
//! // Every operation, locked or not: append and store entry + new state atomically.
//! let mut entries = Vec::new();
//! for (ts, outcome) in [(1_000, Outcome::Ok), (2_000, Outcome::Failed)] {
//!     let rec = AuditRecord::new(EventKind::Unlock, outcome).with_method("passphrase");
//!     let (entry, next) = audit::append(&state, &scope, rec, ts)?;
//!     entries.push(entry);
//!     state = next;
//! }
//!
//! // Export (session open): sign a fresh checkpoint and write the file.
//! let key = record.open(&sealing, &user)?;
//! let cp = Checkpoint::sign(&key, &state, 3_000)?;
//! let text = audit::write_export(&scope, key.public(), &entries, &[cp.clone()])?;
//!
//! // Anyone with the public key verifies it.
//! let opts = audit::VerifyOptions { expected_public_key: Some(key.public().clone()), ..Default::default() };
//! let report = audit::verify_export(&text, &opts);
//! assert!(report.valid, "{report}");
//! assert_eq!(report.entries, 2);
//! # Ok::<(), kms_core::CoreError>(())
//! ```

pub mod chain;
pub mod checkpoint;
pub mod entry;
pub mod error;
pub mod export;
pub mod integrity;
pub mod key;
pub mod repeat;
pub mod verify;

pub use chain::{append, audit_mac_key0, start_segment, AuditMacKey, ChainState};
pub use checkpoint::{check_nonce, checkpoint_text, Checkpoint, MAX_NONCE_LEN};
pub use entry::{
    entry_hash, genesis_hash, AuditEntry, AuditRecord, AuditScope, EventKind, Outcome, MAX_CODE_LEN, MAX_IDS,
    MAX_ID_KEY_LEN, MAX_ID_VALUE_LEN,
};
pub use error::AuditError;
pub use export::{
    parse_export, write_export, Export, ExportError, ExportHeader, EXPORT_FORMAT, EXPORT_VERSION, MAX_EXPORT_BYTES,
    MAX_EXPORT_CHECKPOINTS, MAX_EXPORT_ENTRIES, MAX_LINE_BYTES,
};
pub use integrity::{check_chain, BreakKind, ChainBreak, ChainMark};
pub use key::{audit_sealing_key, AuditKeyRecord, AuditPublicKey, AuditSigningKey, InstanceAuditKeyRecord};
pub use repeat::{RepeatRuns, Tally, REPEAT_WINDOW_MS};
pub use verify::{verify_export, Failure, FailureReason, VerifyOptions, VerifyReport, MAX_EXPECTED_CHECKPOINTS};
