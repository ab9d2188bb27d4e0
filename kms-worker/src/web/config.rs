//! What the KMS iframe tells the engine when it starts it, and what the
//! engine reads off its own global scope instead of being told.

use std::collections::BTreeMap;

use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::apps::HostApps;
use crate::KmsConfig;

/// The longest configuration text accepted: what the frame reads from
/// `/kms-config.json` and checks against the same caps
/// (`kms-worker/web/frame-config.js`).
const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// The longest host origin, as `kms-serve` and the frame accept.
const MAX_ORIGIN_BYTES: usize = 512;

/// The worker's start-up options (JSON from the KMS iframe).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebOptions {
    /// The IndexedDB database of the KMS origin (default `kms`).
    #[serde(default = "default_db_name")]
    db_name: String,
    /// Whether push subscriptions may point at a loopback push service (the
    /// demo's local one). Never in production.
    #[serde(default)]
    allow_loopback_push: bool,
    /// Session lifetime in milliseconds (default: the engine's, 5 minutes).
    #[serde(default)]
    session_ttl_ms: Option<u64>,
    /// The host pages allowed to embed the KMS frame (from the KMS origin's
    /// own kms-config.json): a gate-mode assertion made in the frame names
    /// its top page, which must be one of them.
    #[serde(default)]
    allowed_hosts: Vec<String>,
    /// Longest lease lifetime in seconds (default: the engine's, 7 days;
    /// at most 30 days).
    #[serde(default)]
    max_lease_lifetime_s: Option<u64>,
    /// Allowed hosts that share their users, by group name (from
    /// kms-config.json); every other host is an app of its own
    /// (`crate::apps`).
    #[serde(default)]
    host_groups: BTreeMap<String, Vec<String>>,
}

/// Most host origins one KMS origin serves.
const MAX_HOSTS: usize = 64;

fn default_db_name() -> String {
    "kms".into()
}

/// The engine configuration of a browser instance.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The IndexedDB database name.
    pub db_name: String,
    /// The engine's configuration (before it is bound to an app).
    pub engine: KmsConfig,
    /// The apps of the allowed hosts.
    pub apps: HostApps,
}

impl WebConfig {
    /// Parses the start-up options. The WebAuthn relying party id and the
    /// origin gate assertions must come from are the worker's own location
    /// (the KMS origin), not options: nobody can talk the engine into
    /// accepting assertions made for another site.
    pub fn parse(json: &str) -> Result<Self, String> {
        if json.len() > MAX_CONFIG_BYTES {
            return Err(format!("worker options: larger than {MAX_CONFIG_BYTES} bytes"));
        }
        let opts: WebOptions = serde_json::from_str(json).map_err(|e| format!("worker options: {e}"))?;
        if opts.db_name.is_empty() || opts.db_name.len() > 64 || !opts.db_name.chars().all(|c| c.is_ascii_graphic()) {
            return Err("worker options: db_name must be 1 to 64 printable ASCII characters".into());
        }
        if opts.allowed_hosts.len() > MAX_HOSTS
            || opts.allowed_hosts.iter().any(|h| h.is_empty() || h.len() > MAX_ORIGIN_BYTES)
        {
            return Err(format!("worker options: allowed_hosts must be at most {MAX_HOSTS} origins"));
        }
        let apps = HostApps::new(&opts.allowed_hosts, &opts.host_groups).map_err(|e| format!("worker options: {e}"))?;
        let (origin, host) = own_location()?;
        let mut engine = KmsConfig {
            rp_id: host,
            allowed_origins: vec![origin],
            allowed_top_origins: opts.allowed_hosts,
            ..KmsConfig::default()
        };
        engine.push_services = engine.push_services.with_loopback(opts.allow_loopback_push);
        if let Some(ttl) = opts.session_ttl_ms {
            engine.session_ttl_ms = ttl;
        }
        if let Some(max) = opts.max_lease_lifetime_s {
            engine.max_lease_lifetime_s = max;
        }
        Ok(Self { db_name: opts.db_name, engine, apps })
    }
}

/// `self.location.origin` and `.hostname` of the global scope.
fn own_location() -> Result<(String, String), String> {
    let location = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("location"))
        .map_err(|_| "the global scope has no location".to_owned())?;
    let field = |name: &str| {
        js_sys::Reflect::get(&location, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("the global scope's location has no {name}"))
    };
    let origin = field("origin")?;
    // The engine's worker runs from a blob: URL (the frame starts it from
    // the bytes it checked): its location has no hostname of its own, but
    // its origin is the KMS origin that made the blob.
    let hostname = match field("hostname") {
        Ok(h) => h,
        Err(_) => crate::config::host_of_origin(&origin)
            .ok_or_else(|| format!("the global scope's origin {origin} has no host"))?,
    };
    Ok((origin, hostname))
}
