//! The lease courier through the engine: the app page carries what the
//! relay and the KMS say to each other and reads none of it. Each test
//! plays the page (it sees every parameter and result as JSON) or a
//! replaying page, and the relay (it holds its courier secret).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::ids::UserId;
use kms_core::lease::courier::{self, CourierPublic, CourierSecret, REQUEST_WINDOW_MS};
use kms_core::lease::{IssueRequest, LeaseCredential, LeaseId};
use kms_core::rpc::LeaseIssueResult;
use rand_chacha::rand_core::SeedableRng as _;
use serde_json::{json, Value};
use support::*;

const FCM: &str = "https://fcm.googleapis.com";

struct Courier {
    h: Harness,
    session: String,
    relay: CourierSecret,
    lease_id: LeaseId,
    courier_key: CourierPublic,
    /// What `lease_create` answered, as the page saw it.
    created: Value,
    rng: rand_chacha::ChaCha20Rng,
}

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn request(count: u32) -> IssueRequest {
    IssueRequest { aud: FCM.into(), sub: "mailto:ops@example.com".into(), count, ttl_s: None }
}

impl Courier {
    fn new(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let mut h = Harness::new(seed);
        let session = h.setup_passphrase("alice", PASS_A).session.as_str().to_owned();
        h.rpc_ok("vapid_generate", json!({"user": "alice", "session": session}));
        let relay = CourierSecret::generate(&mut rng);
        let created = h.rpc_ok(
            "lease_create",
            json!({"user": "alice", "session": session, "lease": {"relay": "relay-1", "audiences": [FCM]},
                   "relay_key": relay.public().to_b64()}),
        );
        let lease_id = LeaseId::parse(created["lease"]["id"].as_str().unwrap()).unwrap();
        let courier_key = CourierPublic::parse(created["courier_key"].as_str().unwrap()).unwrap();
        Self { h, session, relay, lease_id, courier_key, created, rng }
    }

    /// The relay's copy of the credential, opened from what the page carried.
    fn credential(&self) -> LeaseCredential {
        let sealed = self.created["sealed_credential"].as_str().unwrap();
        let (credential, courier_key) =
            courier::open_credential(&self.relay, &alice(), &self.lease_id, sealed).unwrap();
        assert_eq!(courier_key, self.courier_key, "the sealed grant names the lease's courier key");
        credential
    }

    /// A request sealed by the relay at the engine's `now + skew_ms`.
    fn seal(&mut self, count: u32, skew_ms: i64) -> (String, courier::ResponseKey) {
        let at = self.h.now().checked_add_signed(skew_ms).unwrap();
        courier::seal_request(&self.courier_key, &alice(), &self.credential(), &request(count), at, &mut self.rng)
            .unwrap()
    }

    fn carry(&mut self, sealed: &str) -> Result<Value, Value> {
        self.h.rpc("lease_courier", json!({"user": "alice", "lease_id": self.lease_id.as_str(), "sealed": sealed}))
    }
}

#[test]
fn the_page_that_asks_for_a_lease_never_holds_its_credential() {
    let c = Courier::new(1400);
    let credential = c.credential();
    let seen = c.created.to_string();
    assert!(c.created.get("credential").is_none(), "{seen}");
    assert!(!seen.contains(credential.dangerous_to_text().as_str()), "the credential crossed the page");
    assert!(!seen.contains("kmsl1."), "{seen}");
    // Without a relay key the answer is as before: the credential in the clear.
    let mut h = c.h;
    let plain = h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": c.session, "lease": {"relay": "relay-2", "audiences": [FCM]}}),
    );
    assert!(plain["credential"].as_str().unwrap().starts_with("kmsl1."));
    assert!(plain.get("sealed_credential").is_none() && plain.get("courier_key").is_none());
}

#[test]
fn tokens_travel_sealed_both_ways_and_only_the_relay_reads_them() {
    let mut c = Courier::new(1401);
    let (sealed, key) = c.seal(3, 0);
    let credential = c.credential();
    assert!(!sealed.contains(credential.dangerous_to_text().as_str()));
    let answer = c.carry(&sealed).unwrap();
    let seen = answer.to_string();
    assert!(!seen.contains("eyJ"), "a token crossed the page: {seen}");
    let opened: LeaseIssueResult =
        serde_json::from_slice(&key.open(answer["sealed"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(opened.tokens.len(), 3);
    assert!(opened.tokens.iter().all(|t| t.jwt.starts_with("eyJ") && t.authorization.starts_with("vapid t=")));
    // Audited like lease_issue.
    let export = c.h.rpc_ok("audit_export", json!({"user": "alice", "session": c.session}));
    let text = export["export"].as_str().unwrap();
    assert_eq!(text.matches(r#""event":"lease_token","outcome":"ok""#).count(), 3);
}

#[test]
fn a_replayed_request_is_refused_and_issues_nothing() {
    let mut c = Courier::new(1402);
    let (sealed, _) = c.seal(2, 0);
    c.carry(&sealed).unwrap();
    let lease_before = c.h.record(&format!("users/alice/leases/{}", c.lease_id.as_str()));
    let again = c.carry(&sealed).unwrap_err();
    // Not `forbidden`: the relay asks again rather than ending the lease.
    assert_eq!(again["code"], "invalid_input", "{again}");
    assert!(again["message"].as_str().unwrap().contains("replay"), "{again}");
    let lease_after = c.h.record(&format!("users/alice/leases/{}", c.lease_id.as_str()));
    assert_eq!(lease_before["issued"], lease_after["issued"], "the replay used quota");
    let export = c.h.rpc_ok("audit_export", json!({"user": "alice", "session": c.session}));
    let text = export["export"].as_str().unwrap();
    assert!(text.contains(r#""event":"lease_token","outcome":"refused""#), "the replay was not audited");
}

#[test]
fn a_request_outside_the_clock_window_or_for_another_lease_is_refused() {
    let mut c = Courier::new(1403);
    let window = i64::try_from(REQUEST_WINDOW_MS).unwrap();
    for skew in [-window - 1_000, window + 1_000] {
        let (sealed, _) = c.seal(1, skew);
        let e = c.carry(&sealed).unwrap_err();
        assert_eq!(e["code"], "invalid_input", "{e}");
    }
    let (inside, _) = c.seal(1, -window + 5_000);
    c.carry(&inside).unwrap();
    // Carried to another lease of the same user: sealed for this one.
    let other = c.h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": c.session, "lease": {"relay": "relay-1", "audiences": [FCM]},
               "relay_key": c.relay.public().to_b64()}),
    );
    let (sealed, _) = c.seal(1, 0);
    let e =
        c.h.rpc("lease_courier", json!({"user": "alice", "lease_id": other["lease"]["id"], "sealed": sealed}))
            .unwrap_err();
    assert_eq!(e["code"], "forbidden", "{e}");
    // A lease made without a relay key takes no courier requests.
    let plain = c.h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": c.session, "lease": {"relay": "relay-3", "audiences": [FCM]}}),
    );
    let e =
        c.h.rpc("lease_courier", json!({"user": "alice", "lease_id": plain["lease"]["id"], "sealed": sealed}))
            .unwrap_err();
    assert_eq!(e["code"], "invalid_input", "{e}");
}

#[test]
fn a_revoked_lease_tells_the_relay_so_through_the_courier() {
    let mut c = Courier::new(1404);
    let key = format!("users/alice/leases/{}", c.lease_id.as_str());
    c.h.rpc_ok("lease_revoke", json!({"user": "alice", "session": c.session, "lease_id": c.lease_id.as_str()}));
    let record = c.h.record(&key);
    assert!(record.get("sealed_key").is_none_or(Value::is_null), "{record}");
    let (sealed, _) = c.seal(1, 0);
    assert_eq!(c.carry(&sealed).unwrap_err()["code"], "lease_revoked");
}
