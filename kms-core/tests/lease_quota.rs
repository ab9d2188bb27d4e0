//! The sliding-window quota: tokens per hour, counted per token, with the
//! exact time to retry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::lease::{LeaseParams, LeaseRecord, LeaseState};
use kms_core::rpc::RpcError;
use kms_core::{CoreError, ErrorCode};
use support::lease::*;

/// Issues `count` tokens at `now_ms` and returns the updated record.
fn take(l: &Lease, record: &LeaseRecord, count: u32, now_ms: u64) -> Result<LeaseRecord, CoreError> {
    issue(record, &l.credential, &req(FCM, count, None), now_ms, &mut rng(now_ms)).map(|(t, r)| {
        assert_eq!(t.len(), usize::try_from(count).unwrap());
        r
    })
}

fn retry_after(e: CoreError) -> u64 {
    match e {
        CoreError::QuotaExceeded { retry_after_ms, limit } => {
            assert!(limit > 0);
            retry_after_ms
        }
        other => panic!("expected quota_exceeded, got {other}"),
    }
}

#[test]
fn the_61st_token_within_the_hour_waits_for_the_first_to_leave() {
    let l = lease(1);
    assert_eq!(l.record.tokens_per_hour(), 60);
    let mut record = l.record.clone();
    // 60 tokens, one every 10 s.
    for i in 0..60 {
        record = take(&l, &record, 1, NOW_MS + i * 10_000).unwrap();
    }
    assert_eq!(record.tokens_left_this_hour(NOW_MS + 600_000), 0);

    let now = NOW_MS + 600_000;
    let err = take(&l, &record, 1, now).unwrap_err();
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    let rpc = RpcError::from(err.clone());
    assert_eq!(rpc.code.as_str(), "quota_exceeded");
    // The first token (at NOW_MS) leaves the window at NOW_MS + 1 h.
    assert_eq!(rpc.retry_after_ms, Some(NOW_MS + HOUR_MS - now));
    assert_eq!(retry_after(err), 3_000_000);
    assert!(rpc.message.contains("60 tokens per hour"), "{}", rpc.message);

    // One millisecond before it leaves: still refused, 1 ms to wait.
    assert_eq!(retry_after(take(&l, &record, 1, NOW_MS + HOUR_MS - 1).unwrap_err()), 1);
    // When it leaves: allowed, once; the next waits for the second token.
    let record = take(&l, &record, 1, NOW_MS + HOUR_MS).unwrap();
    assert_eq!(retry_after(take(&l, &record, 1, NOW_MS + HOUR_MS).unwrap_err()), 10_000);
}

#[test]
fn a_batch_waits_until_enough_tokens_leave() {
    let p = LeaseParams { tokens_per_hour: Some(10), max_batch: Some(10), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 2);
    let t0 = NOW_MS;
    let t1 = NOW_MS + 60_000;
    let t2 = NOW_MS + 120_000;
    let record = take(&l, &l.record, 3, t0).unwrap();
    let record = take(&l, &record, 7, t1).unwrap();
    // 3 more need the 3 oldest (t0) gone; 5 more need 2 of the t1 tokens gone.
    assert_eq!(retry_after(take(&l, &record, 3, t2).unwrap_err()), t0 + HOUR_MS - t2);
    assert_eq!(retry_after(take(&l, &record, 5, t2).unwrap_err()), t1 + HOUR_MS - t2);
    // At t0 + 1 h exactly three fit, not four.
    assert_eq!(take(&l, &record, 3, t0 + HOUR_MS).map(|r| r.tokens_left_this_hour(t0 + HOUR_MS)).unwrap(), 0);
    assert_eq!(code(take(&l, &record, 4, t0 + HOUR_MS)), ErrorCode::QuotaExceeded);
}

#[test]
fn a_refused_batch_counts_nothing() {
    let p = LeaseParams { tokens_per_hour: Some(5), max_batch: Some(5), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 3);
    let record = take(&l, &l.record, 4, NOW_MS).unwrap();
    assert_eq!(code(take(&l, &record, 2, NOW_MS)), ErrorCode::QuotaExceeded);
    // The single token that fits is still there.
    assert_eq!(take(&l, &record, 1, NOW_MS).unwrap().tokens_left_this_hour(NOW_MS), 0);
}

#[test]
fn the_window_state_stays_bounded_over_time() {
    let p = LeaseParams { tokens_per_hour: Some(5), max_batch: Some(5), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 4);
    let mut record = l.record.clone();
    for h in 0..5 {
        record = take(&l, &record, 5, NOW_MS + h * HOUR_MS).unwrap();
        let issued = serde_json::to_value(&record).unwrap()["issued"].as_array().unwrap().len();
        assert_eq!(issued, 5, "hour {h}");
    }
}

#[test]
fn a_clock_that_goes_back_keeps_the_tokens_counted() {
    let p = LeaseParams { tokens_per_hour: Some(2), max_batch: Some(2), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 5);
    let record = take(&l, &l.record, 2, NOW_MS + 10 * HOUR_MS).unwrap();
    // The clock is set back 5 hours: the future issuance still counts, and
    // the retry time is measured to its time + 1 h.
    assert_eq!(retry_after(take(&l, &record, 1, NOW_MS + 5 * HOUR_MS).unwrap_err()), 6 * HOUR_MS);
}

#[test]
fn info_reports_the_tokens_left() {
    let l = lease(6);
    let record = take(&l, &l.record, 10, NOW_MS).unwrap();
    let info = record.info(NOW_MS + 1000, Some(&l.kid));
    assert_eq!(info.state, LeaseState::Active);
    assert_eq!(info.tokens_left_this_hour, 50);
    assert_eq!(record.info(NOW_MS + HOUR_MS, Some(&l.kid)).tokens_left_this_hour, 60);
    // The public view carries no sealed key and no issuance times.
    let json = serde_json::to_value(&info).unwrap();
    assert!(json.get("sealed_key").is_none() && json.get("issued").is_none(), "{json}");
}

/// A courier nonce is remembered until its request leaves the clock window,
/// and a full list refuses rather than forgets (a forgotten nonce could be
/// replayed).
#[test]
fn courier_nonces_are_kept_for_the_window_and_a_full_list_refuses() {
    use kms_core::lease::courier::REQUEST_WINDOW_MS;
    let l = lease(31);
    let now = NOW_MS;
    let once = l.record.with_seen("n1", now, now).unwrap();
    assert!(once.has_seen("n1") && !once.has_seen("n2"));
    // A record that already lists a nonce refuses it again (two engines
    // that both read before either wrote).
    assert_eq!(once.with_seen("n1", now, now).unwrap_err().code(), ErrorCode::InvalidInput);
    // Still remembered at the end of the window, forgotten after it.
    let later = once.with_seen("n2", now + REQUEST_WINDOW_MS, now + REQUEST_WINDOW_MS).unwrap();
    assert!(later.has_seen("n1"));
    let after = later.with_seen("n3", now + REQUEST_WINDOW_MS + 1, now + REQUEST_WINDOW_MS + 1).unwrap();
    assert!(!after.has_seen("n1") && after.has_seen("n2"));
    // Full: refused with the time until the oldest leaves the window.
    let mut full = l.record.clone();
    for i in 0..3600 {
        full = full.with_seen(&format!("m{i}"), now, now).unwrap();
    }
    let e = full.with_seen("one-more", now, now + 1000).unwrap_err();
    assert_eq!(e.code(), ErrorCode::QuotaExceeded);
    assert_eq!(retry_after(e), REQUEST_WINDOW_MS - 1000);
    assert!(full.has_seen("m0"), "a nonce in the window was forgotten");
}
