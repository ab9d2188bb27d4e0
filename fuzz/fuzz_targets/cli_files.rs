//! The files the `kms` CLI reads come from the user's disk, written by
//! anyone: what it makes of them (`kms_client::cli::inputs`) is total, and
//! the push it builds from them is well formed.
//!
//! The first byte picks the input; the rest is the file's contents.
#![no_main]
use kms_client::cli::inputs;
use kms_core::push::PushServicePolicy;
use kms_core::vapid::PushOrigin;
use rand_chacha::rand_core::SeedableRng;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else { return };
    let name = "fuzz-input";
    match which % 5 {
        0 => {
            let _ = inputs::subscription(name, bytes);
        }
        1 => {
            for policy in [PushServicePolicy::default(), PushServicePolicy::default().with_loopback(true)] {
                if let Ok(sub) = inputs::validated_subscription(name, bytes, &policy) {
                    // `kms push encrypt` of a payload that fits one record.
                    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
                    let body =
                        kms_client::relay::encrypt(&sub, b"fuzz", &mut rng).expect("a valid subscription encrypts");
                    assert!(body.len() > 4, "an RFC 8291 body has a header");
                }
            }
        }
        2 => {
            if let Ok(holder) = inputs::token_holder(name, bytes) {
                // A token held is picked for its own audience while it is
                // valid, and never after.
                for (origin, exp, _kid) in holder.expiries() {
                    let origin: &PushOrigin = origin;
                    if exp > 0 {
                        assert!(holder.pick(origin, exp - 1, 0).is_ok());
                    }
                    let latest = holder.expiries().iter().filter(|(o, _, _)| *o == origin).map(|(_, e, _)| *e).max();
                    assert!(holder.pick(origin, latest.unwrap_or(0), 0).is_err());
                }
            }
        }
        3 => {
            let _ = inputs::lease_credential(name, bytes);
        }
        _ => {
            let r = inputs::expected_checkpoints(&[], Some((name, bytes)));
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    // One checkpoint per non-blank line, never more than the cap.
                    let n = text.lines().filter(|l| !l.trim().is_empty()).count();
                    if let Ok(parsed) = &r {
                        assert_eq!(parsed.len(), n);
                    }
                    if n > kms_core::audit::MAX_EXPECTED_CHECKPOINTS {
                        assert!(r.is_err());
                    }
                }
                Err(_) => assert!(r.is_err()),
            }
        }
    }
});
