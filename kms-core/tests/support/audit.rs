//! Shared helpers for the audit tests: real chains built with a seeded RNG,
//! and the line surgery an attacker would do on an export. Used by the
//! `audit_*.rs` test files as `support::audit`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(dead_code)]

use kms_core::audit::{
    self, entry_hash, genesis_hash, AuditEntry, AuditMacKey, AuditRecord, AuditScope, AuditSigningKey, ChainState,
    Checkpoint, EventKind, Outcome, VerifyOptions,
};
use kms_core::ids::UserId;
use kms_core::secret::MasterSecret;
use kms_core::testing::encoding::b64;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// A deterministic RNG for reproducible chains.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// One scope's log as the engine would keep it.
#[derive(Debug)]
pub struct Log {
    pub scope: AuditScope,
    pub master: Option<MasterSecret>,
    pub key: AuditSigningKey,
    pub state: ChainState,
    pub entries: Vec<AuditEntry>,
    pub checkpoints: Vec<Checkpoint>,
}

impl Log {
    /// A user's empty log: master secret and audit key from `seed`.
    pub fn user(name: &str, seed: u64) -> Self {
        let mut r = rng(seed);
        let master = MasterSecret::generate(&mut r);
        let user = UserId::parse(name).unwrap();
        let scope = AuditScope::User(user.clone());
        let state = ChainState::genesis(scope.clone(), audit::audit_mac_key0(&master, &user).unwrap());
        let key = AuditSigningKey::generate(&mut r).unwrap();
        Self { scope, master: Some(master), key, state, entries: Vec::new(), checkpoints: Vec::new() }
    }

    /// The instance log: random K_0 and key from `seed`.
    pub fn instance(seed: u64) -> Self {
        let mut r = rng(seed);
        let state = ChainState::genesis(AuditScope::Instance, AuditMacKey::generate(&mut r));
        let key = AuditSigningKey::generate(&mut r).unwrap();
        Self { scope: AuditScope::Instance, master: None, key, state, entries: Vec::new(), checkpoints: Vec::new() }
    }

    pub fn user_id(&self) -> UserId {
        self.scope.user().unwrap().clone()
    }

    pub fn append(&mut self, record: AuditRecord, ts_ms: u64) -> &AuditEntry {
        let (entry, next) = audit::append(&self.state, &self.scope, record, ts_ms).unwrap();
        self.state = next;
        self.entries.push(entry);
        self.entries.last().unwrap()
    }

    /// Signs a checkpoint over the current state and keeps it.
    pub fn checkpoint(&mut self, ts_ms: u64) -> Checkpoint {
        let cp = Checkpoint::sign(&self.key, &self.state, ts_ms).unwrap();
        self.checkpoints.push(cp.clone());
        cp
    }

    /// An export ending with a fresh checkpoint (which is kept too).
    pub fn export(&mut self, ts_ms: u64) -> String {
        self.checkpoint(ts_ms);
        audit::write_export(&self.scope, self.key.public(), &self.entries, &self.checkpoints).unwrap()
    }

    /// K_0 as the user re-derives it after unlocking.
    pub fn mac_key0(&self) -> AuditMacKey {
        audit::audit_mac_key0(self.master.as_ref().unwrap(), &self.user_id()).unwrap()
    }

    /// Options of a verifier that pinned the key and can unlock.
    pub fn full_opts(&self) -> VerifyOptions {
        VerifyOptions {
            expected_public_key: Some(self.key.public().clone()),
            expected_checkpoints: Vec::new(),
            mac_key0: Some(self.mac_key0()),
            expected_nonce: None,
        }
    }

    /// Options of a third party that pinned the key only.
    pub fn pinned_opts(&self) -> VerifyOptions {
        VerifyOptions { expected_public_key: Some(self.key.public().clone()), ..Default::default() }
    }
}

/// A user's log with nine varied entries and checkpoints at unlock (size
/// 4), lock (size 8) and export (size 9).
pub fn sample(name: &str, seed: u64) -> (Log, String) {
    let mut log = Log::user(name, seed);
    let t = 1_700_000_000_000u64;
    log.append(
        AuditRecord::new(EventKind::Setup, Outcome::Ok).with_method("passphrase").with_id("enrollment_id", "enr-1"),
        t,
    );
    log.append(AuditRecord::new(EventKind::KeyGenerate, Outcome::Ok).with_id("kid", "kid-abc"), t + 10);
    log.append(
        AuditRecord::new(EventKind::Unlock, Outcome::Failed).with_method("passphrase").with_reason("unlock_failed"),
        t + 1_000,
    );
    log.append(AuditRecord::new(EventKind::Unlock, Outcome::Ok).with_method("passphrase"), t + 2_000);
    log.checkpoint(t + 2_001);
    log.append(
        AuditRecord::new(EventKind::JwtSign, Outcome::Ok)
            .with_id("kid", "kid-abc")
            .with_id("jti", "jti-1")
            .with_id("origin", "https://fcm.googleapis.com"),
        t + 3_000,
    );
    log.append(
        AuditRecord::new(EventKind::LeaseCreate, Outcome::Ok)
            .with_id("lease_id", "lease-1")
            .with_id("relay", "relay \"A\" ü"),
        t + 4_000,
    );
    log.append(
        AuditRecord::new(EventKind::LeaseToken, Outcome::Ok).with_id("lease_id", "lease-1").with_id("jti", "jti-2"),
        t + 5_000,
    );
    log.append(AuditRecord::new(EventKind::Lock, Outcome::Ok), t + 6_000);
    log.checkpoint(t + 6_001);
    log.append(AuditRecord::new(EventKind::Export, Outcome::Ok), t + 7_000);
    let text = log.export(t + 7_001);
    (log, text)
}

// ---- Line surgery -------------------------------------------------------

pub fn lines(text: &str) -> Vec<String> {
    text.strip_suffix('\n').unwrap().split('\n').map(str::to_owned).collect()
}

pub fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

const ENTRY_PREFIX: &str = "{\"type\":\"entry\",";
const CHECKPOINT_PREFIX: &str = "{\"type\":\"checkpoint\",";

pub fn parse_entry_line(line: &str) -> AuditEntry {
    serde_json::from_str(&format!("{{{}", line.strip_prefix(ENTRY_PREFIX).unwrap())).unwrap()
}

pub fn entry_line(e: &AuditEntry) -> String {
    let body = serde_json::to_string(e).unwrap();
    format!("{ENTRY_PREFIX}{}", &body[1..])
}

pub fn parse_checkpoint_line(line: &str) -> Checkpoint {
    serde_json::from_str(&format!("{{{}", line.strip_prefix(CHECKPOINT_PREFIX).unwrap())).unwrap()
}

pub fn checkpoint_line(c: &Checkpoint) -> String {
    let body = serde_json::to_string(c).unwrap();
    format!("{CHECKPOINT_PREFIX}{}", &body[1..])
}

/// The export split into its parts.
#[derive(Debug)]
pub struct Parts {
    pub header: String,
    pub entries: Vec<AuditEntry>,
    pub checkpoints: Vec<Checkpoint>,
}

impl Parts {
    pub fn of(text: &str) -> Self {
        let ls = lines(text);
        let mut entries = Vec::new();
        let mut checkpoints = Vec::new();
        for l in &ls[1..] {
            if l.starts_with(ENTRY_PREFIX) {
                entries.push(parse_entry_line(l));
            } else {
                checkpoints.push(parse_checkpoint_line(l));
            }
        }
        Self { header: ls[0].clone(), entries, checkpoints }
    }

    /// Reassembles the export, with the header's count set to the number of
    /// entries (what an attacker who knows the format would do).
    pub fn text(&self) -> String {
        let mut ls = vec![set_count(&self.header, self.entries.len())];
        ls.extend(self.entries.iter().map(entry_line));
        ls.extend(self.checkpoints.iter().map(checkpoint_line));
        join(&ls)
    }

    /// Reassembles the export leaving the header untouched.
    pub fn text_keep_header(&self) -> String {
        let mut ls = vec![self.header.clone()];
        ls.extend(self.entries.iter().map(entry_line));
        ls.extend(self.checkpoints.iter().map(checkpoint_line));
        join(&ls)
    }
}

/// The header line with `count` replaced.
pub fn set_count(header: &str, n: usize) -> String {
    let i = header.rfind("\"count\":").unwrap();
    format!("{}\"count\":{n}}}", &header[..i])
}

/// Recomputes every `prev` from `from` on, as an attacker without any key
/// can (the hash chain is keyless; only MACs and signatures stop this).
pub fn relink(entries: &mut [AuditEntry], scope: &AuditScope, from: usize) {
    for i in from..entries.len() {
        let prev = if i == 0 { genesis_hash(scope) } else { entry_hash(&entries[i - 1]).unwrap() };
        entries[i].prev = b64(prev);
    }
}
