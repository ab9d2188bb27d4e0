//! What the CLI makes of the files it is given: pure functions from the
//! bytes read (already capped by [`super::files`]) to typed values, so that
//! the fuzz target `cli_files` (fuzz/fuzz_targets/) feeds them arbitrary
//! bytes exactly as the commands do. Each refuses bad bytes with
//! [`CliError::Usage`] (`invalid_input`), naming the input by `name` (the
//! path as given) and never echoing its contents.

use kms_core::audit::{Checkpoint, MAX_EXPECTED_CHECKPOINTS};
use kms_core::lease::LeaseCredential;
use kms_core::push::{PushServicePolicy, PushSubscription, ValidatedSubscription};
use kms_core::vapid::SignedJwt;
use serde_json::Value;
use zeroize::Zeroizing;

use super::commands::CliError;
use crate::relay::{self, TokenHolder};

fn usage(name: &str, what: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{name}: {what}"))
}

/// A `PushSubscription.toJSON()` for `kms subscription add`: its shape
/// only (the KMS checks it against its policy when storing it).
pub fn subscription(name: &str, bytes: &[u8]) -> Result<PushSubscription, CliError> {
    serde_json::from_slice(bytes).map_err(|e| usage(name, format_args!("not the expected JSON: {e}")))
}

/// A `PushSubscription.toJSON()` for `kms push`: checked under `policy`,
/// as a relay checks it before encrypting to it.
pub fn validated_subscription(
    name: &str,
    bytes: &[u8],
    policy: &PushServicePolicy,
) -> Result<ValidatedSubscription, CliError> {
    let text = std::str::from_utf8(bytes).map_err(|_| usage(name, "not UTF-8"))?;
    relay::subscription_from_json(text, policy).map_err(|e| usage(name, e))
}

/// The tokens for `kms push request`: a `lease_issue` result (`{"tokens":
/// [...]}`) or the bare list, each token checked as [`TokenHolder::insert`]
/// checks it.
pub fn token_holder(name: &str, bytes: &[u8]) -> Result<TokenHolder, CliError> {
    let issued: Value = serde_json::from_slice(bytes).map_err(|e| usage(name, format_args!("not JSON: {e}")))?;
    let list = match issued {
        Value::Object(mut o) if o.contains_key("tokens") => o.remove("tokens").unwrap_or(Value::Null),
        other => other,
    };
    let list: Vec<SignedJwt> =
        serde_json::from_value(list).map_err(|e| usage(name, format_args!("not a token list: {e}")))?;
    let mut holder = TokenHolder::new();
    for t in list {
        holder.insert(t).map_err(|e| usage(name, e))?;
    }
    Ok(holder)
}

/// A lease credential (`kmsl1.…`) for `kms lease issue`, surrounding
/// white space ignored. The text read is wiped when parsed.
pub fn lease_credential(name: &str, bytes: &[u8]) -> Result<LeaseCredential, CliError> {
    let text = Zeroizing::new(String::from_utf8_lossy(bytes).trim().to_owned());
    LeaseCredential::parse(&text).map_err(|e| usage(name, format_args!("lease credential: {e}")))
}

/// The checkpoints `kms audit verify` expects: those given as arguments
/// (`given`), then one per non-blank line of the file (`file`, when
/// given). At most [`MAX_EXPECTED_CHECKPOINTS`] in all, counted before any
/// is parsed.
pub fn expected_checkpoints(given: &[String], file: Option<(&str, &[u8])>) -> Result<Vec<Checkpoint>, CliError> {
    let from_file = match file {
        Some((name, bytes)) => std::str::from_utf8(bytes).map_err(|_| usage(name, "not UTF-8"))?,
        None => "",
    };
    let all = || given.iter().map(String::as_str).chain(from_file.lines().filter(|l| !l.trim().is_empty()));
    let n = all().count();
    if n > MAX_EXPECTED_CHECKPOINTS {
        return Err(CliError::Usage(format!(
            "at most {MAX_EXPECTED_CHECKPOINTS} expected checkpoints are accepted (--expect-checkpoint and \
             --expect-checkpoints-file together), got {n}"
        )));
    }
    let mut checkpoints = Vec::with_capacity(n);
    for (i, cp) in all().enumerate() {
        let parsed =
            Checkpoint::parse(cp).map_err(|e| CliError::Usage(format!("expected checkpoint {}: {e}", i + 1)))?;
        checkpoints.push(parsed);
    }
    Ok(checkpoints)
}
