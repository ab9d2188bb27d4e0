//! The one way kms-core parses a URL that comes from outside (a push
//! endpoint, a token's `aud` or `sub`, an app origin): the WHATWG parser of
//! the `url` crate, after a look at the authority that keeps its IDNA step
//! on plain ASCII.
//!
//! Why: this workspace's builds link the `idna` crate's no-Unicode back end
//! (`idna_adapter` 1.0, pinned in `Cargo.lock`): its Unicode tables were
//! 44 KB of the 472 KB gzipped browser engine. That back end refuses
//! non-ASCII host names, and it must never see a capital letter next to a
//! non-ASCII run (a debug assertion fires; a release build would keep the
//! capital), which a host can carry written as is (`Aü`) or in
//! percent-escapes (`A%C3%BC`). So an authority (userinfo and host) of a
//! special scheme with a non-ASCII character or a `%` is refused here,
//! before the parser, with words that say what to write instead. Every
//! caller refuses userinfo anyway. What is left reaches IDNA as plain
//! ASCII, which either back end lowercases the same way; an `xn--` label is
//! taken as written by the 1.0 back end (a full one would also check it
//! decodes to a valid name), and compared as written.

use std::fmt;

use url::Url;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    /// The authority (host or userinfo) has non-ASCII characters (an
    /// internationalized name not in its `xn--` form, or a look-alike such
    /// as a full-width dot).
    NonAsciiHost,
    /// The authority (host or userinfo) has percent-escapes.
    EscapedHost,
    /// The WHATWG parser refused it.
    Invalid(url::ParseError),
}

impl fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonAsciiHost => {
                f.write_str("its host or userinfo is not ASCII: write an internationalized host name in its xn-- form")
            }
            Self::EscapedHost => f.write_str("its host or userinfo has percent-escapes: write the host plainly"),
            Self::Invalid(e) => write!(f, "not a valid URL ({e})"),
        }
    }
}

/// Schemes whose host the WHATWG parser runs through IDNA (its "special"
/// schemes); the host of any other scheme is opaque and kept as written.
const SPECIAL_SCHEMES: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];

/// Parses `input` as the WHATWG URL standard does, refusing first an
/// authority that is not plain ASCII or that has percent-escapes.
pub fn parse(input: &str) -> Result<Url, UrlRefusal> {
    if let Some(authority) = special_authority(input) {
        if !authority.is_ascii() {
            return Err(UrlRefusal::NonAsciiHost);
        }
        if authority.contains('%') {
            return Err(UrlRefusal::EscapedHost);
        }
    }
    Url::parse(input).map_err(UrlRefusal::Invalid)
}

/// The text the WHATWG parser reads as the authority of `input` (userinfo,
/// host and port), when the scheme is a special one; `None` otherwise.
/// Follows the standard's steps: leading and trailing C0 controls and
/// spaces are trimmed and tabs and newlines removed anywhere; after
/// `scheme:`, any `/` and `\` are skipped (two at most for `file:`, whose
/// third starts the path); the authority ends at `/`, `\`, `?` or `#`.
fn special_authority(input: &str) -> Option<String> {
    let text: String =
        input.trim_matches(|c: char| c <= ' ').chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    let (scheme, rest) = text.split_once(':')?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let scheme = scheme.to_ascii_lowercase();
    if !scheme_ok || !SPECIAL_SCHEMES.contains(&scheme.as_str()) {
        return None;
    }
    let slashes = if scheme == "file" { 2 } else { usize::MAX };
    let skipped = rest.chars().take(slashes).take_while(|c| matches!(c, '/' | '\\')).count();
    let authority = rest[skipped..].split(['/', '\\', '?', '#']).next().unwrap_or_default();
    Some(authority.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{parse, UrlRefusal};

    #[test]
    fn plain_urls_parse_as_the_url_crate_reads_them() {
        for ok in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "HTTPS://FCM.googleapis.com",
            " https://fcm.googleapis.com ",
            "https:fcm.googleapis.com",
            "http://127.0.0.1:8080/p%41th?q=%41",
            "https://xn--bcher-kva.example",
            "http://[::1]:9000",
            "mailto:ops%41@example.com",
            "urn:ietf:rfc:8292",
            // `file:` with an empty host: the third slash starts the path.
            "file:///b%C3%BCcher",
            "file:///bücher",
        ] {
            assert_eq!(parse(ok).ok(), url::Url::parse(ok).ok(), "{ok}");
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_host_with_escapes_is_refused_however_the_scheme_is_written() {
        for bad in [
            "https://%41pple.com",
            "HTTPS://%41pple.com",
            "https:%41pple.com",
            "https:/\t/%41pple.com",
            "https:\\\\%41pple.com/",
            "\u{1}https://a%2eb.example",
            "https://user@%41pple.com:443/x",
            "ws://%6c%6f%63%61%6c%68%6f%73%74",
            "file://%41/etc",
            "https://user%41:pw@example.com",
            // `file:` has no userinfo: all of `A%C3%BC@x` is its host.
            "file://A%C3%BC@x/",
        ] {
            assert_eq!(parse(bad), Err(UrlRefusal::EscapedHost), "{bad:?}");
        }
    }

    #[test]
    fn a_host_not_in_ascii_is_refused_with_the_form_to_use() {
        for bad in [
            "https://bücher.example",
            "https://example\u{3002}com",
            "http://ｌｏｃａｌｈｏｓｔ",
            "file://Aü@x/",
            "https://ü@example.com",
        ] {
            assert_eq!(parse(bad), Err(UrlRefusal::NonAsciiHost), "{bad:?}");
        }
        assert!(UrlRefusal::NonAsciiHost.to_string().contains("xn--"));
    }

    #[test]
    fn what_the_parser_refuses_says_so() {
        for bad in ["", "garbage", "https://", "https://[::1", "https://exa mple.com"] {
            assert!(matches!(parse(bad), Err(UrlRefusal::Invalid(_))), "{bad:?}");
        }
    }
}
