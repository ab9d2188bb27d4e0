//! Repeated refusals, counted rather than appended one by one.
//!
//! Some refusals need no session: a relay's `lease_issue` with a wrong
//! credential, an unlock attempt during the back-off, a `setup` of a user
//! that exists. Anyone who knows a user id (and a lease id) can make them
//! at will, and each used to append an entry to the user's chain: 40,000
//! calls grew one export past the reader's 10 MiB cap, so that user's log
//! could no longer be verified.
//!
//! The first refusal of a run is appended as usual. Later refusals of the
//! same kind (same event, outcome, reason and method, same subject id) that
//! follow it directly in the chain, within [`REPEAT_WINDOW_MS`] of the
//! first, only raise a counter kept beside the chain. The next entry
//! appended to the chain for any reason (a refusal of another kind, the
//! run's window ending, an export, an unlock) is preceded by one summary
//! entry: the same event with `repeated` (how many were counted),
//! `first_ms` and `last_ms`. So a run of N refusals costs two entries per
//! window whatever N is, and every refusal is still recorded: in the chain
//! or, until the next append, in the counter.
//!
//! The counter is not MACed: a writer of the store can delete or lower it
//! before it is summarized, hiding how many refusals followed the first
//! chained one. It cannot hide the first.

use serde::{Deserialize, Serialize};

use super::entry::{AuditRecord, EventKind, Outcome};
use crate::env::UnixMillis;
use crate::error::{CoreError, Result};

/// How long after a run's first refusal repeats are still counted into it.
pub const REPEAT_WINDOW_MS: u64 = 60_000;

/// The ids that name what a refusal is about: part of what makes two
/// refusals "the same". Every other id (an `aud`, say) may vary within a run
/// and is not kept; a caller choosing them cannot split the run.
const SUBJECT_IDS: [&str; 2] = ["lease_id", "enrollment_id"];

/// Largest stored counter record.
const MAX_RECORD_BYTES: usize = 1024;

/// The counter of a run of identical refusals, stored beside its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatedRefusal {
    pub event: EventKind,
    pub reason: String,
    pub method: Option<String>,
    /// The subject id (name, value), if the refusal has one.
    pub subject: Option<(String, String)>,
    /// The chain's `next_seq` right after the run's first (chained) entry:
    /// repeats are counted only while nothing else was appended since.
    pub after_seq: u64,
    /// Refusals counted since the first one (not including it).
    pub count: u64,
    pub first_ms: UnixMillis,
    pub last_ms: UnixMillis,
}

impl RepeatedRefusal {
    /// A new run, started by `record` (appended to the chain so that the
    /// chain's `next_seq` is now `after_seq`) at `now`. `None` for a record
    /// that is not a refusal with a reason: those are never counted.
    pub fn start(record: &AuditRecord, after_seq: u64, now: UnixMillis) -> Option<Self> {
        if record.outcome != Outcome::Refused {
            return None;
        }
        let reason = record.reason.clone()?;
        Some(Self {
            event: record.event,
            reason,
            method: record.method.clone(),
            subject: subject_of(record),
            after_seq,
            count: 0,
            first_ms: now,
            last_ms: now,
        })
    }

    /// Whether `record`, made at `now` with the chain at `next_seq`, is one
    /// more of this run.
    pub fn counts(&self, record: &AuditRecord, next_seq: u64, now: UnixMillis) -> bool {
        record.outcome == Outcome::Refused
            && record.event == self.event
            && record.reason.as_deref() == Some(self.reason.as_str())
            && record.method == self.method
            && subject_of(record) == self.subject
            && next_seq == self.after_seq
            && now >= self.first_ms
            && now - self.first_ms < REPEAT_WINDOW_MS
    }

    /// The run with one more refusal at `now`.
    #[must_use]
    pub fn counted(&self, now: UnixMillis) -> Self {
        Self { count: self.count.saturating_add(1), last_ms: now.max(self.last_ms), ..self.clone() }
    }

    /// The entry that stands for the counted refusals, or `None` if there
    /// were none beyond the first.
    pub fn summary(&self) -> Option<AuditRecord> {
        if self.count == 0 {
            return None;
        }
        let mut record = AuditRecord::new(self.event, Outcome::Refused).with_reason(self.reason.clone());
        if let Some(method) = &self.method {
            record = record.with_method(method.clone());
        }
        if let Some((name, value)) = &self.subject {
            record = record.with_id(name.clone(), value.clone());
        }
        Some(
            record
                .with_id("repeated", self.count.to_string())
                .with_id("first_ms", self.first_ms.to_string())
                .with_id("last_ms", self.last_ms.to_string()),
        )
    }

    /// Parses a stored counter, capped in size. A record that does not parse
    /// is `Integrity`: the caller summarizes nothing and starts over.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(CoreError::Integrity);
        }
        serde_json::from_slice(bytes).map_err(|_| CoreError::Integrity)
    }

    /// Serializes the counter for storage.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| CoreError::Internal(format!("encode repeat counter: {e}")))
    }
}

fn subject_of(record: &AuditRecord) -> Option<(String, String)> {
    SUBJECT_IDS.iter().find_map(|name| record.ids.get(*name).map(|v| ((*name).to_owned(), v.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(lease: &str, aud: &str) -> AuditRecord {
        AuditRecord::new(EventKind::LeaseToken, Outcome::Refused)
            .with_id("lease_id", lease)
            .with_id("aud", aud)
            .with_reason("forbidden")
    }

    #[test]
    fn a_run_counts_the_same_refusal_within_the_window_only() {
        let run = RepeatedRefusal::start(&refused("L1", "https://a.example"), 10, 1_000).unwrap();
        // Another aud is the same refusal: the caller picks it.
        assert!(run.counts(&refused("L1", "https://b.example"), 10, 1_500));
        assert!(!run.counts(&refused("L2", "https://a.example"), 10, 1_500), "another lease");
        assert!(!run.counts(&refused("L1", "https://a.example"), 11, 1_500), "the chain moved");
        assert!(!run.counts(&refused("L1", "https://a.example"), 10, 1_000 + REPEAT_WINDOW_MS), "window over");
        assert!(!run.counts(&refused("L1", "https://a.example"), 10, 999), "clock behind");
        let other = refused("L1", "https://a.example").with_reason("lease_revoked");
        assert!(!run.counts(&other, 10, 1_500), "another reason");
        let ok = AuditRecord::new(EventKind::LeaseToken, Outcome::Ok).with_id("lease_id", "L1");
        assert!(!run.counts(&ok, 10, 1_500));
        assert!(RepeatedRefusal::start(&ok, 10, 1_000).is_none(), "only refusals are counted");
    }

    #[test]
    fn the_summary_says_how_many_and_when() {
        let run = RepeatedRefusal::start(&refused("L1", "x"), 10, 1_000).unwrap();
        assert_eq!(run.summary(), None, "nothing beyond the first");
        let run = run.counted(1_200).counted(1_100);
        let s = run.summary().unwrap();
        assert_eq!(
            (s.event, s.outcome, s.reason.as_deref()),
            (EventKind::LeaseToken, Outcome::Refused, Some("forbidden"))
        );
        assert_eq!(s.ids.get("repeated").map(String::as_str), Some("2"));
        assert_eq!(s.ids.get("first_ms").map(String::as_str), Some("1000"));
        assert_eq!(s.ids.get("last_ms").map(String::as_str), Some("1200"));
        assert_eq!(s.ids.get("lease_id").map(String::as_str), Some("L1"));
        assert!(!s.ids.contains_key("aud"));
        assert_eq!(RepeatedRefusal::decode(&run.encode().unwrap()).unwrap(), run);
        assert_eq!(RepeatedRefusal::decode(b"{"), Err(CoreError::Integrity));
    }
}
