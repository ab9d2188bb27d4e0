//! Validated record keys and listing prefixes.
//!
//! Keys are path-like (`users/alice/keys/1`) so a listing can select one
//! subtree. The grammar is deliberately narrow: a small ASCII alphabet sorts
//! the same way in every backend (SQLite compares bytes, IndexedDB compares
//! UTF-16 code units; on ASCII they agree), cannot smuggle path tricks (`..`,
//! empty segments) and cannot be confused by Unicode normalisation.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// Most segments a key may have.
pub const MAX_SEGMENTS: usize = 8;
/// Most bytes one segment may have.
pub const MAX_SEGMENT_LEN: usize = 128;
/// Most bytes a whole key (segments and separators) may have.
pub const MAX_KEY_LEN: usize = 512;

/// The separator between segments.
const SEPARATOR: char = '/';

/// Whether `b` may appear inside a segment: `[A-Za-z0-9._~@+=-]`.
fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'@' | b'+' | b'=' | b'-')
}

/// Checks one segment. `index` is only for the error message; the segment
/// itself is never echoed (see [`StoreError::InvalidKey`]).
fn check_segment(index: usize, segment: &str) -> Result<(), StoreError> {
    if segment.is_empty() {
        return Err(StoreError::InvalidKey(format!("segment {index} is empty")));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(StoreError::InvalidKey(format!(
            "segment {index} is {} bytes, at most {MAX_SEGMENT_LEN} allowed",
            segment.len()
        )));
    }
    if !segment.bytes().all(is_segment_byte) {
        return Err(StoreError::InvalidKey(format!("segment {index} has a character outside [A-Za-z0-9._~@+=-]")));
    }
    if segment == "." || segment == ".." {
        return Err(StoreError::InvalidKey(format!("segment {index} is '.' or '..'")));
    }
    Ok(())
}

/// Checks a whole `/`-joined path against the grammar.
fn check_path(path: &str) -> Result<(), StoreError> {
    // Length first: it bounds all the work below, whatever the caller passed.
    if path.len() > MAX_KEY_LEN {
        return Err(StoreError::InvalidKey(format!("key is {} bytes, at most {MAX_KEY_LEN} allowed", path.len())));
    }
    if path.is_empty() {
        return Err(StoreError::InvalidKey("key is empty".to_owned()));
    }
    for (index, segment) in path.split(SEPARATOR).enumerate() {
        if index >= MAX_SEGMENTS {
            return Err(StoreError::InvalidKey(format!("key has more than {MAX_SEGMENTS} segments")));
        }
        check_segment(index, segment)?;
    }
    Ok(())
}

/// Joins and checks segments given one by one.
fn join_segments(segments: &[&str]) -> Result<String, StoreError> {
    if segments.len() > MAX_SEGMENTS {
        return Err(StoreError::InvalidKey(format!(
            "key has {} segments, at most {MAX_SEGMENTS} allowed",
            segments.len()
        )));
    }
    // Each segment is checked on its own first, so a '/' inside one is
    // refused rather than silently becoming two segments.
    for (index, segment) in segments.iter().enumerate() {
        check_segment(index, segment)?;
    }
    let path = segments.join("/");
    check_path(&path)?;
    Ok(path)
}

/// The key of one record: 1 to 8 segments joined by `/`, each segment 1 to
/// 128 bytes of `[A-Za-z0-9._~@+=-]` and neither `.` nor `..`; at most 512
/// bytes in all.
///
/// Holding a `StoreKey` proves the grammar holds, so backends never check it
/// again. Keys order byte-wise, the order listings use.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreKey(String);

impl StoreKey {
    /// Parses a `/`-joined key.
    pub fn new(key: &str) -> Result<Self, StoreError> {
        check_path(key)?;
        Ok(Self(key.to_owned()))
    }

    /// Builds a key from its segments, each of which must be valid on its own
    /// (no `/` inside).
    pub fn from_segments(segments: &[&str]) -> Result<Self, StoreError> {
        join_segments(segments).map(Self)
    }

    /// This key with one more segment appended.
    pub fn child(&self, segment: &str) -> Result<Self, StoreError> {
        check_segment(self.segments().count(), segment)?;
        let path = format!("{}{SEPARATOR}{segment}", self.0);
        check_path(&path)?;
        Ok(Self(path))
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split(SEPARATOR)
    }

    /// Whether this key lies under `prefix` (see [`KeyPrefix::contains`]).
    pub fn is_under(&self, prefix: &KeyPrefix) -> bool {
        prefix.contains(self)
    }
}

impl fmt::Display for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreKey").field(&self.0).finish()
    }
}

impl AsRef<str> for StoreKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Lets maps keyed by `StoreKey` be searched by `&str` ranges. Sound because
// `StoreKey`'s `Eq`, `Ord` and `Hash` are exactly those of its string.
impl std::borrow::Borrow<str> for StoreKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for StoreKey {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for StoreKey {
    type Error = StoreError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// A subtree of keys, for listing. Same grammar as [`StoreKey`].
///
/// Matching is on whole segments: `users/alice` contains `users/alice` itself
/// and `users/alice/x`, but not `users/alicex` or `users/alice.x`. A plain
/// string prefix would leak one user's records into another's listing.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Parses a `/`-joined prefix.
    pub fn new(prefix: &str) -> Result<Self, StoreError> {
        check_path(prefix)?;
        Ok(Self(prefix.to_owned()))
    }

    /// Builds a prefix from its segments, each of which must be valid on its
    /// own (no `/` inside).
    pub fn from_segments(segments: &[&str]) -> Result<Self, StoreError> {
        join_segments(segments).map(Self)
    }

    /// The prefix as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key directly under this prefix named `segment`.
    pub fn key(&self, segment: &str) -> Result<StoreKey, StoreError> {
        StoreKey(self.0.clone()).child(segment)
    }

    /// Whether `key` equals this prefix or continues it with `/` and more
    /// segments.
    pub fn contains(&self, key: &StoreKey) -> bool {
        match key.as_str().strip_prefix(self.0.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with(SEPARATOR),
            None => false,
        }
    }

    /// The half-open byte range `[start, end)` holding every key strictly
    /// below this prefix: `prefix/` up to `prefix0`, since `0` is the byte
    /// right after `/`. Together with the prefix itself as a key, this is
    /// exactly the set [`Self::contains`] accepts, so backends can use an
    /// index range scan instead of filtering.
    pub fn descendant_range(&self) -> (String, String) {
        (format!("{}/", self.0), format!("{}0", self.0))
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyPrefix").field(&self.0).finish()
    }
}

impl AsRef<str> for KeyPrefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyPrefix {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for KeyPrefix {
    type Error = StoreError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<StoreKey> for KeyPrefix {
    fn from(key: StoreKey) -> Self {
        Self(key.0)
    }
}

impl From<&StoreKey> for KeyPrefix {
    fn from(key: &StoreKey) -> Self {
        Self(key.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(s: &str) -> bool {
        matches!(StoreKey::new(s), Err(StoreError::InvalidKey(_)))
            && matches!(KeyPrefix::new(s), Err(StoreError::InvalidKey(_)))
    }

    #[test]
    fn accepts_the_grammar() {
        for ok in ["a", "users/alice", "A-Z_a.z~0@9+x=y", "...", ".hidden/..x/x..", "1/2/3/4/5/6/7/8"] {
            assert_eq!(StoreKey::new(ok).unwrap().as_str(), ok);
            assert_eq!(KeyPrefix::new(ok).unwrap().as_str(), ok);
        }
        let max_segment = "s".repeat(MAX_SEGMENT_LEN);
        assert!(StoreKey::new(&max_segment).is_ok());
        // 4 segments of 127 bytes + 3 separators = 511; one more byte = 512.
        let seg = "x".repeat(127);
        let at_cap = format!("{seg}/{seg}/{seg}/{seg}x");
        assert_eq!(at_cap.len(), MAX_KEY_LEN);
        assert!(StoreKey::new(&at_cap).is_ok());
    }

    #[test]
    fn refuses_everything_else() {
        let long_segment = "s".repeat(MAX_SEGMENT_LEN + 1);
        let seg = "x".repeat(127);
        let over_cap = format!("{seg}/{seg}/{seg}/{seg}xy");
        for bad in [
            "",
            "/",
            "/a",
            "a/",
            "a//b",
            ".",
            "..",
            "a/./b",
            "a/../b",
            "a b",
            "a\0b",
            "a\\b",
            "a:b",
            "a?b",
            "a%2Fb",
            "é",
            "1/2/3/4/5/6/7/8/9",
            &long_segment,
            &over_cap,
        ] {
            assert!(invalid(bad), "{bad:?} should be refused");
        }
    }

    #[test]
    fn error_does_not_echo_input() {
        let Err(StoreError::InvalidKey(message)) = StoreKey::new("secret password") else {
            panic!("expected InvalidKey");
        };
        assert!(!message.contains("secret"), "{message}");
    }

    #[test]
    fn from_segments_refuses_separator_inside_a_segment() {
        assert!(StoreKey::from_segments(&["a/b"]).is_err());
        assert!(StoreKey::from_segments(&[]).is_err());
        assert!(StoreKey::from_segments(&["a", ""]).is_err());
        assert!(StoreKey::from_segments(&["1", "2", "3", "4", "5", "6", "7", "8", "9"]).is_err());
        assert_eq!(StoreKey::from_segments(&["a", "b"]).unwrap().as_str(), "a/b");
        assert_eq!(KeyPrefix::from_segments(&["a", "b"]).unwrap().as_str(), "a/b");
    }

    #[test]
    fn child_and_prefix_key() {
        let k = StoreKey::new("users/alice").unwrap();
        assert_eq!(k.child("x").unwrap().as_str(), "users/alice/x");
        assert!(k.child("x/y").is_err());
        assert!(k.child("..").is_err());
        let p = KeyPrefix::from(&k);
        assert_eq!(p.key("k1").unwrap().as_str(), "users/alice/k1");
        let deep = StoreKey::new("1/2/3/4/5/6/7/8").unwrap();
        assert!(deep.child("9").is_err());
        assert_eq!(k.segments().collect::<Vec<_>>(), ["users", "alice"]);
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let p = KeyPrefix::new("users/alice").unwrap();
        let yes = ["users/alice", "users/alice/x", "users/alice/x/y"];
        let no = ["users/alicex", "users/alice.x", "users/alice-x/y", "users/alic", "users", "other/users/alice"];
        for k in yes {
            assert!(p.contains(&StoreKey::new(k).unwrap()), "{k}");
        }
        for k in no {
            assert!(!p.contains(&StoreKey::new(k).unwrap()), "{k}");
        }
    }

    #[test]
    fn descendant_range_is_exactly_the_descendants() {
        // Every key in [start, end) that is valid must be a strict descendant,
        // and every descendant must fall in it: check on a spread of keys.
        let p = KeyPrefix::new("users/alice").unwrap();
        let (start, end) = p.descendant_range();
        for k in [
            "users/alice",
            "users/alice/x",
            "users/alice/~",
            "users/alice+",
            "users/alice-",
            "users/alice.",
            "users/alice0",
            "users/alicex",
            "users/alic",
            "users/alice/0/~",
        ] {
            let key = StoreKey::new(k).unwrap();
            let in_range = k >= start.as_str() && k < end.as_str();
            assert_eq!(in_range || k == p.as_str(), p.contains(&key), "{k}");
        }
    }

    #[test]
    fn display_and_debug() {
        let k = StoreKey::new("a/b").unwrap();
        assert_eq!(k.to_string(), "a/b");
        assert_eq!(format!("{k:?}"), "StoreKey(\"a/b\")");
        let p: KeyPrefix = "a".parse().unwrap();
        assert_eq!(format!("{p} {p:?}"), "a KeyPrefix(\"a\")");
    }
}
