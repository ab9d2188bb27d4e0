//! What sets the KMS origin apart from a plain static one: the security
//! headers on every response and the generated `/kms-config.json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{AllowedOrigin, HostGroup, ServeError};

/// Where the iframe reads its configuration from.
pub const KMS_CONFIG_PATH: &str = "/kms-config.json";

/// The policy of the KMS origin: which host origins may embed the iframe,
/// whether the KMS may accept a push service on a loopback address (the
/// local push service of the tests and the demo; never in production), and
/// whether the frame offers gate-mode passkeys (which protect the keys by
/// policy, not at rest: a deployment may forbid new ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsPolicy {
    allowed_hosts: Vec<AllowedOrigin>,
    host_groups: Vec<HostGroup>,
    allow_loopback_push: bool,
    allow_passkey_gate: bool,
    /// The CSP sources of the bundle page's inline scripts (its import map
    /// and boot script), from the bundle's `manifest.json`.
    script_hashes: Vec<String>,
}

/// Where the bundle lists what its page needs.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The part of `manifest.json` the server reads.
#[derive(serde::Deserialize)]
struct ManifestHashes {
    #[serde(default)]
    csp_script_hashes: Vec<String>,
}

/// A CSP hash source as the manifest writes it: `'sha256-<44 base64>'`.
fn is_hash_source(s: &str) -> bool {
    s.strip_prefix("'sha256-").and_then(|r| r.strip_suffix('\'')).is_some_and(|b| {
        b.len() == 44 && b.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
    })
}

/// The body of `/kms-config.json`. The iframe reads its host allowlist from
/// here, from its own origin, and never from a URL parameter that whoever
/// frames it could choose.
#[derive(Serialize)]
struct KmsConfigJson<'a> {
    v: u32,
    allowed_hosts: Vec<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    host_groups: BTreeMap<&'a str, Vec<&'a str>>,
    allow_loopback_push: bool,
    allow_passkey_gate: bool,
}

impl KmsPolicy {
    /// A policy for these hosts (in order, duplicates dropped). At least one
    /// is required: a KMS nobody may frame is a misconfiguration.
    pub fn new(allowed_hosts: Vec<AllowedOrigin>, allow_loopback_push: bool) -> Result<Self, ServeError> {
        let mut unique: Vec<AllowedOrigin> = Vec::with_capacity(allowed_hosts.len());
        for host in allowed_hosts {
            if !unique.contains(&host) {
                unique.push(host);
            }
        }
        if unique.is_empty() {
            return Err(ServeError::NoAllowedHosts);
        }
        Ok(Self {
            allowed_hosts: unique,
            host_groups: Vec::new(),
            allow_loopback_push,
            allow_passkey_gate: true,
            script_hashes: Vec::new(),
        })
    }

    /// Hosts that share their users: each group's hosts must be allowed
    /// and in no other group. Without groups each host is an app of its
    /// own (its users are `not_found` to every other host).
    pub fn with_host_groups(self, groups: Vec<HostGroup>) -> Result<Self, ServeError> {
        let mut seen: Vec<&AllowedOrigin> = Vec::new();
        for group in &groups {
            if groups.iter().filter(|g| g.name() == group.name()).count() > 1 {
                return Err(ServeError::InvalidHostGroup(format!("the group {} is given twice", group.name())));
            }
            for host in group.hosts() {
                if !self.allowed_hosts.contains(host) {
                    return Err(ServeError::InvalidHostGroup(format!(
                        "{} in group {} is not an --allow-host origin",
                        host.as_str(),
                        group.name()
                    )));
                }
                if seen.contains(&host) {
                    return Err(ServeError::InvalidHostGroup(format!("{} is in two groups", host.as_str())));
                }
                seen.push(host);
            }
        }
        Ok(Self { host_groups: groups, ..self })
    }

    /// The frame refuses to enroll gate-mode passkeys (`forbidden`); those
    /// already enrolled still unlock.
    #[must_use]
    pub fn forbid_passkey_gate(self) -> Self {
        Self { allow_passkey_gate: false, ..self }
    }

    /// Allows the inline scripts of the bundle in `dir`: the hashes its
    /// `manifest.json` lists (`kms release manifest`). A directory without
    /// a manifest is refused (its page would start without its integrity
    /// checks), and so is a manifest that does not parse or lists anything
    /// but SHA-256 hash sources.
    pub fn with_bundle_manifest(self, dir: &std::path::Path) -> Result<Self, ServeError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            ServeError::Manifest(format!(
                "{}: {e} (serve the bundle scripts/build-web.sh writes, which has one)",
                path.display()
            ))
        })?;
        let m: ManifestHashes =
            serde_json::from_slice(&bytes).map_err(|e| ServeError::Manifest(format!("{}: {e}", path.display())))?;
        if let Some(bad) = m.csp_script_hashes.iter().find(|h| !is_hash_source(h)) {
            return Err(ServeError::Manifest(format!("{}: not a CSP hash source: {bad:.60}", path.display())));
        }
        Ok(Self { script_hashes: m.csp_script_hashes, ..self })
    }

    /// The origins allowed to embed the KMS iframe.
    pub fn allowed_hosts(&self) -> &[AllowedOrigin] {
        &self.allowed_hosts
    }

    /// The `Content-Security-Policy` of every KMS response: only the
    /// origin's own scripts, worker and WASM (`'wasm-unsafe-eval'` allows
    /// compiling WebAssembly, not `eval`), and the page's two inline
    /// scripts by their hashes (from the bundle's manifest), no plugins, no `<base>`, no form
    /// posts, and framing only by the allowed hosts.
    pub fn content_security_policy(&self) -> String {
        let ancestors: Vec<&str> = self.allowed_hosts.iter().map(AllowedOrigin::as_str).collect();
        let hashes: String = self.script_hashes.iter().map(|h| format!(" {h}")).collect();
        format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; worker-src 'self' blob:; connect-src 'self'; \
             style-src 'self'; img-src 'self'; frame-ancestors {}; base-uri 'none'; form-action 'none'",
            ancestors.join(" ")
        )
    }

    /// The headers of every KMS response (files, generated, errors).
    pub(super) fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Content-Security-Policy", self.content_security_policy()),
            // No other origin may load these files as subresources.
            ("Cross-Origin-Resource-Policy", "same-origin".into()),
            ("X-Content-Type-Options", "nosniff".into()),
            ("Referrer-Policy", "no-referrer".into()),
            ("Cache-Control", "no-cache".into()),
        ]
    }

    /// The body of `/kms-config.json`, e.g.
    /// `{"v":1,"allowed_hosts":["http://localhost:8080"],"allow_loopback_push":false,"allow_passkey_gate":true}`.
    pub fn config_json(&self) -> Result<Vec<u8>, ServeError> {
        let config = KmsConfigJson {
            v: 1,
            allowed_hosts: self.allowed_hosts.iter().map(AllowedOrigin::as_str).collect(),
            host_groups: self
                .host_groups
                .iter()
                .map(|g| (g.name(), g.hosts().iter().map(AllowedOrigin::as_str).collect()))
                .collect(),
            allow_loopback_push: self.allow_loopback_push,
            allow_passkey_gate: self.allow_passkey_gate,
        };
        Ok(serde_json::to_vec(&config)?)
    }
}
