//! What the relay keeps per user: the subscription, the lease credential,
//! the tokens, the token request the page is working on, and a short log
//! of what happened (shown by the demo page).

use std::collections::VecDeque;

use kms_client::relay::courier::{CourierPublic, ResponseKey};
use kms_client::relay::{TokenHolder, ValidatedSubscription};
use kms_core::ids::KeyId;
use kms_core::lease::LeaseCredential;
use serde::Serialize;

/// Events kept per user; older ones are dropped.
pub const MAX_EVENTS: usize = 50;

/// The lease, as far as the relay knows.
#[derive(Debug)]
pub enum Lease {
    /// No credential received yet.
    None,
    /// A credential to ask for tokens with (wiped when replaced or dropped).
    Active(LeaseCredential),
    /// The KMS refused the lease for good: the credential was dropped and
    /// the tokens discarded.
    Stopped {
        /// The lease's id.
        lease_id: String,
        /// The KMS's error code (`lease_revoked`, `lease_expired`, ...).
        code: String,
        /// What the relay concluded, in words.
        reason: String,
    },
}

/// A token request handed to the page and not answered yet.
#[derive(Debug)]
pub struct Pending {
    /// Random id the answer must carry.
    pub id: String,
    /// When it was handed out.
    pub offered_ms: u64,
    /// For a sealed request: the key its sealed answer opens with.
    pub response_key: Option<ResponseKey>,
}

/// One line of the user's relay log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `subscription`, `lease`, `tokens`, `refresh`, `push`, `stopped`, `error`.
    pub kind: &'static str,
    /// What happened, in words.
    pub text: String,
}

/// Everything the relay holds for one user.
#[derive(Debug)]
pub struct UserState {
    /// Where pushes go.
    pub subscription: Option<ValidatedSubscription>,
    /// The lease credential, or why there is none.
    pub lease: Lease,
    /// The lease's courier key, when the lease was made with this relay's
    /// key: token requests are then sealed to it, and the page that carries
    /// them reads neither them nor the tokens.
    pub courier_key: Option<CourierPublic>,
    /// VAPID tokens issued under the lease (one batch at most).
    pub tokens: TokenHolder,
    /// The key of the lease's first accepted batch: later batches must be
    /// signed by it.
    pub lease_kid: Option<KeyId>,
    /// The last batch ends before the refresh margin (the lease ends soon):
    /// use it up before asking again.
    pub short_batch: bool,
    /// The token request the page is working on.
    pub pending: Option<Pending>,
    /// Ask for tokens at the next poll, whatever the tokens held.
    pub refresh_now: bool,
    /// Do not ask for tokens before this time (after a quota refusal).
    pub not_before_ms: u64,
    /// Tokens received so far.
    pub tokens_received: u64,
    /// Pushes the push service accepted.
    pub pushes_delivered: u64,
    /// The log, oldest first.
    pub events: VecDeque<Event>,
}

impl UserState {
    pub fn new() -> Self {
        Self {
            subscription: None,
            lease: Lease::None,
            courier_key: None,
            tokens: TokenHolder::new(),
            lease_kid: None,
            short_batch: false,
            pending: None,
            refresh_now: false,
            not_before_ms: 0,
            tokens_received: 0,
            pushes_delivered: 0,
            events: VecDeque::new(),
        }
    }

    /// Appends to the log, dropping the oldest line beyond [`MAX_EVENTS`].
    pub fn log(&mut self, at_ms: u64, kind: &'static str, text: impl Into<String>) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event { at_ms, kind, text: text.into() });
    }

    /// Stops the lease for good: the credential is wiped, the tokens dropped
    /// (a revoked lease means the user no longer wants pushes from this
    /// relay, even while old tokens would still be accepted).
    pub fn stop(&mut self, at_ms: u64, code: &str, reason: String) {
        let lease_id = match &self.lease {
            Lease::Active(credential) => credential.lease_id().as_str().to_owned(),
            Lease::Stopped { lease_id, .. } => lease_id.clone(),
            Lease::None => String::new(),
        };
        self.lease = Lease::Stopped { lease_id, code: code.to_owned(), reason: reason.clone() };
        self.courier_key = None;
        self.tokens = TokenHolder::new();
        self.lease_kid = None;
        self.pending = None;
        self.refresh_now = false;
        self.log(at_ms, "stopped", reason);
    }
}
