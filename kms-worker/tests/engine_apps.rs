//! Users belong to the app whose page created them: engines serving two
//! allowed hosts over one store (as two KMS frames of one origin share one
//! IndexedDB database) see each other's users only when the deployment
//! groups the hosts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeMap;
use std::rc::Rc;

use futures::executor::block_on;
use kms_core::ErrorCode;
use kms_storage::{MemoryStore, Store};
use kms_worker::apps::{store_for, HostApps};
use kms_worker::KmsConfig;
use serde_json::json;
use support::*;

const A: &str = "http://localhost:8080";
const B: &str = "http://localhost:8082";
const C: &str = "http://localhost:8083";

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|h| (*h).to_owned()).collect()
}

fn apps(allowed: &[&str], groups: &[(&str, &[&str])]) -> HostApps {
    let groups: BTreeMap<String, Vec<String>> = groups.iter().map(|(n, h)| ((*n).to_owned(), hosts(h))).collect();
    HostApps::new(&hosts(allowed), &groups).unwrap()
}

/// The engine a KMS frame serving `host` runs: over that host's app's part
/// of `store`, accepting gate assertions from that app's pages only.
fn engine_for(store: &Rc<MemoryStore>, apps: &HostApps, host: &str, seed: u64) -> Harness {
    let app = apps.app_of(host).unwrap();
    let shared: Rc<dyn Store> = store.clone();
    let view = block_on(store_for(shared, app, apps.first_host().unwrap())).unwrap();
    let config = KmsConfig { allowed_top_origins: app.hosts().to_vec(), ..KmsConfig::default() };
    Harness::over(seed, config, Rc::from(view), store.clone())
}

/// The keys of a user's audit log in `store`, wherever it lives.
fn audit_keys_of(store: &MemoryStore, user: &str) -> Vec<(String, Vec<u8>)> {
    store.snapshot().into_iter().filter(|(k, _)| k.contains(&format!("users/{user}/audit"))).collect()
}

#[test]
fn a_user_of_one_host_is_not_found_by_another() {
    let store = Rc::new(MemoryStore::new());
    let apps = apps(&[A, B, C], &[]);
    let mut a = engine_for(&store, &apps, A, 1);
    let mut b = engine_for(&store, &apps, B, 2);
    let s = a.setup_passphrase("alice", PASS_A);
    a.rpc_ok("vapid_generate", json!({"user": "alice", "session": s.session}));
    let lease = a.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": s.session, "lease": {"relay": "r", "audiences": ["https://fcm.googleapis.com"]}}),
    );
    let credential = lease["credential"].as_str().unwrap().to_owned();
    let audit_before = audit_keys_of(&store, "alice");
    let records_before = store.snapshot();

    // B asks about alice the way it would ask about a user nobody created:
    // the same code, the same words with the name changed.
    let asks = |user: &str| {
        vec![
            ("list_enrollments", json!({"user": user})),
            ("vapid_public", json!({"user": user})),
            ("unlock", json!({"user": user, "credential": {"kind": "passphrase", "passphrase": PASS_A}})),
            ("gate_begin", json!({"user": user})),
            (
                "lease_issue",
                json!({"user": user, "credential": credential, "request": {"aud": "https://fcm.googleapis.com", "sub": "mailto:ops@example.com", "count": 1}}),
            ),
        ]
    };
    for ((method, alice), (_, nobody)) in asks("alice").into_iter().zip(asks("nobody")) {
        let seen = b.rpc_err(method, alice);
        let unknown = b.rpc_err(method, nobody);
        assert_eq!(seen["code"], unknown["code"], "{method}: {seen} vs {unknown}");
        assert_eq!(
            seen["message"].as_str().unwrap().replace("alice", "nobody"),
            unknown["message"].as_str().unwrap(),
            "{method}"
        );
        assert!(
            matches!(serde_json::from_value::<ErrorCode>(seen["code"].clone()).unwrap(), ErrorCode::NotFound),
            "{method}: {seen}"
        );
    }
    // Nothing B sent reached A's records or A's audit log.
    assert_eq!(audit_keys_of(&store, "alice"), audit_before);
    let a_records = |snap: &BTreeMap<String, Vec<u8>>| snap.iter().filter(|(k, _)| !k.starts_with("apps/")).count();
    assert_eq!(a_records(&store.snapshot()), a_records(&records_before));

    // B may create its own alice, without learning that A has one.
    let bs = b.setup_passphrase("alice", PASS_B);
    assert_eq!(bs.user.as_str(), "alice");
    // Each alice opens with its own passphrase only.
    assert!(a.unlock_passphrase("alice", PASS_A).is_ok());
    assert_eq!(a.unlock_passphrase("alice", PASS_B).unwrap_err().code, ErrorCode::UnlockFailed);
    assert!(b.unlock_passphrase("alice", PASS_B).is_ok());
    assert_eq!(b.unlock_passphrase("alice", PASS_A).unwrap_err().code, ErrorCode::UnlockFailed);
    // A third host sees neither.
    let mut c = engine_for(&store, &apps, C, 3);
    assert_eq!(c.rpc_err("list_enrollments", json!({"user": "alice"}))["code"], "not_found");
    // Where they live: A, the first allowed host, keeps the store's root
    // (the users made before apps existed stay where they are); B has a
    // subtree of its own.
    let keys: Vec<String> = store.snapshot().into_keys().filter(|k| k.ends_with("users/alice/meta")).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&"users/alice/meta".to_owned()));
    assert!(keys.iter().any(|k| k.starts_with("apps/") && k.split('/').count() == 5), "{keys:?}");
}

#[test]
fn hosts_of_one_group_share_their_users() {
    let store = Rc::new(MemoryStore::new());
    let apps = apps(&[A, B, C], &[("shop", &[A, B])]);
    let mut a = engine_for(&store, &apps, A, 11);
    let mut b = engine_for(&store, &apps, B, 12);
    let mut c = engine_for(&store, &apps, C, 13);
    a.setup_passphrase("alice", PASS_A);
    assert!(b.unlock_passphrase("alice", PASS_A).is_ok());
    assert_eq!(c.rpc_err("list_enrollments", json!({"user": "alice"}))["code"], "not_found");
    assert_eq!(apps.app_of(A).unwrap().hosts(), apps.app_of(B).unwrap().hosts());
    // A group's gate assertions may come from any of its pages, and from
    // no other: the engine's allowed top origins are the app's hosts.
    assert_eq!(apps.app_of(A).unwrap().hosts(), &hosts(&[A, B])[..]);
    assert_eq!(apps.app_of(C).unwrap().hosts(), &hosts(&[C])[..]);
}

#[test]
fn the_app_that_owns_the_root_is_recorded_once() {
    let store = Rc::new(MemoryStore::new());
    // A store from before apps: alice at the root.
    let mut old = Harness::over(21, KmsConfig::default(), store.clone(), store.clone());
    old.setup_passphrase("alice", PASS_A);

    // The first frame bound records A (first in the allowlist) as the
    // root's owner: A still has alice.
    let first = apps(&[A, B], &[]);
    let mut a = engine_for(&store, &first, A, 22);
    assert!(a.unlock_passphrase("alice", PASS_A).is_ok());
    assert!(store.snapshot().contains_key("instance/root-app"));
    // The allowlist reordered later: the root stays A's, B still has no alice.
    let reordered = apps(&[B, A], &[]);
    let mut b = engine_for(&store, &reordered, B, 23);
    assert_eq!(b.rpc_err("list_enrollments", json!({"user": "alice"}))["code"], "not_found");
    let mut a = engine_for(&store, &reordered, A, 24);
    assert!(a.unlock_passphrase("alice", PASS_A).is_ok());
}

/// The bind of `host` under `apps`, as the worker makes it.
fn bind(store: &Rc<MemoryStore>, apps: &HostApps, host: &str) -> Result<(), kms_core::rpc::RpcError> {
    let shared: Rc<dyn Store> = store.clone();
    block_on(store_for(shared, apps.app_of(host).unwrap(), apps.first_host().unwrap()))
        .map(drop)
        .map_err(kms_core::rpc::RpcError::from)
}

#[test]
fn grouping_hosts_later_keeps_users_where_they_can_be_reached_or_refuses() {
    // A (the root's owner) and B each made a user on their own.
    let store = Rc::new(MemoryStore::new());
    let alone = apps(&[A, B, C], &[]);
    engine_for(&store, &alone, A, 31).setup_passphrase("alice", PASS_A);
    engine_for(&store, &alone, B, 32).setup_passphrase("bob", PASS_B);

    // Grouping A with C (no users of its own): the group has A's users.
    let ac = apps(&[A, B, C], &[("shop", &[C, A])]);
    let mut c = engine_for(&store, &ac, C, 33);
    assert!(c.unlock_passphrase("alice", PASS_A).is_ok());
    // Grouping B with C: the group has B's users, whichever comes first.
    let bc = apps(&[A, B, C], &[("shop", &[C, B])]);
    assert!(engine_for(&store, &bc, C, 34).unlock_passphrase("bob", PASS_B).is_ok());
    // Grouping A and B, who both have users: refused, naming both, and
    // nothing moved.
    let ab = apps(&[A, B, C], &[("shop", &[A, B])]);
    let before = store.snapshot();
    let e = bind(&store, &ab, B).unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}");
    assert!(e.message.contains(A) && e.message.contains(B), "{}", e.message);
    assert_eq!(store.snapshot(), before);
    // Split again: each finds its own users where they were.
    assert!(engine_for(&store, &alone, A, 35).unlock_passphrase("alice", PASS_A).is_ok());
    assert!(engine_for(&store, &alone, B, 36).unlock_passphrase("bob", PASS_B).is_ok());
}

#[test]
fn host_groups_are_checked() {
    let allowed = hosts(&[A, B]);
    let group = |name: &str, members: &[&str]| BTreeMap::from([(name.to_owned(), hosts(members))]);
    for (groups, why) in [
        (group("shop", &[A, C]), "not in allowed_hosts"),
        (group("Shop", &[A]), "group name"),
        (group("", &[A]), "group name"),
        (group("shop", &[]), "names no host"),
    ] {
        let e = HostApps::new(&allowed, &groups).unwrap_err();
        assert!(e.contains(why), "{e}");
    }
    let mut two = group("one", &[A]);
    two.insert("two".into(), hosts(&[A]));
    assert!(HostApps::new(&allowed, &two).unwrap_err().contains("two groups"));
}
