//! base64url without padding (RFC 4648 section 5), the encoding of JWTs,
//! JWKs and WebAuthn fields. Decoding is total and capped.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::{CoreError, Result};

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url of at most `max_len` decoded bytes; `field`
/// names the input in the error.
pub fn decode(s: &str, max_len: usize, field: &str) -> Result<Vec<u8>> {
    // Check the size before decoding so a huge string costs nothing.
    if s.len() > max_len.saturating_mul(4) / 3 + 4 {
        return Err(CoreError::invalid(format!("{field}: longer than {max_len} bytes")));
    }
    let bytes =
        URL_SAFE_NO_PAD.decode(s).map_err(|_| CoreError::invalid(format!("{field}: not unpadded base64url")))?;
    if bytes.len() > max_len {
        return Err(CoreError::invalid(format!("{field}: longer than {max_len} bytes")));
    }
    Ok(bytes)
}

/// Decodes unpadded base64url of exactly `N` bytes.
pub fn decode_array<const N: usize>(s: &str, field: &str) -> Result<[u8; N]> {
    let bytes = decode(s, N, field)?;
    bytes.try_into().map_err(|_| CoreError::invalid(format!("{field}: expected exactly {N} bytes")))
}
