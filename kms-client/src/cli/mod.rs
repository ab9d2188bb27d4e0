//! The `kms` command line: argument grammar ([`args`]), passphrase input
//! ([`prompt`]), the commands ([`commands`]), the files they read and write
//! (`files`) and what they make of the files' contents ([`inputs`]).

mod args;
mod audit;
mod commands;
pub mod deployment;
mod files;
pub mod inputs;
mod prompt;
mod relay;
pub mod release;

pub use args::Args;
pub use commands::{run, CliError};
