//! The commands: each opens the store, drives the engine in-process through
//! the typed client, and prints text or JSON.

use kms_core::crypto::kdf::pbkdf2_sha256;
use kms_core::ids::{EnrollmentId, UserId};
use kms_core::rpc::{NewEnrollment, RekeyCredential, RekeyRewrap};
use kms_core::unlock::passphrase::{calibrate_iterations, PassphrasePolicy};
use kms_core::unlock::Method;
use kms_core::vapid::JwtRequest;
use kms_core::ErrorCode;
use kms_storage::SqliteStore;
use kms_worker::{Kms, KmsConfig, Platform};
use rand_core::OsRng;
use serde_json::json;

use super::args::{parse_ttl, Args, AuditCmd, Command, EnrollmentsCmd, JwtCmd, ReleaseCmd, VapidCmd};
use super::prompt::Prompter;
use crate::client::{KmsClient, Session};
use crate::native::{default_store_path, SystemClock};
use crate::{ClientError, InProcess};
use kms_core::env::Clock;

/// A CLI failure: the engine's typed error, or a local one.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("invalid_input: {0}")]
    Usage(String),
    #[error("storage: {0}")]
    Store(String),
    /// `audit verify` found the export invalid (the report was printed).
    #[error("invalid: the audit export did not verify")]
    Invalid,
    /// `verify-deployment` found differences (the report was printed).
    #[error("integrity: the deployment does not match the expected build")]
    Deployment,
    /// `release verify`: the signature does not verify.
    #[error("integrity: {0}")]
    Signature(String),
}

impl CliError {
    /// The human message, without the code.
    pub fn message(&self) -> String {
        match self {
            Self::Client(ClientError::Rpc(e)) => e.message.clone(),
            Self::Client(other) => other.to_string(),
            Self::Usage(m) | Self::Store(m) | Self::Signature(m) => m.clone(),
            Self::Invalid => "the audit export did not verify (see the report above)".into(),
            Self::Deployment => "the deployment does not match the expected build (see the report above)".into(),
        }
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client(e) => e.code(),
            Self::Usage(_) => ErrorCode::InvalidInput,
            Self::Store(_) => ErrorCode::Storage,
            Self::Invalid => ErrorCode::InvalidInput,
            Self::Deployment | Self::Signature(_) => ErrorCode::Integrity,
        }
    }
}

pub(super) type Client = KmsClient<InProcess<SystemClock, OsRng>>;

fn user_id(s: &str) -> Result<UserId, CliError> {
    UserId::parse(s).map_err(|e| CliError::Usage(e.to_string()))
}

pub(super) fn out(json_mode: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

/// Runs one command.
pub async fn run(args: Args) -> Result<(), CliError> {
    // Relay-side and release tools need no store.
    if let Command::Push(cmd) = args.command {
        return super::relay::push(args.json, cmd);
    }
    if let Command::Release(cmd) = &args.command {
        return match cmd {
            ReleaseCmd::Manifest { dir, commit, tools, profile } => {
                super::release::manifest(args.json, dir, commit, tools, profile)
            }
            ReleaseCmd::Keygen { out } => super::release::keygen(args.json, out),
            ReleaseCmd::Sign { manifest, key } => super::release::sign(args.json, manifest, key),
            ReleaseCmd::Verify { manifest, public_key, signature } => {
                super::release::verify_signature(args.json, manifest, public_key, signature.as_deref())
            }
        };
    }
    if let Command::VerifyDeployment { url, manifest, expect, expect_config } = &args.command {
        return super::deployment::run(
            args.json,
            url,
            manifest.as_deref(),
            expect.as_deref(),
            expect_config.as_deref(),
        );
    }
    // Verifying needs no store and no engine: only the file.
    // Verifying needs no store and no engine, only the file, unless the
    // MACs are to be checked too (`--user`).
    if let Command::Audit(AuditCmd::Verify {
        file,
        user: None,
        expect_checkpoints,
        expect_checkpoints_file,
        expect_key,
        expect_nonce,
    }) = &args.command
    {
        let check = super::audit::Expectations::read(
            file,
            expect_checkpoints,
            expect_checkpoints_file.as_deref(),
            expect_key.as_deref(),
            expect_nonce.as_deref(),
        )?;
        return super::audit::verify_here(check, args.json);
    }
    let path = args.store.clone().unwrap_or_else(default_store_path);
    let store = SqliteStore::open(&path).map_err(|e| CliError::Store(format!("{}: {e}", path.display())))?;
    let mut config = KmsConfig::default();
    if let Some(n) = args.iterations {
        config.passphrase = PassphrasePolicy::new(config.passphrase.min_chars(), n)
            .map_err(|e| CliError::Usage(format!("--iterations: {}", kms_core::rpc::RpcError::from(e).message)))?;
    }
    let engine = Kms::new(Box::new(store), Platform::native(SystemClock, OsRng), config)
        .map_err(|e| CliError::Client(kms_core::rpc::RpcError::from(e).into()))?;
    let client = KmsClient::new(InProcess::new(engine));
    let unlock_with = args
        .unlock_with
        .as_deref()
        .map(EnrollmentId::parse)
        .transpose()
        .map_err(|e| CliError::Usage(format!("--unlock-with: {e}")))?;
    let mut prompt = Prompter::new();
    prompt.unlock_with = unlock_with;
    let j = args.json;

    match args.command {
        Command::Info => {
            let info = client.info().await?;
            out(j, json!(info), || {
                format!(
                    "kms {} (protocol v{})\nstore: {}\npbkdf2 iterations: {}\nminimum passphrase length: {}",
                    info.kms_version,
                    info.protocol_version,
                    path.display(),
                    info.pbkdf2_iterations,
                    info.min_passphrase_chars
                )
            });
        }
        Command::Calibrate { target_ms } => {
            let recommended = calibrate_iterations(f64::from(target_ms), |n| {
                let started = std::time::Instant::now();
                let _ = pbkdf2_sha256(b"calibration passphrase", &[0u8; 16], n);
                started.elapsed().as_secs_f64() * 1000.0
            });
            out(j, json!({"target_ms": target_ms, "iterations": recommended}), || {
                format!(
                    "recommended: --iterations {recommended} (aiming at {target_ms} ms per unlock; 600000 is the floor)"
                )
            });
        }
        Command::Setup(u) => {
            let user = user_id(&u.user)?;
            let passphrase = prompt.read_new("New passphrase: ").map_err(CliError::Usage)?;
            let r = client.setup_passphrase(&user, passphrase).await?;
            client.lock(&Session::from(&r)).await?;
            out(j, json!({"user": user, "enrollment": r.enrollment}), || {
                format!("created user {user} with passphrase enrollment {}", r.enrollment.id)
            });
        }
        Command::Enrollments(cmd) => enrollments(&client, &prompt, j, cmd).await?,
        Command::Audit(cmd) => return super::audit::run(&client, &prompt, j, cmd).await,
        Command::Subscription(cmd) => return super::relay::subscription(&client, &prompt, j, cmd).await,
        Command::Lease(cmd) => return super::relay::lease(&client, &prompt, j, cmd).await,
        Command::Push(_) | Command::Release(_) | Command::VerifyDeployment { .. } => {
            return Err(CliError::Usage("internal: push and release run without a store".into()))
        }
        Command::User(cmd) => return super::audit::user(&client, &prompt, j, cmd).await,
        Command::Vapid(cmd) => vapid(&client, &prompt, j, cmd).await?,
        Command::Jwt(JwtCmd::Sign { user, aud, sub, ttl, jti, header }) => {
            let user = user_id(&user.user)?;
            let ttl = parse_ttl(&ttl).map_err(CliError::Usage)?;
            let exp = SystemClock.now_ms() / 1000 + ttl;
            let session = unlock(&client, &prompt, &user).await?;
            let r = client.sign_jwt(&session, JwtRequest { aud, sub, exp, jti }).await;
            client.lock(&session).await?;
            let r = r?;
            out(j, json!(r), || if header { r.authorization.clone() } else { r.jwt.clone() });
        }
    }
    Ok(())
}

/// Asks for the passphrase and opens a session.
pub(super) async fn unlock(client: &Client, prompt: &Prompter, user: &UserId) -> Result<Session, CliError> {
    let passphrase = prompt.read("Passphrase: ").map_err(CliError::Usage)?;
    let r = client
        .unlock(user, prompt.unlock_with.clone(), kms_core::rpc::UnlockCredential::Passphrase { passphrase })
        .await
        .map_err(|e| match e {
            ClientError::Rpc(r) if r.message.contains("several enrollments match") => CliError::Usage(
                "the user has several passphrase enrollments: choose one with --unlock-with ID (see `kms enrollments list`)"
                    .into(),
            ),
            other => other.into(),
        })?;
    Ok(Session::from(&r))
}

/// Runs `f` inside an unlocked session and always locks afterwards.
macro_rules! with_session {
    ($client:expr, $prompt:expr, $user:expr, |$s:ident| $body:expr) => {{
        let $s = unlock($client, $prompt, $user).await?;
        let result = $body;
        $client.lock(&$s).await?;
        result?
    }};
}

async fn enrollments(client: &Client, prompt: &Prompter, j: bool, cmd: EnrollmentsCmd) -> Result<(), CliError> {
    match cmd {
        EnrollmentsCmd::List(u) => {
            let user = user_id(&u.user)?;
            let list = client.list_enrollments(&user).await?;
            out(j, json!(list), || {
                let mut lines: Vec<String> = list
                    .enrollments
                    .iter()
                    .map(|e| {
                        let extra = e.iterations.map(|i| format!(" iterations={i}")).unwrap_or_default();
                        let label = e.label.as_deref().map(|l| format!(" label={l:?}")).unwrap_or_default();
                        let gate = if e.protects_at_rest { "" } else { " (gate mode: no protection at rest)" };
                        format!("{} {}{extra}{label}{gate}", e.id, e.method.as_str())
                    })
                    .collect();
                for id in &list.damaged {
                    lines.push(format!(
                        "{id} DAMAGED: this record cannot unlock; remove it with `kms enrollments remove --id {id}`"
                    ));
                }
                lines.join("\n")
            });
        }
        EnrollmentsCmd::AddPassphrase { user, label } => {
            let user = user_id(&user.user)?;
            let info = with_session!(client, prompt, &user, |s| {
                match prompt.read_new("New passphrase: ") {
                    Ok(p) => client
                        .add_enrollment(&s, NewEnrollment::Passphrase { passphrase: p }, label)
                        .await
                        .map_err(CliError::from),
                    Err(e) => Err(CliError::Usage(e)),
                }
            });
            out(j, json!(info), || format!("added passphrase enrollment {}", info.id));
        }
        EnrollmentsCmd::Remove { user, id } => {
            let user = user_id(&user.user)?;
            let id = EnrollmentId::parse(&id).map_err(|e| CliError::Usage(e.to_string()))?;
            let r = with_session!(client, prompt, &user, |s| client
                .remove_enrollment(&s, id.clone())
                .await
                .map_err(CliError::from));
            out(j, json!(r), || format!("removed enrollment {}; {} remain", r.removed, r.remaining));
        }
        EnrollmentsCmd::ChangePassphrase { user, id } => {
            let user = user_id(&user.user)?;
            let id = id.map(|i| EnrollmentId::parse(&i)).transpose().map_err(|e| CliError::Usage(e.to_string()))?;
            let info = with_session!(client, prompt, &user, |s| {
                match prompt.read_new("New passphrase: ") {
                    Ok(p) => client.change_passphrase(&s, id.clone(), p).await.map_err(CliError::from),
                    Err(e) => Err(CliError::Usage(e)),
                }
            });
            out(j, json!(info), || format!("changed the passphrase of enrollment {}", info.id));
        }
        EnrollmentsCmd::Rekey { user, remove } => rekey(client, prompt, j, &user.user, &remove).await?,
    }
    Ok(())
}

/// `kms enrollments rekey`: the plan is checked against the enrollment list
/// before any passphrase is asked for, so a plan the engine would refuse
/// costs the user nothing.
async fn rekey(client: &Client, prompt: &Prompter, j: bool, user: &str, remove: &[String]) -> Result<(), CliError> {
    let user = user_id(user)?;
    let remove = remove
        .iter()
        .map(|i| EnrollmentId::parse(i))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let list = client.list_enrollments(&user).await?;
    if let Some(id) =
        remove.iter().find(|id| !list.enrollments.iter().any(|e| &e.id == *id) && !list.damaged.contains(id))
    {
        let e = kms_core::rpc::RpcError::new(ErrorCode::NotFound, format!("enrollment {id}"));
        return Err(CliError::Client(e.into()));
    }
    let kept = |id: &EnrollmentId| !remove.contains(id);
    if let Some(e) = list.enrollments.iter().find(|e| e.method == Method::PasskeyPrf && kept(&e.id)) {
        return Err(CliError::Usage(format!(
            "enrollment {} is a passkey: only its passkey can wrap the new master secret, which this tool cannot \
             ask for. Re-key in the KMS frame, or remove it here with --remove {}",
            e.id, e.id
        )));
    }
    if let Some(id) = list.damaged.iter().find(|id| kept(id)) {
        return Err(CliError::Usage(format!("enrollment {id} is damaged: add --remove {id}")));
    }
    let session = unlock(client, prompt, &user).await?;
    // Gate-mode passkeys need no passkey to be wrapped again: kept (said below).
    let mut rewrap: Vec<RekeyRewrap> = list
        .enrollments
        .iter()
        .filter(|e| e.method == Method::PasskeyGate && kept(&e.id))
        .map(|e| RekeyRewrap { enrollment_id: e.id.clone(), credential: RekeyCredential::PasskeyGate {} })
        .collect();
    for e in list.enrollments.iter().filter(|e| e.method == Method::Passphrase && kept(&e.id)) {
        let ask = format!("New passphrase for enrollment {} (not the old one): ", e.id);
        match prompt.read_new(&ask) {
            Ok(passphrase) => rewrap.push(RekeyRewrap {
                enrollment_id: e.id.clone(),
                credential: RekeyCredential::Passphrase { passphrase },
            }),
            Err(m) => {
                client.lock(&session).await?;
                return Err(CliError::Usage(m));
            }
        }
    }
    let r = match client.rekey(&session, rewrap, remove).await {
        Ok(r) => r,
        Err(e) => {
            // A refused re-key changed nothing: the old session still holds.
            client.lock(&session).await?;
            return Err(e.into());
        }
    };
    // The old session ended with the re-key; the new one is locked here.
    client.lock(&Session { user: r.user.clone(), token: r.session.clone(), expires_ms: r.expires_ms }).await?;
    // The session token is of no use any more (locked above): not printed.
    let shown =
        json!({"user": r.user, "enrollments": r.enrollments, "removed": r.removed, "resealed_keys": r.resealed_keys});
    out(j, shown, || {
        let mut lines = vec![format!(
            "re-keyed: a new master secret under {} enrollment(s); {} key(s) re-sealed",
            r.enrollments.len(),
            r.resealed_keys
        )];
        lines.extend(r.removed.iter().map(|id| format!("removed enrollment {id}")));
        lines.push(
            "note: the VAPID keys are the same keys; rotate them (`kms vapid rotate`) so that a copy taken before \
             opens no key in use"
                .into(),
        );
        lines.join("\n")
    });
    Ok(())
}

async fn vapid(client: &Client, prompt: &Prompter, j: bool, cmd: VapidCmd) -> Result<(), CliError> {
    match cmd {
        VapidCmd::Generate(u) => {
            let user = user_id(&u.user)?;
            let info =
                with_session!(client, prompt, &user, |s| client.vapid_generate(&s).await.map_err(CliError::from));
            out(j, json!(info), || format!("kid {}\napplicationServerKey {}", info.kid, info.public_key));
        }
        VapidCmd::Rotate(u) => {
            let user = user_id(&u.user)?;
            let r = with_session!(client, prompt, &user, |s| client.vapid_rotate(&s).await.map_err(CliError::from));
            out(j, json!(r), || {
                format!(
                    "new kid {}\napplicationServerKey {}\nretired kid {}\nnote: {}",
                    r.current.kid, r.current.public_key, r.retired.kid, r.note
                )
            });
        }
        VapidCmd::Show { user, jwk } => {
            let user = user_id(&user.user)?;
            let keys = client.vapid_public(&user).await?;
            let current = keys.current.clone().ok_or_else(|| {
                CliError::Client(ClientError::Rpc(kms_core::rpc::RpcError::new(
                    ErrorCode::NotFound,
                    format!("user {user} has no VAPID key yet (run `kms vapid generate --user {user}`)"),
                )))
            })?;
            out(j, json!(keys), || {
                if jwk {
                    serde_json::to_string(&current.jwk).unwrap_or_default()
                } else {
                    let mut lines =
                        vec![format!("kid {}", current.kid), format!("applicationServerKey {}", current.public_key)];
                    for r in &keys.retired {
                        lines.push(format!("retired kid {} (version {})", r.kid, r.version));
                    }
                    lines.join("\n")
                }
            });
        }
    }
    Ok(())
}
