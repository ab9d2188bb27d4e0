//! The engine's own check of a user's stored chain, before it vouches for
//! it with a signed checkpoint.
//!
//! # Why
//!
//! A writer of the store holds the current MAC key `K_n` (the chain state
//! keeps it in the clear so that events can be recorded while the user is
//! locked). Such a writer can cut entries and reset the stored state to
//! match; if the engine then signed a checkpoint over what it found, the
//! user's own key would vouch for the cut log. A live session holds the
//! master secret, hence `K_0`, hence every MAC key: so before signing, the
//! engine checks the stored chain against keys the writer cannot know.
//!
//! # Incremental, from a sealed mark
//!
//! Checking from `K_0` costs one HMAC and one hash per entry, read from
//! storage. To keep unlock's cost flat, the engine seals a [`ChainMark`]
//! whenever it signs a checkpoint: the `seq`, head and MAC key `K_m` of the
//! chain at that point, as the engine itself computed them, sealed
//! (AES-256-GCM) under a key derived from `K_0`. The next check starts from
//! the mark and covers only the entries written since (those of the
//! session, and those written while the user was locked: failed unlocks,
//! tokens issued under leases). Without a mark (a chain from before marks
//! existed, or a mark the writer deleted) the check starts at `K_0` and the
//! genesis hash, which is only slower.
//!
//! What a writer of the store can and cannot do then:
//! - It cannot forge a mark (it needs `K_0`), nor move one to another user
//!   or position (the AAD binds user, `seq` and head).
//! - It cannot remove, alter, insert or reorder an entry after the mark and
//!   have the engine sign over it: the entries after the mark must link
//!   from the mark's head and verify under keys evolved from `K_m`, and the
//!   stored state must be exactly where they lead.
//! - It can roll the whole store back to a copy it kept (entries, state and
//!   mark together, all genuine at the time): no store can tell its own
//!   rollback. A checkpoint that a verifier kept, or a fresh export with a
//!   nonce, shows it.
//! - From a copy of the state taken after the mark, it can cut the entries
//!   written after that copy and before the next mark (the entries written
//!   while the user was locked, say): they were MACed under keys it held.
//!   The next checkpoint fixes them; a relay that keeps its token receipts
//!   sees the gap.
//!
//! # On a mismatch
//!
//! [`check_chain`] names the first bad `seq` and what was wrong there
//! ([`ChainBreak`]). The engine then appends a `tamper_detected` entry with
//! [`super::chain::start_segment`]: it links to the last entry the stored
//! pages hold (the rewritten history stays in the chain as evidence; the
//! engine places it there, from [`ChainState::resume`], whatever the stored
//! state claimed) but is MACed under a
//! segment key derived from `K_0`, and a new mark follows it. A later check
//! resumes after the last authentic `tamper_detected` entry, so one rewrite
//! is reported once, and every export shows it.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::chain::{key_for, AuditMacKey, ChainState, K0_SALT};
use super::entry::{entry_hash, AuditEntry, AuditScope, EventKind};
use super::error::AuditError;
use crate::crypto::{aad, aead, kdf};
use crate::ids::UserId;

/// The version of [`ChainMark`]'s stored layout.
const MARK_FORMAT: u32 = 1;
/// The HKDF salt of the key that seals chain marks (its input is `K_0`).
pub const MARK_KEY_SALT: &[u8] = K0_SALT;
/// The HKDF info of the key that seals chain marks.
pub const MARK_KEY_INFO: &[u8] = b"kms-audit/v1/mark";

/// A sealed point of a user's chain that the engine verified or wrote
/// itself: `seq` (the chain's `next_seq` there) and head in the clear, the
/// MAC key `K_seq` sealed.
///
/// Stored form (JSON, `deny_unknown_fields`):
/// `{"v":1,"seq":12,"head":"<b64url>","sealed":"<b64url nonce || ciphertext || tag>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainMark {
    v: u32,
    seq: u64,
    head: String,
    sealed: String,
}

fn mark_key(k0: &AuditMacKey) -> Result<crate::secret::Key256, AuditError> {
    kdf::hkdf_key(k0.expose(), MARK_KEY_SALT, MARK_KEY_INFO)
        .map_err(|_| AuditError::Internal("mark key derivation".into()))
}

/// The parts a crypto provider needs to seal and open a mark itself (the
/// engine's path: in the browser the AES-GCM runs in WebCrypto):
/// `HKDF-SHA256(ikm = `[`ChainMark::key_material`]`, salt = `[`MARK_KEY_SALT`]`,
/// info = `[`MARK_KEY_INFO`]`)` is the key, and these are the AAD and
/// plaintext. [`ChainMark::seal`] and [`ChainMark::open`] do the same in
/// Rust.
impl ChainMark {
    /// A copy of `K_0`, the input of the mark key's HKDF.
    pub fn key_material(k0: &AuditMacKey) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(*k0.expose())
    }

    /// What to seal for `state` of `user`'s chain: the AAD and the MAC key.
    pub fn to_seal(state: &ChainState, user: &UserId) -> Result<(Vec<u8>, zeroize::Zeroizing<[u8; 32]>), AuditError> {
        if *state.scope() != AuditScope::User(user.clone()) {
            return Err(AuditError::ScopeMismatch {
                state: state.scope().to_string(),
                requested: AuditScope::User(user.clone()).to_string(),
            });
        }
        let aad = aad::audit_mark(user, state.next_seq(), &state.head());
        Ok((aad, zeroize::Zeroizing::new(*state.mac_key().expose())))
    }

    /// The mark of `state`, with its sealed MAC key.
    pub fn from_sealed(state: &ChainState, sealed: &aead::Sealed) -> Self {
        Self { v: MARK_FORMAT, seq: state.next_seq(), head: state.head_b64(), sealed: sealed.to_b64() }
    }

    /// The AAD to open this mark for `user` with, and its sealed blob
    /// ([`AuditError::Integrity`] for another format or a malformed field).
    pub fn to_open(&self, user: &UserId) -> Result<(Vec<u8>, aead::Sealed), AuditError> {
        if self.v != MARK_FORMAT {
            return Err(AuditError::Integrity);
        }
        let head = crate::b64::decode_array::<32>(&self.head, "head").map_err(|_| AuditError::Integrity)?;
        let sealed = aead::Sealed::from_b64(&self.sealed).map_err(|_| AuditError::Integrity)?;
        Ok((aad::audit_mark(user, self.seq, &head), sealed))
    }

    /// The chain state the mark sealed, given its opened MAC key.
    pub fn opened(&self, user: &UserId, mac_key: &[u8; 32]) -> Result<ChainState, AuditError> {
        let head = crate::b64::decode_array::<32>(&self.head, "head").map_err(|_| AuditError::Integrity)?;
        Ok(ChainState::at(AuditScope::User(user.clone()), self.seq, head, AuditMacKey::from_bytes(*mac_key)))
    }
}

impl ChainMark {
    /// Seals `state` (a state of `user`'s chain the engine computed itself)
    /// under the key derived from `k0`.
    pub fn seal(
        state: &ChainState,
        user: &UserId,
        k0: &AuditMacKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, AuditError> {
        let (aad, secret) = Self::to_seal(state, user)?;
        let sealed = aead::seal(&mark_key(k0)?, &aad, secret.as_ref(), rng)
            .map_err(|_| AuditError::Internal("mark seal".into()))?;
        Ok(Self::from_sealed(state, &sealed))
    }

    /// The chain position the mark is at (the `next_seq` of the state it
    /// sealed).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Opens the mark into the chain state it sealed. Every failure (another
    /// format, another user, a moved or altered mark, a wrong `k0`) is
    /// [`AuditError::Integrity`].
    pub fn open(&self, user: &UserId, k0: &AuditMacKey) -> Result<ChainState, AuditError> {
        let (aad, sealed) = self.to_open(user)?;
        let plain = aead::open(&mark_key(k0)?, &aad, &sealed).map_err(|_| AuditError::Integrity)?;
        let key: zeroize::Zeroizing<[u8; 32]> =
            zeroize::Zeroizing::new(plain.as_slice().try_into().map_err(|_| AuditError::Integrity)?);
        self.opened(user, &key)
    }
}

/// What was wrong at the first bad position. The names appear in the
/// `tamper_detected` entry (`found`) and the `integrity` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The entry at this position carries another `seq` (entries were
    /// removed, inserted or reordered).
    SeqGap,
    /// The entry's `prev` is not the hash of the entry before it.
    LinkBroken,
    /// The entry's MAC does not verify under the key evolved from `K_0`.
    MacMismatch,
    /// The stored chain state is not where the entries lead (its head, its
    /// MAC key, or a `next_seq` below the entries present).
    StateMismatch,
    /// Fewer entries are stored than the chain state, or the engine's last
    /// mark, says exist.
    EntriesMissing,
    /// A stored page of entries does not parse.
    Unreadable,
}

impl BreakKind {
    /// The name as it appears in entries and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SeqGap => "seq_gap",
            Self::LinkBroken => "link_broken",
            Self::MacMismatch => "mac_mismatch",
            Self::StateMismatch => "state_mismatch",
            Self::EntriesMissing => "entries_missing",
            Self::Unreadable => "unreadable",
        }
    }
}

/// Where a stored chain stops being the one the engine wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first `seq` that is not as the engine wrote it.
    pub first_bad_seq: u64,
    /// What was wrong there.
    pub kind: BreakKind,
}

/// Checks a user's stored chain from `anchor` (an opened [`ChainMark`], or
/// [`ChainState::genesis`] with `K_0`) to the stored `state`: `entries` are
/// the stored entries at positions `anchor.next_seq()` onwards, in stored
/// order. Every entry must carry its position as `seq`, link to the hash
/// before it, and verify under its key (evolved from the anchor's, or the
/// segment key for a `tamper_detected` entry); the stored state must hold
/// the head, `next_seq` and MAC key the entries lead to.
///
/// A break that an authentic `tamper_detected` entry later in the chain
/// already reported is passed over: checking resumes at the last such
/// entry. Pure: no I/O; cost is one hash and one HMAC per entry.
pub fn check_chain(
    anchor: &ChainState,
    entries: &[AuditEntry],
    state: &ChainState,
    k0: &AuditMacKey,
) -> Result<(), ChainBreak> {
    let mut start = 0usize;
    let mut from = Position { seq: anchor.next_seq(), head: anchor.head(), key: anchor.mac_key().duplicate() };
    // From genesis (no mark), a `rekey` entry starts the epoch of this
    // `k0`: the entries before it are under the previous master secret's
    // keys, which the engine checked when it re-keyed and no longer holds.
    // From a mark, never: the rekey sealed a new mark under the new `k0`
    // (older marks do not open under it), so a mark is never before the
    // last rekey, and the mark's position must stay the walk's lower bound.
    if let Some(j) = (anchor.next_seq() == 0).then(|| epoch_start(anchor, entries, k0)).flatten() {
        let head = match j.checked_sub(1).and_then(|i| entries.get(i)) {
            Some(before) => entry_hash(before).ok(),
            None => Some(anchor.head()),
        };
        if let (Some(e), Some(head)) = (entries.get(j), head) {
            from = Position { seq: e.seq, head, key: k0.duplicate() };
            start = j;
        }
    }
    loop {
        let rest = entries.get(start..).unwrap_or_default();
        let (at, found) = match walk(rest, from, state, k0) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(j) = resume_point(entries, start.saturating_add(at), k0) else {
            return Err(found);
        };
        let (Some(e), Some(before)) = (entries.get(j), j.checked_sub(1).and_then(|i| entries.get(i))) else {
            return Err(found);
        };
        let head = entry_hash(before).map_err(|_| found)?;
        // The key is not used for the `tamper_detected` entry itself (its
        // segment key is), and evolves from there.
        from = Position { seq: e.seq, head, key: k0.duplicate() };
        start = j;
    }
}

/// Where a walk starts: the `seq` and head expected next, and the key
/// evolved to that point.
struct Position {
    seq: u64,
    head: [u8; 32],
    key: AuditMacKey,
}

/// Walks `entries` from `from`; on a break, its index in `entries`
/// (`entries.len()` for a state that does not match the end).
fn walk(
    entries: &[AuditEntry],
    from: Position,
    state: &ChainState,
    k0: &AuditMacKey,
) -> Result<(), (usize, ChainBreak)> {
    let Position { mut seq, mut head, mut key } = from;
    let start_seq = seq;
    let brk = |i: usize, seq: u64, kind: BreakKind| (i, ChainBreak { first_bad_seq: seq, kind });
    for (i, e) in entries.iter().enumerate() {
        if e.seq != seq {
            return Err(brk(i, seq, BreakKind::SeqGap));
        }
        if e.prev != crate::b64::encode(head) {
            return Err(brk(i, seq, BreakKind::LinkBroken));
        }
        let k = key_for(e, key, k0).map_err(|_| brk(i, seq, BreakKind::MacMismatch))?;
        if !k.verify_entry(e) {
            return Err(brk(i, seq, BreakKind::MacMismatch));
        }
        head = entry_hash(e).map_err(|_| brk(i, seq, BreakKind::LinkBroken))?;
        key = k.evolve();
        seq = seq.saturating_add(1);
    }
    let end = entries.len();
    // The state is behind the point the walk started from (the engine's
    // mark): the log was cut back past what the engine last saw.
    if state.next_seq() < start_seq {
        return Err(brk(end, state.next_seq(), BreakKind::EntriesMissing));
    }
    if state.next_seq() > seq {
        return Err(brk(end, seq, BreakKind::EntriesMissing));
    }
    if state.next_seq() < seq || state.head() != head || !state.mac_key().same_as(&key) {
        return Err(brk(end, state.next_seq().min(seq), BreakKind::StateMismatch));
    }
    Ok(())
}

/// The index of the last authentic `rekey` entry: one at its stored
/// position, that links to the entry stored before it (or to the anchor)
/// and whose MAC verifies under the segment key of its `seq` from `k0`,
/// which only a holder of the current master secret can compute.
fn epoch_start(anchor: &ChainState, entries: &[AuditEntry], k0: &AuditMacKey) -> Option<usize> {
    (0..entries.len()).rev().find(|&j| {
        let Some(e) = entries.get(j).filter(|e| e.event == EventKind::Rekey && e.outcome == super::entry::Outcome::Ok)
        else {
            return false;
        };
        let at = u64::try_from(j).ok().and_then(|j| anchor.next_seq().checked_add(j));
        if at != Some(e.seq) {
            return false;
        }
        let head = match j.checked_sub(1) {
            Some(i) => entries.get(i).and_then(|b| entry_hash(b).ok()),
            None => Some(anchor.head()),
        };
        head.is_some_and(|h| e.prev == crate::b64::encode(h))
            && AuditMacKey::segment(k0, e.seq).is_ok_and(|k| k.verify_entry(e))
    })
}

/// The index of the last authentic `tamper_detected` entry after index
/// `after` that links to the entry stored before it: the engine reported
/// everything before it already.
fn resume_point(entries: &[AuditEntry], after: usize, k0: &AuditMacKey) -> Option<usize> {
    let first = after.checked_add(1)?.max(1);
    (first..entries.len()).rev().find(|&j| {
        let (Some(e), Some(before)) = (entries.get(j), entries.get(j - 1)) else { return false };
        e.event == EventKind::TamperDetected
            && entry_hash(before).is_ok_and(|h| e.prev == crate::b64::encode(h))
            && AuditMacKey::segment(k0, e.seq).is_ok_and(|k| k.verify_entry(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{append, start_segment};
    use crate::audit::entry::{AuditRecord, Outcome};

    fn user() -> UserId {
        UserId::parse("alice").unwrap()
    }

    fn rng() -> rand_chacha::ChaCha20Rng {
        use rand_chacha::rand_core::SeedableRng as _;
        rand_chacha::ChaCha20Rng::seed_from_u64(1)
    }

    fn k0() -> AuditMacKey {
        AuditMacKey::from_bytes([5u8; 32])
    }

    /// A chain of `n` entries from genesis, and its state.
    fn chain(n: u64) -> (Vec<AuditEntry>, ChainState) {
        let scope = AuditScope::User(user());
        let mut state = ChainState::genesis(scope.clone(), k0());
        let mut entries = Vec::new();
        for i in 0..n {
            let (e, next) = append(&state, &scope, AuditRecord::new(EventKind::JwtSign, Outcome::Ok), i).unwrap();
            entries.push(e);
            state = next;
        }
        (entries, state)
    }

    fn genesis() -> ChainState {
        ChainState::genesis(AuditScope::User(user()), k0())
    }

    #[test]
    fn an_intact_chain_checks_from_genesis_and_from_a_mark() {
        let (entries, state) = chain(5);
        assert_eq!(check_chain(&genesis(), &entries, &state, &k0()), Ok(()));
        let (first, mid) = chain(3);
        let mark = ChainMark::seal(&mid, &user(), &k0(), &mut rng()).unwrap();
        let anchor = mark.open(&user(), &k0()).unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(check_chain(&anchor, &entries[3..], &state, &k0()), Ok(()));
    }

    #[test]
    fn a_cut_and_rewound_log_is_caught_at_the_cut() {
        let (mut entries, _) = chain(6);
        entries.truncate(4);
        // The writer rewinds the state to the cut, keeping the key it holds.
        let (_, at4) = chain(4);
        let (_, at6) = chain(6);
        let forged = ChainState::at(AuditScope::User(user()), 4, at4.head(), at6.mac_key().duplicate());
        let brk = check_chain(&genesis(), &entries, &forged, &k0()).unwrap_err();
        assert_eq!(brk, ChainBreak { first_bad_seq: 4, kind: BreakKind::StateMismatch });
    }

    #[test]
    fn a_mark_ahead_of_the_stored_log_says_entries_are_missing() {
        let (entries, state6) = chain(6);
        let mark = ChainMark::seal(&state6, &user(), &k0(), &mut rng()).unwrap();
        let (_, state4) = chain(4);
        let anchor = mark.open(&user(), &k0()).unwrap();
        let brk = check_chain(&anchor, &entries[6..], &state4, &k0()).unwrap_err();
        assert_eq!(brk, ChainBreak { first_bad_seq: 4, kind: BreakKind::EntriesMissing });
    }

    #[test]
    fn a_mark_opens_only_for_its_user_position_and_key() {
        let (_, state) = chain(2);
        let mark = ChainMark::seal(&state, &user(), &k0(), &mut rng()).unwrap();
        assert!(mark.open(&UserId::parse("bob").unwrap(), &k0()).is_err());
        assert!(mark.open(&user(), &AuditMacKey::from_bytes([6u8; 32])).is_err());
        let mut moved = mark.clone();
        moved.seq = 1;
        assert_eq!(moved.open(&user(), &k0()).unwrap_err(), AuditError::Integrity);
    }

    #[test]
    fn a_reported_break_is_passed_over_and_a_new_one_is_not() {
        let (mut entries, _) = chain(5);
        // Entry 2 altered: its MAC no longer verifies.
        entries[2].ts_ms = 99;
        let links = |entries: &mut Vec<AuditEntry>| {
            for i in 1..entries.len() {
                entries[i].prev = crate::b64::encode(entry_hash(&entries[i - 1]).unwrap());
            }
        };
        links(&mut entries);
        let head = entry_hash(entries.last().unwrap()).unwrap();
        let scope = AuditScope::User(user());
        let stored = ChainState::at(scope.clone(), 5, head, AuditMacKey::from_bytes([9u8; 32]));
        let brk = check_chain(&genesis(), &entries, &stored, &k0()).unwrap_err();
        assert_eq!(brk, ChainBreak { first_bad_seq: 2, kind: BreakKind::MacMismatch });
        // The engine reports it: a tamper_detected entry starts a segment.
        let record = AuditRecord::new(EventKind::TamperDetected, Outcome::Failed);
        let (t, mut state) = start_segment(&stored, &scope, record, 10, &k0()).unwrap();
        entries.push(t);
        assert_eq!(check_chain(&genesis(), &entries, &state, &k0()), Ok(()));
        let (e, next) = append(&state, &scope, AuditRecord::new(EventKind::Lock, Outcome::Ok), 11).unwrap();
        entries.push(e);
        state = next;
        assert_eq!(check_chain(&genesis(), &entries, &state, &k0()), Ok(()));
        // A second rewrite after the report is a new break.
        entries[6].ts_ms = 12;
        let brk = check_chain(&genesis(), &entries, &state, &k0()).unwrap_err();
        assert_eq!(brk.first_bad_seq, 6);
    }

    #[test]
    fn a_tamper_entry_forged_with_the_stored_key_is_not_a_resume_point() {
        let (mut entries, stored) = chain(4);
        entries[1].ts_ms = 99;
        // The writer appends its own tamper_detected entry with the key it
        // holds (through the ordinary rule), hoping to be passed over.
        let scope = AuditScope::User(user());
        let rec = AuditRecord::new(EventKind::TamperDetected, Outcome::Failed);
        let (mut fake, state) = append_unchecked(&stored, &scope, rec, 5);
        fake.event = EventKind::TamperDetected;
        entries.push(fake);
        let brk = check_chain(&genesis(), &entries, &state, &k0()).unwrap_err();
        assert_eq!(brk.first_bad_seq, 1);
    }

    /// What a writer holding the stored key can make: any record MACed under
    /// that key (the ordinary rule), here a `tamper_detected` one.
    fn append_unchecked(
        state: &ChainState,
        scope: &AuditScope,
        mut rec: AuditRecord,
        ts: u64,
    ) -> (AuditEntry, ChainState) {
        rec.event = EventKind::Lock;
        let (mut e, _) = append(state, scope, rec, ts).unwrap();
        e.event = EventKind::TamperDetected;
        let tag = state.mac_key().mac(&e.mac_input().unwrap()).unwrap();
        e.mac = crate::b64::encode(tag);
        let next =
            ChainState::at(scope.clone(), state.next_seq() + 1, entry_hash(&e).unwrap(), state.mac_key().evolve());
        (e, next)
    }

    #[test]
    fn append_refuses_a_tamper_record_and_start_segment_any_other() {
        let (_, state) = chain(1);
        let scope = AuditScope::User(user());
        let t = AuditRecord::new(EventKind::TamperDetected, Outcome::Failed);
        assert!(append(&state, &scope, t, 1).is_err());
        let other = AuditRecord::new(EventKind::Lock, Outcome::Ok);
        assert!(start_segment(&state, &scope, other, 1, &k0()).is_err());
    }

    /// A chain of 3 entries under `k0()`, a `rekey` entry starting a
    /// segment under `new`, and 2 entries after it.
    fn rekeyed(new: &AuditMacKey) -> (Vec<AuditEntry>, ChainState) {
        rekeyed_then(new, 2)
    }

    /// [`rekeyed`] with `after` entries after the rekey.
    fn rekeyed_then(new: &AuditMacKey, after: u64) -> (Vec<AuditEntry>, ChainState) {
        let scope = AuditScope::User(user());
        let (mut entries, state) = chain(3);
        let rekey = AuditRecord::new(EventKind::Rekey, Outcome::Ok);
        let (e, mut state) = start_segment(&state, &scope, rekey, 3, new).unwrap();
        entries.push(e);
        for i in 0..after {
            let (e, next) = append(&state, &scope, AuditRecord::new(EventKind::JwtSign, Outcome::Ok), 10 + i).unwrap();
            entries.push(e);
            state = next;
        }
        (entries, state)
    }

    #[test]
    fn a_rekey_starts_an_epoch_under_the_new_k0_only() {
        let new = AuditMacKey::from_bytes([6u8; 32]);
        let (entries, state) = rekeyed(&new);
        let scope = AuditScope::User(user());
        // From genesis with the new K_0 (no mark): resumes at the rekey entry.
        assert_eq!(check_chain(&ChainState::genesis(scope.clone(), new.duplicate()), &entries, &state, &new), Ok(()));
        // The old K_0 does not vouch for the rekey entry.
        let found = check_chain(&genesis(), &entries, &state, &k0()).unwrap_err();
        assert_eq!((found.first_bad_seq, found.kind), (3, BreakKind::MacMismatch));
        // A rewrite after the rekey is still found.
        let mut altered = entries.clone();
        altered[4].ts_ms += 1;
        let found = check_chain(&ChainState::genesis(scope, new.duplicate()), &altered, &state, &new).unwrap_err();
        assert_eq!(found.first_bad_seq, 4);
    }

    #[test]
    fn from_a_mark_the_walk_never_jumps_to_a_rekey() {
        // The engine marked the chain at 6 entries (3, the rekey, 2). A
        // writer who kept the stored state after 5 of them places genuine
        // entries 2..=4 after the mark and restores that state: a roll-back
        // past the mark, which the walk from the mark must refuse.
        let new = AuditMacKey::from_bytes([6u8; 32]);
        let (entries, state6) = rekeyed(&new);
        let (_, state5) = rekeyed_then(&new, 1);
        let scope = AuditScope::User(user());
        let mark = ChainState::at(scope.clone(), 6, state6.head(), state6.mac_key().duplicate());
        let replayed: Vec<AuditEntry> = entries[2..5].to_vec();
        let found = check_chain(&mark, &replayed, &state5, &new).unwrap_err();
        assert_eq!(found.kind, BreakKind::SeqGap, "{found:?}");
        // From genesis the same entries, in place, are fine.
        assert_eq!(check_chain(&ChainState::genesis(scope, new.duplicate()), &entries, &state6, &new), Ok(()));
    }

    #[test]
    fn a_writers_rekey_entry_is_no_epoch_start() {
        // The writer picks a key of its own for its "rekey": the check under
        // the real K_0 does not resume there.
        let writer = AuditMacKey::from_bytes([9u8; 32]);
        let real = AuditMacKey::from_bytes([6u8; 32]);
        let (entries, state) = rekeyed(&writer);
        let scope = AuditScope::User(user());
        assert!(check_chain(&ChainState::genesis(scope, real.duplicate()), &entries, &state, &real).is_err());
        // A failed rekey is an ordinary entry: it cannot start a segment.
        let scope = AuditScope::User(user());
        let (_, st) = chain(1);
        let failed = AuditRecord::new(EventKind::Rekey, Outcome::Failed);
        assert!(start_segment(&st, &scope, failed.clone(), 1, &real).is_err());
        assert!(append(&st, &scope, failed, 1).is_ok());
        assert!(append(&st, &scope, AuditRecord::new(EventKind::Rekey, Outcome::Ok), 1).is_err());
    }
}
