//! The `kms` command line: argument grammar ([`args`]), passphrase input
//! ([`prompt`]) and the commands ([`commands`]).

mod args;
mod audit;
mod commands;
mod files;
mod prompt;
mod relay;

pub use args::Args;
pub use commands::{run, CliError};
