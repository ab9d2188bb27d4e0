//! What the push service remembers: subscriptions, their queued messages,
//! and a count of answers per status code. In memory only, capped.

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore as _};

/// The most subscriptions kept, deleted ones included (they answer 410).
pub const MAX_SUBSCRIPTIONS: usize = 1000;

/// The most messages queued per subscription; a new one drops the oldest.
pub const MAX_QUEUED_MESSAGES: usize = 100;

/// Random bytes in a subscription id: 128 bits, 22 characters of base64url.
const ID_BYTES: usize = 16;

/// Length of a subscription id in characters.
pub const ID_LEN: usize = 22;

/// The length of an uncompressed P-256 point (SEC 1 section 2.3.3).
pub const POINT_LEN: usize = 65;

/// A subscription's id: 22 characters of base64url from 16 random bytes.
/// The endpoint URL is a capability (anyone who knows it may push, given a
/// token), so the id is unguessable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionId(String);

impl SubscriptionId {
    /// A fresh id from the OS's CSPRNG; `None` if it failed.
    fn random() -> Option<Self> {
        let mut bytes = [0u8; ID_BYTES];
        OsRng.try_fill_bytes(&mut bytes).ok()?;
        Some(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// An id from a URL path segment: exactly 22 base64url characters.
    pub fn parse(segment: &str) -> Option<Self> {
        let well_formed =
            segment.len() == ID_LEN && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(segment.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message accepted for delivery, still encrypted.
#[derive(Debug, Clone)]
pub struct Message {
    /// Sequence number, unique across the service and increasing.
    pub n: u64,
    /// The `TTL` accepted (capped), in seconds.
    pub ttl: u64,
    /// `Urgency`, as sent (checked), if any.
    pub urgency: Option<String>,
    /// `Topic`, as sent (checked), if any.
    pub topic: Option<String>,
    /// The body, as received (`aes128gcm`); empty for a push without payload.
    pub body: Vec<u8>,
    /// When it was accepted, milliseconds since the Unix epoch.
    pub received_ms: u64,
}

/// A subscription: the key it was made with, and its queue until deleted.
#[derive(Debug)]
struct Subscription {
    application_server_key: [u8; POINT_LEN],
    /// `None` once deleted: pushes then answer 410 Gone.
    queue: Option<VecDeque<Message>>,
}

/// Why the store refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// No subscription has this id (or it was forgotten to make room).
    Unknown,
    /// The subscription was deleted.
    Gone,
    /// [`MAX_SUBSCRIPTIONS`] live subscriptions and no deleted one to forget.
    Full,
    /// The OS's random number generator failed.
    Random,
}

/// The state behind the service's mutex.
#[derive(Debug, Default)]
pub struct Store {
    subscriptions: HashMap<SubscriptionId, Subscription>,
    /// Ids in creation order, to forget the oldest deleted one when full.
    created: VecDeque<SubscriptionId>,
    /// The last message number handed out.
    last_n: u64,
    /// Answers given, per status code.
    statuses: BTreeMap<u16, u64>,
}

impl Store {
    /// Adds a subscription bound to `application_server_key`. When the store
    /// is full, the oldest deleted subscription is forgotten (a push to it
    /// then gets 404 rather than 410); with none deleted, [`StoreError::Full`].
    pub fn subscribe(&mut self, application_server_key: [u8; POINT_LEN]) -> Result<SubscriptionId, StoreError> {
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            let oldest_deleted = self
                .created
                .iter()
                .position(|id| self.subscriptions.get(id).is_some_and(|s| s.queue.is_none()))
                .ok_or(StoreError::Full)?;
            if let Some(id) = self.created.remove(oldest_deleted) {
                self.subscriptions.remove(&id);
            }
        }
        let id = SubscriptionId::random().ok_or(StoreError::Random)?;
        if self.subscriptions.contains_key(&id) {
            // 128 random bits collided: the generator is broken.
            return Err(StoreError::Random);
        }
        let subscription = Subscription { application_server_key, queue: Some(VecDeque::new()) };
        self.subscriptions.insert(id.clone(), subscription);
        self.created.push_back(id.clone());
        Ok(id)
    }

    /// The key a live subscription was made with.
    pub fn application_server_key(&self, id: &SubscriptionId) -> Result<[u8; POINT_LEN], StoreError> {
        let subscription = self.subscriptions.get(id).ok_or(StoreError::Unknown)?;
        match subscription.queue {
            Some(_) => Ok(subscription.application_server_key),
            None => Err(StoreError::Gone),
        }
    }

    /// Queues a message for a live subscription and returns its number.
    /// The message's `n` is set here.
    pub fn enqueue(&mut self, id: &SubscriptionId, mut message: Message) -> Result<u64, StoreError> {
        let subscription = self.subscriptions.get_mut(id).ok_or(StoreError::Unknown)?;
        let queue = subscription.queue.as_mut().ok_or(StoreError::Gone)?;
        self.last_n = self.last_n.saturating_add(1);
        message.n = self.last_n;
        if queue.len() >= MAX_QUEUED_MESSAGES {
            queue.pop_front();
        }
        queue.push_back(message);
        Ok(self.last_n)
    }

    /// The queued messages numbered above `after`, oldest first.
    pub fn messages_after(&self, id: &SubscriptionId, after: u64) -> Result<Vec<Message>, StoreError> {
        let subscription = self.subscriptions.get(id).ok_or(StoreError::Unknown)?;
        let queue = subscription.queue.as_ref().ok_or(StoreError::Gone)?;
        Ok(queue.iter().filter(|m| m.n > after).cloned().collect())
    }

    /// Deletes a subscription: its queue goes, its id stays known (410).
    pub fn delete(&mut self, id: &SubscriptionId) -> Result<(), StoreError> {
        let subscription = self.subscriptions.get_mut(id).ok_or(StoreError::Unknown)?;
        subscription.queue.take().map(drop).ok_or(StoreError::Gone)
    }

    /// Counts an answer.
    pub fn count(&mut self, status: u16) {
        let count = self.statuses.entry(status).or_default();
        *count = count.saturating_add(1);
    }

    /// Answers given so far, per status code.
    pub fn statuses(&self) -> &BTreeMap<u16, u64> {
        &self.statuses
    }

    /// (live subscriptions, deleted ones still known, messages queued).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let live = self.subscriptions.values().filter_map(|s| s.queue.as_ref());
        let (count, queued) = live.fold((0, 0), |(count, queued), q| (count + 1, queued + q.len()));
        (count, self.subscriptions.len() - count, queued)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn message() -> Message {
        Message { n: 0, ttl: 60, urgency: None, topic: None, body: Vec::new(), received_ms: 0 }
    }

    /// A push checked while the subscription was live, and deleted before it
    /// was queued (another thread's DELETE), is refused like any other.
    #[test]
    fn enqueue_after_delete_is_gone_and_numbers_stay_unique() {
        let mut store = Store::default();
        let id = store.subscribe([4; POINT_LEN]).unwrap();
        assert_eq!(store.enqueue(&id, message()), Ok(1));
        store.delete(&id).unwrap();
        assert_eq!(store.enqueue(&id, message()), Err(StoreError::Gone));
        assert_eq!(store.application_server_key(&id), Err(StoreError::Gone));
        let other = store.subscribe([4; POINT_LEN]).unwrap();
        assert_eq!(store.enqueue(&other, message()), Ok(2));
        assert_eq!(store.sizes(), (1, 1, 1));
    }
}
