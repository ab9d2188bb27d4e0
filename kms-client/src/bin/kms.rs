//! `kms`: the command-line face of the KMS, over a durable SQLite store.
//!
//! The CLI keeps no session between commands: each command that needs the
//! master secret asks for the passphrase, unlocks, does its work, and locks.
//! Passphrases are read from the terminal without echo, or one per line from
//! standard input when it is not a terminal; never from the command line,
//! where other users could read them in the process list.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = kms_client::cli::Args::parse();
    let json = args.json;
    match futures::executor::block_on(kms_client::cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        // The verification report is already printed; exit 1 says it all.
        Err(kms_client::cli::CliError::Invalid | kms_client::cli::CliError::Deployment) => ExitCode::FAILURE,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"error": {"code": e.code(), "message": e.message()}}));
            } else {
                eprintln!("kms: error: {}: {}", e.code(), e.message());
            }
            ExitCode::FAILURE
        }
    }
}
