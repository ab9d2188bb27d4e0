//! base64url (unpadded, RFC 4648 section 5) and hex for tests. Encoding is
//! this crate's own [`crate::b64::encode`]; decoding panics on bad input,
//! since a test's inputs are its own.

/// Unpadded base64url: [`crate::b64::encode`] under the short name the
/// tests use.
pub use crate::b64::encode as b64;

/// Decodes unpadded base64url of any length; panics on anything else.
pub fn unb64(s: &str) -> Vec<u8> {
    crate::b64::decode(s, usize::MAX, "test input").expect("unpadded base64url")
}

/// Decodes hex (either case); panics on an odd length or a non-hex digit.
pub fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0, "hex of odd length: {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits")).collect()
}

/// Lowercase hex of `bytes`.
pub fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
