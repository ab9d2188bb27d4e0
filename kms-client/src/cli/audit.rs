//! `kms audit export`, `kms audit verify`, and `kms user delete` (which
//! exports first).

use std::path::Path;

use kms_core::audit::{verify_export, AuditPublicKey, Checkpoint, VerifyOptions, MAX_EXPORT_BYTES};
use serde_json::json;

use super::args::{AuditCmd, UserCmd};
use super::commands::{out, unlock, CliError, Client};
use super::files::{read_capped, OutputFile, MAX_CHECKPOINTS_FILE};
use super::inputs;
use super::prompt::Prompter;

/// Runs `audit export` (verify is handled before a store is opened).
pub(super) async fn run(client: &Client, prompt: &Prompter, j: bool, cmd: AuditCmd) -> Result<(), CliError> {
    match cmd {
        AuditCmd::Export { user, output, nonce } => {
            let user = kms_core::ids::UserId::parse(&user.user).map_err(|e| CliError::Usage(e.to_string()))?;
            if let Some(n) = &nonce {
                kms_core::audit::check_nonce(n).map_err(|e| CliError::Usage(format!("--nonce: {e}")))?;
            }
            // The file is opened before the export (which signs and
            // records a checkpoint); an existing one is replaced only after.
            let file =
                output.as_deref().map(|p| OutputFile::create_or_replace(p, "nothing was exported")).transpose()?;
            let session = unlock(client, prompt, &user).await?;
            let r = client.audit_export(&session, nonce.as_deref()).await;
            client.lock(&session).await?;
            let r = r?;
            match file {
                Some(file) => {
                    let path = file.path().to_owned();
                    if let Err(e) = file.write(r.export.as_bytes()) {
                        eprintln!("{}; the export follows on standard output", e.message());
                        print!("{}", r.export);
                        return Err(e);
                    }
                    out(j, json!({"file": path, "entries": r.entries, "checkpoint": r.checkpoint}), || {
                        format!(
                            "wrote {} entries to {}\nkeep this checkpoint to detect a later rollback:\n{}",
                            r.entries,
                            path.display(),
                            serde_json::to_string(&r.checkpoint).unwrap_or_default()
                        )
                    });
                }
                None => print!("{}", r.export),
            }
            Ok(())
        }
        AuditCmd::Verify {
            file,
            user: Some(user),
            expect_checkpoints,
            expect_checkpoints_file,
            expect_key,
            expect_nonce,
        } => {
            let check = Expectations::read(
                &file,
                &expect_checkpoints,
                expect_checkpoints_file.as_deref(),
                expect_key.as_deref(),
                expect_nonce.as_deref(),
            )?;
            verify_unlocked(client, prompt, j, &user, check).await
        }
        AuditCmd::Verify { user: None, .. } => {
            Err(CliError::Usage("internal: verify without --user is run without a store".into()))
        }
    }
}

/// Runs `user delete`: the export file is created first (so a bad path
/// stops everything before anything is deleted), then the user is deleted
/// and the last export, ending with the deletion under the final signed
/// checkpoint, is written to it.
pub(super) async fn user(client: &Client, prompt: &Prompter, j: bool, cmd: UserCmd) -> Result<(), CliError> {
    let UserCmd::Delete { user, export, yes } = cmd;
    if !yes {
        return Err(CliError::Usage("deleting a user cannot be undone: add --yes".into()));
    }
    let user = kms_core::ids::UserId::parse(&user.user).map_err(|e| CliError::Usage(e.to_string()))?;
    let file = OutputFile::create_new(&export, false, "nothing was deleted")?;
    let deleted = async {
        let session = unlock(client, prompt, &user).await?;
        client.user_delete(&session).await.map_err(CliError::from)
    }
    .await?;
    if let Err(e) = file.write(deleted.export.as_bytes()) {
        // The user is gone; the log must not be: it goes to standard output.
        eprintln!("{}; the export follows on standard output", e.message());
        print!("{}", deleted.export);
    }
    out(
        j,
        json!({"user": deleted.user, "export": export, "leases_revoked": deleted.leases_revoked,
               "subscriptions_removed": deleted.subscriptions_removed, "final_checkpoint": deleted.final_checkpoint}),
        || {
            format!(
                "deleted user {}: {} lease(s) revoked, {} subscription(s) removed\n\
                 its audit log, ending with the deletion, is in {}\n\
                 final checkpoint (check the file against it with kms audit verify --expect-checkpoint):\n{}",
                deleted.user,
                deleted.leases_revoked.len(),
                deleted.subscriptions_removed,
                export.display(),
                serde_json::to_string(&deleted.final_checkpoint).unwrap_or_default()
            )
        },
    );
    Ok(())
}

fn read_export(file: &Path) -> Result<String, CliError> {
    let buf = read_capped(file, u64::try_from(MAX_EXPORT_BYTES).unwrap_or(u64::MAX))?;
    // Not UTF-8 is a verification failure the verifier reports; pass it on
    // lossily so the report names the line.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// What `kms audit verify` checks an export against, read and parsed
/// before anything else is done.
pub(super) struct Expectations {
    text: String,
    checkpoints: Vec<Checkpoint>,
    key: Option<String>,
    nonce: Option<String>,
}

impl Expectations {
    /// Reads the export and the expectations given on the command line.
    pub(super) fn read(
        file: &Path,
        expect: &[String],
        expect_file: Option<&Path>,
        expect_key: Option<&str>,
        expect_nonce: Option<&str>,
    ) -> Result<Self, CliError> {
        if let Some(n) = expect_nonce {
            kms_core::audit::check_nonce(n).map_err(|e| CliError::Usage(format!("--expect-nonce: {e}")))?;
        }
        let text = read_export(file)?;
        let file = expect_file.map(|f| read_capped(f, MAX_CHECKPOINTS_FILE).map(|b| (f.display().to_string(), b)));
        let file = file.transpose()?;
        let checkpoints = inputs::expected_checkpoints(expect, file.as_ref().map(|(n, b)| (n.as_str(), b.as_slice())))?;
        if let Some(k) = expect_key {
            AuditPublicKey::parse(k).map_err(|e| CliError::Usage(format!("--expect-key: {e}")))?;
        }
        Ok(Self { text, checkpoints, key: expect_key.map(str::to_owned), nonce: expect_nonce.map(str::to_owned) })
    }
}

/// `kms audit verify` without `--user`: the verifier runs here, on the
/// file alone (MACs not checked).
pub(super) fn verify_here(e: Expectations, j: bool) -> Result<(), CliError> {
    let expected_public_key = e.key.as_deref().map(AuditPublicKey::parse).transpose().ok().flatten();
    let opts = VerifyOptions {
        expected_public_key,
        expected_checkpoints: e.checkpoints,
        mac_key0: None,
        expected_nonce: e.nonce,
    };
    print_report(&verify_export(&e.text, &opts), j)
}

/// `kms audit verify --user U`: the user unlocks, and the KMS verifies
/// (`audit_verify`), checking every MAC with the session's master secret.
pub(super) async fn verify_unlocked(
    client: &Client,
    prompt: &Prompter,
    j: bool,
    user: &str,
    e: Expectations,
) -> Result<(), CliError> {
    let user = kms_core::ids::UserId::parse(user).map_err(|e| CliError::Usage(e.to_string()))?;
    let params = kms_core::rpc::AuditVerifyParams {
        export: e.text,
        expected_public_key: e.key,
        expected_checkpoints: e.checkpoints,
        expected_nonce: e.nonce,
    };
    let session = unlock(client, prompt, &user).await?;
    let report = client.audit_verify(params).await;
    client.lock(&session).await?;
    print_report(&report?, j)
}

/// Prints a report; the exit status follows its verdict.
fn print_report(report: &kms_core::audit::VerifyReport, j: bool) -> Result<(), CliError> {
    if j {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
    } else {
        println!("{report}");
    }
    if report.valid {
        Ok(())
    } else {
        Err(CliError::Invalid)
    }
}
