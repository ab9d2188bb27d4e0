//! Which app a host page belongs to, and the part of the store that app's
//! users live in.
//!
//! An *app* is one allowed host origin, or a named group of them that a
//! deployment declares in its `kms-config.json` (`host_groups`). Users
//! belong to the app whose page created them: an engine serving app A runs
//! over A's own subtree of the store ([`kms_storage::Subtree`]), so a user
//! of A does not exist for B (`not_found`, as for a user nobody created),
//! B may create a user of the same name without learning that A has one,
//! and nothing B sends (a refused call, an unlock attempt) reaches A's
//! records or A's audit log.
//!
//! Where an app's users live follows its hosts, not its name, so that a
//! deployment may group hosts or split a group later without moving
//! anybody's users out of reach:
//!
//! - One host owns the store's root: the first allowed host at the first
//!   bind (`instance/root-app` records it), which held the users created
//!   before apps existed. The app that has this host (alone or in a
//!   group) works in the root; reordering the allowlist changes nothing.
//! - Any other app works in a subtree of one of its hosts: `apps/<tag>`,
//!   `tag` derived from that host's origin. That host is the one member
//!   whose subtree holds users, or, when none does, the app's *anchor*,
//!   its first host (the group's first member as `host_groups` lists it).
//! - A group whose members would bring two sets of users (the root and a
//!   member's subtree, or two members' subtrees) is refused at bind with
//!   the hosts named: merging users is not supported, and nothing is
//!   picked silently.

use std::collections::BTreeMap;
use std::rc::Rc;

use kms_storage::{KeyPrefix, Store, StoreError, StoreKey, Subtree, WriteBatch};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use kms_core::CoreError;

use crate::error::{EngineError, EngineResult};

/// Most groups a deployment declares.
pub const MAX_GROUPS: usize = 16;

/// Where the store records which app owns its root.
const ROOT_APP_KEY: &str = "instance/root-app";

/// Domain separation of the namespace tag.
const TAG_DOMAIN: &[u8] = b"kms-app/v1\0";

/// Bytes of SHA-256 kept in a namespace tag (22 base64url characters).
const TAG_BYTES: usize = 16;

/// One app: its id (`host:<origin>` or `group:<name>`) and its host
/// origins, the anchor first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    id: String,
    hosts: Vec<String>,
}

/// `apps/<tag>`: the subtree of the users of an app anchored at `host`,
/// `tag` the first 16 bytes of SHA-256 over the host's origin, base64url
/// (store keys allow neither `:` nor `/`, and a fixed length keeps every
/// key within its limits).
fn namespace_of(host: &str) -> EngineResult<KeyPrefix> {
    let digest = Sha256::new().chain_update(TAG_DOMAIN).chain_update(host.as_bytes()).finalize();
    let tag = kms_core::b64::encode(digest.get(..TAG_BYTES).unwrap_or_default());
    KeyPrefix::from_segments(&["apps", &tag]).map_err(|e| EngineError::internal(format!("app namespace: {e}")))
}

impl App {
    /// `host:<origin>` for a host of its own, `group:<name>` for a group.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host origins whose pages act for this app.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The subtree this app works in unless it owns the root: its
    /// anchor's.
    pub fn namespace(&self) -> EngineResult<KeyPrefix> {
        namespace_of(self.hosts.first().map(String::as_str).unwrap_or_default())
    }
}

/// The apps of a deployment: every allowed host, each in its group or on
/// its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostApps {
    /// In the order of the allowlist (a group where its first host is).
    apps: Vec<App>,
}

impl HostApps {
    /// The apps of `allowed_hosts`, with `groups` (name to hosts) joining
    /// some of them. Every grouped host must be allowed and in one group
    /// only; group names are 1 to 32 of `[a-z0-9-]`.
    pub fn new(allowed_hosts: &[String], groups: &BTreeMap<String, Vec<String>>) -> Result<Self, String> {
        if groups.len() > MAX_GROUPS {
            return Err(format!("host_groups: at most {MAX_GROUPS} groups"));
        }
        let mut group_of: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, hosts) in groups {
            let name_ok = (1..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !name_ok {
                return Err("host_groups: a group name is 1 to 32 of a-z, 0-9 and -".into());
            }
            if hosts.is_empty() {
                return Err(format!("host_groups: group {name} names no host"));
            }
            for host in hosts {
                if !allowed_hosts.contains(host) {
                    return Err(format!("host_groups: group {name} names a host that is not in allowed_hosts"));
                }
                if group_of.insert(host.as_str(), name.as_str()).is_some() {
                    return Err("host_groups: a host is in two groups".into());
                }
            }
        }
        let mut apps: Vec<App> = Vec::new();
        for host in allowed_hosts {
            let app = match group_of.get(host.as_str()) {
                Some(name) => {
                    App { id: format!("group:{name}"), hosts: groups.get(*name).cloned().unwrap_or_default() }
                }
                None => App { id: format!("host:{host}"), hosts: vec![host.clone()] },
            };
            if !apps.contains(&app) {
                apps.push(app);
            }
        }
        Ok(Self { apps })
    }

    /// The app `origin` (a host origin as the frame's handshake verified
    /// it) acts for, if it is allowed.
    pub fn app_of(&self, origin: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.hosts.iter().any(|h| h == origin))
    }

    /// The first allowed host: the root's owner when the store has
    /// recorded none yet.
    pub fn first_host(&self) -> Option<&str> {
        self.apps.first().and_then(|a| a.hosts.first()).map(String::as_str)
    }
}

/// What `instance/root-app` holds: the host whose app owns the root.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootApp {
    v: u32,
    host: String,
}

/// The store an engine serving `app` works in: the root of `store` if one
/// of its hosts owns it, its anchor's subtree otherwise. The root's owner
/// is read from the store, or recorded there as `first_host` when the
/// store names none yet. Refused when the app's hosts hold two sets of
/// users (module docs).
pub async fn store_for(store: Rc<dyn Store>, app: &App, first_host: &str) -> EngineResult<Box<dyn Store>> {
    let key = StoreKey::new(ROOT_APP_KEY).map_err(|e| EngineError::internal(format!("store key: {e}")))?;
    let owner = match store.get(&key).await? {
        Some(bytes) => read_root(&bytes)?,
        None => {
            let record = serde_json::to_vec(&RootApp { v: 2, host: first_host.to_owned() })
                .map_err(|_| EngineError::internal("could not encode the root app"))?;
            let mut batch = WriteBatch::new();
            batch.expect_absent(&key)?.put(&key, record)?;
            match store.commit(batch).await {
                Ok(()) => first_host.to_owned(),
                // Another tab recorded it first: theirs stands.
                Err(StoreError::Conflict { .. }) => {
                    let bytes = store.get(&key).await?.ok_or_else(|| EngineError::internal("root app vanished"))?;
                    read_root(&bytes)?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let owns_root = app.hosts.contains(&owner);
    // Whose users the app's hosts bring: the root's (when it owns it), and
    // those of every member's own subtree but the one it will work in.
    let mut holders: Vec<&str> = Vec::new();
    if owns_root {
        holders.push(owner.as_str());
    }
    for host in &app.hosts {
        if !(owns_root && host == &owner) && has_users(&store, host).await? {
            holders.push(host);
        }
    }
    if holders.len() > 1 {
        return Err(CoreError::Forbidden(format!(
            "the hosts of {} each hold users of their own ({}): grouping hosts does not merge their users; \
             leave them ungrouped, or group only hosts of which at most one has users",
            app.id,
            holders.join(", ")
        ))
        .into());
    }
    if owns_root {
        return Ok(Box::new(store));
    }
    // The one member that holds users keeps them; with none, the anchor.
    let home = match holders.first() {
        Some(host) => namespace_of(host)?,
        None => app.namespace()?,
    };
    Ok(Box::new(Subtree::new(store, &home)))
}

/// Whether the subtree anchored at `host` holds any user's record.
async fn has_users(store: &Rc<dyn Store>, host: &str) -> EngineResult<bool> {
    let users = KeyPrefix::new(&format!("{}/users", namespace_of(host)?.as_str()))
        .map_err(|e| EngineError::internal(format!("app namespace: {e}")))?;
    match store.list(&users, 1).await {
        Ok(rows) => Ok(!rows.is_empty()),
        // More than one record: it holds users.
        Err(StoreError::TooMany { .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

fn read_root(bytes: &[u8]) -> EngineResult<String> {
    match serde_json::from_slice::<RootApp>(bytes) {
        Ok(r) if r.v == 2 && r.host.len() <= 512 => Ok(r.host),
        _ => Err(EngineError::corrupt(format!("{ROOT_APP_KEY} is corrupt"))),
    }
}
