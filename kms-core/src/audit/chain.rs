//! The chain: its state, the forward-secure MAC key, and [`append`].
//!
//! # Forward-secure MACs (Schneier–Kelsey 1999)
//!
//! Entry `seq = i` is MACed (HMAC-SHA256) with `K_i`, and
//! `K_{i+1} = SHA-256("kms-audit/v1/evolve" || K_i)`. After an append the
//! state holds only `K_{i+1}`; the previous state, with `K_i`, is dropped by
//! the caller (zeroized in memory) and overwritten in storage. SHA-256 is
//! one-way, so whoever steals a stored state holding `K_n` can MAC entries
//! `n, n+1, ...` but cannot compute `K_0 .. K_{n-1}`: the entries written
//! before the theft cannot be forged.
//!
//! - **User scope**: `K_0` is [`audit_mac_key0`], an HKDF subkey of the
//!   user's master secret (purpose `audit-mac`). Whoever can unlock can
//!   re-derive `K_0` and check every MAC of the log
//!   ([`super::VerifyOptions::mac_key0`]). A `rekey` replaces the master
//!   secret, hence `K_0`: its entry starts a segment under the new `K_0`
//!   ([`start_segment`]), an epoch the old `K_0` can neither forge nor
//!   check; the current `K_0` checks MACs from the last `rekey` on.
//! - **Instance scope**: there is no master secret, so `K_0` is random
//!   ([`AuditMacKey::generate`]) and is gone after the first append. Its MACs
//!   can only be checked forward from a key someone kept, i.e. in practice
//!   not at all: the instance chain relies on its hash links and signed
//!   checkpoints. Keeping `K_0` next to the state would not help: whoever
//!   reads the store could then forge every instance MAC.
//!
//! # Why the state holds a key in the clear
//!
//! Events must be recorded while the user is locked (a failed unlock, a
//! token issued under a lease), when no master secret is available to unseal
//! anything. So the current `K_n` is stored as is ([`ChainState`]
//! serializes it). That is what forward security is for: a copy of the
//! stored state lets its holder append to the chain, which the engine that
//! writes the storage could do anyway, and nothing more.

use hmac::{Hmac, Mac as _};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::entry::{entry_hash, genesis_hash, AuditEntry, AuditRecord, AuditScope};
use super::error::AuditError;
use crate::crypto::kdf;
use crate::ids::UserId;
use crate::secret::MasterSecret;

/// The HKDF purpose of a user's first MAC key.
pub const MAC_KEY_PURPOSE: &str = "audit-mac";
/// The domain-separation prefix of the key evolution.
const EVOLVE_PREFIX: &[u8] = b"kms-audit/v1/evolve";
/// The HKDF salt of every key derived from `K_0` (segment keys, the mark's
/// sealing key).
pub(crate) const K0_SALT: &[u8] = b"kms-audit/v1";
/// The HKDF info prefix of a segment key; the segment's first `seq` follows
/// as u64 big-endian.
const SEGMENT_INFO: &[u8] = b"kms-audit/v1/segment";
/// The version of [`ChainState`]'s stored layout.
const STATE_FORMAT: u32 = 1;

/// A chain's MAC key `K_i`: 32 bytes, zeroized on drop, printed as
/// `<redacted>`, not serializable on its own (only inside [`ChainState`]).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AuditMacKey([u8; 32]);

impl std::fmt::Debug for AuditMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditMacKey(<redacted>)")
    }
}

impl AuditMacKey {
    /// A random `K_0`, for the instance chain (no master secret exists).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A second copy (for a verifier that must keep its own). Deliberately
    /// not `Clone`: every copy is explicit and zeroized on drop.
    pub fn duplicate(&self) -> Self {
        Self(self.0)
    }

    /// `K_{i+1} = SHA-256("kms-audit/v1/evolve" || K_i)`.
    pub(crate) fn evolve(&self) -> Self {
        let mut next: [u8; 32] = Sha256::new().chain_update(EVOLVE_PREFIX).chain_update(self.0).finalize().into();
        let key = Self(next);
        next.zeroize();
        key
    }

    /// The first MAC key of the segment a `tamper_detected` entry at `seq`
    /// starts: `HKDF-SHA256(ikm = K_0, salt = "kms-audit/v1", info =
    /// "kms-audit/v1/segment" || u64be(seq))`. Only a holder of `K_0` (the
    /// engine in a session, a verifier given `K_0`) can compute it, so a
    /// writer of the store, who holds only the stored `K_n`, can neither
    /// forge a `tamper_detected` entry nor continue a segment it did not see
    /// start.
    pub fn segment(k0: &Self, seq: u64) -> Result<Self, AuditError> {
        let info = [SEGMENT_INFO, &seq.to_be_bytes()].concat();
        let mut out = Zeroizing::new([0u8; 32]);
        kdf::hkdf_sha256(&k0.0, K0_SALT, &info, out.as_mut())
            .map_err(|_| AuditError::Internal("segment key derivation failed".into()))?;
        Ok(Self(*out))
    }

    /// The key's bytes, for sealing it into a chain mark (`integrity`).
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key from bytes a chain mark sealed.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Whether two keys are equal, in constant time.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }

    /// HMAC-SHA256 of `msg` under this key.
    pub(crate) fn mac(&self, msg: &[u8]) -> Result<[u8; 32], AuditError> {
        // HMAC accepts keys of any length; the error cannot happen.
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0)
            .map_err(|_| AuditError::Internal("hmac key length refused".into()))?;
        m.update(msg);
        Ok(m.finalize().into_bytes().into())
    }

    /// Whether `entry.mac` is the MAC of the entry under this key, compared
    /// in constant time.
    pub(crate) fn verify_entry(&self, entry: &AuditEntry) -> bool {
        let (Ok(input), Ok(tag)) = (entry.mac_input(), crate::b64::decode_array::<32>(&entry.mac, "mac")) else {
            return false;
        };
        self.mac(&input).is_ok_and(|expected| bool::from(expected.ct_eq(&tag)))
    }
}

/// `K_0` of a user's chain: the HKDF subkey of the master secret with
/// purpose `audit-mac`, bound to the user. Whoever can unlock can re-derive
/// it to check every MAC of the user's log.
pub fn audit_mac_key0(master: &MasterSecret, user: &UserId) -> Result<AuditMacKey, AuditError> {
    let k = kdf::derive_subkey(master, user.as_str(), MAC_KEY_PURPOSE)
        .map_err(|_| AuditError::Internal("audit mac key derivation failed".into()))?;
    Ok(AuditMacKey(*k.expose()))
}

impl AuditMacKey {
    /// `K_0` as a crypto provider derived it: HKDF-SHA256 of the master
    /// secret with [`crate::crypto::kdf::SUBKEY_SALT`] and
    /// [`crate::crypto::kdf::subkey_info`]`(user, `[`MAC_KEY_PURPOSE`]`)`,
    /// the same bytes as [`audit_mac_key0`]. The MAC key is bytes on every
    /// platform: it evolves forward with each entry and is stored with the
    /// chain state.
    pub fn from_derived(bytes: zeroize::Zeroizing<[u8; 32]>) -> Self {
        Self(*bytes)
    }
}

/// What the engine stores per chain, next to the entries: the scope, the
/// next sequence number, the head (hash of the last entry, or the genesis
/// hash), and the current MAC key `K_{next_seq}`.
///
/// Stored form (JSON, `deny_unknown_fields`):
/// `{"v":1,"scope":"user:alice","next_seq":5,"head":"<b64url>","mac_key":"<b64url>"}`.
/// It holds a secret (`mac_key`, see the module docs on why it is stored in
/// the clear), so `Debug` redacts it and there is no `Clone`.
///
/// Storage is untrusted at rest: a state rolled back or swapped there makes
/// the engine write entries that do not link, which the verifier reports. The
/// engine must store each new entry and the new state in one atomic write,
/// with a precondition on the state it read, so that concurrent appends
/// never fork the chain or reuse a sequence number.
pub struct ChainState {
    scope: AuditScope,
    next_seq: u64,
    head: [u8; 32],
    mac_key: AuditMacKey,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainState")
            .field("scope", &self.scope)
            .field("next_seq", &self.next_seq)
            .field("head", &crate::b64::encode(self.head))
            .field("mac_key", &"<redacted>")
            .finish()
    }
}

impl ChainState {
    /// A state at `next_seq` with `head` and MAC key `mac_key` (a chain mark
    /// opened, in `integrity`).
    pub(crate) fn at(scope: AuditScope, next_seq: u64, head: [u8; 32], mac_key: AuditMacKey) -> Self {
        Self { scope, next_seq, head, mac_key }
    }

    /// A state at `next_seq` with `head`, from which only a new segment may
    /// be appended ([`start_segment`]): the engine places a
    /// `tamper_detected` entry where the stored pages really end when the
    /// stored state is not to be believed. Its MAC key is a placeholder
    /// (derived from `k0`, never used: [`start_segment`] MACs under the
    /// segment key and evolves from there).
    pub fn resume(scope: AuditScope, next_seq: u64, head: [u8; 32], k0: &AuditMacKey) -> Self {
        Self { scope, next_seq, head, mac_key: k0.evolve() }
    }

    /// The state of an empty chain: `next_seq` 0, head the genesis hash of
    /// the scope, MAC key `k0` ([`audit_mac_key0`] for a user,
    /// [`AuditMacKey::generate`] for the instance).
    pub fn genesis(scope: AuditScope, k0: AuditMacKey) -> Self {
        let head = genesis_hash(&scope);
        Self { scope, next_seq: 0, head, mac_key: k0 }
    }

    /// The chain's scope.
    pub fn scope(&self) -> &AuditScope {
        &self.scope
    }

    /// The sequence number the next entry gets, which is also the number of
    /// entries so far (the size a checkpoint of this state covers).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last entry (the genesis hash when empty).
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    /// [`ChainState::head`] as unpadded base64url.
    pub fn head_b64(&self) -> String {
        crate::b64::encode(self.head)
    }

    /// The current MAC key `K_{next_seq}` (for the engine's integrity check
    /// and chain marks only).
    pub(crate) fn mac_key(&self) -> &AuditMacKey {
        &self.mac_key
    }
}

/// Appends one record to a chain: returns the entry to store and the state
/// that replaces `state`. Pure; `state` is borrowed and untouched, so a
/// failure changes nothing.
///
/// Refuses (nothing appended): a record that breaks a cap
/// ([`AuditError::InvalidRecord`]), a `scope` other than the state's
/// ([`AuditError::ScopeMismatch`]: the engine read the state of another
/// chain), and a full chain. The scope is both a parameter and part of the
/// state on purpose: the caller says which chain it means, storage says
/// which chain it returned, and the two must agree.
///
/// The caller drops `state` afterwards (its key `K_i` is zeroized) and
/// overwrites the stored copy with the returned one, which holds only
/// `K_{i+1}`.
pub fn append(
    state: &ChainState,
    scope: &AuditScope,
    record: AuditRecord,
    ts_ms: u64,
) -> Result<(AuditEntry, ChainState), AuditError> {
    if starts_segment(record.event, record.outcome) {
        return Err(AuditError::InvalidRecord(format!(
            "{} entries start a segment (start_segment)",
            record.event.as_str()
        )));
    }
    append_under(state, scope, record, ts_ms, &state.mac_key)
}

/// Appends a `tamper_detected` or `rekey` record that starts a new segment
/// (for `rekey`, `k0` is the new master secret's): it links to
/// `state`'s head like any entry (the engine passes the state where the
/// stored pages really end, [`ChainState::resume`], so the rewritten
/// history stays in the chain as evidence), but it is MACed under [`AuditMacKey::segment`]`(k0,
/// seq)` instead of the stored key, which a writer of the store may have
/// chosen, and the keys after it evolve from there.
pub fn start_segment(
    state: &ChainState,
    scope: &AuditScope,
    record: AuditRecord,
    ts_ms: u64,
    k0: &AuditMacKey,
) -> Result<(AuditEntry, ChainState), AuditError> {
    if !starts_segment(record.event, record.outcome) {
        return Err(AuditError::InvalidRecord("only a tamper_detected or rekey entry starts a segment".into()));
    }
    let key = AuditMacKey::segment(k0, state.next_seq)?;
    append_under(state, scope, record, ts_ms, &key)
}

/// Whether an entry starts a segment: a `tamper_detected` entry (a new
/// segment after a rewrite the engine found) and a successful `rekey` (a new
/// epoch, under the new master secret's `K_0`). A `rekey` that failed
/// changed no key and is an ordinary entry.
pub(crate) fn starts_segment(kind: super::EventKind, outcome: super::Outcome) -> bool {
    match kind {
        super::EventKind::TamperDetected => true,
        super::EventKind::Rekey => outcome == super::Outcome::Ok,
        _ => false,
    }
}

/// The MAC key of entry `e` when the key evolved from the entry before it
/// is `evolved`: the segment key for an entry that starts a segment
/// ([`starts_segment`]), `evolved` otherwise. The one rule the engine's
/// check and the verifier share.
pub(crate) fn key_for(e: &AuditEntry, evolved: AuditMacKey, k0: &AuditMacKey) -> Result<AuditMacKey, AuditError> {
    if starts_segment(e.event, e.outcome) {
        AuditMacKey::segment(k0, e.seq)
    } else {
        Ok(evolved)
    }
}

fn append_under(
    state: &ChainState,
    scope: &AuditScope,
    record: AuditRecord,
    ts_ms: u64,
    mac_key: &AuditMacKey,
) -> Result<(AuditEntry, ChainState), AuditError> {
    if *scope != state.scope {
        return Err(AuditError::ScopeMismatch { state: state.scope.to_string(), requested: scope.to_string() });
    }
    record.validate()?;
    let seq = state.next_seq;
    let next_seq = seq.checked_add(1).ok_or(AuditError::ChainFull)?;
    let AuditRecord { event, outcome, method, ids, reason } = record;
    let mut entry = AuditEntry {
        seq,
        ts_ms,
        scope: state.scope.clone(),
        event,
        outcome,
        method,
        ids,
        reason,
        prev: crate::b64::encode(state.head),
        mac: String::new(),
    };
    let tag = mac_key.mac(&entry.mac_input()?)?;
    entry.mac = crate::b64::encode(tag);
    let head = entry_hash(&entry)?;
    let next = ChainState { scope: state.scope.clone(), next_seq, head, mac_key: mac_key.evolve() };
    Ok((entry, next))
}

/// The stored form of [`ChainState`]. Its copy of the key text is wiped
/// when it drops.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateWire {
    v: u32,
    scope: AuditScope,
    next_seq: u64,
    head: String,
    mac_key: String,
}

impl Drop for StateWire {
    fn drop(&mut self) {
        self.mac_key.zeroize();
    }
}

/// Writes the state for storage, MAC key included (see the type's docs).
impl Serialize for ChainState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StateWire {
            v: STATE_FORMAT,
            scope: self.scope.clone(),
            next_seq: self.next_seq,
            head: crate::b64::encode(self.head),
            mac_key: crate::b64::encode(self.mac_key.0),
        }
        .serialize(s)
    }
}

/// Reads a stored state; refuses another format version, unknown fields,
/// and a head or key that is not 32 bytes of base64url.
impl<'de> Deserialize<'de> for ChainState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let w = StateWire::deserialize(d)?;
        if w.v != STATE_FORMAT {
            return Err(D::Error::custom(format!("audit chain state: unsupported format version {}", w.v)));
        }
        let head = crate::b64::decode_array::<32>(&w.head, "head").map_err(D::Error::custom)?;
        let key = Zeroizing::new(crate::b64::decode_array::<32>(&w.mac_key, "mac_key").map_err(D::Error::custom)?);
        Ok(Self { scope: w.scope.clone(), next_seq: w.next_seq, head, mac_key: AuditMacKey(*key) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evolve_matches_its_definition_and_changes_the_key() {
        let k0 = AuditMacKey([3u8; 32]);
        let k1 = k0.evolve();
        let expected: [u8; 32] = Sha256::digest([b"kms-audit/v1/evolve".as_slice(), &[3u8; 32]].concat()).into();
        assert_eq!(k1.0, expected);
        assert_ne!(k1.0, k0.0);
        assert_ne!(k1.evolve().0, k1.0);
    }

    #[test]
    fn debug_is_redacted() {
        let s = ChainState::genesis(AuditScope::Instance, AuditMacKey([7u8; 32]));
        let shown = format!("{s:?} {:?}", AuditMacKey([7u8; 32]));
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&crate::b64::encode([7u8; 32])));
    }
}
