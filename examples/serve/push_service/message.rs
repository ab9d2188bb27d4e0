//! The checks of a push message's headers and body (RFC 8030 section 5,
//! RFC 8188, RFC 8291 section 4) that a push service can make without the
//! user agent's keys. A refusal is 400, with the reason in words.

/// The longest a message is kept (and the largest `TTL` echoed): 28 days,
/// what FCM keeps at most. RFC 8030 section 5.2 lets a push service keep a
/// message for less than asked and say so in the `TTL` of its answer.
pub const MAX_TTL_S: u64 = 2_419_200;

/// The RFC 8188 header of an RFC 8291 message: salt (16), rs (4), idlen (1)
/// and the application server's 65-byte public key as keyid.
pub const HEADER_LEN: usize = 16 + 4 + 1 + 65;

/// The smallest record: the padding delimiter and the AES-GCM tag.
const MIN_RECORD_LEN: usize = 1 + 16;

/// RFC 8188 section 2.1: "a record size smaller than 18 is invalid".
const MIN_RECORD_SIZE: u32 = 18;

/// What a push says about its own delivery, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `TTL`, capped at [`MAX_TTL_S`].
    pub ttl: u64,
    /// `Urgency`, if sent.
    pub urgency: Option<String>,
    /// `Topic`, if sent.
    pub topic: Option<String>,
}

/// The header values of a push, each sent at most once (the caller refused
/// repeated ones).
#[derive(Debug, Clone, Copy, Default)]
pub struct PushHeaders<'a> {
    /// `TTL`.
    pub ttl: Option<&'a str>,
    /// `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
    /// `Urgency`.
    pub urgency: Option<&'a str>,
    /// `Topic`.
    pub topic: Option<&'a str>,
}

/// Checks `TTL` (required, RFC 8030 section 5.2), `Urgency` and `Topic`
/// (sections 5.3, 5.4), and the body: empty (a push without payload,
/// section 5) or `Content-Encoding: aes128gcm` with a well-formed RFC 8188
/// header and one record of at least 17 bytes.
pub fn check(headers: PushHeaders<'_>, body: &[u8]) -> Result<Delivery, String> {
    let ttl = headers.ttl.ok_or("no TTL header (RFC 8030 section 5.2 requires one)")?;
    if ttl.is_empty() || !ttl.bytes().all(|b| b.is_ascii_digit()) {
        return Err("TTL is not a number of seconds (RFC 8030 section 5.2)".into());
    }
    // All digits: only too many of them fail to parse, and those are capped.
    let ttl = ttl.parse::<u64>().unwrap_or(u64::MAX).min(MAX_TTL_S);

    let urgency = match headers.urgency {
        Some(u @ ("very-low" | "low" | "normal" | "high")) => Some(u.to_owned()),
        Some(_) => return Err("Urgency is not very-low, low, normal or high (RFC 8030 section 5.3)".into()),
        None => None,
    };
    let topic = match headers.topic {
        Some(t)
            if (1..=32).contains(&t.len())
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(t.to_owned())
        }
        Some(_) => return Err("Topic is not 1 to 32 characters of base64url (RFC 8030 section 5.4)".into()),
        None => None,
    };

    match headers.content_encoding {
        None if body.is_empty() => {}
        None => return Err("a body needs Content-Encoding: aes128gcm (RFC 8291 section 4)".into()),
        // Content codings are case-insensitive (RFC 9110 section 8.4.1).
        Some(coding) if coding.eq_ignore_ascii_case("aes128gcm") => check_body(body)?,
        Some(coding) => {
            return Err(format!("Content-Encoding is {coding:?}: only aes128gcm is accepted (RFC 8188, RFC 8291)"))
        }
    }
    Ok(Delivery { ttl, urgency, topic })
}

/// The RFC 8188 header (section 2.1) as RFC 8291 section 4 restricts it,
/// and a record that can hold at least the delimiter and the tag.
fn check_body(body: &[u8]) -> Result<(), String> {
    let short = || {
        format!(
            "the body is {} bytes, shorter than the {HEADER_LEN}-byte aes128gcm header (RFC 8188 section 2.1)",
            body.len()
        )
    };
    let (header, record) = body.split_at_checked(HEADER_LEN).ok_or_else(short)?;
    let (_salt, rest) = header.split_first_chunk::<16>().ok_or_else(short)?;
    let (rs, rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
    let (idlen, keyid) = rest.split_first().ok_or_else(short)?;
    if *idlen != 65 || keyid.first() != Some(&0x04) {
        return Err("the aes128gcm keyid is not a 65-byte uncompressed P-256 point (RFC 8291 section 4)".into());
    }
    if u32::from_be_bytes(*rs) < MIN_RECORD_SIZE {
        return Err("the aes128gcm record size is below 18 (RFC 8188 section 2.1)".into());
    }
    if record.len() < MIN_RECORD_LEN {
        return Err("the aes128gcm record is shorter than a delimiter and a tag (17 bytes)".into());
    }
    Ok(())
}
