//! Reading passphrases: from the terminal without echo, or from standard
//! input one per line (for scripts). Never from argv.

use std::io::{BufRead, IsTerminal, Read};

use kms_core::secret::Passphrase;
use kms_core::unlock::passphrase::MAX_BYTES;
use zeroize::Zeroizing;

/// Where passphrases come from.
pub struct Prompter {
    tty: bool,
    /// The enrollment to unlock with, when the user chose one.
    pub unlock_with: Option<kms_core::ids::EnrollmentId>,
}

impl std::fmt::Debug for Prompter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompter").field("tty", &self.tty).finish()
    }
}

impl Prompter {
    /// Reads from the terminal when stdin is one, else from stdin lines.
    pub fn new() -> Self {
        Self { tty: std::io::stdin().is_terminal(), unlock_with: None }
    }

    /// Reads one passphrase (or lease credential): at most [`MAX_BYTES`]
    /// bytes, refused here when longer (no enrollment can have such a
    /// passphrase, and a much longer one would not fit in a request).
    pub fn read(&self, prompt: &str) -> Result<Passphrase, String> {
        let what = prompt.trim_end_matches(": ");
        let too_long = || format!("{what}: longer than {MAX_BYTES} bytes");
        if self.tty {
            let p = Zeroizing::new(
                rpassword::prompt_password(prompt).map_err(|e| format!("could not read the passphrase: {e}"))?,
            );
            if p.len() > MAX_BYTES {
                return Err(too_long());
            }
            return Ok(Passphrase::new(p.as_str()));
        }
        let mut line = Zeroizing::new(String::new());
        // Room for the line end; anything past that is never read.
        let cap = u64::try_from(MAX_BYTES).unwrap_or(u64::MAX).saturating_add(2);
        let n = std::io::stdin()
            .lock()
            .take(cap)
            .read_line(&mut line)
            .map_err(|e| format!("could not read the passphrase from stdin: {e}"))?;
        if n == 0 {
            return Err(format!("{what} expected a passphrase on stdin, got end of input"));
        }
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed.len() > MAX_BYTES || !line.ends_with('\n') && u64::try_from(n).unwrap_or(u64::MAX) >= cap {
            return Err(too_long());
        }
        Ok(Passphrase::new(trimmed))
    }

    /// Reads a new passphrase; on a terminal asks twice and compares.
    pub fn read_new(&self, prompt: &str) -> Result<Passphrase, String> {
        let first = self.read(prompt)?;
        if self.tty {
            let again = self.read("Repeat it: ")?;
            if first.as_bytes() != again.as_bytes() {
                return Err("the two passphrases differ".into());
            }
        }
        Ok(first)
    }
}
