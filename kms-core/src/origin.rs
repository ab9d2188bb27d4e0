//! The rule for an app origin a KMS origin serves (its `allowed_hosts` and
//! CSP `frame-ancestors`): one place, used by `kms-serve` for its
//! `--allow-host` flags and by `kms verify-deployment` for a served
//! `kms-config.json`; the frame's `frame-config.js` applies the same rule
//! in the browser.
//!
//! The KMS frame compares `MessageEvent.origin` with the list as strings,
//! so an entry that is not exactly what a browser reports (a trailing
//! slash, a path, capitals, a default port, userinfo) would never match: it
//! is refused rather than silently useless. The same text must be a valid
//! CSP host source, so `*` wildcards (which CSP would honour and the frame's
//! comparison would not) and IPv6 literals (which CSP cannot name) are
//! refused too.

use url::Host;

use crate::weburl;

/// Longest origin accepted, in bytes (a DNS name is at most 253).
pub const MAX_ORIGIN_LEN: usize = 512;

/// Why `value` is not an app origin a KMS may list, in words that never
/// repeat the value; `Ok` when it is one: `http(s)://host[:port]` in its
/// ASCII serialization (WHATWG URL), with a DNS name of letters, digits and
/// `-`, or an IPv4 address.
pub fn check_app_origin(value: &str) -> Result<(), String> {
    if value.len() > MAX_ORIGIN_LEN {
        return Err(format!("longer than {MAX_ORIGIN_LEN} bytes"));
    }
    let url = weburl::parse(value).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the scheme is {:?}, not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it has userinfo (user@)".into());
    }
    if url.query().is_some() {
        return Err("it has a query".into());
    }
    if url.fragment().is_some() {
        return Err("it has a fragment".into());
    }
    if url.path() != "/" {
        return Err(format!("it has a path ({:?})", url.path()));
    }
    match url.host() {
        Some(Host::Domain(name)) if !is_plain_dns_name(name) => {
            return Err(format!("the host {name:?} is not a DNS name of letters, digits and '-'"));
        }
        Some(Host::Domain(_) | Host::Ipv4(_)) => {}
        Some(Host::Ipv6(_)) => return Err("IPv6 literals cannot be named in CSP frame-ancestors; use localhost".into()),
        None => return Err("it has no host".into()),
    }
    let origin = url.origin().ascii_serialization();
    if origin != value {
        return Err(format!("write it as {origin}"));
    }
    Ok(())
}

/// Dot-separated non-empty labels of ASCII letters, digits and `-` (the
/// `host-char` of CSP source expressions; the URL parser lowercased them).
fn is_plain_dns_name(name: &str) -> bool {
    name.split('.').all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::check_app_origin;

    #[test]
    fn an_origin_as_a_browser_reports_it_passes() {
        for ok in [
            "https://app.example.com",
            "http://localhost:8080",
            "http://127.0.0.1:3000",
            "https://xn--bcher-kva.example",
        ] {
            assert_eq!(check_app_origin(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_would_never_match_or_cannot_be_a_csp_source_is_refused() {
        for (bad, why) in [
            ("https://app.example.com/", "write it as https://app.example.com"),
            ("https://APP.example.com", "write it as"),
            ("https://app.example.com:443", "write it as"),
            ("https://app.example.com/path", "it has a path"),
            ("https://u@app.example.com", "userinfo"),
            ("https://app.example.com?x", "query"),
            ("https://*.example.com", "not a DNS name"),
            ("https://a_b.example.com", "not a DNS name"),
            ("http://[::1]:8080", "IPv6"),
            ("ftp://app.example.com", "scheme"),
            ("app.example.com", "not a valid URL"),
        ] {
            let e = check_app_origin(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_app_origin(&format!("https://{}.example", "a".repeat(600))).unwrap_err().contains("longer"));
    }
}
