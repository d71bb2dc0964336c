//! What a command prints on success: text for people, or with `--json` one JSON
//! document for scripts. Either goes to stdout; errors and progress go to stderr.

use serde_json::Value;
use std::io::Write;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `json` (pretty, one document) or the text `human` makes.
    pub fn emit(&self, json: Value, human: impl FnOnce() -> String) {
        let mut stdout = std::io::stdout().lock();
        let text = if self.json {
            serde_json::to_string_pretty(&json).expect("JSON values serialise")
        } else {
            human()
        };
        // A closed stdout (`wharf tags … | head -1`) is not worth a panic.
        let _ = writeln!(stdout, "{}", text.trim_end_matches('\n'));
        let _ = stdout.flush();
    }

    /// Prints bytes exactly as they are (`inspect --raw`).
    pub fn raw(&self, bytes: &[u8]) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(bytes);
        let _ = stdout.flush();
    }
}

/// A size for people: `512 B`, `1.50 KiB`, `3.00 MiB`.
pub fn size(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_well() {
        assert_eq!(super::size(512), "512 B");
        assert_eq!(super::size(1536), "1.50 KiB");
    }
}
