//! Many operations in flight at once, on several engines over one store
//! (several workers or CLI processes on one database): the audit chain never
//! forks and no sequence number is used twice; every token that was handed
//! out is in the log exactly once, and the lease's quota window counts every
//! one of them. The store yields at every read and write, so the engines'
//! operations really interleave under `join_all`; a write that lost a race is
//! refused as a storage conflict, never merged (the engine runs token
//! issuance again up to four times before it gives the caller that error).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::executor::block_on;
use futures::future::join_all;
use kms_client::{InProcess, KmsClient};
use kms_core::env::ManualClock;
use kms_core::rpc::Call;
use kms_core::ErrorCode;
use kms_storage::{KeyPrefix, MemoryStore, Store, StoreError, StoreKey, WriteBatch};
use kms_worker::{Kms, KmsConfig, Platform};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

const PASS: &str = "correct horse battery staple";
const ENGINES: usize = 4;
const CALLS_PER_ENGINE: usize = 12;

/// Gives way once to whatever else is in flight, then goes on.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A store that yields before every operation and counts refused commits.
struct YieldingStore {
    inner: MemoryStore,
    conflicts: Cell<usize>,
}

#[async_trait::async_trait(?Send)]
impl Store for YieldingStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        YieldOnce(false).await;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        YieldOnce(false).await;
        self.inner.list(prefix, limit).await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        YieldOnce(false).await;
        let r = self.inner.commit(batch).await;
        if matches!(r, Err(StoreError::Conflict { .. })) {
            self.conflicts.set(self.conflicts.get() + 1);
        }
        r
    }
}

type Client = KmsClient<InProcess<ManualClock, ChaCha20Rng>>;

async fn call(kms: &Client, method: &str, params: Value) -> Result<Value, kms_client::ClientError> {
    kms.call_raw(Call::from_parts(method, &params.to_string()).unwrap()).await
}

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[test]
fn concurrent_engines_never_fork_the_audit_chain_or_lose_a_token() {
    block_on(async {
        let store = Rc::new(YieldingStore { inner: MemoryStore::new(), conflicts: Cell::new(0) });
        let clock = ManualClock::new(now_ms());
        let config = KmsConfig { session_ttl_ms: 3600 * 1000, ..KmsConfig::default() };
        let clients: Vec<Client> = (0..ENGINES)
            .map(|i| {
                let rng = ChaCha20Rng::seed_from_u64(100 + i as u64);
                KmsClient::new(InProcess::new(
                    Kms::new(Box::new(store.clone()), Platform::native(clock.clone(), rng), config.clone()).unwrap(),
                ))
            })
            .collect();

        // One user, one key, one lease with room for every token.
        let s = call(
            &clients[0],
            "setup",
            json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": PASS}}),
        )
        .await
        .unwrap();
        let session = s["session"].as_str().unwrap().to_owned();
        call(&clients[0], "vapid_generate", json!({"user": "alice", "session": session})).await.unwrap();
        let lease = call(
            &clients[0],
            "lease_create",
            json!({"user": "alice", "session": session, "lease": {
                "relay": "r", "audiences": ["https://fcm.googleapis.com"], "tokens_per_hour": 3600, "max_batch": 3}}),
        )
        .await
        .unwrap();
        let credential = lease["credential"].as_str().unwrap().to_owned();

        // Every engine gets many calls at once: token batches under the
        // lease, and wrong-passphrase unlocks (a throttle write and a failure
        // entry each).
        let mut calls = Vec::new();
        for (e, client) in clients.iter().enumerate() {
            for i in 0..CALLS_PER_ENGINE {
                let credential = credential.clone();
                calls.push(async move {
                    let r = if (e + i) % 4 == 3 {
                        call(client, "unlock", json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": "wrong wrong wrong"}})).await
                    } else {
                        call(client, "lease_issue", json!({"user": "alice", "credential": credential, "request": {
                            "aud": "https://fcm.googleapis.com", "sub": "mailto:ops@example.com", "count": 3}})).await
                    };
                    (e, i, r)
                });
            }
        }
        let results = join_all(calls).await;

        let mut issued_jtis = Vec::new();
        let mut conflicts = 0;
        for (e, i, r) in &results {
            match r {
                Ok(v) => {
                    for t in v["tokens"].as_array().unwrap() {
                        issued_jtis.push(t["jti"].as_str().unwrap().to_owned());
                    }
                }
                Err(err) if err.code() == ErrorCode::Storage => conflicts += 1,
                Err(err) if matches!(err.code(), ErrorCode::UnlockFailed | ErrorCode::Throttled) => {}
                Err(err) => panic!("engine {e} call {i}: {err}"),
            }
        }
        assert!(!issued_jtis.is_empty(), "some batches must get through");
        assert!(store.conflicts.get() > 0, "the calls did not interleave: the test proves nothing");
        eprintln!(
            "{} calls: {} tokens issued, {conflicts} refused as conflicts, {} refused commits in all",
            results.len(),
            issued_jtis.len(),
            store.conflicts.get()
        );

        // The chain: one line of sequence numbers, verified end to end.
        clock.advance(16 * 60 * 1000); // past any back-off
        let s = call(
            &clients[1],
            "unlock",
            json!({"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASS}}),
        )
        .await
        .unwrap();
        let export =
            call(&clients[1], "audit_export", json!({"user": "alice", "session": s["session"]})).await.unwrap();
        let text = export["export"].as_str().unwrap();
        let report = kms_core::audit::verify_export(text, &Default::default());
        assert!(report.valid, "{report}");
        let entries: Vec<Value> =
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["type"] == "entry").collect();
        for (n, e) in entries.iter().enumerate() {
            assert_eq!(e["seq"], json!(n), "sequence numbers are contiguous and unique");
        }

        // Every token handed out is in the log once; none that was not.
        let mut logged: BTreeMap<String, usize> = BTreeMap::new();
        for e in entries.iter().filter(|e| e["event"] == "lease_token" && e["outcome"] == "ok") {
            *logged.entry(e["ids"]["jti"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        let mut handed: BTreeMap<String, usize> = BTreeMap::new();
        for j in &issued_jtis {
            *handed.entry(j.clone()).or_default() += 1;
        }
        assert_eq!(logged, handed);

        // The quota window counts every token handed out.
        let listed = call(&clients[1], "lease_list", json!({"user": "alice", "session": s["session"]})).await.unwrap();
        let left = listed["leases"][0]["tokens_left_this_hour"].as_u64().unwrap();
        assert_eq!(3600 - left, issued_jtis.len() as u64);
    });
}
