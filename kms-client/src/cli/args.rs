//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

/// Key management for Web Push: per-user VAPID keys and ES256 tokens.
#[derive(Debug, Parser)]
#[command(name = "kms", version, about)]
pub struct Args {
    /// The store file [default: kms.sqlite in the user's data directory; env KMS_STORE].
    #[arg(long, global = true, env = "KMS_STORE")]
    pub store: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// PBKDF2 iterations for new and re-wrapped passphrases (at least 600,000;
    /// see `kms calibrate`).
    #[arg(long, global = true, env = "KMS_PBKDF2_ITERATIONS")]
    pub iterations: Option<u32>,
    /// Which passphrase enrollment to unlock with, when the user has several.
    /// (Ids are base64url and may start with `-`: every id argument takes
    /// hyphen values.)
    #[arg(long, allow_hyphen_values = true, global = true, value_name = "ENROLLMENT_ID")]
    pub unlock_with: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show this KMS's version and policy.
    Info,
    /// Measure PBKDF2 on this machine and recommend an iteration count for a
    /// target unlock time (never below 600,000).
    Calibrate {
        /// The unlock time to aim for, in milliseconds.
        #[arg(long, default_value_t = 500)]
        target_ms: u32,
    },
    /// Create a user with a passphrase (asked for twice).
    Setup(UserArg),
    /// Manage a user's enrollments (ways to unlock).
    #[command(subcommand)]
    Enrollments(EnrollmentsCmd),
    /// Manage a user's VAPID keys.
    #[command(subcommand)]
    Vapid(VapidCmd),
    /// Sign VAPID JWTs (RFC 8292).
    #[command(subcommand)]
    Jwt(JwtCmd),
    /// Export and verify the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Store a user's Web Push subscriptions.
    #[command(subcommand)]
    Subscription(SubscriptionCmd),
    /// Grant relays leases, and issue tokens under them.
    #[command(subcommand)]
    Lease(LeaseCmd),
    /// Relay-side tools: encrypt a payload (RFC 8291), build a push request.
    #[command(subcommand)]
    Push(PushCmd),
    /// Delete a user for good.
    #[command(subcommand)]
    User(UserCmd),
    /// Release tools: the manifest of a built KMS-origin bundle.
    #[command(subcommand)]
    Release(ReleaseCmd),
    /// Check that a running KMS origin serves the expected build, file by
    /// file, with the headers it must send (exit code 0 only if it does).
    VerifyDeployment {
        /// The KMS origin, e.g. https://kms.example.com.
        url: String,
        /// The manifest to check against (a local build's, a release's).
        #[arg(long, conflicts_with = "expect")]
        manifest: Option<std::path::PathBuf>,
        /// The build id (12 to 64 hex digits) the origin must serve; its
        /// files are then checked against the origin's own manifest.
        #[arg(long)]
        expect: Option<String>,
        /// The `/kms-config.json` the origin must serve (the allowlist and
        /// groups are the deployer's, not the build's): compared as JSON.
        /// Without it, the served one is shown with the hosts it allows.
        #[arg(long)]
        expect_config: Option<std::path::PathBuf>,
    },
}

/// Release commands (need no store).
#[derive(Debug, Subcommand)]
pub enum ReleaseCmd {
    /// Hash every file of a built KMS-origin bundle, fill kms.html's
    /// integrity placeholders and write DIR/manifest.json
    /// (scripts/build-web.sh runs it).
    Manifest {
        /// The bundle, e.g. target/web/kms.
        dir: std::path::PathBuf,
        /// The commit it was built from.
        #[arg(long)]
        commit: String,
        /// A tool and its version, NAME=VERSION; repeatable.
        #[arg(long = "tool", value_name = "NAME=VERSION")]
        tools: Vec<String>,
        /// The build profile.
        #[arg(long)]
        profile: String,
    },
    /// Make a release signing key (ECDSA P-256): the private key goes to
    /// FILE (mode 0600, must not exist), the public JWK to standard output.
    Keygen {
        /// Where the private key goes (base64url PKCS#8).
        #[arg(long = "out")]
        out: std::path::PathBuf,
    },
    /// Sign a manifest.json: writes MANIFEST.sig (ES256 over its exact bytes).
    Sign {
        /// The manifest.
        manifest: std::path::PathBuf,
        /// The private key file of `kms release keygen`.
        #[arg(long)]
        key: std::path::PathBuf,
    },
    /// Check a manifest's signature under a release public key (JWK).
    Verify {
        /// The manifest.
        manifest: std::path::PathBuf,
        /// The public key (the JWK `kms release keygen` printed).
        #[arg(long = "public-key")]
        public_key: std::path::PathBuf,
        /// The signature file (default: MANIFEST.sig).
        #[arg(long)]
        signature: Option<std::path::PathBuf>,
    },
}

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Delete a user: every enrollment, key, subscription and lease is erased
    /// and the id is never reused. The audit log is exported to a file
    /// first (afterwards nobody can unlock to export it).
    Delete {
        #[command(flatten)]
        user: UserArg,
        /// Where the last export of the user's audit log goes (must not exist).
        #[arg(long, value_name = "FILE")]
        export: PathBuf,
        /// Confirm: there is no undo.
        #[arg(long)]
        yes: bool,
    },
}

/// Subscription commands.
#[derive(Debug, Subcommand)]
pub enum SubscriptionCmd {
    /// Store a subscription (the browser's `PushSubscription.toJSON()` in a file).
    Add {
        #[command(flatten)]
        user: UserArg,
        /// The subscription JSON file.
        #[arg(long)]
        file: PathBuf,
    },
    /// List the user's subscriptions.
    List(UserArg),
    /// Remove a subscription by id.
    Remove {
        #[command(flatten)]
        user: UserArg,
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
}

/// Lease commands.
#[derive(Debug, Subcommand)]
pub enum LeaseCmd {
    /// Grant a relay a lease; prints the lease and its credential (once).
    Create {
        #[command(flatten)]
        user: UserArg,
        /// The relay's id or label.
        #[arg(long)]
        relay: String,
        /// A push-service origin the relay may address (repeatable); default:
        /// the origins of the user's stored subscriptions.
        #[arg(long = "aud")]
        audiences: Vec<String>,
        /// Lifetime: seconds or 30m/12h/7d style (default 24h, at most 7d).
        #[arg(long)]
        lifetime: Option<String>,
        /// Tokens per hour (sliding window).
        #[arg(long)]
        tokens_per_hour: Option<u32>,
        /// Most tokens per issue call.
        #[arg(long)]
        max_batch: Option<u32>,
        /// Write the credential to this file (mode 0600) instead of printing it.
        #[arg(long)]
        credential_file: Option<PathBuf>,
    },
    /// List the user's leases.
    List(UserArg),
    /// Revoke a lease.
    Revoke {
        #[command(flatten)]
        user: UserArg,
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// Extend a lease (new lifetime from now).
    Extend {
        #[command(flatten)]
        user: UserArg,
        #[arg(long, allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        lifetime: String,
    },
    /// Issue tokens under a lease, without the user's passphrase. The
    /// credential is read from --credential-file or standard input, never argv.
    Issue {
        #[command(flatten)]
        user: UserArg,
        #[arg(long)]
        credential_file: Option<PathBuf>,
        /// The push service origin.
        #[arg(long)]
        aud: String,
        /// Contact URI: mailto: or https:.
        #[arg(long)]
        sub: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Lifetime of the longest-lived token (at most 24h).
        #[arg(long)]
        ttl: Option<String>,
    },
}

/// Relay-side commands (no store, no passphrase).
#[derive(Debug, Subcommand)]
pub enum PushCmd {
    /// Encrypt a payload for a subscription (RFC 8291, aes128gcm); writes the body.
    Encrypt {
        /// The subscription JSON file.
        #[arg(long)]
        subscription: PathBuf,
        /// The payload file (at most 3993 bytes), or - for standard input.
        #[arg(long)]
        payload: PathBuf,
        /// Write the encrypted body here (default: standard output, base64url with --json).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Accept loopback push endpoints (tests, the demo's local push service).
        #[arg(long)]
        allow_loopback: bool,
    },
    /// Build the full push request (headers and body) as JSON.
    Request {
        #[arg(long)]
        subscription: PathBuf,
        #[arg(long)]
        payload: PathBuf,
        /// Tokens from `kms lease issue --json` (a JSON file).
        #[arg(long)]
        tokens: PathBuf,
        /// TTL header in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// very-low, low, normal or high.
        #[arg(long, default_value = "normal")]
        urgency: String,
        /// Topic header (at most 32 base64url characters).
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        allow_loopback: bool,
    },
}

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Export a user's audit log (asks for the passphrase: the export ends
    /// with a freshly signed checkpoint).
    Export {
        #[command(flatten)]
        user: UserArg,
        /// Write the export here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// A value of the verifier's choosing (1 to 64 of A-Z a-z 0-9 - _)
        /// that the final checkpoint signs; check it with
        /// `kms audit verify --expect-nonce`.
        #[arg(long, value_name = "NONCE")]
        nonce: Option<String>,
    },
    /// Verify an export with nothing but the public key; exit 0 only when valid.
    /// With --user, also check every entry's MAC (asks for the passphrase).
    Verify {
        /// The export file (JSON Lines), or - for standard input.
        file: PathBuf,
        /// The user whose log it is: unlock (the passphrase is asked for)
        /// so that the KMS also checks every entry's MAC.
        #[arg(long, short)]
        user: Option<String>,
        /// A checkpoint seen before (a JSON object or an export's checkpoint
        /// line); a rollback or fork against it is detected. Repeatable.
        #[arg(long = "expect-checkpoint", value_name = "JSON")]
        expect_checkpoints: Vec<String>,
        /// Read expected checkpoints from a file, one per line.
        #[arg(long = "expect-checkpoints-file", value_name = "FILE")]
        expect_checkpoints_file: Option<PathBuf>,
        /// The audit public key to expect (JWK JSON or base64url SEC1 point);
        /// without it the key in the export's header is trusted and reported.
        #[arg(long = "expect-key", value_name = "KEY")]
        expect_key: Option<String>,
        /// The nonce the export was asked for (`kms audit export --nonce`):
        /// an export whose final checkpoint does not sign it is refused.
        #[arg(long = "expect-nonce", value_name = "NONCE")]
        expect_nonce: Option<String>,
    },
}

/// The user to act on.
#[derive(Debug, ClapArgs)]
pub struct UserArg {
    /// User id (letters, digits, . _ - @ +).
    #[arg(long, short)]
    pub user: String,
}

/// Enrollment commands.
#[derive(Debug, Subcommand)]
pub enum EnrollmentsCmd {
    /// List enrollments (no passphrase needed).
    List(UserArg),
    /// Add another passphrase (asks for the current one, then the new one twice).
    AddPassphrase {
        #[command(flatten)]
        user: UserArg,
        /// A label to tell enrollments apart.
        #[arg(long)]
        label: Option<String>,
    },
    /// Remove an enrollment (never the last one).
    Remove {
        #[command(flatten)]
        user: UserArg,
        /// The enrollment id (see `kms enrollments list`).
        #[arg(long, allow_hyphen_values = true)]
        id: String,
    },
    /// Change a passphrase (re-wraps; keys stay the same).
    ChangePassphrase {
        #[command(flatten)]
        user: UserArg,
        /// Which passphrase enrollment, when there are several.
        #[arg(long, allow_hyphen_values = true)]
        id: Option<String>,
    },
    /// Replace the master secret after a compromise: a store copy taken
    /// before, with the old passphrase, then opens nothing written after.
    /// Asks for the current passphrase, then a new passphrase for each
    /// passphrase enrollment. Passkey PRF enrollments need their passkey, so
    /// here they must be removed (--remove); gate-mode passkeys are kept
    /// under a fresh key unless removed.
    Rekey {
        #[command(flatten)]
        user: UserArg,
        /// An enrollment to remove in the same write (repeat for several).
        #[arg(long, allow_hyphen_values = true)]
        remove: Vec<String>,
    },
}

/// VAPID key commands.
#[derive(Debug, Subcommand)]
pub enum VapidCmd {
    /// Generate the user's first VAPID key.
    Generate(UserArg),
    /// Make a new current key; the old one is kept as retired.
    Rotate(UserArg),
    /// Show the public keys (no passphrase needed).
    Show {
        #[command(flatten)]
        user: UserArg,
        /// Print the current key as a JWK instead of the raw base64url point.
        #[arg(long)]
        jwk: bool,
    },
}

/// JWT commands.
#[derive(Debug, Subcommand)]
pub enum JwtCmd {
    /// Sign a VAPID JWT with the user's current key.
    Sign {
        #[command(flatten)]
        user: UserArg,
        /// The push service origin, e.g. https://fcm.googleapis.com (not the full endpoint).
        #[arg(long)]
        aud: String,
        /// Contact URI: mailto:you@example.com or https://example.com.
        #[arg(long)]
        sub: String,
        /// Lifetime: seconds, or with a unit (90s, 30m, 12h); at most 24h.
        #[arg(long, default_value = "12h")]
        ttl: String,
        /// Optional token id.
        #[arg(long)]
        jti: Option<String>,
        /// Print the whole `Authorization` header value instead of the JWT.
        #[arg(long)]
        header: bool,
    },
}

/// Parses a lifetime: plain seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (s.get(..i), 1),
        Some((i, 'm')) => (s.get(..i), 60),
        Some((i, 'h')) => (s.get(..i), 3600),
        Some((i, 'd')) => (s.get(..i), 86_400),
        _ => (Some(s), 1),
    };
    let n: u64 = num
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("--ttl: `{s}` is not a duration (use e.g. 3600, 90s, 30m, 12h or 7d)"))?;
    n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(|| "--ttl: must be positive".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("12h"), Ok(43200));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("h").is_err());
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        assert!(parse_ttl("12w").is_err());
    }
}
