//! Repeated refusals, counted rather than appended one by one.
//!
//! Some refusals need no session: a relay's `lease_issue` with a wrong
//! credential, an unlock attempt during the back-off, a `setup` of a user
//! that exists, a `lock` with a made-up session. Anyone who knows a user id
//! can make them at will, and each used to append an entry to the user's
//! chain: 40,000 calls grew one export past the reader's 10 MiB cap, so
//! that user's log could no longer be verified.
//!
//! Refusals are sorted into kinds by what the engine decided, never by
//! what the caller chose: the event, the reason (the error code) and the
//! unlock method. Ids the caller names (a lease id, an `aud`) do not make a
//! kind, so inventing them cannot start new ones, and interleaving kinds
//! does not either: each kind has its own run. The first refusal of a kind
//! is appended as usual, with its ids. Later refusals of that kind are only
//! counted, in a record kept beside the chain, until the chain's next
//! checkpoint, or until [`REPEAT_WINDOW_MS`] after the run's first refusal;
//! then the run becomes one summary entry: the event, reason and method,
//! with `repeated` (how many were counted), `first_ms` and `last_ms`. So the
//! log grows by at most two entries per kind between checkpoints (and per
//! window), whatever the number of calls, and every refusal is recorded: in
//! the chain or, until its summary, in the count.
//!
//! The count is not MACed until it is summarized: a writer of the store can
//! change or delete it (lowering, raising or inventing counts), as it can
//! append entries at the chain's tail anyway. It cannot remove a run's
//! first entry.

use serde::{Deserialize, Serialize};

use super::entry::{AuditRecord, EventKind, Outcome};
use crate::env::UnixMillis;
use crate::error::{CoreError, Result};

/// How long after its first refusal a run is summarized at the latest (at
/// the next refusal of its kind): one day. A checkpoint summarizes every
/// run sooner.
pub const REPEAT_WINDOW_MS: u64 = 24 * 3600 * 1000;

/// Most runs counted at once for one chain (far more than there are kinds
/// of refusal a caller without a session can cause). A refusal of a new
/// kind beyond it is appended and not counted.
pub const MAX_RUNS: usize = 256;

/// Largest stored record of runs.
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// One kind of refusal being counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub event: EventKind,
    pub reason: String,
    pub method: Option<String>,
    /// Refusals counted since the run's first (chained) one.
    pub count: u64,
    pub first_ms: UnixMillis,
    pub last_ms: UnixMillis,
}

impl Run {
    fn is_kind_of(&self, record: &AuditRecord) -> bool {
        record.event == self.event
            && record.reason.as_deref() == Some(self.reason.as_str())
            && record.method == self.method
    }

    /// The entry that stands for the counted refusals (none: `None`).
    fn summary(&self) -> Option<AuditRecord> {
        if self.count == 0 {
            return None;
        }
        let mut record = AuditRecord::new(self.event, Outcome::Refused).with_reason(self.reason.clone());
        if let Some(method) = &self.method {
            record = record.with_method(method.clone());
        }
        Some(
            record
                .with_id("repeated", self.count.to_string())
                .with_id("first_ms", self.first_ms.to_string())
                .with_id("last_ms", self.last_ms.to_string()),
        )
    }
}

/// The runs of one chain, stored beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatRuns {
    pub runs: Vec<Run>,
}

/// What to do with a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    /// Counted: store the runs, append nothing.
    Counted,
    /// Append the refusal, after `summary` (the run of its kind that it
    /// ends, if that run counted any), and store the runs.
    Append { summary: Option<AuditRecord> },
}

impl RepeatRuns {
    /// Takes `record`, made at `now`, into the runs.
    pub fn tally(&mut self, record: &AuditRecord, now: UnixMillis) -> Tally {
        let Some(reason) = record.reason.clone().filter(|_| record.outcome == Outcome::Refused) else {
            // Only refusals are counted: a failure is always appended.
            return Tally::Append { summary: None };
        };
        if let Some(i) = self.runs.iter().position(|r| r.is_kind_of(record)) {
            let Some(run) = self.runs.get_mut(i) else { return Tally::Append { summary: None } };
            if now >= run.first_ms && now - run.first_ms < REPEAT_WINDOW_MS {
                run.count = run.count.saturating_add(1);
                run.last_ms = run.last_ms.max(now);
                return Tally::Counted;
            }
            // The window is over (or the clock went back): the run ends,
            // this refusal starts the next one.
            let summary = run.summary();
            *run = Run { count: 0, first_ms: now, last_ms: now, ..run.clone() };
            return Tally::Append { summary };
        }
        if self.runs.len() < MAX_RUNS {
            let method = record.method.clone();
            self.runs.push(Run { event: record.event, reason, method, count: 0, first_ms: now, last_ms: now });
        }
        Tally::Append { summary: None }
    }

    /// Every run's summary, oldest run first: what goes into the chain
    /// before a checkpoint, after which the runs start over.
    pub fn summaries(&self) -> Vec<AuditRecord> {
        self.runs.iter().filter_map(Run::summary).collect()
    }

    /// Parses stored runs, capped in size. A record that does not parse is
    /// `Integrity`: the caller starts over without it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(CoreError::Integrity);
        }
        let runs: Self = serde_json::from_slice(bytes).map_err(|_| CoreError::Integrity)?;
        if runs.runs.len() > MAX_RUNS {
            return Err(CoreError::Integrity);
        }
        Ok(runs)
    }

    /// Serializes the runs for storage.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| CoreError::Internal(format!("encode repeat runs: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(event: EventKind, reason: &str, lease: &str) -> AuditRecord {
        AuditRecord::new(event, Outcome::Refused).with_id("lease_id", lease).with_id("aud", "x").with_reason(reason)
    }

    #[test]
    fn kinds_are_what_the_engine_decided_not_what_the_caller_named() {
        let mut runs = RepeatRuns::default();
        let t0 = 1_000;
        assert_eq!(runs.tally(&refused(EventKind::LeaseToken, "forbidden", "L1"), t0), Tally::Append { summary: None });
        // Another lease id, invented or not, is the same kind.
        assert_eq!(runs.tally(&refused(EventKind::LeaseToken, "forbidden", "L2"), t0 + 1), Tally::Counted);
        // Another kind interleaved has its own run and ends nothing.
        let lock = AuditRecord::new(EventKind::Lock, Outcome::Refused).with_reason("locked");
        assert_eq!(runs.tally(&lock, t0 + 2), Tally::Append { summary: None });
        assert_eq!(runs.tally(&lock, t0 + 3), Tally::Counted);
        assert_eq!(runs.tally(&refused(EventKind::LeaseToken, "forbidden", "L3"), t0 + 4), Tally::Counted);
        let unlock =
            |m: &str| AuditRecord::new(EventKind::Unlock, Outcome::Refused).with_method(m).with_reason("throttled");
        assert_eq!(runs.tally(&unlock("passphrase"), t0), Tally::Append { summary: None });
        assert_eq!(
            runs.tally(&unlock("passkey_prf"), t0),
            Tally::Append { summary: None },
            "the method is part of the kind"
        );
        // Failures are never counted.
        let failed = AuditRecord::new(EventKind::Unlock, Outcome::Failed).with_reason("unlock_failed");
        assert_eq!(runs.tally(&failed, t0), Tally::Append { summary: None });
        assert_eq!(runs.tally(&failed, t0), Tally::Append { summary: None });

        let s = runs.summaries();
        assert_eq!(s.len(), 2);
        let lease = s.first().unwrap();
        assert_eq!(
            (lease.event, lease.outcome, lease.reason.as_deref()),
            (EventKind::LeaseToken, Outcome::Refused, Some("forbidden"))
        );
        assert_eq!(lease.ids.get("repeated").map(String::as_str), Some("2"));
        assert_eq!(lease.ids.get("first_ms").map(String::as_str), Some("1000"));
        assert_eq!(lease.ids.get("last_ms").map(String::as_str), Some("1004"));
        assert!(!lease.ids.contains_key("lease_id") && !lease.ids.contains_key("aud"));
        assert_eq!(RepeatRuns::decode(&runs.encode().unwrap()).unwrap(), runs);
        assert_eq!(RepeatRuns::decode(b"{"), Err(CoreError::Integrity));
    }

    #[test]
    fn a_run_ends_with_its_window_and_the_next_refusal_starts_another() {
        let mut runs = RepeatRuns::default();
        let r = refused(EventKind::LeaseToken, "forbidden", "L1");
        runs.tally(&r, 0);
        assert_eq!(runs.tally(&r, 10), Tally::Counted);
        let Tally::Append { summary: Some(s) } = runs.tally(&r, REPEAT_WINDOW_MS) else { panic!("the run should end") };
        assert_eq!(s.ids.get("repeated").map(String::as_str), Some("1"));
        assert_eq!(runs.summaries(), Vec::new(), "the new run has counted nothing yet");
        assert_eq!(runs.tally(&r, REPEAT_WINDOW_MS + 1), Tally::Counted);
    }

    #[test]
    fn runs_are_capped() {
        let mut runs = RepeatRuns::default();
        for i in 0..MAX_RUNS + 10 {
            let r = AuditRecord::new(EventKind::Setup, Outcome::Refused).with_reason(format!("r{i}"));
            runs.tally(&r, 0);
        }
        assert_eq!(runs.runs.len(), MAX_RUNS);
        let beyond = AuditRecord::new(EventKind::Setup, Outcome::Refused).with_reason(format!("r{}", MAX_RUNS + 1));
        assert_eq!(runs.tally(&beyond, 1), Tally::Append { summary: None }, "appended, not counted");
    }
}
