//! Reading passphrases: from the terminal without echo, or from standard
//! input one per line (for scripts). Never from argv.

use std::io::{BufRead, IsTerminal};

use kms_core::secret::Passphrase;
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

    /// Reads one passphrase.
    pub fn read(&self, prompt: &str) -> Result<Passphrase, String> {
        if self.tty {
            let p = rpassword::prompt_password(prompt).map_err(|e| format!("could not read the passphrase: {e}"))?;
            return Ok(Passphrase::new(p));
        }
        let mut line = Zeroizing::new(String::new());
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("could not read the passphrase from stdin: {e}"))?;
        if n == 0 {
            return Err(format!("{} expected a passphrase on stdin, got end of input", prompt.trim_end_matches(": ")));
        }
        let trimmed = line.trim_end_matches(['\n', '\r']);
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
