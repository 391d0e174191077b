//! moat's own log lines (stderr): every field value has its control
//! characters escaped, so a value a client chose (a user name, a token
//! subject, a JSON key) can never end a line and forge the next one.

use std::fmt::{self, Write as _};

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// Formats fields as `name=value`, space-separated, with control
/// characters in values escaped (`\n`, `\r`, `\u{1b}`). The message is
/// written as it is: its text is moat's own.
pub fn fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    debug_fn(
        |w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            if field.name() == "message" {
                return write!(w, "{value:?}");
            }
            write!(w, "{}=", field.name())?;
            let mut escaped = Escaping(w);
            write!(escaped, "{value:?}")
        },
    )
    .delimited(" ")
}

/// A writer that escapes control characters on their way through.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if c.is_control() {
                for e in c.escape_default() {
                    self.0.write_char(e)?;
                }
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        write!(
            Escaping(&mut out),
            "bob\n2026-01-01 INFO forged\r\u{1b}[31m"
        )
        .unwrap();
        assert_eq!(out, "bob\\n2026-01-01 INFO forged\\r\\u{1b}[31m");
        assert!(!out.contains('\n'));
    }
}
