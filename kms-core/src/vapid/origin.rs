//! The origin of a push service: the only legal value of a VAPID JWT's `aud`.

use std::net::Ipv6Addr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

use crate::error::{CoreError, Result};
use crate::weburl;

/// Longest origin accepted, in bytes (a DNS name is at most 253 bytes).
pub const MAX_ORIGIN_LEN: usize = 2048;

/// Longest subscription endpoint URL accepted, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 4096;

const SCHEME_RULE: &str = "the scheme must be https (http is allowed only for localhost, 127.0.0.0/8 and [::1])";

/// The origin (`scheme://host[:port]`) of a push service, in its ASCII
/// serialization (WHATWG URL): exactly what RFC 8292 section 2 requires as
/// the JWT `aud`. A value of this type passed these checks:
///
/// - it is its own origin serialization: no path (not even `/`), query,
///   fragment or userinfo, lowercase host, IDNs in punycode, no default port;
/// - the scheme is `https`, or `http` for a loopback host (`localhost`,
///   `127.0.0.0/8`, `[::1]`), so that local test push services work but a
///   token is never addressed to a remote service over plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct PushOrigin(String);

impl PushOrigin {
    /// Parses an origin. A full endpoint URL is refused with a message that
    /// shows the origin to use instead.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(CoreError::invalid(
                "aud must not be empty: use the push service's origin, e.g. \"https://fcm.googleapis.com\"",
            ));
        }
        if s.len() > MAX_ORIGIN_LEN {
            return Err(CoreError::invalid(format!("aud is longer than {MAX_ORIGIN_LEN} bytes")));
        }
        let url = weburl::parse(s)
            .map_err(|e| CoreError::invalid(format!("aud must be an origin (scheme://host[:port]): {e}")))?;
        check_scheme_and_host(&url, "aud")?;
        let origin = url.origin().ascii_serialization();
        if origin != s {
            let why = if !url.username().is_empty() || url.password().is_some() {
                "without userinfo"
            } else if s.starts_with(&origin) {
                "not a full URL"
            } else {
                "in its ASCII serialization (lowercase host, punycode, no default port)"
            };
            return Err(CoreError::invalid(format!(
                "aud must be an origin (scheme://host[:port]), {why}: use \"{origin}\""
            )));
        }
        Ok(Self(origin))
    }

    /// The origin of a push subscription's `endpoint` URL, which is the `aud`
    /// for pushes to that subscription. The same scheme rules apply; an
    /// endpoint with userinfo is refused.
    pub fn from_endpoint(endpoint: &str) -> Result<Self> {
        if endpoint.is_empty() {
            return Err(CoreError::invalid("endpoint must not be empty"));
        }
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(CoreError::invalid(format!("endpoint is longer than {MAX_ENDPOINT_LEN} bytes")));
        }
        let url = weburl::parse(endpoint).map_err(|e| CoreError::invalid(format!("endpoint: {e}")))?;
        check_scheme_and_host(&url, "endpoint")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CoreError::invalid("endpoint must not contain userinfo"));
        }
        // The scheme checks make this a tuple origin; parse it again so the
        // result went through the same path as any other `PushOrigin`.
        Self::parse(&url.origin().ascii_serialization())
    }

    /// The origin as text, e.g. `https://fcm.googleapis.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// https with a host, or http with a loopback host.
fn check_scheme_and_host(url: &Url, field: &str) -> Result<()> {
    let host = url.host();
    match url.scheme() {
        "https" if host.is_some() => Ok(()),
        "http" if host.as_ref().is_some_and(is_loopback) => Ok(()),
        "http" => Err(CoreError::invalid(format!("{field}: {SCHEME_RULE}; use https for a remote push service"))),
        _ => Err(CoreError::invalid(format!("{field}: {SCHEME_RULE}"))),
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`. The `url` crate has already
/// lowercased the domain and normalized IP literals (`127.1` is
/// `127.0.0.1`).
fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => *d == "localhost",
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

impl std::fmt::Display for PushOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PushOrigin {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for PushOrigin {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PushOrigin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_shorthand_loopback_is_canonicalized_not_accepted_verbatim() {
        // `url` reads `127.1` as 127.0.0.1; the input is not its own
        // serialization, so it is refused with the canonical form shown.
        let err = PushOrigin::parse("http://127.1:9000").unwrap_err();
        assert!(err.to_string().contains("\"http://127.0.0.1:9000\""), "{err}");
    }

    #[test]
    fn from_endpoint_keeps_non_default_port_only() {
        assert_eq!(PushOrigin::from_endpoint("https://push.example:443/x").unwrap().as_str(), "https://push.example");
        assert_eq!(
            PushOrigin::from_endpoint("https://push.example:8443/x").unwrap().as_str(),
            "https://push.example:8443"
        );
    }
}
