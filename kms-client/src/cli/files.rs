//! The files the CLI reads and writes.
//!
//! Every input is read through a size cap before anything is allocated for
//! it (a larger file, or `/dev/zero`, is refused with the cap in the
//! message). Every output file is opened before the command changes any
//! state (a bad path, an existing file where none may be, a missing
//! directory stop the command with nothing done), and a file the command
//! created is removed again when the command fails before writing it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::commands::CliError;

/// The most a subscription, payload, token list or lease credential file
/// may hold.
pub(super) const MAX_INPUT_FILE: u64 = 64 * 1024;

/// The most an expected-checkpoints file may hold (a checkpoint line is
/// under 1 KiB).
pub(super) const MAX_CHECKPOINTS_FILE: u64 = 1024 * 1024;

/// Reads `path` (`-` for standard input), at most `cap` bytes: a larger
/// input is refused without reading past `cap + 1` bytes.
pub(super) fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let limit = cap.saturating_add(1);
    let r = if path == Path::new("-") {
        std::io::stdin().take(limit).read_to_end(&mut buf)
    } else {
        File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
    };
    r.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > cap {
        return Err(CliError::Usage(format!("{}: larger than the limit of {cap} bytes", path.display())));
    }
    Ok(buf)
}

/// An output file, opened and not yet written.
#[derive(Debug)]
pub(super) struct OutputFile {
    file: File,
    path: PathBuf,
    /// The command created it (so it goes again when nothing is written).
    created: bool,
    written: bool,
}

impl OutputFile {
    /// Creates `path`, which must not exist (mode 0600 when `private`).
    /// `undone` says what did not happen, for the error message.
    pub(super) fn create_new(path: &Path, private: bool, undone: &str) -> Result<Self, CliError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let file =
            opts.open(path).map_err(|e| CliError::Usage(format!("cannot create {}: {e}; {undone}", path.display())))?;
        Ok(Self { file, path: path.to_owned(), created: true, written: false })
    }

    /// Opens `path` for writing, creating it when absent; an existing file
    /// keeps its contents until [`OutputFile::write`] replaces them.
    pub(super) fn create_or_replace(path: &Path, undone: &str) -> Result<Self, CliError> {
        let fail = |e: std::io::Error| CliError::Usage(format!("cannot create {}: {e}; {undone}", path.display()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => Ok(Self { file, path: path.to_owned(), created: true, written: false }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let file = std::fs::OpenOptions::new().write(true).open(path).map_err(fail)?;
                Ok(Self { file, path: path.to_owned(), created: false, written: false })
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// The path, for messages.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the contents with `bytes` and syncs. On an error the
    /// caller still holds the data (and should not lose it).
    pub(super) fn write(mut self, bytes: &[u8]) -> Result<(), CliError> {
        let r = self.file.set_len(0).and_then(|()| {
            std::io::Write::write_all(&mut self.file, bytes)?;
            self.file.sync_all()
        });
        r.map_err(|e| CliError::Usage(format!("cannot write {}: {e}", self.path.display())))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.created && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
