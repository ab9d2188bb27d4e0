//! Which push services a subscription may point at: an allowlist of hosts
//! that a deployment configures, and whether loopback endpoints are allowed.
//!
//! Whoever holds a subscription sends HTTP requests to its endpoint, and
//! the KMS signs VAPID tokens for its origin. Without an allowlist a forged
//! subscription could make a relay POST to any host (an internal service, a
//! cloud metadata address) and make the KMS hand out tokens for it. With
//! one, endpoints go only to push services the deployment named.

use std::net::Ipv6Addr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

use crate::error::{CoreError, Result};

/// The default allowlist: the push services of the major browsers, as
/// [`HostPattern`]s. Each is the host (or `*.` suffix) of the endpoints its
/// browsers hand out:
///
/// - `fcm.googleapis.com`: Google's Firebase Cloud Messaging, the push
///   service of Chrome and most other Chromium-based browsers
///   (`https://fcm.googleapis.com/fcm/send/<token>`).
/// - `*.push.services.mozilla.com`: Mozilla's autopush, the push service of
///   Firefox (`https://updates.push.services.mozilla.com/wpush/v2/<token>`).
/// - `*.notify.windows.com`: Microsoft's Windows Push Notification Services,
///   the push service of Edge on Windows (regional hosts such as
///   `https://db5p.notify.windows.com/w/?token=<token>`).
/// - `*.push.apple.com`: the Apple Push Notification service, the push
///   service of Safari 16 and later and of Home Screen web apps on iOS and
///   iPadOS 16.4 and later (`https://web.push.apple.com/<token>`). Apple
///   asks servers to allow `*.push.apple.com`, so the wildcard rather than
///   the one host seen today.
///
/// Not included: `android.googleapis.com`, the Google Cloud Messaging
/// endpoint of subscriptions made without an `applicationServerKey` (before
/// VAPID). Such a subscription cannot be addressed with a VAPID key, which
/// is all this KMS signs with, and GCM itself was shut down in 2019; a
/// browser subscribing with an `applicationServerKey` gets an
/// `fcm.googleapis.com` endpoint. Also refused, as by every allowlist: the
/// `permanently-removed.invalid` placeholder endpoint some Chromium builds
/// return for a subscription that can no longer receive pushes.
pub const DEFAULT_PUSH_SERVICES: &[&str] =
    &["fcm.googleapis.com", "*.push.services.mozilla.com", "*.notify.windows.com", "*.push.apple.com"];

/// Longest DNS name (RFC 1035 section 2.3.4, without the trailing dot).
const MAX_DNS_NAME_LEN: usize = 253;

/// Longest DNS label (RFC 1035 section 2.3.4).
const MAX_DNS_LABEL_LEN: usize = 63;

/// One entry of the allowlist: a host name (`fcm.googleapis.com`), matched
/// exactly, or `*.` and a host name (`*.notify.windows.com`), matched by
/// every host that ends in `.notify.windows.com` with at least one more
/// label before it (not `notify.windows.com` itself). Matching is on whole
/// labels (`*.googleapis.com` does not match `notgoogleapis.com`) and
/// ASCII-case-insensitive.
///
/// A pattern is a DNS name in its ASCII form, stored lowercase: labels of
/// letters, digits and inner hyphens, at most 63 bytes each and 253 in
/// all, no trailing dot. Refused: IP addresses (push services are reached
/// by name), internationalized names not in punycode (`xn--`), a bare `*`,
/// a `*` anywhere but as the whole first label, a wildcard with fewer than
/// two labels after it (`*.com`), and `localhost` or `*.localhost` (loopback
/// is [`PushServicePolicy::with_loopback`]'s business).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPattern {
    /// The pattern as written, lowercase: `host` or `*.host`.
    text: String,
    /// Whether it starts with `*.`.
    wildcard: bool,
}

impl HostPattern {
    /// Parses a pattern (see the type's docs).
    pub fn parse(s: &str) -> Result<Self> {
        let refuse = |why: &str| CoreError::invalid(format!("push service allowlist entry {s:?}: {why}"));
        if s == "*" {
            return Err(refuse("a bare * would allow every host; name the push service's host"));
        }
        let (wildcard, name) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if name.contains('*') {
            return Err(refuse("* is allowed only as the whole first label, as in *.notify.windows.com"));
        }
        if !name.is_ascii() {
            return Err(refuse("write an internationalized host name in its punycode (xn--) form"));
        }
        let name = name.to_ascii_lowercase();
        if !is_dns_name(&name) {
            return Err(refuse(
                "expected a host name such as fcm.googleapis.com or *.notify.windows.com: letters, digits and \
                 hyphens in dot-separated labels, without scheme, port, path or trailing dot",
            ));
        }
        if name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(refuse("an IP address; push services are reached by host name"));
        }
        if name == "localhost" || name.ends_with(".localhost") {
            return Err(refuse(
                "loopback endpoints are not allowlisted by name; enable them with the policy's allow_loopback \
                 (tests and a local push service only)",
            ));
        }
        if wildcard && name.split('.').count() < 2 {
            return Err(refuse("too broad: a wildcard needs at least two labels after *. (as in *.example.com)"));
        }
        let text = if wildcard { format!("*.{name}") } else { name };
        Ok(Self { text, wildcard })
    }

    /// A default pattern, known to be valid (a unit test parses each).
    fn from_default(s: &'static str) -> Self {
        Self { text: s.to_owned(), wildcard: s.starts_with("*.") }
    }

    /// The pattern as text (lowercase).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `host` (a host name as the URL parser normalized it) matches.
    /// Anything that is not a well-formed DNS name (an IP address, a name
    /// with empty labels, a trailing dot, `*` or `_`) never matches.
    pub fn matches(&self, host: &str) -> bool {
        if !is_dns_name(host) {
            return false;
        }
        if !self.wildcard {
            return host.eq_ignore_ascii_case(&self.text);
        }
        // `*.suffix`: `host` is `<one or more labels>.suffix`.
        let dot_suffix = self.text.get(1..).unwrap_or_default();
        match host.len().checked_sub(dot_suffix.len()) {
            Some(split) if split > 0 => host.get(split..).is_some_and(|tail| tail.eq_ignore_ascii_case(dot_suffix)),
            _ => false,
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for HostPattern {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which push-service endpoints subscriptions may have. A deployment
/// configures it; [`Default`] is [`PushServicePolicy::major_push_services`].
///
/// An endpoint is admitted when:
///
/// - its host is a DNS name matched by an entry of the allowlist
///   ([`HostPattern`]) and its scheme is `https`; or
/// - `allow_loopback` is set, its host is `localhost`, in `127.0.0.0/8` or
///   `[::1]`, and its scheme is `http` or `https` (tests, and the demo's
///   local push service).
///
/// Everything else is refused, in particular: `http` to any other host; IP
/// addresses other than those loopback ones; and other names and addresses
/// of this machine (`*.localhost`, `0.0.0.0`, `[::]`, `[::ffff:127.0.0.1]`)
/// even with `allow_loopback`. Hosts are compared after the URL parser's
/// normalization (lowercase, punycode, percent-decoding): the host checked
/// is the host the request goes to. Ports are not restricted: an allowed
/// host is trusted on any port.
///
/// As JSON (for a deployment's configuration):
/// `{"hosts": ["fcm.googleapis.com", "*.push.apple.com"], "allow_loopback": false}`;
/// `allow_loopback` may be left out (false), unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushServicePolicy {
    hosts: Vec<HostPattern>,
    #[serde(default)]
    allow_loopback: bool,
}

impl Default for PushServicePolicy {
    fn default() -> Self {
        Self::major_push_services()
    }
}

impl PushServicePolicy {
    /// The push services of the major browsers ([`DEFAULT_PUSH_SERVICES`]),
    /// loopback refused.
    pub fn major_push_services() -> Self {
        Self {
            hosts: DEFAULT_PUSH_SERVICES.iter().map(|s| HostPattern::from_default(s)).collect(),
            allow_loopback: false,
        }
    }

    /// A custom allowlist, loopback refused. It replaces the defaults; to
    /// add to them, chain them in:
    /// `PushServicePolicy::new(DEFAULT_PUSH_SERVICES.iter().copied().chain(["push.example.net"]))`.
    /// Fails on the first invalid pattern, naming it. An empty list refuses
    /// every remote push service.
    pub fn new<I, S>(hosts: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out: Vec<HostPattern> = Vec::new();
        for s in hosts {
            let pattern = HostPattern::parse(s.as_ref())?;
            if !out.contains(&pattern) {
                out.push(pattern);
            }
        }
        Ok(Self { hosts: out, allow_loopback: false })
    }

    /// The same allowlist, with loopback endpoints allowed or not. Allow
    /// them only for tests and a local push service: with them, a
    /// subscription can make the relay send requests to its own machine.
    pub fn with_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Whether loopback endpoints are allowed.
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// The allowlist.
    pub fn hosts(&self) -> &[HostPattern] {
        &self.hosts
    }

    /// Whether a host name is on the allowlist (see [`HostPattern::matches`]).
    /// Loopback is decided separately, by [`Self::allows_loopback`].
    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|p| p.matches(host))
    }

    /// Admits a parsed endpoint URL or says why not (see the type's docs).
    pub(super) fn admit(&self, url: &Url) -> Result<()> {
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(CoreError::invalid("push subscription endpoint must use https"));
        }
        let host = url.host().ok_or_else(|| CoreError::invalid("push subscription endpoint has no host"))?;
        match this_machine(&host) {
            Some(_) if !self.allow_loopback => Err(CoreError::invalid(format!(
                "push subscription endpoint host {host} is this machine (loopback): refused unless the \
                 push-service policy allows loopback endpoints (allow_loopback, for tests and a local push service)"
            ))),
            Some(Loopback::Accepted) => Ok(()),
            Some(Loopback::Refused) => Err(CoreError::invalid(format!(
                "push subscription endpoint host {host} is this machine but not a loopback host accepted for \
                 tests: use localhost, 127.0.0.0/8 or [::1]"
            ))),
            None if scheme != "https" => Err(CoreError::invalid(format!(
                "push subscription endpoint must use https, not http, for {host} (http is accepted only for \
                 loopback hosts, when the push-service policy allows them)"
            ))),
            None => match host {
                Host::Domain(name) if self.allows_host(name) => Ok(()),
                Host::Domain(name) => Err(CoreError::invalid(format!(
                    "push subscription endpoint host {name} is not an allowed push service (allowed: {}); to \
                     accept it, add it, or a *. pattern covering it, to the deployment's push-service allowlist \
                     (PushServicePolicy)",
                    self.describe_hosts()
                ))),
                Host::Ipv4(_) | Host::Ipv6(_) => Err(CoreError::invalid(format!(
                    "push subscription endpoint host {host} is an IP address: push services are reached by host \
                     name; to accept a push service, add its host name to the deployment's push-service \
                     allowlist (PushServicePolicy)"
                ))),
            },
        }
    }

    fn describe_hosts(&self) -> String {
        if self.hosts.is_empty() {
            return "none, the allowlist is empty".to_owned();
        }
        self.hosts.iter().map(HostPattern::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// How a host that names this machine is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loopback {
    /// `localhost`, `127.0.0.0/8`, `[::1]`: allowed when the policy allows
    /// loopback, over `http` or `https` (the same set for which
    /// [`crate::vapid::PushOrigin`] accepts `http`).
    Accepted,
    /// Other names and addresses of this machine: always refused.
    Refused,
}

/// Whether `host` names this machine, and how it is treated. The URL parser
/// has already lowercased domains and normalized IP literals (`127.1` is
/// `127.0.0.1`).
fn this_machine(host: &Host<&str>) -> Option<Loopback> {
    match host {
        Host::Domain(d) => {
            let bare = d.strip_suffix('.').unwrap_or(d);
            if *d == "localhost" {
                Some(Loopback::Accepted)
            } else if bare == "localhost" || bare.ends_with(".localhost") {
                Some(Loopback::Refused)
            } else {
                None
            }
        }
        Host::Ipv4(ip) if ip.is_loopback() => Some(Loopback::Accepted),
        Host::Ipv4(ip) if ip.is_unspecified() => Some(Loopback::Refused),
        Host::Ipv4(_) => None,
        Host::Ipv6(ip) if *ip == Ipv6Addr::LOCALHOST => Some(Loopback::Accepted),
        Host::Ipv6(ip) => {
            let mapped_local = ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_unspecified());
            (ip.is_unspecified() || mapped_local).then_some(Loopback::Refused)
        }
    }
}

/// A DNS name in ASCII: 1 to 253 bytes of dot-separated labels, each 1 to
/// 63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_DNS_NAME_LEN
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_DNS_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_patterns() {
        let policy = PushServicePolicy::major_push_services();
        assert_eq!(policy.hosts().len(), DEFAULT_PUSH_SERVICES.len());
        for (pattern, s) in policy.hosts().iter().zip(DEFAULT_PUSH_SERVICES) {
            assert_eq!(pattern, &HostPattern::parse(s).unwrap(), "{s}");
        }
    }

    #[test]
    fn this_machine_classes() {
        let class = |u: &str| this_machine(&Url::parse(u).unwrap().host().unwrap());
        assert_eq!(class("http://localhost/"), Some(Loopback::Accepted));
        assert_eq!(class("http://127.9.9.9/"), Some(Loopback::Accepted));
        assert_eq!(class("http://[::1]/"), Some(Loopback::Accepted));
        assert_eq!(class("http://localhost./"), Some(Loopback::Refused));
        assert_eq!(class("http://a.localhost/"), Some(Loopback::Refused));
        assert_eq!(class("http://0.0.0.0/"), Some(Loopback::Refused));
        assert_eq!(class("http://[::]/"), Some(Loopback::Refused));
        assert_eq!(class("http://[::ffff:127.0.0.1]/"), Some(Loopback::Refused));
        assert_eq!(class("http://10.0.0.1/"), None);
        assert_eq!(class("http://localhost.example/"), None);
    }
}
