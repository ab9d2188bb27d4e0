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
//! One app keeps the store's root: the one that owned the users created
//! before apps existed. The first time any app is bound, the store records
//! which app that is (`instance/root-app`): the app of the first allowed
//! host. It stays so whatever later happens
//! to the order of the allowlist.

use std::collections::BTreeMap;
use std::rc::Rc;

use kms_storage::{KeyPrefix, Store, StoreError, StoreKey, Subtree, WriteBatch};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{EngineError, EngineResult};

/// Most groups a deployment declares.
pub const MAX_GROUPS: usize = 16;

/// Where the store records which app owns its root.
const ROOT_APP_KEY: &str = "instance/root-app";

/// Domain separation of the namespace tag.
const TAG_DOMAIN: &[u8] = b"kms-app/v1\0";

/// Bytes of SHA-256 kept in a namespace tag (22 base64url characters).
const TAG_BYTES: usize = 16;

/// One app: its id (`host:<origin>` or `group:<name>`) and its host origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    id: String,
    hosts: Vec<String>,
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

    /// `apps/<tag>`: the subtree of this app's records, `tag` the first 16
    /// bytes of SHA-256 over the id, base64url (store keys allow neither
    /// `:` nor `/`, and a fixed length keeps every key within its limits).
    pub fn namespace(&self) -> EngineResult<KeyPrefix> {
        let digest = Sha256::new().chain_update(TAG_DOMAIN).chain_update(self.id.as_bytes()).finalize();
        let tag = kms_core::b64::encode(digest.get(..TAG_BYTES).unwrap_or_default());
        KeyPrefix::from_segments(&["apps", &tag]).map_err(|e| EngineError::internal(format!("app namespace: {e}")))
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

    /// The app of the first allowed host: the root's owner when the store
    /// has recorded none yet.
    pub fn first(&self) -> Option<&App> {
        self.apps.first()
    }
}

/// What `instance/root-app` holds.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootApp {
    v: u32,
    app: String,
}

/// The store an engine serving `app` works in: the root of `store` if `app`
/// owns it, its own subtree otherwise. The root's owner is read from the
/// store, or recorded there as `first` when the store names none yet.
pub async fn store_for(store: Rc<dyn Store>, app: &App, first: &App) -> EngineResult<Box<dyn Store>> {
    let key = StoreKey::new(ROOT_APP_KEY).map_err(|e| EngineError::internal(format!("store key: {e}")))?;
    let owner = match store.get(&key).await? {
        Some(bytes) => read_root(&bytes)?,
        None => {
            let record = serde_json::to_vec(&RootApp { v: 1, app: first.id.clone() })
                .map_err(|_| EngineError::internal("could not encode the root app"))?;
            let mut batch = WriteBatch::new();
            batch.expect_absent(&key)?.put(&key, record)?;
            match store.commit(batch).await {
                Ok(()) => first.id.clone(),
                // Another tab recorded it first: theirs stands.
                Err(StoreError::Conflict { .. }) => {
                    let bytes = store.get(&key).await?.ok_or_else(|| EngineError::internal("root app vanished"))?;
                    read_root(&bytes)?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if owner == app.id {
        Ok(Box::new(store))
    } else {
        Ok(Box::new(Subtree::new(store, &app.namespace()?)))
    }
}

fn read_root(bytes: &[u8]) -> EngineResult<String> {
    match serde_json::from_slice::<RootApp>(bytes) {
        Ok(r) if r.v == 1 && r.app.len() <= 512 => Ok(r.app),
        _ => Err(EngineError::corrupt(format!("{ROOT_APP_KEY} is corrupt"))),
    }
}
