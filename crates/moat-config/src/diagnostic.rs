//! Errors in files people wrote: where, what, and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::source::SourceFile;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

impl Position {
    /// A position from a 1-based line and column.
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Severity {
    /// The file cannot be used.
    #[default]
    Error,
    /// The file works, but something in it is likely a mistake.
    Warning,
}

/// One problem found in a config or OpenAPI document.
///
/// Rendered as `file:line:column: error: message`, then the quoted line with a
/// caret, then `hint: …` when there is a way forward to suggest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The offending line, quoted in the rendering.
    pub line_text: Option<String>,
    /// Error or warning.
    pub severity: Severity,
}

impl Diagnostic {
    /// A diagnostic with no hint and no quoted line.
    pub fn new(file: &Path, position: Option<Position>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            position,
            message: message.into(),
            hint: None,
            line_text: None,
            severity: Severity::Error,
        }
    }

    /// The same diagnostic, as a warning.
    #[must_use]
    pub fn into_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Adds a hint saying how to fix the problem.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Quotes the offending line from `source`.
    #[must_use]
    pub fn with_source(mut self, source: &SourceFile) -> Self {
        if let Some(pos) = self.position {
            self.line_text = source.line(pos.line).map(str::to_string);
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {label}: {}", self.message)?;
        if let (Some(p), Some(text)) = (self.position, &self.line_text) {
            let number = p.line.to_string();
            let pad = " ".repeat(number.len());
            let (text, caret) = excerpt(text, p.column.saturating_sub(1) as usize);
            let caret = " ".repeat(caret);
            write!(f, "\n{pad} |\n{number} | {text}\n{pad} | {caret}^")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// The most characters of a line quoted under a diagnostic.
const MAX_QUOTED: usize = 100;

/// At most [`MAX_QUOTED`] characters of `line` around the 0-based character
/// `column`, with `…` where it was cut, and the caret's column in that
/// excerpt. A minified JSON document is one line of any length: it is never
/// quoted whole.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    let len = line.chars().count();
    if len <= MAX_QUOTED {
        return (line.to_string(), column);
    }
    let start = column.saturating_sub(MAX_QUOTED / 2).min(len - MAX_QUOTED);
    let end = start + MAX_QUOTED;
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(line.chars().skip(start).take(MAX_QUOTED));
    if end < len {
        out.push('…');
    }
    (out, column - start + usize::from(start > 0))
}

/// Every problem found while loading, so that one run shows them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was found, the diagnostics otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// The candidate closest to `input`, when close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(input, c), c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_caret_and_hint() {
        let src = SourceFile::new("moat.yaml", "listeners:\n  - bnd: 1\n");
        let d = Diagnostic::new(src.path(), Some(Position::new(2, 5)), "unknown key `bnd`")
            .with_source(&src)
            .with_hint("did you mean `bind`?");
        assert_eq!(
            d.to_string(),
            "moat.yaml:2:5: error: unknown key `bnd`\n  |\n2 |   - bnd: 1\n  |     ^\n  hint: did you mean `bind`?"
        );
    }

    #[test]
    fn long_lines_are_quoted_around_the_caret_only() {
        let line = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        let src = SourceFile::new("big.json", line.clone());
        let d = Diagnostic::new(src.path(), Some(Position::new(1, 1001)), "here").with_source(&src);
        let text = d.to_string();
        let quoted = text.lines().nth(2).unwrap();
        let caret = text.lines().nth(3).unwrap();
        assert!(quoted.chars().count() < 120, "{quoted}");
        assert!(quoted.contains("…a") && quoted.contains("b…"), "{quoted}");
        let at = caret.chars().count() - 1;
        assert_eq!(quoted.chars().nth(at), Some('X'), "{quoted}\n{caret}");
        // At the start and the end of a long line, one cut only.
        let (start, c) = excerpt(&line, 0);
        assert_eq!((start.chars().count(), c), (MAX_QUOTED + 1, 0));
        let (end, c) = excerpt(&line, 2000);
        assert!(end.starts_with('…') && !end.ends_with('…'));
        assert_eq!(end.chars().nth(c), Some('b'));
    }

    #[test]
    fn warnings_say_so() {
        let d =
            Diagnostic::new(Path::new("a.yaml"), Some(Position::new(1, 1)), "odd").into_warning();
        assert_eq!(d.to_string(), "a.yaml:1:1: warning: odd");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["bind", "tls", "redirect_to_https"];
        assert_eq!(did_you_mean("bnd", names), Some("bind"));
        assert_eq!(
            did_you_mean("redirect_https", names),
            Some("redirect_to_https")
        );
        assert_eq!(did_you_mean("zzzzzz", names), None);
    }
}
