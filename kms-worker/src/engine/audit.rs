//! Writing the audit log. Every operation that touches a secret or a
//! delegation appends to its user's chain (or the instance chain), success or
//! failure. A successful operation appends in the same atomic batch as its
//! state change, so one never lands without the other; a failed one appends
//! in a batch of its own (the audit entry, and for unlock the throttle
//! counter, are the only writes a failure makes). No audit, no result: if the
//! audit write fails, the caller gets a storage error, not the result.

use kms_core::audit::{
    self, entry_hash, genesis_hash, AuditEntry, AuditKeyRecord, AuditMacKey, AuditPublicKey, AuditRecord, AuditScope,
    AuditSigningKey, BreakKind, ChainBreak, ChainMark, ChainState, Checkpoint, InstanceAuditKeyRecord,
};
use kms_core::env::Clock;
use kms_core::ids::UserId;
use kms_core::CoreError;
use kms_storage::{StoreKey, WriteBatch};
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::state::Loaded;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout::{self, AUDIT_PAGE_SIZE};

/// How many recent checkpoints a chain keeps (each export carries them).
pub const KEPT_CHECKPOINTS: usize = 64;
const MAX_AUDIT_RECORD: usize = 2 * 1024 * 1024;

fn corrupt(what: &str) -> EngineError {
    EngineError::corrupt(format!("the audit {what} is corrupt"))
}

pub(super) fn encode<T: serde::Serialize>(v: &T, what: &str) -> EngineResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|_| EngineError::internal(format!("could not encode the audit {what}")))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> EngineResult<T> {
    if bytes.len() > MAX_AUDIT_RECORD {
        return Err(corrupt(what));
    }
    serde_json::from_slice(bytes).map_err(|_| corrupt(what))
}

/// Chain tails an engine remembers (one per chain it wrote to lately).
const KEPT_TAILS: usize = 8;

/// The last page an engine committed to a chain, with the chain state
/// committed in the same batch.
pub(super) struct AuditTail {
    scope: AuditScope,
    state: Vec<u8>,
    page_no: u64,
    page: Vec<u8>,
}

/// Appends `entry` to `page`, a compact JSON array (`[]` or `[..]`): the
/// same bytes `serde_json::to_vec` gives for the whole page, without
/// parsing or re-serializing the entries already there.
fn push_json(page: &mut Vec<u8>, entry: &AuditEntry) -> EngineResult<()> {
    let bytes = encode(entry, "entry")?;
    if page.pop() != Some(b']') || page.first() != Some(&b'[') {
        return Err(corrupt("page"));
    }
    if page.len() > 1 {
        page.push(b',');
    }
    page.extend_from_slice(&bytes);
    page.push(b']');
    Ok(())
}

/// The scope an export's header names, read from its first line alone
/// (`None` when that line says nothing usable: the verifier reports why).
fn export_scope(export: &str) -> Option<AuditScope> {
    let first = export.split('\n').next()?;
    if first.len() > 16 * 1024 {
        return None;
    }
    let header: serde_json::Value = serde_json::from_str(first).ok()?;
    AuditScope::parse(header.get("scope")?.as_str()?).ok()
}

/// Where a chain's stored pages end: the position after the last entry
/// present, and that entry's hash (the genesis hash when there is none).
pub(super) struct PageTail {
    next_seq: u64,
    head: [u8; 32],
}

/// What a new user's audit chain starts with (written by `setup`).
pub(super) struct NewChain<S> {
    pub state: ChainState,
    pub key_record: AuditKeyRecord,
    pub signing: CheckpointKey<S>,
}

/// A key that signs a user's checkpoints: the crypto provider's handle, its
/// public half (whose thumbprint is the checkpoint's `kid`), and the chain's
/// `K_0`, with which the engine checks the stored chain before it signs
/// over it and seals the mark it leaves after.
pub(super) struct CheckpointKey<S> {
    pub signer: S,
    pub public: AuditPublicKey,
    pub mac_key0: AuditMacKey,
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// A user's chain and sealed audit key, created at setup while the master
    /// secret is in hand. `K_0` is derived from the master secret, so whoever
    /// can unlock can check every MAC of the log.
    pub(super) async fn new_user_chain(
        &mut self,
        master: &P::Master,
        user: &UserId,
    ) -> EngineResult<NewChain<P::Signer>> {
        let now = self.clock.now_ms();
        let scope = AuditScope::User(user.clone());
        let mac_key0 = self.mac_key0(master, user).await?;
        let state = ChainState::genesis(scope, mac_key0.duplicate());
        let (new, public) = self.crypto.generate_signer(&mut self.rng).await?;
        let public = AuditPublicKey::from_p256(public);
        let sealing = self.crypto.subkey(master, user, audit::key::SEALING_PURPOSE).await?;
        let aad = kms_core::crypto::aad::audit_key(user, &public.kid());
        let (sealed, signer) = self.crypto.seal_new_signer(new, &sealing, &aad, &mut self.rng).await?;
        let key_record = AuditKeyRecord::from_sealed(public.clone(), sealed, now);
        Ok(NewChain { state, key_record, signing: CheckpointKey { signer, public, mac_key0 } })
    }

    /// The user's audit key record, as stored.
    pub(super) async fn load_audit_key(&self, user: &UserId) -> EngineResult<Loaded<AuditKeyRecord>> {
        let key = layout::audit_signing_key(&AuditScope::User(user.clone()))?;
        let bytes = self.get(&key).await?.ok_or_else(|| corrupt("key (missing)"))?;
        let value: AuditKeyRecord = decode(&bytes, "key")?;
        Ok(Loaded { key, bytes: Some(bytes), value })
    }

    /// The user's audit signing key, opened with the master secret.
    pub(super) async fn user_audit_key(
        &self,
        master: &P::Master,
        user: &UserId,
    ) -> EngineResult<CheckpointKey<P::Signer>> {
        let record = self.load_audit_key(user).await?.value;
        self.open_audit_key(master, user, &record).await
    }

    /// Opens the user's audit key `record` with the master secret.
    pub(super) async fn open_audit_key(
        &self,
        master: &P::Master,
        user: &UserId,
        record: &AuditKeyRecord,
    ) -> EngineResult<CheckpointKey<P::Signer>> {
        let public = record.public_key().map_err(CoreError::from)?.clone();
        let sealing = self.crypto.subkey(master, user, audit::key::SEALING_PURPOSE).await?;
        let signer = self
            .crypto
            .open_signer(&sealing, &record.aad(user), record.sealed(), record.key_format(), public.as_p256())
            .await?
            .map_err(|_| CoreError::from(audit::AuditError::Integrity))?;
        Ok(CheckpointKey { signer, public, mac_key0: self.mac_key0(master, user).await? })
    }

    /// The user's current master secret epoch (`None` for a user that does
    /// not exist, or cannot be read).
    async fn current_master_epoch(&self, user: &UserId) -> Option<u64> {
        self.load_user(user).await.ok().map(|u| u.value.master_epoch)
    }

    /// `K_0` of `user`'s chain, from the master secret.
    pub(super) async fn mac_key0(&self, master: &P::Master, user: &UserId) -> EngineResult<AuditMacKey> {
        Ok(AuditMacKey::from_derived(self.crypto.subkey_bytes(master, user, audit::chain::MAC_KEY_PURPOSE).await?))
    }

    /// The scope an event about `user` goes to: the user's chain when it
    /// exists, else the instance chain (an unlock attempt for an unknown
    /// user, say) with the user named in the entry.
    pub(super) async fn scope_for(&self, user: &UserId) -> EngineResult<AuditScope> {
        let scope = AuditScope::User(user.clone());
        Ok(if self.get(&layout::audit_state(&scope)?).await?.is_some() { scope } else { AuditScope::Instance })
    }

    /// Appends `records` to `scope`'s chain inside `batch`, with the
    /// precondition that the chain state is still the one read (so two
    /// engines never fork or duplicate a sequence number). With `checkpoint`,
    /// a checkpoint over the new head is signed and kept. `fresh` is the
    /// state of a chain being created in this same batch.
    ///
    /// Before a user's checkpoint is signed, the stored chain is checked
    /// against `K_0` from the engine's last mark (`kms_core::audit::integrity`).
    /// If it is not the chain the engine wrote, nothing is signed and the
    /// caller's batch is not used: a `tamper_detected` entry is committed on
    /// its own and the answer is [`CoreError::AuditRewritten`].
    pub(super) async fn audit_into(
        &mut self,
        cx: &mut CallContext,
        batch: &mut WriteBatch,
        scope: &AuditScope,
        records: Vec<AuditRecord>,
        checkpoint: Option<&CheckpointKey<P::Signer>>,
        fresh: Option<ChainState>,
    ) -> EngineResult<Vec<AuditEntry>> {
        let state_key = layout::audit_state(scope)?;
        let is_fresh = fresh.is_some();
        let loaded = match fresh {
            Some(state) => Loaded { key: state_key.clone(), bytes: None, value: state },
            None => self.load_chain(scope, &state_key).await?,
        };
        let user_key = match (scope, checkpoint) {
            (AuditScope::User(user), Some(key)) => Some((user, key)),
            _ => None,
        };
        if let (Some((user, key)), false) = (user_key, is_fresh) {
            let (checked, tail) = self.check_user_chain(user, &loaded.value, &key.mac_key0).await?;
            if let Err(found) = checked {
                self.record_tamper(cx, scope, loaded, tail, found, &key.mac_key0).await?;
                let found =
                    CoreError::AuditRewritten { first_bad_seq: found.first_bad_seq, found: found.kind.as_str() };
                return Err(found.into());
            }
        }
        // Refusals counted beside the chain are summarized in it before a
        // checkpoint signs it (`engine/repeats.rs`).
        let records = if checkpoint.is_some() { self.flush_repeats(batch, scope, records).await? } else { records };
        self.append_loaded(cx, batch, scope, loaded, records, None, checkpoint).await
    }

    /// The audit half of `rekey`, in the caller's batch: the chain is
    /// checked under the old `K_0` (`old.mac_key0`), as before any
    /// checkpoint; then `entry` (a `rekey` record) starts a new segment
    /// under `new_k0`, the new master secret's, followed by the refusals
    /// counted beside the chain; a checkpoint is signed with the audit key
    /// (unchanged, re-sealed by the caller) and the mark is sealed under
    /// `new_k0`. From here on the old `K_0` neither checks nor forges
    /// anything.
    pub(super) async fn audit_rekey(
        &mut self,
        cx: &mut CallContext,
        batch: &mut WriteBatch,
        user: &UserId,
        old: &CheckpointKey<P::Signer>,
        new_k0: AuditMacKey,
        entry: AuditRecord,
    ) -> EngineResult<()> {
        let scope = AuditScope::User(user.clone());
        let state_key = layout::audit_state(&scope)?;
        let loaded = self.load_chain(&scope, &state_key).await?;
        let (checked, tail) = self.check_user_chain(user, &loaded.value, &old.mac_key0).await?;
        if let Err(found) = checked {
            self.record_tamper(cx, &scope, loaded, tail, found, &old.mac_key0).await?;
            return Err(
                CoreError::AuditRewritten { first_bad_seq: found.first_bad_seq, found: found.kind.as_str() }.into()
            );
        }
        let repeats = self.flush_repeats(batch, &scope, Vec::new()).await?;
        let records = std::iter::once(entry).chain(repeats).collect();
        let key =
            CheckpointKey { signer: old.signer.clone(), public: old.public.clone(), mac_key0: new_k0.duplicate() };
        self.append_loaded(cx, batch, &scope, loaded, records, Some(&new_k0), Some(&key)).await?;
        Ok(())
    }

    /// Checks `user`'s stored chain, whose state is `state`, from the
    /// engine's last mark (or from `K_0` when there is none, or it does not
    /// open: a full check is only slower). The outer error is a storage
    /// failure; the inner one is what the check found. Also returns where
    /// the stored pages really end, for a `tamper_detected` entry to follow.
    async fn check_user_chain(
        &self,
        user: &UserId,
        state: &ChainState,
        mac_key0: &AuditMacKey,
    ) -> EngineResult<(Result<(), ChainBreak>, PageTail)> {
        let scope = AuditScope::User(user.clone());
        let mark = match self.get(&layout::audit_mark(&scope)?).await? {
            Some(bytes) => match decode::<ChainMark>(&bytes, "mark") {
                Ok(mark) => self.open_mark(&mark, user, mac_key0).await?,
                Err(_) => None,
            },
            None => None,
        };
        let anchor = mark.unwrap_or_else(|| ChainState::genesis(scope.clone(), mac_key0.duplicate()));
        let (entries, tail) = match self.pages_from(&scope, anchor.next_seq()).await? {
            Ok(found) => found,
            Err((found, tail)) => return Ok((Err(found), tail)),
        };
        Ok((audit::check_chain(&anchor, &entries, state, mac_key0), tail))
    }

    /// The stored entries at positions `from` and after, read page by page
    /// from the page holding position `from - 1` (so that an entry slipped
    /// in at the end of that page is seen) until the first missing page,
    /// whatever the stored state claims: a state that announces more
    /// entries than exist costs nothing. Every page but the last must hold
    /// exactly [`AUDIT_PAGE_SIZE`] entries, so each entry's position is its
    /// page's place times that, plus its index. Also the physical tail.
    async fn pages_from(
        &self,
        scope: &AuditScope,
        from: u64,
    ) -> EngineResult<Result<(Vec<AuditEntry>, PageTail), (ChainBreak, PageTail)>> {
        let mut entries = Vec::new();
        let mut page_no = from.saturating_sub(1) / AUDIT_PAGE_SIZE;
        let mut tail = PageTail { next_seq: 0, head: genesis_hash(scope) };
        if from > 0 && self.get(&layout::audit_page(scope, page_no)?).await?.is_none() {
            // The page the anchor's last entry is in is gone: entries are
            // missing from there, and the chain really ends below it.
            let at = page_no.saturating_mul(AUDIT_PAGE_SIZE).max(from.saturating_sub(1));
            let tail = self.tail_below(scope, page_no).await?;
            return Ok(Err((ChainBreak { first_bad_seq: at, kind: BreakKind::EntriesMissing }, tail)));
        }
        let mut short: Option<u64> = None;
        let full = usize::try_from(AUDIT_PAGE_SIZE).unwrap_or(usize::MAX);
        while let Some(bytes) = self.get(&layout::audit_page(scope, page_no)?).await? {
            let first = page_no.saturating_mul(AUDIT_PAGE_SIZE);
            let brk = |at: u64, kind| ChainBreak { first_bad_seq: at.max(from), kind };
            // A page after one that was not full: entries are missing there.
            if let Some(end) = short {
                return Ok(Err((brk(end, BreakKind::EntriesMissing), tail)));
            }
            let Ok(page) = decode::<Vec<AuditEntry>>(&bytes, "page") else {
                return Ok(Err((brk(first, BreakKind::Unreadable), tail)));
            };
            if page.len() > full {
                return Ok(Err((brk(first.saturating_add(AUDIT_PAGE_SIZE), BreakKind::SeqGap), tail)));
            }
            let len = page.len() as u64;
            if let Some(last) = page.last() {
                tail = PageTail {
                    next_seq: first.saturating_add(len),
                    head: entry_hash(last).map_err(|_| corrupt("page (an entry does not hash)"))?,
                };
            }
            if page.len() < full {
                short = Some(first.saturating_add(len));
            }
            let skip = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
            entries.extend(page.into_iter().skip(skip));
            page_no = page_no.saturating_add(1);
        }
        Ok(Ok((entries, tail)))
    }

    /// The key that seals `user`'s chain marks, from `K_0` (in the browser a
    /// non-extractable WebCrypto key).
    async fn mark_key(&self, mac_key0: &AuditMacKey) -> EngineResult<P::WrapKey> {
        let ikm = ChainMark::key_material(mac_key0);
        self.crypto.wrap_key(ikm, audit::integrity::MARK_KEY_SALT, audit::integrity::MARK_KEY_INFO).await
    }

    /// The chain state `mark` sealed, or `None` when it does not open (a
    /// damaged mark, or one moved from another user or position).
    async fn open_mark(
        &self,
        mark: &ChainMark,
        user: &UserId,
        mac_key0: &AuditMacKey,
    ) -> EngineResult<Option<ChainState>> {
        let Ok((aad, sealed)) = mark.to_open(user) else { return Ok(None) };
        let key = self.mark_key(mac_key0).await?;
        Ok(match self.crypto.open_bytes(&key, &aad, &sealed).await? {
            Ok(mac_key) => mark.opened(user, &mac_key).ok(),
            Err(_) => None,
        })
    }

    /// Seals a mark at `state` of `user`'s chain.
    async fn seal_mark(
        &mut self,
        state: &ChainState,
        user: &UserId,
        mac_key0: &AuditMacKey,
    ) -> EngineResult<ChainMark> {
        let (aad, secret) = ChainMark::to_seal(state, user).map_err(CoreError::from)?;
        let key = self.mark_key(mac_key0).await?;
        let sealed = self.crypto.seal_bytes(&key, &aad, &secret, &mut self.rng).await?;
        Ok(ChainMark::from_sealed(state, &sealed))
    }

    /// Where the stored pages end below page `page_no` (the highest page
    /// there, read back one by one; only after pages went missing).
    async fn tail_below(&self, scope: &AuditScope, page_no: u64) -> EngineResult<PageTail> {
        for p in (0..page_no).rev() {
            let Some(bytes) = self.get(&layout::audit_page(scope, p)?).await? else { continue };
            let page: Vec<AuditEntry> = decode(&bytes, "page")?;
            if let Some(last) = page.last() {
                let next_seq = p.saturating_mul(AUDIT_PAGE_SIZE).saturating_add(page.len() as u64);
                let head = entry_hash(last).map_err(|_| corrupt("page (an entry does not hash)"))?;
                return Ok(PageTail { next_seq, head });
            }
        }
        Ok(PageTail { next_seq: 0, head: genesis_hash(scope) })
    }

    /// Commits, in a batch of its own, a `tamper_detected` entry that names
    /// the first bad `seq` and starts a new segment (MACed under a key from
    /// `K_0`), and a mark after it: the evidence stays, and the next check
    /// resumes there. The entry goes where the stored pages really end
    /// (`tail`), linked to the last entry there, whatever the stored state
    /// claimed: a state moved far ahead, or back, is replaced.
    async fn record_tamper(
        &mut self,
        cx: &mut CallContext,
        scope: &AuditScope,
        loaded: Loaded<ChainState>,
        tail: PageTail,
        found: ChainBreak,
        mac_key0: &AuditMacKey,
    ) -> EngineResult<()> {
        let record = AuditRecord::new(audit::EventKind::TamperDetected, audit::Outcome::Failed)
            .with_id("first_bad_seq", found.first_bad_seq.to_string())
            .with_id("found", found.kind.as_str())
            .with_id("stored_next_seq", loaded.value.next_seq().to_string())
            .with_reason("chain_rewritten");
        let physical = ChainState::resume(scope.clone(), tail.next_seq, tail.head, mac_key0);
        let at_tail = Loaded { key: loaded.key, bytes: loaded.bytes, value: physical };
        let mut batch = WriteBatch::new();
        self.append_loaded(cx, &mut batch, scope, at_tail, vec![record], Some(mac_key0), None).await?;
        self.commit_tails(cx, batch).await
    }

    /// [`Self::audit_into`] once the chain is loaded (and, for a checkpoint,
    /// checked): appends `records`, the first of them starting a segment
    /// when `segment_k0` is given; signs a checkpoint when asked; and for a
    /// user's chain under a checkpoint or a new segment, seals a mark at the
    /// new state.
    #[allow(clippy::too_many_arguments)]
    async fn append_loaded(
        &mut self,
        cx: &mut CallContext,
        batch: &mut WriteBatch,
        scope: &AuditScope,
        loaded: Loaded<ChainState>,
        records: Vec<AuditRecord>,
        segment_k0: Option<&AuditMacKey>,
        checkpoint: Option<&CheckpointKey<P::Signer>>,
    ) -> EngineResult<Vec<AuditEntry>> {
        let now = self.clock.now_ms();
        let state_key = loaded.key.clone();
        let is_new_instance = loaded.bytes.is_none() && *scope == AuditScope::Instance;
        loaded.expect_unchanged(batch)?;

        // The page the next entry goes to, as stored (compact JSON array).
        let mut page_no = loaded.value.next_seq() / AUDIT_PAGE_SIZE;
        let mut page = self.tail_page(scope, loaded.bytes.as_deref(), page_no).await?;
        let mut state = loaded.value;
        let mut written = Vec::with_capacity(records.len());
        let mut segment = segment_k0;
        for record in records {
            let appended = match segment.take() {
                Some(k0) => audit::start_segment(&state, scope, record, now, k0),
                None => audit::append(&state, scope, record, now),
            };
            let (entry, next) = appended.map_err(CoreError::from)?;
            let entry_page = entry.seq / AUDIT_PAGE_SIZE;
            if entry_page != page_no {
                batch.put(&layout::audit_page(scope, page_no)?, page)?;
                page_no = entry_page;
                page = b"[]".to_vec();
            }
            push_json(&mut page, &entry)?;
            written.push(entry);
            state = next;
        }
        batch.put(&layout::audit_page(scope, page_no)?, page.clone())?;

        if let Some(key) = checkpoint {
            let nonce = cx.checkpoint_nonce.take();
            let text = Checkpoint::text_to_sign(&state, now, nonce.as_deref());
            let sig = self.crypto.sign(&key.signer, text.as_bytes()).await?;
            let cp = Checkpoint::from_signature(&state, now, nonce, key.public.kid(), sig);
            let cps_key = layout::audit_checkpoints(scope)?;
            let mut cps = self.read_checkpoints(scope).await?;
            cps.push(cp);
            let excess = cps.len().saturating_sub(KEPT_CHECKPOINTS);
            cps.drain(..excess);
            batch.put(&cps_key, encode(&cps, "checkpoints")?)?;
        }
        // The engine leaves a mark wherever it vouched for the chain (a
        // checkpoint) or re-keyed it (a new segment): the next check starts
        // there.
        if let (AuditScope::User(user), Some(k0)) = (scope, checkpoint.map(|k| &k.mac_key0).or(segment_k0)) {
            let mark = self.seal_mark(&state, user, k0).await?;
            batch.put(&layout::audit_mark(scope)?, encode(&mark, "mark")?)?;
        }
        if is_new_instance {
            // The instance chain signs with a key kept in the clear: there is
            // no master secret to seal it under (see docs/threat-model.md).
            let key = AuditSigningKey::generate(&mut self.rng).map_err(CoreError::from)?;
            let record = InstanceAuditKeyRecord::create(&key, now);
            let key_key = layout::audit_signing_key(scope)?;
            batch.expect_absent(&key_key)?;
            batch.put(&key_key, encode(&record, "instance key")?)?;
        }
        let state_bytes = encode(&state, "state")?;
        batch.put(&state_key, state_bytes.clone())?;
        cx.pending_tails.retain(|t| &t.scope != scope);
        cx.pending_tails.push(AuditTail { scope: scope.clone(), state: state_bytes, page_no, page });
        Ok(written)
    }

    /// The bytes of page `page_no` of `scope`'s chain, whose stored state is
    /// `state`, checked: as read, when they are exactly the page this engine
    /// last committed with that same state (its own encoding, known to be
    /// sound), else parsed and re-encoded, so a damaged page stops the append.
    async fn tail_page(&self, scope: &AuditScope, state: Option<&[u8]>, page_no: u64) -> EngineResult<Vec<u8>> {
        let Some(stored) = self.get(&layout::audit_page(scope, page_no)?).await? else {
            return Ok(b"[]".to_vec());
        };
        let ours = self.tails.iter().any(|t| {
            &t.scope == scope && Some(t.state.as_slice()) == state && t.page_no == page_no && t.page == stored
        });
        if ours {
            return Ok(stored);
        }
        encode(&decode::<Vec<AuditEntry>>(&stored, "page")?, "page")
    }

    /// After a commit that carried audit entries landed: their tails are the
    /// chains' tails now.
    pub(super) fn promote_tails(&mut self, cx: &mut CallContext) {
        for t in cx.pending_tails.drain(..) {
            self.tails.retain(|c| c.scope != t.scope);
            self.tails.push(t);
        }
        let excess = self.tails.len().saturating_sub(KEPT_TAILS);
        self.tails.drain(..excess);
    }

    async fn load_chain(&mut self, scope: &AuditScope, key: &StoreKey) -> EngineResult<Loaded<ChainState>> {
        match self.get(key).await? {
            Some(bytes) => {
                let value: ChainState = decode(&bytes, "chain state")?;
                if value.scope() != scope {
                    return Err(corrupt("chain state (scope)"));
                }
                Ok(Loaded { key: key.clone(), bytes: Some(bytes), value })
            }
            None if *scope == AuditScope::Instance => {
                // The instance chain starts on first use, with a random K_0
                // that is never kept.
                let k0 = AuditMacKey::generate(&mut self.rng);
                Ok(Loaded { key: key.clone(), bytes: None, value: ChainState::genesis(scope.clone(), k0) })
            }
            None => Err(corrupt("chain state (missing)")),
        }
    }

    async fn load_page(&self, scope: &AuditScope, page: u64) -> EngineResult<Option<Vec<AuditEntry>>> {
        match self.get(&layout::audit_page(scope, page)?).await? {
            Some(bytes) => decode(&bytes, "page").map(Some),
            None => Ok(None),
        }
    }

    /// Commits a batch that carries the operation's own audit entries. Only
    /// once it has landed does the failure audit in `Kms::run` stand
    /// down: if it did not land, neither did its entries, and the failure is
    /// audited on its own.
    pub(super) async fn commit_audited(&mut self, cx: &mut CallContext, batch: WriteBatch) -> EngineResult<()> {
        self.commit_tails(cx, batch).await?;
        cx.audited = true;
        Ok(())
    }

    /// Commits a batch with audit entries in it and keeps the chains' new
    /// tails if it landed.
    pub(super) async fn commit_tails(&mut self, cx: &mut CallContext, batch: WriteBatch) -> EngineResult<()> {
        match self.store.commit(batch).await {
            Ok(()) => {
                self.promote_tails(cx);
                Ok(())
            }
            Err(e) => {
                cx.pending_tails.clear();
                Err(e.into())
            }
        }
    }

    /// Appends `records` in a batch of their own (failures, read-only
    /// operations). No audit, no result.
    pub(super) async fn audit_alone(
        &mut self,
        cx: &mut CallContext,
        scope: &AuditScope,
        records: Vec<AuditRecord>,
    ) -> EngineResult<()> {
        let mut batch = WriteBatch::new();
        self.audit_into(cx, &mut batch, scope, records, None, None).await?;
        self.commit_tails(cx, batch).await
    }

    /// Every entry of a chain, in order, and its kept checkpoints.
    pub(super) async fn read_chain(&self, scope: &AuditScope) -> EngineResult<(Vec<AuditEntry>, Vec<Checkpoint>)> {
        let state: ChainState = match self.get(&layout::audit_state(scope)?).await? {
            Some(b) => decode(&b, "chain state")?,
            None => return Ok((Vec::new(), Vec::new())),
        };
        let n = state.next_seq();
        let mut entries = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1 << 20));
        let pages = n.div_ceil(AUDIT_PAGE_SIZE);
        // Up to the first missing page: a state that claims more entries
        // than are stored costs one read more, not one per claimed page.
        for p in 0..pages {
            let Some(page) = self.load_page(scope, p).await? else { break };
            entries.extend(page);
        }
        Ok((entries, self.read_checkpoints(scope).await?))
    }

    /// A chain's kept checkpoints, oldest first.
    pub(super) async fn read_checkpoints(&self, scope: &AuditScope) -> EngineResult<Vec<Checkpoint>> {
        match self.get(&layout::audit_checkpoints(scope)?).await? {
            Some(b) => decode(&b, "checkpoints"),
            None => Ok(Vec::new()),
        }
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// `audit_export`: appends `export`, signs a checkpoint over the whole
    /// chain, and returns the chain as an export that ends with it.
    pub(super) async fn audit_export(
        &mut self,
        cx: &mut CallContext,
        p: kms_core::rpc::AuditExportParams,
    ) -> EngineResult<kms_core::rpc::AuditExportResult> {
        let master = self.session_master(&p.user, &p.session).await?;
        let key = self.user_audit_key(&master, &p.user).await?;
        drop(master);
        let scope = AuditScope::User(p.user.clone());
        let mut batch = WriteBatch::new();
        let mut record = AuditRecord::new(audit::EventKind::Export, audit::Outcome::Ok);
        if let Some(nonce) = &p.nonce {
            record = record.with_id("nonce", nonce);
        }
        // The final checkpoint signs the verifier's nonce.
        cx.checkpoint_nonce = p.nonce.clone();
        self.audit_into(cx, &mut batch, &scope, vec![record], Some(&key), None).await?;
        self.commit_audited(cx, batch).await?;

        let (entries, checkpoints) = self.read_chain(&scope).await?;
        let checkpoint = checkpoints.last().cloned().ok_or_else(|| corrupt("checkpoints (missing)"))?;
        let export = audit::write_export(&scope, &key.public, &entries, &checkpoints).map_err(CoreError::from)?;
        Ok(kms_core::rpc::AuditExportResult { export, entries: entries.len() as u64, checkpoint })
    }

    /// `audit_verify`: the same verifier the CLI and the browser use. No
    /// session: its work is bounded by the request size (11 MiB), the
    /// export's caps, and [`audit::MAX_EXPECTED_CHECKPOINTS`], which decoding
    /// already enforces; a call built in-process is held to it here, before
    /// the verifier runs.
    pub(super) async fn audit_verify(
        &self,
        p: kms_core::rpc::AuditVerifyParams,
    ) -> EngineResult<kms_core::audit::VerifyReport> {
        if p.expected_checkpoints.len() > audit::MAX_EXPECTED_CHECKPOINTS {
            return Err(CoreError::invalid(format!(
                "audit_verify: expected_checkpoints: at most {} are accepted",
                audit::MAX_EXPECTED_CHECKPOINTS
            ))
            .into());
        }
        let expected_public_key =
            p.expected_public_key.as_deref().map(audit::AuditPublicKey::parse).transpose().map_err(CoreError::from)?;
        // A user's MACs are checked whenever a live session of that user
        // holds the master secret `K_0` comes from. The verdict says whether
        // the export's MACs are right; it gives out nothing of the key.
        let mac_key0 = match export_scope(&p.export) {
            Some(AuditScope::User(user)) => match self
                .current_master_epoch(&user)
                .await
                .and_then(|epoch| self.sessions.any_master(&user, epoch, self.clock.now_ms()).cloned())
            {
                Some(master) => Some(self.mac_key0(&master, &user).await?),
                None => None,
            },
            _ => None,
        };
        let opts = audit::VerifyOptions {
            expected_public_key,
            expected_checkpoints: p.expected_checkpoints,
            mac_key0,
            expected_nonce: p.expected_nonce,
        };
        Ok(audit::verify_export(&p.export, &opts))
    }
}
